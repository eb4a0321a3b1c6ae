#include "runtime.h"

#include <cuda_runtime_api.h>

#include <cstring>

#include "cuda_check.h"

namespace ember {
namespace cuda {

void throw_cuda_error(cudaError_t err, const char* op, const char* file, int line) {
    cudaGetLastError();  // clear a non-sticky error so that the next call does not report it again
    // Paths from the source root: __FILE__ is absolute in CMake builds.
    const char* rel = std::strstr(file, "csrc/");
    const std::string message = std::string(op) + ": CUDA error " + cudaGetErrorName(err) + " (" +
                                cudaGetErrorString(err) + ") at " + (rel ? rel : file) + ":" + std::to_string(line);
    if (err == cudaErrorMemoryAllocation) throw CudaOutOfMemory(message, err);
    throw CudaError(message, err);
}

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

int runtime_version() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return v;
}

int driver_version() {
    int v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

static std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

std::string driver_error() {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    cudaGetLastError();
    if (err == cudaSuccess && n > 0) return "";
    const int driver = driver_version();
    if (driver == 0)
        return "CUDA driver not found (libcuda.so.1 could not be loaded: no NVIDIA driver is installed)";
    if (err == cudaErrorInsufficientDriver)
        return "CUDA driver " + version_str(driver) + " is older than the CUDA runtime " +
               version_str(runtime_version()) + " that ember._cuda was built with";
    if (err == cudaErrorNoDevice || (err == cudaSuccess && n == 0))
        return "no CUDA-capable device is detected (driver " + version_str(driver) + ")";
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

void require_device(const char* op) {
    if (device_count() > 0) return;
    throw CudaError(std::string(op) + ": no CUDA device (" + driver_error() + ")", cudaErrorNoDevice);
}

}  // namespace cuda
}  // namespace ember
