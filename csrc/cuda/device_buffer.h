// Scratch device memory for one kernel call, stream-ordered: cudaMallocAsync on the call's stream, cudaFreeAsync
// on the same stream when the buffer goes out of scope, so the memory is reused only after the kernels that read
// it have run. Out of memory raises CudaOutOfMemory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "cuda_check.h"

namespace ember {
namespace cuda {

template <typename T>
class DeviceBuffer {
  public:
    DeviceBuffer(const Ctx& ctx, size_t count) : stream_(ctx.stream) {
        if (count > 0) {
            void* p = nullptr;
            EMBER_CUDA_CHECK(ctx.op, cudaMallocAsync(&p, count * sizeof(T), ctx.stream));
            data_ = static_cast<T*>(p);
        }
    }
    ~DeviceBuffer() {
        if (data_) cudaFreeAsync(data_, stream_);  // an error here would already have been reported by a launch
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    T* get() const { return data_; }

  private:
    T* data_ = nullptr;
    cudaStream_t stream_;
};

}  // namespace cuda
}  // namespace ember
