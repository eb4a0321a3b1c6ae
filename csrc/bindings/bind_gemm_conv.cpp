// Bindings of gemm and conv2d.
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "common/shapes.h"
#include "cpu/column_sums.h"
#include "cpu/conv2d.h"
#include "cpu/gemm.h"

namespace ember {
namespace {

// out (batch, M, N) = alpha * a (batch|1, M, K) @ b (batch|1, K, N) + beta * out.
void gemm_binding(const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj, double alpha,
                  double beta) {
    const char* op = "gemm";
    const Array a = as_array(op, "a", a_obj), b = as_array(op, "b", b_obj), c = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&a, &b, &c});
    require_rank(op, a, 3);
    require_rank(op, b, 3);
    require_rank(op, c, 3);
    require_contiguous(op, c);
    const int64_t batch = c.shape[0], m = c.shape[1], n = c.shape[2], k = a.shape[2];
    // Made only for a message (EMBER_CHECK evaluates its message on failure): formatting three shapes on every call
    // was a fifth of a small product's 2.7 us in the binding.
    const auto shapes = [&] {
        return std::string(op) + ": a " + shape_str(a.shape) + ", b " + shape_str(b.shape) + ", out " +
               shape_str(c.shape);
    };
    EMBER_CHECK(a.shape[1] == m && b.shape[1] == k && b.shape[2] == n, shapes(),
                ": expected a (batch, M, K), b (batch, K, N), out (batch, M, N)");
    EMBER_CHECK((a.shape[0] == batch || a.shape[0] == 1) && (b.shape[0] == batch || b.shape[0] == 1), shapes(),
                ": expected batch sizes of a and b equal to ", batch, " or 1");
    require_disjoint(op, c, a);
    require_disjoint(op, c, b);
    const int64_t bs_a = a.shape[0] == 1 ? 0 : a.strides[0], bs_b = b.shape[0] == 1 ? 0 : b.strides[0];
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        gemm_batched<T>(batch, m, n, k, T(alpha), a.cptr<T>(), bs_a, a.strides[1], a.strides[2], b.cptr<T>(), bs_b,
                        b.strides[1], b.strides[2], T(beta), c.ptr<T>(), m * n, n, 1);
    });
}

// out (N,) = the sums of a's (M, N) columns.
void column_sums_binding(const py::handle& a_obj, const py::handle& out_obj) {
    const char* op = "column_sums";
    const Array a = as_array(op, "a", a_obj), out = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&a, &out});
    require_rank(op, a, 2);
    require_rank(op, out, 1);
    require_contiguous(op, a);
    require_contiguous(op, out);
    EMBER_CHECK(out.shape[0] == a.shape[1], op, ": a ", shape_str(a.shape), ", out ", shape_str(out.shape),
                ": expected a (M, N) and out (N,)");
    require_disjoint(op, out, a);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        column_sums<T>(a.shape[0], a.shape[1], a.cptr<T>(), out.ptr<T>());
    });
}

void gemm_naive_binding(const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj, double alpha,
                        double beta) {
    const char* op = "gemm_naive";
    const Array a = as_array(op, "a", a_obj), b = as_array(op, "b", b_obj), c = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&a, &b, &c});
    require_rank(op, a, 2);
    require_rank(op, b, 2);
    require_rank(op, c, 2);
    EMBER_CHECK(a.shape[0] == c.shape[0] && a.shape[1] == b.shape[0] && b.shape[1] == c.shape[1], op, ": a ",
                shape_str(a.shape), ", b ", shape_str(b.shape), ", out ", shape_str(c.shape),
                ": expected (M, K), (K, N), (M, N)");
    require_disjoint(op, c, a);
    require_disjoint(op, c, b);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        gemm_naive<T>(c.shape[0], c.shape[1], a.shape[1], T(alpha), a.cptr<T>(), a.strides[0], a.strides[1],
                      b.cptr<T>(), b.strides[0], b.strides[1], T(beta), c.ptr<T>(), c.strides[0], c.strides[1]);
    });
}

struct ConvArgs {
    int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
};

// The three conv2d entries share this: check the three arrays, derive the geometry from the two that
// define it (input shape and kernel shape), check the third against it, then run `kernel`.
template <class K>
void conv_call(const char* op, const Array& x_like, const Array& w_like, const Array& third, const Array& out,
               const Shape& x_shape, const Shape& w_shape, const ConvArgs& p, bool third_is_y, K kernel) {
    const DType dt = common_dtype(op, {&x_like, &w_like, &out});
    for (const Array* a : {&x_like, &w_like, &out}) {
        require_rank(op, *a, 4);
        require_contiguous(op, *a);
    }
    const Conv2dGeom g =
        conv2d_geometry(op, x_shape, w_shape, p.sh, p.sw, p.pt, p.pb, p.pl, p.pr, p.dh, p.dw, p.groups);
    check_shape(op, third.name, third.shape, third_is_y ? g.y_shape() : g.x_shape());
    require_disjoint(op, out, x_like);
    require_disjoint(op, out, w_like);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) { kernel(g, t); });
}

void conv2d_forward_binding(const py::handle& x_obj, const py::handle& w_obj, const py::handle& out_obj,
                            int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                            int64_t dw, int64_t groups, const py::handle& bias_obj, const py::object& activation,
                            double alpha) {
    const char* op = "conv2d_forward";
    const Array x = as_array(op, "x", x_obj), w = as_array(op, "w", w_obj), y = as_array(op, "out", out_obj, true);
    const bool has_bias = !bias_obj.is_none(), has_act = !activation.is_none();
    const Activation act = has_act ? parse_activation(activation.cast<std::string>()) : Activation::relu;
    const Array b = has_bias ? as_array(op, "bias", bias_obj) : x;
    if (has_bias) require_conv_bias(op, x, w, y, b);
    conv_call(op, x, w, y, y, x.shape, w.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups}, true,
              [&](const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  ConvEpilogue<T> epilogue;
                  epilogue.bias = has_bias ? b.cptr<T>() : nullptr;
                  epilogue.act = has_act ? &act : nullptr;
                  epilogue.alpha = T(alpha);
                  conv2d_forward<T>(g, x.cptr<T>(), w.cptr<T>(), y.ptr<T>(), epilogue);
              });
}

void conv2d_backward_input_binding(const py::handle& gy_obj, const py::handle& w_obj, const py::handle& gx_obj,
                                   int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                                   int64_t dh, int64_t dw, int64_t groups) {
    const char* op = "conv2d_backward_input";
    const Array gy = as_array(op, "grad_y", gy_obj), w = as_array(op, "w", w_obj),
                gx = as_array(op, "grad_x", gx_obj, true);
    conv_call(op, gy, w, gy, gx, gx.shape, w.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups}, true,
              [&](const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  conv2d_backward_input<T>(g, gy.cptr<T>(), w.cptr<T>(), gx.ptr<T>());
              });
}

void conv2d_backward_weight_binding(const py::handle& gy_obj, const py::handle& x_obj, const py::handle& gw_obj,
                                    int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                                    int64_t dh, int64_t dw, int64_t groups) {
    const char* op = "conv2d_backward_weight";
    const Array gy = as_array(op, "grad_y", gy_obj), x = as_array(op, "x", x_obj),
                gw = as_array(op, "grad_w", gw_obj, true);
    conv_call(op, gy, x, gy, gw, x.shape, gw.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups}, true,
              [&](const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  conv2d_backward_weight<T>(g, gy.cptr<T>(), x.cptr<T>(), gw.ptr<T>());
              });
}

}  // namespace

void bind_gemm_conv(py::module_& m) {
    m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha") = 1.0,
          py::arg("beta") = 0.0,
          "out = alpha * a @ b + beta * out on 3-D arrays: a (batch|1, M, K), b (batch|1, K, N) with any strides "
          "(batch stride 0 broadcasts), out (batch, M, N) C-contiguous. beta == 0 ignores out's contents.");
    m.def("column_sums", &column_sums_binding, py::arg("a"), py::arg("out"),
          "out (N,) = the column sums of a (M, N), in a fixed order whatever the thread count.");
    m.def("gemm_naive", &gemm_naive_binding, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("alpha") = 1.0,
          py::arg("beta") = 0.0, "The unblocked reference GEMM on 2-D arrays with any strides.");
    m.def("set_conv2d_path", &set_conv2d_path, py::arg("name"),
          "Force the conv2d family 'gemm', 'direct', 'rows', 'winograd' or 'dot' (the input gradient) where it applies "
          "(else the GEMM path), or 'auto'; for tests and benchmarks.");
    m.def("conv2d_path", &conv2d_path, "The conv2d family forced by set_conv2d_path, or 'auto'.");
    const char* conv_doc =
        " NHWC x, HWIO w (KH, KW, C // groups, O); strides (sh, sw), padding (pt, pb, pl, pr), dilation "
        "(dh, dw). All arrays C-contiguous; the output is overwritten.";
    m.def("conv2d_forward", &conv2d_forward_binding, py::arg("x"), py::arg("w"), py::arg("out"), py::arg("sh"),
          py::arg("sw"), py::arg("pt"), py::arg("pb"), py::arg("pl"), py::arg("pr"), py::arg("dh"), py::arg("dw"),
          py::arg("groups"), py::arg("bias") = py::none(), py::arg("activation") = py::none(),
          py::arg("alpha") = 0.0,
          (std::string("out (N, Ho, Wo, O) = activation(conv2d(x, w) + bias); bias (O,) or None, activation None "
                       "or a bias_activation_forward name.") + conv_doc).c_str());
    m.def("conv2d_backward_input", &conv2d_backward_input_binding, py::arg("grad_y"), py::arg("w"),
          py::arg("grad_x"), py::arg("sh"), py::arg("sw"), py::arg("pt"), py::arg("pb"), py::arg("pl"),
          py::arg("pr"), py::arg("dh"), py::arg("dw"), py::arg("groups"),
          (std::string("grad_x (N, H, W, C) from grad_y (N, Ho, Wo, O).") + conv_doc).c_str());
    m.def("conv2d_backward_weight", &conv2d_backward_weight_binding, py::arg("grad_y"), py::arg("x"),
          py::arg("grad_w"), py::arg("sh"), py::arg("sw"), py::arg("pt"), py::arg("pb"), py::arg("pl"),
          py::arg("pr"), py::arg("dh"), py::arg("dw"), py::arg("groups"),
          (std::string("grad_w (KH, KW, C // groups, O) from grad_y and x; summed in a fixed order.") + conv_doc)
              .c_str());
}

}  // namespace ember
