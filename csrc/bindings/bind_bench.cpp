// Bindings of the bench's measurements of the machine (cpu/peak.h): the FMA peak and the copy bandwidth.
#include <pybind11/pybind11.h>

#include "cpu/peak.h"

namespace py = pybind11;

namespace ember {

void bind_bench(py::module_& m) {
    m.def(
        "measure_fma_peak",
        [](double seconds, int threads) {
            py::gil_scoped_release release;
            return measure_fma_peak(seconds, threads);
        },
        py::arg("seconds"), py::arg("threads") = 0,
        "GFLOP/s of a register-only float32 FMA loop (the GEMM's ISA) on `threads` threads (0: ember's count), "
        "timed for `seconds`.");
    m.def(
        "measure_copy_bandwidth",
        [](int64_t bytes, double seconds, int threads) {
            py::gil_scoped_release release;
            return measure_copy_bandwidth(bytes, seconds, threads);
        },
        py::arg("bytes"), py::arg("seconds"), py::arg("threads") = 0,
        "GB/s (read + written) of the best parallel memcpy of a `bytes` array within `seconds`, on `threads` "
        "threads (0: ember's count).");
}

}  // namespace ember
