// ember._cuda's kernels that ember._C does not have: batch-norm statistics and Philox dropout masks.
#include <pybind11/pybind11.h>

#include <cmath>

#include "arrays.h"
#include "common/shapes.h"
#include "cuda/batch_norm.h"
#include "cuda/dropout.h"
#include "cuda_arrays.h"
#include "cuda_bindings.h"

namespace ember {
namespace {

template <class Env>
void batch_norm_statistics_binding(const py::handle& x_obj, const py::handle& mean_obj, const py::handle& var_obj,
                                   uintptr_t stream) {
    Env env("batch_norm_statistics", stream);
    const char* op = env.op();
    const Array x = env.array("x", x_obj), mean = env.array("mean", mean_obj, true),
                var = env.array("var", var_obj, true);
    const DType dt = common_dtype(op, {&x, &mean, &var});
    require_rank(op, x, 2);
    require_contiguous(op, x);
    const int64_t M = x.shape[0], C = x.shape[1];
    check_shape(op, "mean", mean.shape, {C});
    check_shape(op, "var", var.shape, {C});
    require_contiguous(op, mean);
    require_contiguous(op, var);
    require_disjoint(op, mean, x);
    require_disjoint(op, var, x);
    require_disjoint(op, var, mean);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(dt, [&](auto t) {
        using T = decltype(t);
        cuda::batch_norm_statistics<typename Env::Exec, T>(ctx, M, C, x.cptr<T>(), mean.ptr<T>(), var.ptr<T>());
    });
}

template <class Env>
void dropout_mask_binding(const py::handle& out_obj, double rate, uint64_t seed, uint64_t offset, uintptr_t stream) {
    Env env("dropout_mask", stream);
    const char* op = env.op();
    const Array out = env.array("out", out_obj, true);
    require_contiguous(op, out);
    EMBER_CHECK(rate >= 0.0 && rate <= 1.0, op, ": invalid value for argument `rate`. Expected a float in [0, 1]. "
                "Received: rate=", rate);
    const cuda::Ctx ctx = env.ready();
    py::gil_scoped_release release;
    dispatch(out.dtype, [&](auto t) {
        using T = decltype(t);
        cuda::dropout_mask<typename Env::Exec, T>(ctx, out.size(), out.ptr<T>(), rate, seed, offset);
    });
}

}  // namespace

template <class Env>
void bind_cuda_extras(py::module_& m) {
    using py::arg;
    m.def("batch_norm_statistics", &batch_norm_statistics_binding<Env>, arg("x"), arg("mean"), arg("var"),
          py::kw_only(), arg("stream") = 0,
          "mean (C,) and biased variance (C,) of x (M, C) per channel, in a fixed order (Welford over fixed chunks "
          "of rows, merged in order); M == 0 gives NaN.");
    m.def("dropout_mask", &dropout_mask_binding<Env>, arg("out"), arg("rate"), arg("seed"), arg("offset"),
          py::kw_only(), arg("stream") = 0,
          "out (any shape, C-contiguous, read flat): element i is 1 / (1 - rate) (0 for rate 1) where Philox4x32-10 word "
          "offset + i under key seed is >= floor(rate * 2**32), else 0; (seed, offset) determine the mask.");
}

template void bind_cuda_extras<DeviceEnv>(py::module_&);
template void bind_cuda_extras<HostEnv>(py::module_&);

}  // namespace ember
