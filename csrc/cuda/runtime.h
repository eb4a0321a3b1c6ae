// The CUDA runtime as ember._cuda reports it: device count and why it is 0, versions, "no device" errors.
#pragma once

#include <string>

namespace ember {
namespace cuda {

// Devices the runtime sees; 0 (never an exception) when there is no driver or no device.
int device_count();
// "" when device_count() > 0, else why not: "CUDA driver not found ...", "no CUDA-capable device ...".
std::string driver_error();
int runtime_version();
int driver_version();  // 0 when no driver is installed
// Throws CudaError "<op>: no CUDA device (<driver_error>)" when device_count() == 0.
void require_device(const char* op);

}  // namespace cuda
}  // namespace ember
