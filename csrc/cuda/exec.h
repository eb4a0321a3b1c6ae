// The two executors every CUDA driver is instantiated for (defined in exec.cuh): DeviceExec queues kernels on the
// GPU, HostExec runs the same kernel bodies on the CPU for ember._cuda.emulator. Drivers are declared as
// template <class X, typename T> f(const Ctx&, ...) and explicitly instantiated for both, so C++ callers (the
// bindings) need only these declarations.
#pragma once

#include "cuda_check.h"

namespace ember {
namespace cuda {

struct DeviceExec;
struct HostExec;

}  // namespace cuda
}  // namespace ember

// Instantiates MACRO(X, T) for both executors and both dtypes.
#define EMBER_CUDA_FOR_EXECS(MACRO)  \
    MACRO(DeviceExec, float)          \
    MACRO(DeviceExec, double)         \
    MACRO(HostExec, float)            \
    MACRO(HostExec, double)
