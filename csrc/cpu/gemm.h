// General-strided GEMM: C = alpha * A @ B + beta * C, for float and double.
// Every operand is addressed by a row stride and a column stride in elements, so a transposed view is
// just swapped strides and needs no copy. beta == 0 means C is written without being read (NaN in C
// does not leak through). C must not overlap A or B.
#pragma once

#include <cstdint>
#include <string>

namespace ember {

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
          int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c);

// Batched: operand i of item p starts at base + p * stride_*; a batch stride of 0 broadcasts.
// Small items run one per thread; large items run one after another, each parallel inside.
// Either way each element of C sees the same sequence of operations.
template <typename T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t bs_a,
                  int64_t rs_a, int64_t cs_a, const T* b, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta, T* c,
                  int64_t bs_c, int64_t rs_c, int64_t cs_c);

// Products with few rows against a right operand that is reused many times (an RNN's recurrent weights, once
// per step): pack B once into panels of NR columns (NR = gemm_panel_width, the micro-kernel's), then
// gemm_panels reads A in place and streams the panels, on the calling thread (callers split the columns).
// gemm_pack_panels: columns [0, n) of B (k, n) into ceil(n / nr) panels of k x nr, k-major, zero-padded;
// panel p at dst + p * k * nr. gemm_panels: C (m, n) = A (m, k) @ B, A with unit column stride, C with unit
// column stride; B's row 0 is at `panels`, its panels `ldp` elements apart (a panel's rows k0.. start at
// panels + k0 * nr, so a row range of the packed B is a pointer offset). Each element is reduced over k in
// order, whatever m.
template <typename T>
int64_t gemm_panel_width();
template <typename T>
void gemm_pack_panels(int64_t k, int64_t n, const T* b, int64_t rs_b, int64_t cs_b, int64_t nr, T* dst);
template <typename T>
void gemm_panels(int64_t m, int64_t n, int64_t k, const T* a, int64_t rs_a, const T* panels, int64_t ldp,
                 int64_t nr, T* c, int64_t rs_c);

// The readable reference: three loops, no blocking; used by the tests and as the oracle in dev/.
template <typename T>
void gemm_naive(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c);

// Micro-kernel in use: "avx512", "avx2" or "generic" (chosen from the CPU's flags at first use).
std::string gemm_kernel_name();
// Force a micro-kernel ("auto" restores the automatic choice); throws if the CPU lacks it.
void set_gemm_kernel(const std::string& name);

// The GEMM's ISA as a number, 0 generic, 1 avx2, 2 avx512: cheap enough for every kernel call (gemm_kernel_name
// builds the whole kernel table and a string).
int gemm_isa();

// Bytes of L2 per core (sysconf; 512 KiB where it is not reported): the blocking of the GEMM and of the convolution's
// weight gradient follows it.
int64_t l2_cache_bytes();

// Records that the table of `isa` was built (a bit per ISA); isa_tables_built() reads them back for the tests.
void note_isa_table_built(int isa);
int isa_tables_built();

// The version of a per-ISA table matching the GEMM's choice: the recurrent cells, activations, direct convolutions
// and pooling follow it, so set_gemm_kernel switches every family at once (tests run each on one machine).
// A table is built on the first use of its own ISA only: its builder is compiled with that ISA's flags and may use
// it (GCC filled the activation table's 8 pointers with one zmm store, a SIGILL on an AVX2-only CPU).
template <class K, K (*Generic)(), K (*Avx2)(), K (*Avx512)()>
const K& for_gemm_isa() {
    const int isa = gemm_isa();
    if (isa == 2) {
        static const K avx512 = (note_isa_table_built(2), Avx512());
        return avx512;
    }
    if (isa == 1) {
        static const K avx2 = (note_isa_table_built(1), Avx2());
        return avx2;
    }
    static const K generic = (note_isa_table_built(0), Generic());
    return generic;
}

// The builders for_gemm_isa takes, by their names' stem and dtype suffix: stem_{generic,avx2,avx512}_suffix (all
// generic where the x86 kernels are not compiled in).
#ifdef EMBER_X86_KERNELS
#define EMBER_ISA_BUILDERS(stem, suffix) stem##_generic_##suffix, stem##_avx2_##suffix, stem##_avx512_##suffix
#else
#define EMBER_ISA_BUILDERS(stem, suffix) stem##_generic_##suffix, stem##_generic_##suffix, stem##_generic_##suffix
#endif

}  // namespace ember
