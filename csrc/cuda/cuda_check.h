// Errors and launch context of the CUDA kernels (host side; included by .cu and .cpp files alike).
// Every CUDA call and every launch goes through EMBER_CUDA_CHECK / EMBER_CUDA_LAUNCHED, which throw CudaError with
// the error's name, the op and the file:line; the bindings map it to ember._cuda.CudaError (CudaOutOfMemoryError
// for cudaErrorMemoryAllocation). Nothing here aborts the interpreter.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace ember {
namespace cuda {

class CudaError : public std::runtime_error {
  public:
    CudaError(const std::string& message, cudaError_t code) : std::runtime_error(message), code_(code) {}
    cudaError_t code() const { return code_; }

  private:
    cudaError_t code_;
};

class CudaOutOfMemory : public CudaError {
  public:
    using CudaError::CudaError;
};

// "<op>: CUDA error <name> (<description>) at csrc/cuda/<file>:<line>"; OOM throws CudaOutOfMemory.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* op, const char* file, int line);

// What every launcher needs: the op's name (for messages) and the stream its work is queued on.
struct Ctx {
    const char* op;
    cudaStream_t stream;
};

}  // namespace cuda
}  // namespace ember

#define EMBER_CUDA_CHECK(op, call)                                                          \
    do {                                                                                    \
        const cudaError_t ember_cuda_err_ = (call);                                         \
        if (ember_cuda_err_ != cudaSuccess)                                                 \
            ::ember::cuda::throw_cuda_error(ember_cuda_err_, (op), __FILE__, __LINE__);     \
    } while (0)

// After each <<<...>>>: a bad configuration or a failed launch is reported here, by the launching line.
#define EMBER_CUDA_LAUNCHED(ctx) EMBER_CUDA_CHECK((ctx).op, cudaGetLastError())
