// ember._cuda: gemm and conv2d (bindings mirror bind_gemm_conv.cpp's checks).
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "common/shapes.h"
#include "cuda/column_sums.h"
#include "cuda/conv2d.h"
#include "cuda/gemm.h"
#include "cuda_arrays.h"
#include "cuda_bindings.h"

namespace ember {
namespace {

// out (batch, M, N) = alpha * a (batch|1, M, K) @ b (batch|1, K, N) + beta * out; a and b with any strides.
template <class Env>
void gemm_binding(const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj, double alpha,
                  double beta, uintptr_t stream) {
    Env env("gemm", stream);
    const char* op = env.op();
    const Array a = env.array("a", a_obj), b = env.array("b", b_obj), c = env.array("out", out_obj, true);
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
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::gemm_batched<typename Env::Exec, T>(ctx, batch, m, n, k, T(alpha), a.cptr<T>(), bs_a, a.strides[1],
                                                  a.strides[2], b.cptr<T>(), bs_b, b.strides[1], b.strides[2],
                                                  T(beta), c.ptr<T>(), m * n, n);
    });
}

template <class Env>
void column_sums_binding(const py::handle& a_obj, const py::handle& out_obj, uintptr_t stream) {
    Env env("column_sums", stream);
    const char* op = env.op();
    const Array a = env.array("a", a_obj), out = env.array("out", out_obj, true);
    const DType dt = common_dtype(op, {&a, &out});
    require_rank(op, a, 2);
    require_rank(op, out, 1);
    require_contiguous(op, a);
    require_contiguous(op, out);
    EMBER_CHECK(out.shape[0] == a.shape[1], op, ": a ", shape_str(a.shape), ", out ", shape_str(out.shape),
                ": expected a (M, N) and out (N,)");
    require_disjoint(op, out, a);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::column_sums<typename Env::Exec, T>(ctx, a.shape[0], a.shape[1], a.cptr<T>(), out.ptr<T>());
    });
}

template <class Env>
void gemm_naive_binding(const py::handle& a_obj, const py::handle& b_obj, const py::handle& out_obj, double alpha,
                        double beta, uintptr_t stream) {
    Env env("gemm_naive", stream);
    const char* op = env.op();
    const Array a = env.array("a", a_obj), b = env.array("b", b_obj), c = env.array("out", out_obj, true);
    const DType dt = common_dtype(op, {&a, &b, &c});
    require_rank(op, a, 2);
    require_rank(op, b, 2);
    require_rank(op, c, 2);
    EMBER_CHECK(a.shape[0] == c.shape[0] && a.shape[1] == b.shape[0] && b.shape[1] == c.shape[1], op, ": a ",
                shape_str(a.shape), ", b ", shape_str(b.shape), ", out ", shape_str(c.shape),
                ": expected (M, K), (K, N), (M, N)");
    require_disjoint(op, c, a);
    require_disjoint(op, c, b);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::gemm_naive<typename Env::Exec, T>(ctx, c.shape[0], c.shape[1], a.shape[1], T(alpha), a.cptr<T>(),
                                                a.strides[0], a.strides[1], b.cptr<T>(), b.strides[0], b.strides[1],
                                                T(beta), c.ptr<T>(), c.strides[0], c.strides[1]);
    });
}

struct ConvArgs {
    int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
};

// As bind_gemm_conv.cpp's conv_call: the geometry from the input and kernel shapes, the third array checked
// against it, then `kernel` with the device ready.
template <class Env, class K>
void conv_call(Env& env, const Array& x_like, const Array& w_like, const Array& third, const Array& out,
               const Shape& x_shape, const Shape& w_shape, const ConvArgs& p, K kernel) {
    const char* op = env.op();
    const DType dt = common_dtype(op, {&x_like, &w_like, &out});
    for (const Array* a : {&x_like, &w_like, &out}) {
        require_rank(op, *a, 4);
        require_contiguous(op, *a);
    }
    const Conv2dGeom g =
        conv2d_geometry(op, x_shape, w_shape, p.sh, p.sw, p.pt, p.pb, p.pl, p.pr, p.dh, p.dw, p.groups);
    check_shape(op, third.name, third.shape, g.y_shape());
    require_disjoint(op, out, x_like);
    require_disjoint(op, out, w_like);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) { kernel(ctx, g, t); });
}

template <class Env>
void conv2d_forward_binding(const py::handle& x_obj, const py::handle& w_obj, const py::handle& out_obj, int64_t sh,
                            int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                            int64_t groups, const py::handle& bias_obj, const py::object& activation, double alpha,
                            uintptr_t stream) {
    Env env("conv2d_forward", stream);
    const char* op = env.op();
    const Array x = env.array("x", x_obj), w = env.array("w", w_obj), y = env.array("out", out_obj, true);
    const bool has_bias = !bias_obj.is_none(), has_act = !activation.is_none();
    const cuda::Act act = has_act ? cuda::parse_act(activation.cast<std::string>()) : cuda::Act::relu;
    const Array b = has_bias ? env.array("bias", bias_obj) : x;
    if (has_bias) require_conv_bias(op, x, w, y, b);
    conv_call(env, x, w, y, y, x.shape, w.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups},
              [&](const cuda::Ctx& ctx, const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  cuda::ConvEpilogue<T> e;
                  e.bias = has_bias ? b.cptr<T>() : nullptr;
                  e.activate = has_act;
                  e.act = act;
                  e.alpha = T(alpha);
                  cuda::conv2d_forward<typename Env::Exec, T>(ctx, g, x.cptr<T>(), w.cptr<T>(), y.ptr<T>(), e);
              });
}

template <class Env>
void conv2d_backward_input_binding(const py::handle& gy_obj, const py::handle& w_obj, const py::handle& gx_obj,
                                   int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                                   int64_t dh, int64_t dw, int64_t groups, uintptr_t stream) {
    Env env("conv2d_backward_input", stream);
    const Array gy = env.array("grad_y", gy_obj), w = env.array("w", w_obj), gx = env.array("grad_x", gx_obj, true);
    conv_call(env, gy, w, gy, gx, gx.shape, w.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups},
              [&](const cuda::Ctx& ctx, const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  cuda::conv2d_backward_input<typename Env::Exec, T>(ctx, g, gy.cptr<T>(), w.cptr<T>(), gx.ptr<T>());
              });
}

template <class Env>
void conv2d_backward_weight_binding(const py::handle& gy_obj, const py::handle& x_obj, const py::handle& gw_obj,
                                    int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                                    int64_t dh, int64_t dw, int64_t groups, uintptr_t stream) {
    Env env("conv2d_backward_weight", stream);
    const Array gy = env.array("grad_y", gy_obj), x = env.array("x", x_obj), gw = env.array("grad_w", gw_obj, true);
    conv_call(env, gy, x, gy, gw, x.shape, gw.shape, {sh, sw, pt, pb, pl, pr, dh, dw, groups},
              [&](const cuda::Ctx& ctx, const Conv2dGeom& g, auto t) {
                  using T = decltype(t);
                  cuda::conv2d_backward_weight<typename Env::Exec, T>(ctx, g, gy.cptr<T>(), x.cptr<T>(), gw.ptr<T>());
              });
}

}  // namespace

template <class Env>
void bind_cuda_gemm_conv(py::module_& m) {
    using py::arg;
    m.def("gemm", &gemm_binding<Env>, arg("a"), arg("b"), arg("out"), arg("alpha") = 1.0, arg("beta") = 0.0,
          py::kw_only(), arg("stream") = 0,
          "out = alpha * a @ b + beta * out on 3-D arrays: a (batch|1, M, K), b (batch|1, K, N) with any strides "
          "(batch stride 0 broadcasts), out (batch, M, N) C-contiguous. beta == 0 ignores out's contents.");
    m.def("column_sums", &column_sums_binding<Env>, arg("a"), arg("out"), py::kw_only(), arg("stream") = 0,
          "out (N,) = the column sums of a C-contiguous a (M, N), in an order fixed by the shape.");
    m.def("gemm_naive", &gemm_naive_binding<Env>, arg("a"), arg("b"), arg("out"), arg("alpha") = 1.0,
          arg("beta") = 0.0, py::kw_only(), arg("stream") = 0,
          "The unblocked reference GEMM on 2-D arrays with any strides.");
    const char* conv_doc =
        " NHWC x, HWIO w (KH, KW, C // groups, O); strides (sh, sw), padding (pt, pb, pl, pr), dilation "
        "(dh, dw). All arrays C-contiguous; the output is overwritten.";
    m.def("conv2d_forward", &conv2d_forward_binding<Env>, arg("x"), arg("w"), arg("out"), arg("sh"), arg("sw"),
          arg("pt"), arg("pb"), arg("pl"), arg("pr"), arg("dh"), arg("dw"), arg("groups"), arg("bias") = py::none(),
          arg("activation") = py::none(), arg("alpha") = 0.0, py::kw_only(), arg("stream") = 0,
          (std::string("out (N, Ho, Wo, O) = activation(conv2d(x, w) + bias), the bias and activation applied as "
                       "each output is stored; bias (O,) or None, activation None or an activation_forward name.") +
           conv_doc).c_str());
    m.def("conv2d_backward_input", &conv2d_backward_input_binding<Env>, arg("grad_y"), arg("w"), arg("grad_x"),
          arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"), arg("dh"), arg("dw"), arg("groups"),
          py::kw_only(), arg("stream") = 0,
          (std::string("grad_x (N, H, W, C) from grad_y (N, Ho, Wo, O).") + conv_doc).c_str());
    m.def("conv2d_backward_weight", &conv2d_backward_weight_binding<Env>, arg("grad_y"), arg("x"), arg("grad_w"),
          arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"), arg("dh"), arg("dw"), arg("groups"),
          py::kw_only(), arg("stream") = 0,
          (std::string("grad_w (KH, KW, C // groups, O) from grad_y and x; summed in a fixed order.") + conv_doc)
              .c_str());
}

template void bind_cuda_gemm_conv<DeviceEnv>(py::module_&);
template void bind_cuda_gemm_conv<HostEnv>(py::module_&);

}  // namespace ember
