// ember._cuda: ember's CUDA kernels. Bindings only: argument checks (cuda_arrays.h), GIL release, exception mapping:
// std::invalid_argument -> ValueError (pybind11), dtype problems -> TypeError, cuda::CudaError -> CudaError,
// cuda::CudaOutOfMemory -> CudaOutOfMemoryError (a CudaError and a MemoryError). The module imports with no driver
// (the CUDA runtime is linked statically): device_count() is then 0 and every kernel raises CudaError.
// ember._cuda.emulator holds the same kernel functions over NumPy arrays, run on the CPU (exec.cuh: HostExec).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime_api.h>

#include <sstream>
#include <string>
#include <vector>

#include "cuda/cuda_check.h"
#include "cuda/runtime.h"
#include "cuda_arrays.h"
#include "cuda_bindings.h"

#ifndef EMBER_CUDA_ARCHITECTURES
#define EMBER_CUDA_ARCHITECTURES ""
#endif

namespace py = pybind11;

namespace {

PyObject* cuda_error_type = nullptr;  // owned by the module for the life of the process
PyObject* cuda_oom_type = nullptr;

// "sm_80,sm_90,compute_90" (set by CMakeLists.txt from CMAKE_CUDA_ARCHITECTURES) as a list.
std::vector<std::string> compiled_architectures() {
    std::vector<std::string> out;
    std::stringstream in(EMBER_CUDA_ARCHITECTURES);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

template <class Env>
void bind_kernels(py::module_& m) {
    ember::bind_cuda_gemm_conv<Env>(m);
    ember::bind_cuda_pool_activation<Env>(m);
    ember::bind_cuda_rnn<Env>(m);
    ember::bind_cuda_extras<Env>(m);
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
    using namespace ember;
    m.doc() = "ember's CUDA kernels on __cuda_array_interface__ arrays (CuPy), queued on the caller's stream.";

    cuda_error_type = PyErr_NewExceptionWithDoc(
        "ember._cuda.CudaError", "A CUDA call or kernel launch failed; the message names the CUDA error, the op and "
        "the source file:line.", PyExc_RuntimeError, nullptr);
    const py::tuple oom_bases = py::make_tuple(py::handle(cuda_error_type), py::handle(PyExc_MemoryError));
    cuda_oom_type = PyErr_NewExceptionWithDoc("ember._cuda.CudaOutOfMemoryError", "The GPU ran out of memory.",
                                              oom_bases.ptr(), nullptr);
    if (!cuda_error_type || !cuda_oom_type) throw py::error_already_set();
    m.attr("CudaError") = py::handle(cuda_error_type);
    m.attr("CudaOutOfMemoryError") = py::handle(cuda_oom_type);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cuda::CudaOutOfMemory& e) {
            PyErr_SetString(cuda_oom_type, e.what());
        } catch (const cuda::CudaError& e) {
            PyErr_SetString(cuda_error_type, e.what());
        }
    });

    m.def("device_count", &cuda::device_count, "CUDA devices visible; 0 (never an exception) without driver or device.");
    m.def("driver_error", &cuda::driver_error, "'' when device_count() > 0, else why it is 0.");
    m.def("runtime_version", &cuda::runtime_version, "The CUDA runtime ember._cuda was built with (13000 = 13.0).");
    m.def("driver_version", &cuda::driver_version, "The installed driver's CUDA version, 0 when there is none.");
    m.def("compiled_architectures", &compiled_architectures,
          "The GPU code in the module: 'sm_XY' machine code, 'compute_XY' PTX (compiled by the driver at load).");
    m.def(
        "synchronize",
        [] {
            cuda::require_device("synchronize");
            py::gil_scoped_release release;
            EMBER_CUDA_CHECK("synchronize", cudaDeviceSynchronize());
        },
        "Waits for all work on the current device; raises CudaError for an earlier kernel's failure.");
    bind_kernels<DeviceEnv>(m);

    py::module_ emulator = m.def_submodule(
        "emulator",
        "The same kernel functions over NumPy arrays, on the CPU: the kernels' index math and cell code run by a "
        "host loop in the device's reduction order (not their shared-memory tiling). Slow; for tests without a GPU.");
    bind_kernels<HostEnv>(emulator);
}
