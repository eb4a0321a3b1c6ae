// Operands of ember._cuda's kernels, parsed into the same Array (pointer, shape, element strides) as ember._C's
// NumPy operands, with the same checks and messages (arrays.h): dtype, rank, shape, contiguity, writability,
// overlap. Two environments implement one interface, so each binding is written once:
//     DeviceEnv  objects with __cuda_array_interface__ (v2 or v3) in device memory of the current device; work is
//                queued on the call's `stream` after the streams the arrays were produced on
//     HostEnv    NumPy arrays, for ember._cuda.emulator (the same kernel bodies run on the CPU)
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "cuda/cuda_check.h"
#include "cuda/exec.h"

namespace ember {

class DeviceEnv {
  public:
    using Exec = cuda::DeviceExec;
    DeviceEnv(const char* op, uintptr_t stream) : op_(op), stream_(stream) {}
    // TypeError for an object without __cuda_array_interface__ (a NumPy array included) or of another dtype.
    Array array(const char* name, const py::handle& obj, bool output = false);
    // A (T, B) bool mask, or null for None.
    const uint8_t* mask(const py::object& obj, const Shape& expected);
    // After the shape checks, before the launch: a device is there (else CudaError "no CUDA device"), every array is
    // device memory of the current device (TypeError for host memory, ValueError for another device), and the
    // call's stream waits for the arrays' producer streams (__cuda_array_interface__ v3 "stream").
    cuda::Ctx ready();
    const char* op() const { return op_; }

  private:
    const char* op_;
    uintptr_t stream_;
    std::vector<std::pair<const void*, const char*>> pointers_;
    std::vector<intptr_t> producers_;
};

class HostEnv {
  public:
    using Exec = cuda::HostExec;
    HostEnv(const char* op, uintptr_t) : op_(op) {}
    Array array(const char* name, const py::handle& obj, bool output = false) {
        return as_array(op_, name, obj, output);
    }
    const uint8_t* mask(const py::object& obj, const Shape& expected);
    cuda::Ctx ready() const { return {op_, nullptr}; }
    const char* op() const { return op_; }

  private:
    const char* op_;
};

}  // namespace ember
