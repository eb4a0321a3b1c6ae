// Bindings of pooling, activations and softmax.
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "common/shapes.h"
#include "cpu/activation.h"
#include "cpu/column_sums.h"
#include "cpu/pool2d.h"

namespace ember {
namespace {

struct PoolArgs {
    int64_t ph, pw, sh, sw, pt, pb, pl, pr;
};

Pool2dGeom pool_geometry(const char* op, const Shape& x_shape, const PoolArgs& p) {
    return pool2d_geometry(op, x_shape, p.ph, p.pw, p.sh, p.sw, p.pt, p.pb, p.pl, p.pr);
}

void check_4d(const char* op, std::initializer_list<const Array*> arrays) {
    for (const Array* a : arrays) {
        require_rank(op, *a, 4);
        require_contiguous(op, *a);
    }
}

template <bool IsMax>
void pool_forward(const char* op, const py::handle& x_obj, const py::handle& out_obj, const PoolArgs& p) {
    const Array x = as_array(op, "x", x_obj), y = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    check_4d(op, {&x, &y});
    const Pool2dGeom g = pool_geometry(op, x.shape, p);
    check_shape(op, "out", y.shape, g.y_shape());
    require_disjoint(op, y, x);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        if (IsMax)
            max_pool2d_forward<T>(g, x.cptr<T>(), y.ptr<T>());
        else
            avg_pool2d_forward<T>(g, x.cptr<T>(), y.ptr<T>());
    });
}

void max_pool_backward(const py::handle& gy_obj, const py::handle& x_obj, const py::handle& gx_obj,
                       const PoolArgs& p) {
    const char* op = "max_pool2d_backward";
    const Array gy = as_array(op, "grad_y", gy_obj), x = as_array(op, "x", x_obj),
                gx = as_array(op, "grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&gy, &x, &gx});
    check_4d(op, {&gy, &x, &gx});
    const Pool2dGeom g = pool_geometry(op, x.shape, p);
    check_shape(op, "grad_y", gy.shape, g.y_shape());
    check_shape(op, "grad_x", gx.shape, g.x_shape());
    require_disjoint(op, gx, gy);
    require_disjoint(op, gx, x);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        max_pool2d_backward<T>(g, gy.cptr<T>(), x.cptr<T>(), gx.ptr<T>());
    });
}

void avg_pool_backward(const py::handle& gy_obj, const py::handle& gx_obj, const PoolArgs& p) {
    const char* op = "avg_pool2d_backward";
    const Array gy = as_array(op, "grad_y", gy_obj), gx = as_array(op, "grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&gy, &gx});
    check_4d(op, {&gy, &gx});
    const Pool2dGeom g = pool_geometry(op, gx.shape, p);
    check_shape(op, "grad_y", gy.shape, g.y_shape());
    require_disjoint(op, gx, gy);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        avg_pool2d_backward<T>(g, gy.cptr<T>(), gx.ptr<T>());
    });
}

// Elementwise ops take arrays of any rank, all C-contiguous and of one shape; the output may be an input.
void same_shape(const char* op, std::initializer_list<const Array*> arrays) {
    const Array* first = *arrays.begin();
    for (const Array* a : arrays) {
        require_contiguous(op, *a);
        EMBER_CHECK(a->shape == first->shape, op, ": `", a->name, "` has shape ", shape_str(a->shape), ", expected ",
                    shape_str(first->shape), " (the shape of `", first->name, "`)");
    }
}

void activation_forward_binding(const std::string& name, const py::handle& x_obj, const py::handle& out_obj,
                                double alpha) {
    const char* op = "activation_forward";
    const Activation act = parse_activation(name);
    const Array x = as_array(op, "x", x_obj), y = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    same_shape(op, {&x, &y});
    require_disjoint(op, y, x, true);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        activation_forward<T>(act, x.size(), x.cptr<T>(), y.ptr<T>(), T(alpha));
    });
}

void activation_backward_binding(const std::string& name, const py::handle& x_obj, const py::handle& y_obj,
                                 const py::handle& gy_obj, const py::handle& gx_obj, double alpha) {
    const char* op = "activation_backward";
    const Activation act = parse_activation(name);
    const Array x = as_array(op, "x", x_obj), y = as_array(op, "y", y_obj), gy = as_array(op, "grad_y", gy_obj),
                gx = as_array(op, "grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&x, &y, &gy, &gx});
    same_shape(op, {&x, &y, &gy, &gx});
    for (const Array* in : {&x, &y, &gy}) require_disjoint(op, gx, *in, true);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        activation_backward<T>(act, x.size(), x.cptr<T>(), y.cptr<T>(), gy.cptr<T>(), gx.ptr<T>(), T(alpha));
    });
}

// out (..., C) = act(x + bias) over the last axis; name None is the identity, bias None adds nothing.
void bias_activation_forward_binding(const py::object& name, const py::handle& x_obj, const py::handle& bias_obj,
                                     const py::handle& out_obj, double alpha) {
    const char* op = "bias_activation_forward";
    const bool has_act = !name.is_none();
    const Activation act = has_act ? parse_activation(name.cast<std::string>()) : Activation::relu;
    const Array x = as_array(op, "x", x_obj), y = as_array(op, "out", out_obj, true);
    const bool has_bias = !bias_obj.is_none();
    const Array b = has_bias ? as_array(op, "bias", bias_obj) : x;
    const DType dt = common_dtype(op, {&x, &y, &b});
    EMBER_CHECK(!x.shape.empty(), op, ": expected at least 1-D `x`, got a 0-D array");
    same_shape(op, {&x, &y});
    require_contiguous(op, x);
    require_contiguous(op, y);
    const int64_t cols = x.shape.back(), rows = cols == 0 ? 0 : x.size() / cols;
    if (has_bias) {
        require_contiguous(op, b);
        EMBER_CHECK(b.shape == Shape{cols}, op, ": x ", shape_str(x.shape), ", bias ", shape_str(b.shape),
                    ": expected bias (", cols, ",), one value per channel of the last axis");
        require_disjoint(op, y, b);
    }
    require_disjoint(op, y, x, true);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        bias_activation_forward<T>(has_act ? &act : nullptr, rows, cols, x.cptr<T>(), has_bias ? b.cptr<T>() : nullptr,
                                   y.ptr<T>(), T(alpha));
    });
}

// grad_x = act'(y) * grad_y and grad_bias = grad_x summed over every axis but the last, in one pass.
void bias_activation_backward_binding(const py::object& name, const py::handle& y_obj, const py::handle& gy_obj,
                                      const py::handle& gx_obj, const py::handle& gb_obj, double alpha) {
    const char* op = "bias_activation_backward";
    const bool has_act = !name.is_none();
    const Activation act = has_act ? parse_activation(name.cast<std::string>()) : Activation::relu;
    const Array y = as_array(op, "y", y_obj), gy = as_array(op, "grad_y", gy_obj),
                gx = as_array(op, "grad_x", gx_obj, true), gb = as_array(op, "grad_bias", gb_obj, true);
    const DType dt = common_dtype(op, {&y, &gy, &gx, &gb});
    EMBER_CHECK(!y.shape.empty(), op, ": expected at least 1-D `y`, got a 0-D array");
    same_shape(op, {&y, &gy, &gx});
    for (const Array* a : {&y, &gy, &gx, &gb}) require_contiguous(op, *a);
    const int64_t cols = y.shape.back(), rows = cols == 0 ? 0 : y.size() / cols;
    EMBER_CHECK(gb.shape == Shape{cols}, op, ": y ", shape_str(y.shape), ", grad_bias ", shape_str(gb.shape),
                ": expected grad_bias (", cols, ",), one value per channel of the last axis");
    for (const Array* in : {&y, &gy}) {
        require_disjoint(op, gx, *in, true);
        require_disjoint(op, gb, *in);
    }
    require_disjoint(op, gb, gx);
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        bias_activation_backward<T>(has_act ? &act : nullptr, rows, cols, y.cptr<T>(), gy.cptr<T>(), gx.ptr<T>(),
                                    gb.ptr<T>(), T(alpha));
    });
}

// softmax / log_softmax over the last axis; any rank >= 1, rows = product of the other dims.
template <bool Log>
void softmax_forward_binding(const py::handle& x_obj, const py::handle& out_obj) {
    const char* op = Log ? "log_softmax_forward" : "softmax_forward";
    const Array x = as_array(op, "x", x_obj), y = as_array(op, "out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    EMBER_CHECK(!x.shape.empty(), op, ": expected at least 1-D `x`, got a 0-D array");
    same_shape(op, {&x, &y});
    require_disjoint(op, y, x, true);
    const int64_t cols = x.shape.back(), rows = cols == 0 ? 0 : x.size() / cols;
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        if (Log)
            log_softmax_forward<T>(rows, cols, x.cptr<T>(), y.ptr<T>());
        else
            softmax_forward<T>(rows, cols, x.cptr<T>(), y.ptr<T>());
    });
}

template <bool Log>
void softmax_backward_binding(const py::handle& y_obj, const py::handle& gy_obj, const py::handle& gx_obj) {
    const char* op = Log ? "log_softmax_backward" : "softmax_backward";
    const Array y = as_array(op, "y", y_obj), gy = as_array(op, "grad_y", gy_obj),
                gx = as_array(op, "grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&y, &gy, &gx});
    EMBER_CHECK(!y.shape.empty(), op, ": expected at least 1-D `y`, got a 0-D array");
    same_shape(op, {&y, &gy, &gx});
    require_disjoint(op, gx, y, true);
    require_disjoint(op, gx, gy, true);
    const int64_t cols = y.shape.back(), rows = cols == 0 ? 0 : y.size() / cols;
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        if (Log)
            log_softmax_backward<T>(rows, cols, y.cptr<T>(), gy.cptr<T>(), gx.ptr<T>());
        else
            softmax_backward<T>(rows, cols, y.cptr<T>(), gy.cptr<T>(), gx.ptr<T>());
    });
}

}  // namespace

void bind_pool_activation(py::module_& m) {
    using py::arg;
    const char* pool_doc = " NHWC, pool (ph, pw), strides (sh, sw), padding (pt, pb, pl, pr); C-contiguous arrays.";
    m.def(
        "max_pool2d_forward",
        [](const py::handle& x, const py::handle& out, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr) {
            pool_forward<true>("max_pool2d_forward", x, out, {ph, pw, sh, sw, pt, pb, pl, pr});
        },
        arg("x"), arg("out"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"),
        (std::string("out = max pool of x; padding never wins, NaN propagates.") + pool_doc).c_str());
    m.def(
        "max_pool2d_backward",
        [](const py::handle& gy, const py::handle& x, const py::handle& gx, int64_t ph, int64_t pw, int64_t sh,
           int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
            max_pool_backward(gy, x, gx, {ph, pw, sh, sw, pt, pb, pl, pr});
        },
        arg("grad_y"), arg("x"), arg("grad_x"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"),
        arg("pl"), arg("pr"),
        (std::string("grad_x: each window's grad to its first NaN, else its first maximum.") + pool_doc).c_str());
    m.def(
        "avg_pool2d_forward",
        [](const py::handle& x, const py::handle& out, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr) {
            pool_forward<false>("avg_pool2d_forward", x, out, {ph, pw, sh, sw, pt, pb, pl, pr});
        },
        arg("x"), arg("out"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"),
        (std::string("out = mean over each window's real cells.") + pool_doc).c_str());
    m.def(
        "avg_pool2d_backward",
        [](const py::handle& gy, const py::handle& gx, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr) { avg_pool_backward(gy, gx, {ph, pw, sh, sw, pt, pb, pl, pr}); },
        arg("grad_y"), arg("grad_x"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"),
        arg("pr"), (std::string("grad_x (its shape gives x's) from grad_y.") + pool_doc).c_str());

    m.def("activation_forward", &activation_forward_binding, arg("name"), arg("x"), arg("out"), arg("alpha") = 0.0,
          "out = act(x); name: relu, leaky_relu, elu, sigmoid, tanh. C-contiguous, same shape; out may be x.");
    m.def("activation_backward", &activation_backward_binding, arg("name"), arg("x"), arg("y"), arg("grad_y"),
          arg("grad_x"), arg("alpha") = 0.0, "grad_x from x, y = act(x) and grad_y.");
    m.def("bias_activation_forward", &bias_activation_forward_binding, arg("name"), arg("x"), arg("bias"),
          arg("out"), arg("alpha") = 0.0,
          "out = act(x + bias) over the last axis in one pass; name None: no activation, bias None: no bias; "
          "out may be x.");
    m.def("bias_activation_backward", &bias_activation_backward_binding, arg("name"), arg("y"), arg("grad_y"),
          arg("grad_x"), arg("grad_bias"), arg("alpha") = 0.0,
          "grad_x = act'(y) * grad_y (name None: a copy) and grad_bias its sums over every axis but the last, in "
          "one pass; y is the forward's output. C-contiguous; grad_x may be grad_y.");
    m.def("softmax_forward", &softmax_forward_binding<false>, arg("x"), arg("out"),
          "softmax over the last axis of a C-contiguous array.");
    m.def("softmax_backward", &softmax_backward_binding<false>, arg("y"), arg("grad_y"), arg("grad_x"),
          "grad_x = y * (grad_y - sum(grad_y * y)) over the last axis; y is the forward's output.");
    m.def("log_softmax_forward", &softmax_forward_binding<true>, arg("x"), arg("out"),
          "log_softmax over the last axis of a C-contiguous array.");
    m.def("log_softmax_backward", &softmax_backward_binding<true>, arg("y"), arg("grad_y"), arg("grad_x"),
          "grad_x = grad_y - exp(y) * sum(grad_y) over the last axis; y is the forward's output.");
}

}  // namespace ember
