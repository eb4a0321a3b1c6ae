// The register-tiled micro-kernel, written once over a small vector-traits type V and instantiated per ISA
// (gemm_avx2.cpp, gemm_avx512.cpp compiled with their -m flags; the generic one in gemm.cpp).
//
// It computes an MR x NR tile of C from packed panels: `a` holds k groups of MR values (one per row of the
// tile), `b` holds k groups of NR values, both zero-padded, so the inner loop has no edge cases. Edge tiles
// and non-unit column strides of C go through a small buffer.
#pragma once

#include <cstdint>

namespace ember {

template <typename T>
using UkernelFn = void (*)(int64_t k, const T* a, const T* b, T* c, int64_t rs_c, int64_t cs_c, T alpha, T beta,
                           int64_t m, int64_t n);
// The same tile with A read in place from MR full rows of a row-major matrix (row stride rs_a, unit column
// stride): for narrow products, where packing A would cost as much as the multiply.
template <typename T>
using UkernelDirectFn = void (*)(int64_t k, const T* a, int64_t rs_a, const T* b, T* c, int64_t rs_c, int64_t cs_c,
                                 T alpha, T beta, int64_t n);

// The same tile with A read in place from a transposed matrix: A(i, p) = a[p * lda + i], MR full rows (a weight
// gradient's x^T, whose MR values of one k are contiguous as in a packed sliver, only lda apart instead of MR).
template <typename T>
using UkernelColumnsFn = UkernelDirectFn<T>;

// MR full rows of a row-major A (row stride rs_a, unit column stride), kc columns, into a packed sliver (kc groups
// of MR values): an ISA's transposing copy. Null where the portable element-by-element pack serves.
template <typename T>
using PackRowsFn = void (*)(int64_t kc, const T* a, int64_t rs_a, T* dst);

// Blocking: an MR x KC sliver of A stays in L1 across the NR-wide panels; the KC x NC block of B is private
// to each thread and stays in its L2; the MC x KC block of A is shared by the threads through L3.
// fn_rows[m - 1]: the direct tile with m <= MR rows; gemm's in-place path and the recurrent steps split their
// rows into balanced tiles of these rather than waste most of a last MR-row tile.
constexpr int kMaxMr = 16;
template <typename T>
struct GemmKernel {
    const char* name;
    int mr, nr, kc, mc, nc;
    UkernelFn<T> fn;
    bool in_place_a;  // whether gemm may read A in place through fn_rows and fn_columns
    UkernelDirectFn<T> fn_rows[kMaxMr];
    UkernelColumnsFn<T> fn_columns;
    PackRowsFn<T> pack_rows = nullptr;
};

// How the micro-kernel reads A: packed A(i, p) = a[p * MR + i]; rows (in place) A(i, p) = a[i * rs_a + p];
// columns (in place, transposed) A(i, p) = a[p * rs_a + i].
enum class AFrom { kPacked, kRows, kColumns };

template <class V, int MR, int NV, AFrom From>
inline void ukernel_body(int64_t k, const typename V::T* a, int64_t rs_a, const typename V::T* b, typename V::T* c,
                         int64_t rs_c, int64_t cs_c, typename V::T alpha, typename V::T beta, int64_t m,
                         int64_t n) {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::width, NR = NV * W;
    R acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();

#pragma GCC unroll 2
    for (int64_t p = 0; p < k; ++p) {
        R bv[NV];
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 32
        for (int i = 0; i < MR; ++i) {
            const R av = From == AFrom::kRows ? V::bcast(a + i * rs_a + p) : V::bcast(a + i);
#pragma GCC unroll 8
            for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
        }
        if (From == AFrom::kPacked) a += MR;
        if (From == AFrom::kColumns) a += rs_a;
        b += NR;
    }

    const R va = V::set1(alpha);
    if (m == MR && n == NR && cs_c == 1) {
        if (beta == T(0)) {
#pragma GCC unroll 32
            for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
                for (int j = 0; j < NV; ++j) V::store(c + i * rs_c + j * W, V::mul(va, acc[i][j]));
        } else {
            const R vb = V::set1(beta);
#pragma GCC unroll 32
            for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
                for (int j = 0; j < NV; ++j) {
                    T* cp = c + i * rs_c + j * W;
                    V::store(cp, V::fmadd(va, acc[i][j], V::mul(vb, V::load(cp))));
                }
        }
        return;
    }
    alignas(64) T tmp[MR * NR];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) V::store(tmp + i * NR + j * W, acc[i][j]);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            T* cp = c + i * rs_c + j * cs_c;
            *cp = beta == T(0) ? alpha * tmp[i * NR + j] : alpha * tmp[i * NR + j] + beta * *cp;
        }
}

template <class V, int MR, int NV>
void ukernel(int64_t k, const typename V::T* a, const typename V::T* b, typename V::T* c, int64_t rs_c,
             int64_t cs_c, typename V::T alpha, typename V::T beta, int64_t m, int64_t n) {
    ukernel_body<V, MR, NV, AFrom::kPacked>(k, a, 0, b, c, rs_c, cs_c, alpha, beta, m, n);
}

template <class V, int MR, int NV>
void ukernel_direct(int64_t k, const typename V::T* a, int64_t rs_a, const typename V::T* b, typename V::T* c,
                    int64_t rs_c, int64_t cs_c, typename V::T alpha, typename V::T beta, int64_t n) {
    ukernel_body<V, MR, NV, AFrom::kRows>(k, a, rs_a, b, c, rs_c, cs_c, alpha, beta, MR, n);
}

template <class V, int MR, int NV>
void ukernel_columns(int64_t k, const typename V::T* a, int64_t lda, const typename V::T* b, typename V::T* c,
                     int64_t rs_c, int64_t cs_c, typename V::T alpha, typename V::T beta, int64_t n) {
    ukernel_body<V, MR, NV, AFrom::kColumns>(k, a, lda, b, c, rs_c, cs_c, alpha, beta, MR, n);
}

template <class V, int NV, int M>
void fill_rows(UkernelDirectFn<typename V::T>* rows) {
    if constexpr (M > 0) {
        rows[M - 1] = &ukernel_direct<V, M, NV>;
        fill_rows<V, NV, M - 1>(rows);
    }
}

template <class V, int MR, int NV>
GemmKernel<typename V::T> make_gemm_kernel(const char* name, int kc, int mc, int nc) {
    static_assert(MR <= kMaxMr, "MR too large for fn_rows");
    GemmKernel<typename V::T> k{name, MR, NV * V::width, kc, mc, nc, &ukernel<V, MR, NV>, true, {},
                                &ukernel_columns<V, MR, NV>};
    fill_rows<V, NV, MR>(k.fn_rows);
    return k;
}

// Provided by the ISA files when they are compiled in (EMBER_X86_KERNELS).
GemmKernel<float> gemm_kernel_avx2_f32();
GemmKernel<double> gemm_kernel_avx2_f64();
GemmKernel<float> gemm_kernel_avx512_f32();
GemmKernel<double> gemm_kernel_avx512_f64();

}  // namespace ember
