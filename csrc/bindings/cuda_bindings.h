// The registrations of ember._cuda's kernel functions, each written once over an environment (cuda_arrays.h):
// DeviceEnv for ember._cuda itself, HostEnv for ember._cuda.emulator. Signatures mirror ember._C's (_C.pyi) plus a
// keyword-only `stream`.
#pragma once

#include <pybind11/pybind11.h>

namespace ember {
namespace py = pybind11;

template <class Env>
void bind_cuda_gemm_conv(py::module_& m);
template <class Env>
void bind_cuda_pool_activation(py::module_& m);
template <class Env>
void bind_cuda_rnn(py::module_& m);
template <class Env>
void bind_cuda_extras(py::module_& m);

}  // namespace ember
