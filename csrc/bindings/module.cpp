// ember._C: the native CPU kernels. Bindings only: argument checks, GIL release, exception mapping
// (std::invalid_argument -> ValueError, done by pybind11; dtype problems raise TypeError).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "common/allocator.h"
#include "common/parallel.h"
#include "cpu/gemm.h"

namespace py = pybind11;

namespace ember {
void bind_gemm_conv(py::module_& m);
void bind_pool_activation(py::module_& m);
void bind_rnn(py::module_& m);
void bind_bench(py::module_& m);
void bind_optimizer(py::module_& m);
void bind_host_cache(py::module_& m);
}  // namespace ember

#ifdef EMBER_SANITIZE
namespace {
// UBSan's object-size check would catch this read first; the canary is meant for AddressSanitizer.
__attribute__((no_sanitize("undefined"), noinline)) int read_past_heap_block() {
    int* block = new int[4]{1, 2, 3, 4};
    const volatile int* past_end = block + 4;
    const int value = *past_end;
    delete[] block;
    return value;
}
}  // namespace
#endif

PYBIND11_MODULE(_C, m) {
    using namespace ember;
    m.doc() = "ember's native CPU kernels (OpenMP, AVX2/AVX-512 GEMM micro-kernels chosen at run time).";
    m.attr("allocator_tuned") = tune_allocator();

    m.def("set_num_threads", &set_num_threads, py::arg("n"),
          "Threads every kernel uses from now on, process-wide; n <= 0 restores the default; at most 1024.");
    m.def("get_num_threads", &get_num_threads, "Threads the kernels use.");
    m.def(
        "cpu_features",
        [] {
            const CpuFeatures& f = cpu_features();
            py::dict d;
            d["x86"] = f.x86;
            d["sse2"] = f.sse2;
            d["avx"] = f.avx;
            d["avx2"] = f.avx2;
            d["fma"] = f.fma;
            d["avx512f"] = f.avx512f;
            d["avx512bw"] = f.avx512bw;
            d["avx512dq"] = f.avx512dq;
            d["avx512vl"] = f.avx512vl;
#ifdef EMBER_X86_KERNELS
            d["compiled_kernels"] = py::make_tuple("generic", "avx2", "avx512");
#else
            d["compiled_kernels"] = py::make_tuple("generic");
#endif
            d["gemm_kernel"] = gemm_kernel_name();
#ifdef _OPENMP
            d["openmp"] = true;
#else
            d["openmp"] = false;
#endif
            return d;
        },
        "CPU flags seen at run time, the GEMM micro-kernels compiled in and the one in use.");
    m.def("gemm_kernel", &gemm_kernel_name, "The GEMM micro-kernel in use: 'avx512', 'avx2' or 'generic'.");
    m.def("set_gemm_kernel", &set_gemm_kernel, py::arg("name"),
          "Force a GEMM micro-kernel ('generic', 'avx2', 'avx512') or 'auto'; for tests and benchmarks.");
    m.def(
        "isa_tables_built",
        [] {
            static const char* const names[] = {"generic", "avx2", "avx512"};
            py::list built;
            for (int isa = 0; isa < 3; ++isa)
                if (isa_tables_built() & (1 << isa)) built.append(names[isa]);
            return py::tuple(built);
        },
        "The ISAs whose kernel tables (activations, pooling, convolutions, recurrent cells) were built so far: "
        "only the ones chosen, since a table's builder may itself use its ISA's instructions.");

#ifdef EMBER_SANITIZE
    m.attr("sanitized") = true;
    // Only in the EMBER_SANITIZE build: a deliberate error that the sanitizers must report, proving the runtime is
    // live (.ci/sanitize asserts that each kind kills the process with its report). "address" reads one element
    // past a heap array; "undefined" overflows a signed int.
    m.def(
        "_sanitizer_canary",
        [](const std::string& kind) {
            if (kind == "address") return read_past_heap_block();
            if (kind == "undefined") {
                volatile int big = std::numeric_limits<int>::max();
                return big + 1;
            }
            throw std::invalid_argument("_sanitizer_canary: expected 'address' or 'undefined', got '" + kind + "'");
        },
        py::arg("kind"));
#else
    m.attr("sanitized") = false;
#endif

    bind_gemm_conv(m);
    bind_pool_activation(m);
    bind_rnn(m);
    bind_optimizer(m);
    bind_bench(m);
    bind_host_cache(m);
}
