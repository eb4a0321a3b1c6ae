// ember._cuda: pooling, activations and softmax (bindings mirror bind_pool_activation.cpp's checks).
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "common/shapes.h"
#include "cuda/activation.h"
#include "cuda/pool2d.h"
#include "cuda_arrays.h"
#include "cuda_bindings.h"

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

template <class Env, bool IsMax>
void pool_forward(const py::handle& x_obj, const py::handle& out_obj, const PoolArgs& p, uintptr_t stream) {
    Env env(IsMax ? "max_pool2d_forward" : "avg_pool2d_forward", stream);
    const char* op = env.op();
    const Array x = env.array("x", x_obj), y = env.array("out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    check_4d(op, {&x, &y});
    const Pool2dGeom g = pool_geometry(op, x.shape, p);
    check_shape(op, "out", y.shape, g.y_shape());
    require_disjoint(op, y, x);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        if (IsMax)
            cuda::max_pool2d_forward<typename Env::Exec, T>(ctx, g, x.cptr<T>(), y.ptr<T>());
        else
            cuda::avg_pool2d_forward<typename Env::Exec, T>(ctx, g, x.cptr<T>(), y.ptr<T>());
    });
}

template <class Env>
void max_pool_backward(const py::handle& gy_obj, const py::handle& x_obj, const py::handle& gx_obj,
                       const PoolArgs& p, uintptr_t stream) {
    Env env("max_pool2d_backward", stream);
    const char* op = env.op();
    const Array gy = env.array("grad_y", gy_obj), x = env.array("x", x_obj), gx = env.array("grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&gy, &x, &gx});
    check_4d(op, {&gy, &x, &gx});
    const Pool2dGeom g = pool_geometry(op, x.shape, p);
    check_shape(op, "grad_y", gy.shape, g.y_shape());
    check_shape(op, "grad_x", gx.shape, g.x_shape());
    require_disjoint(op, gx, gy);
    require_disjoint(op, gx, x);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::max_pool2d_backward<typename Env::Exec, T>(ctx, g, gy.cptr<T>(), x.cptr<T>(), gx.ptr<T>());
    });
}

template <class Env>
void avg_pool_backward(const py::handle& gy_obj, const py::handle& gx_obj, const PoolArgs& p, uintptr_t stream) {
    Env env("avg_pool2d_backward", stream);
    const char* op = env.op();
    const Array gy = env.array("grad_y", gy_obj), gx = env.array("grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&gy, &gx});
    check_4d(op, {&gy, &gx});
    const Pool2dGeom g = pool_geometry(op, gx.shape, p);
    check_shape(op, "grad_y", gy.shape, g.y_shape());
    require_disjoint(op, gx, gy);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::avg_pool2d_backward<typename Env::Exec, T>(ctx, g, gy.cptr<T>(), gx.ptr<T>());
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

template <class Env>
void activation_forward_binding(const std::string& name, const py::handle& x_obj, const py::handle& out_obj,
                                double alpha, uintptr_t stream) {
    Env env("activation_forward", stream);
    const char* op = env.op();
    const cuda::Act act = cuda::parse_act(name);
    const Array x = env.array("x", x_obj), y = env.array("out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    same_shape(op, {&x, &y});
    require_disjoint(op, y, x, true);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::activation_forward<typename Env::Exec, T>(ctx, act, x.size(), x.cptr<T>(), y.ptr<T>(), T(alpha));
    });
}

template <class Env>
void activation_backward_binding(const std::string& name, const py::handle& x_obj, const py::handle& y_obj,
                                 const py::handle& gy_obj, const py::handle& gx_obj, double alpha, uintptr_t stream) {
    Env env("activation_backward", stream);
    const char* op = env.op();
    const cuda::Act act = cuda::parse_act(name);
    const Array x = env.array("x", x_obj), y = env.array("y", y_obj), gy = env.array("grad_y", gy_obj),
                gx = env.array("grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&x, &y, &gy, &gx});
    same_shape(op, {&x, &y, &gy, &gx});
    for (const Array* in : {&x, &y, &gy}) require_disjoint(op, gx, *in, true);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::activation_backward<typename Env::Exec, T>(ctx, act, x.size(), x.cptr<T>(), y.cptr<T>(), gy.cptr<T>(),
                                                         gx.ptr<T>(), T(alpha));
    });
}

template <class Env, bool Log>
void softmax_forward_binding(const py::handle& x_obj, const py::handle& out_obj, uintptr_t stream) {
    Env env(Log ? "log_softmax_forward" : "softmax_forward", stream);
    const char* op = env.op();
    const Array x = env.array("x", x_obj), y = env.array("out", out_obj, true);
    const DType dt = common_dtype(op, {&x, &y});
    EMBER_CHECK(!x.shape.empty(), op, ": expected at least 1-D `x`, got a 0-D array");
    same_shape(op, {&x, &y});
    require_disjoint(op, y, x, true);
    const int64_t cols = x.shape.back(), rows = cols == 0 ? 0 : x.size() / cols;
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::softmax_forward<typename Env::Exec, T>(ctx, rows, cols, x.cptr<T>(), y.ptr<T>(), Log);
    });
}

template <class Env, bool Log>
void softmax_backward_binding(const py::handle& y_obj, const py::handle& gy_obj, const py::handle& gx_obj,
                              uintptr_t stream) {
    Env env(Log ? "log_softmax_backward" : "softmax_backward", stream);
    const char* op = env.op();
    const Array y = env.array("y", y_obj), gy = env.array("grad_y", gy_obj), gx = env.array("grad_x", gx_obj, true);
    const DType dt = common_dtype(op, {&y, &gy, &gx});
    EMBER_CHECK(!y.shape.empty(), op, ": expected at least 1-D `y`, got a 0-D array");
    same_shape(op, {&y, &gy, &gx});
    require_disjoint(op, gx, y, true);
    require_disjoint(op, gx, gy, true);
    const int64_t cols = y.shape.back(), rows = cols == 0 ? 0 : y.size() / cols;
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::softmax_backward<typename Env::Exec, T>(ctx, rows, cols, y.cptr<T>(), gy.cptr<T>(), gx.ptr<T>(), Log);
    });
}

}  // namespace

template <class Env>
void bind_cuda_pool_activation(py::module_& m) {
    using py::arg;
    const std::string pool_doc =
        " NHWC, pool (ph, pw), strides (sh, sw), padding (pt, pb, pl, pr); C-contiguous arrays.";
    m.def(
        "max_pool2d_forward",
        [](const py::handle& x, const py::handle& out, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr, uintptr_t stream) {
            pool_forward<Env, true>(x, out, {ph, pw, sh, sw, pt, pb, pl, pr}, stream);
        },
        arg("x"), arg("out"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"),
        py::kw_only(), arg("stream") = 0, ("out = max pool of x; padding never wins, NaN propagates." + pool_doc).c_str());
    m.def(
        "max_pool2d_backward",
        [](const py::handle& gy, const py::handle& x, const py::handle& gx, int64_t ph, int64_t pw, int64_t sh,
           int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, uintptr_t stream) {
            max_pool_backward<Env>(gy, x, gx, {ph, pw, sh, sw, pt, pb, pl, pr}, stream);
        },
        arg("grad_y"), arg("x"), arg("grad_x"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"),
        arg("pl"), arg("pr"), py::kw_only(), arg("stream") = 0,
        ("grad_x: each window's grad to its first NaN, else its first maximum." + pool_doc).c_str());
    m.def(
        "avg_pool2d_forward",
        [](const py::handle& x, const py::handle& out, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr, uintptr_t stream) {
            pool_forward<Env, false>(x, out, {ph, pw, sh, sw, pt, pb, pl, pr}, stream);
        },
        arg("x"), arg("out"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"), arg("pr"),
        py::kw_only(), arg("stream") = 0, ("out = mean over each window's real cells." + pool_doc).c_str());
    m.def(
        "avg_pool2d_backward",
        [](const py::handle& gy, const py::handle& gx, int64_t ph, int64_t pw, int64_t sh, int64_t sw, int64_t pt,
           int64_t pb, int64_t pl, int64_t pr, uintptr_t stream) {
            avg_pool_backward<Env>(gy, gx, {ph, pw, sh, sw, pt, pb, pl, pr}, stream);
        },
        arg("grad_y"), arg("grad_x"), arg("ph"), arg("pw"), arg("sh"), arg("sw"), arg("pt"), arg("pb"), arg("pl"),
        arg("pr"), py::kw_only(), arg("stream") = 0, ("grad_x (its shape gives x's) from grad_y." + pool_doc).c_str());

    m.def("activation_forward", &activation_forward_binding<Env>, arg("name"), arg("x"), arg("out"),
          arg("alpha") = 0.0, py::kw_only(), arg("stream") = 0,
          "out = act(x); name: relu, leaky_relu, elu, sigmoid, tanh. C-contiguous, same shape; out may be x.");
    m.def("activation_backward", &activation_backward_binding<Env>, arg("name"), arg("x"), arg("y"), arg("grad_y"),
          arg("grad_x"), arg("alpha") = 0.0, py::kw_only(), arg("stream") = 0,
          "grad_x from x, y = act(x) and grad_y.");
    m.def("softmax_forward", &softmax_forward_binding<Env, false>, arg("x"), arg("out"), py::kw_only(),
          arg("stream") = 0, "softmax over the last axis of a C-contiguous array.");
    m.def("softmax_backward", &softmax_backward_binding<Env, false>, arg("y"), arg("grad_y"), arg("grad_x"),
          py::kw_only(), arg("stream") = 0,
          "grad_x = y * (grad_y - sum(grad_y * y)) over the last axis; y is the forward's output.");
    m.def("log_softmax_forward", &softmax_forward_binding<Env, true>, arg("x"), arg("out"), py::kw_only(),
          arg("stream") = 0, "log_softmax over the last axis of a C-contiguous array.");
    m.def("log_softmax_backward", &softmax_backward_binding<Env, true>, arg("y"), arg("grad_y"), arg("grad_x"),
          py::kw_only(), arg("stream") = 0,
          "grad_x = grad_y - exp(y) * sum(grad_y) over the last axis; y is the forward's output.");
}

template void bind_cuda_pool_activation<DeviceEnv>(py::module_&);
template void bind_cuda_pool_activation<HostEnv>(py::module_&);

}  // namespace ember
