// Packed, cache-blocked GEMM in the GotoBLAS/BLIS style, on general-strided operands.
//
// Loops, outermost first (sizes from the chosen GemmKernel):
//   pc: K in KC steps        C is accumulated across them (beta applies to the first only)
//   ic: M in MC steps        A block (MC x KC) packed once, shared by all threads (L3); for narrow
//                            products with K contiguous in A, A is read in place instead (no packing)
//   task: (N block, M range) each thread packs its own KC x NC block of B (its L2)
//   ir: MR slivers of A      stays in L1 while the
//   jr: NR panels of B       panels stream from L2 through the micro-kernel
// Each element of C is reduced over K in the same order whatever the thread count, so results do not
// depend on it. Workspaces are per-thread, grown on demand and reused across calls.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include <unistd.h>

#include "../common/parallel.h"
#include "gemm_kernel.h"
#include "gemm_pack.h"

namespace ember {
namespace {

// ---- the portable micro-kernel: scalar code the compiler may vectorize with baseline SIMD ----
template <typename U>
struct Scalar {
    using T = U;
    using R = U;
    static constexpr int width = 1;
    static R zero() { return R(0); }
    static R load(const T* p) { return *p; }
    static void store(T* p, R v) { *p = v; }
    static R bcast(const T* p) { return *p; }
    static R set1(T x) { return x; }
    static R fmadd(R a, R b, R c) { return a * b + c; }
    static R mul(R a, R b) { return a * b; }
};

template <typename T>
GemmKernel<T> generic_kernel() {
    // No in-place A for the big products: without explicit SIMD, only the packed layout lets the compiler
    // vectorize. gemm_panels still uses fn_rows (correct, if slow, here).
    GemmKernel<T> k = make_gemm_kernel<Scalar<T>, 4, 8>("generic", 256, 512, 256);
    k.in_place_a = false;
    return k;
}

// ---- kernel choice ----
std::atomic<int> g_forced{-1};  // -1 auto, 0 generic, 1 avx2, 2 avx512
std::atomic<int> g_isa_tables_built{0};  // bit isa: that ISA's kernel tables were built (for_gemm_isa)

int auto_choice() {
#ifdef EMBER_X86_KERNELS
    const CpuFeatures& f = cpu_features();
    if (f.avx512_all()) return 2;
    if (f.avx2_fma()) return 1;
#endif
    return 0;
}

int current_choice() {
    const int forced = g_forced.load();
    return forced >= 0 ? forced : auto_choice();
}

template <typename T>
GemmKernel<T> kernel_for(int choice);

template <>
GemmKernel<float> kernel_for<float>(int choice) {
#ifdef EMBER_X86_KERNELS
    if (choice == 2) return gemm_kernel_avx512_f32();
    if (choice == 1) return gemm_kernel_avx2_f32();
#endif
    (void)choice;
    return generic_kernel<float>();
}

template <>
GemmKernel<double> kernel_for<double>(int choice) {
#ifdef EMBER_X86_KERNELS
    if (choice == 2) return gemm_kernel_avx512_f64();
    if (choice == 1) return gemm_kernel_avx2_f64();
#endif
    (void)choice;
    return generic_kernel<double>();
}

// ---- workspaces: 64-byte aligned, grown on demand, one set per thread, never shrunk ----
struct Workspace {
    void* raw = nullptr;
    char* data = nullptr;
    size_t bytes = 0;
    ~Workspace() { std::free(raw); }
    template <typename T>
    T* get(size_t count) {
        const size_t need = count * sizeof(T);
        if (need > bytes) {
            std::free(raw);
            raw = std::malloc(need + 64);
            if (!raw) throw std::bad_alloc();
            data = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t(63));
            bytes = need;
        }
        return reinterpret_cast<T*>(data);
    }
};
thread_local Workspace tls_a;  // the shared A block, owned by the calling thread
thread_local Workspace tls_b;  // the private B block of each team thread

// Whether A is read in place rather than packed (K contiguous in A). Packing A costs as much as the multiply
// when N is narrow, and in place the rows go in balanced tiles, which short products need most. Measured on
// Zen 5, 1 thread, M = 8192, K = 1152: in place 190-220 GFLOP/s for N = 32..1024, packed 50 (N = 32) to 200
// (N = 1024). On Zen 4, 2 threads, ember/OpenBLAS in place vs packed: 64x4096x1024 1.06-1.16 vs 1.03,
// 256x1024x1024 1.11-1.13 vs 0.98-1.07, 512x1024x1024 1.09 vs 0.99-1.03; 1024^3 0.98 vs 1.00-1.01.
bool read_a_in_place(int64_t M, int64_t N) { return N <= 512 || (N <= 1024 && M <= 512); }

// The panels of B block jb covers, of n_panels split into n_jc blocks. When the blocks divide evenly among the
// nt threads (thread g takes blocks [g * n_jc / nt, (g + 1) * n_jc / nt) under a static schedule), each thread's
// share of panels is balanced first: 64 panels in 6 blocks give each thread 32, not 33 and 31.
void block_panels(int64_t n_panels, int64_t n_jc, int64_t nt, int64_t jb, int64_t& jp0, int64_t& jp1) {
    if (nt <= 1 || n_jc % nt != 0) {
        split_range(n_panels, n_jc, jb, jp0, jp1);
        return;
    }
    const int64_t per = n_jc / nt;
    int64_t g0, g1, s0, s1;
    split_range(n_panels, nt, jb / per, g0, g1);
    split_range(g1 - g0, per, jb % per, s0, s1);
    jp0 = g0 + s0, jp1 = g0 + s1;
}

constexpr int64_t kSliverGroup = 8;  // A slivers packed together: 8 x MR floats of each source row (AVX2: 3 lines)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C for the degenerate cases (k == 0 or alpha == 0); beta == 0 writes zeros.
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t rs_c, int64_t cs_c) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            T* cp = c + i * rs_c + j * cs_c;
            *cp = beta == T(0) ? T(0) : beta * *cp;
        }
}

// Fraction of the micro-kernel's lanes doing useful work for an m x n product.
double tile_efficiency(int64_t m, int64_t n, int64_t MR, int64_t NR) {
    return double(m) / double(ceil_div(m, MR) * MR) * double(n) / double(ceil_div(n, NR) * NR);
}

// The driver; `nt` threads (1 runs it inline, also when called from inside another parallel region).
template <typename T>
void gemm_run(const GemmKernel<T>& kr, int nt, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t rsa, int64_t csa, const T* B, int64_t rsb, int64_t csb, T beta, T* C, int64_t rsc,
              int64_t csc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == T(0)) {
        scale_c(M, N, beta, C, rsc, csc);
        return;
    }
    const int64_t MR = kr.mr, NR = kr.nr;
    // A narrow product (few columns, many rows) wastes most of an NR-wide tile: compute C^T = B^T A^T.
    if (tile_efficiency(N, M, MR, NR) > 1.25 * tile_efficiency(M, N, MR, NR)) {
        const T* a2 = B;
        const T* b2 = A;
        const int64_t rsa2 = csb, csa2 = rsb, rsb2 = csa, csb2 = rsa;
        A = a2, rsa = rsa2, csa = csa2;
        B = b2, rsb = rsb2, csb = csb2;
        std::swap(rsc, csc);
        std::swap(M, N);
    }
    const bool direct = kr.in_place_a && csa == 1 && read_a_in_place(M, N);
    // A transposed (rsa == 1: x^T in a weight gradient) is read in place too when N is at most 8 panels, its whole
    // slivers by fn_columns (only a last partial sliver is packed): with few panels to share it, packing A cost as
    // much as the multiply. Wider, a sliver read in place (kc lines lda apart) no longer stays in L1 from one panel to
    // the next, and packed is ahead. Zen 3, 2 threads, ms, packed vs in place: 256x64x25088 8.6 vs 6.9, 150x16x6400
    // 0.35 vs 0.22, 400x120x64 0.047 vs 0.043; 256x128x4096 1.81 vs 1.86, 256x256x4096 3.49 vs 3.85, 385x1024x3200
    // 14.8 vs 17.1.
    const bool columns = !direct && kr.in_place_a && rsa == 1 && csa != 1 && ceil_div(N, NR) <= 8;
    // Depth in equal blocks of at most kr.kc (800: 3 x 267, not 384 + 384 + 32): a shallow last block costs
    // a pass over C for little work.
    const int64_t KC = std::min(K, ceil_div(ceil_div(K, ceil_div(K, kr.kc)), 8) * 8);
    const int64_t MC = direct || columns ? M : kr.mc, NC = kr.nc;
    const int64_t n_panels = ceil_div(N, NR);
    if (work_estimate({M, N, K}) < int64_t(48) * 48 * 48) nt = 1;  // a parallel region costs more than it saves
    int64_t n_jc = ceil_div(N, NC);
    if (nt > 1 && n_jc % nt != 0) n_jc = std::min(n_panels, ceil_div(n_jc, nt) * nt);
    const int64_t n_ms = n_jc < nt ? ceil_div(nt, n_jc) : 1;
    const int64_t max_block_cols = ceil_div(n_panels, n_jc) * NR;
    // Loop order within a block. Rows outermost keeps an MR x KC sliver of A in L1 while the B block streams from
    // L2, which needs the B block to stay there. When it cannot (over half the L2) and all of A's rows fit half the
    // L2 instead (few rows: one A block), panels go outermost: each KC x NR panel stays in L1 across every row tile
    // and A streams from L2. Zen 3 (512 KiB L2, AVX2 block 256 x 512), 64x4096x1024, GFLOP/s: 1 thread 64 -> 68
    // (another run 61 -> 61), 2 threads 121 -> 142; for large M rows outermost stays ahead (2048^3: 171 vs 161).
    const int64_t a_block_bytes = std::min(MC, M) * std::min(KC, K) * int64_t(sizeof(T));
    const int64_t b_block_bytes = max_block_cols * std::min(KC, K) * int64_t(sizeof(T));
    const int64_t l2 = l2_cache_bytes();
    const bool panels_outer = M <= MC && 2 * a_block_bytes <= l2 && 2 * b_block_bytes > l2;
    T* apack = direct || columns ? nullptr
                                 : tls_a.get<T>(size_t(ceil_div(std::min(MC, M), MR) * MR * std::min(KC, K)));

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        T* bpack = tls_b.get<T>(size_t(max_block_cols * std::min(KC, K)));
        T* edge = columns && M % MR ? tls_a.get<T>(size_t(MR * std::min(KC, K))) : nullptr;  // the partial sliver
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const T beta_k = pc == 0 ? beta : T(1);
            int64_t packed_jb = -1;
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = std::min(MC, M - ic);
                const int64_t m_panels = ceil_div(mc, MR);
                if (!direct && !columns) {
                    const int64_t groups = ceil_div(m_panels, kSliverGroup);
#pragma omp for schedule(static)
                    for (int64_t g = 0; g < groups; ++g)
                        pack_a_slivers(kr, mc, kc, A + ic * rsa + pc * csa, rsa, csa, apack, g * kSliverGroup,
                                       std::min(m_panels, (g + 1) * kSliverGroup));
                }
                const int64_t ms = std::min(n_ms, m_panels);
                const int64_t tasks = n_jc * ms;
#pragma omp for schedule(static)
                for (int64_t t = 0; t < tasks; ++t) {
                    const int64_t jb = t / ms, s = t % ms;
                    int64_t jp0, jp1, ip0, ip1;
                    block_panels(n_panels, n_jc, nt, jb, jp0, jp1);
                    split_range(m_panels, ms, s, ip0, ip1);
                    const int64_t j0 = jp0 * NR, nc = std::min(N, jp1 * NR) - j0;
                    if (nc <= 0 || ip0 >= ip1) continue;
                    if (jb != packed_jb) {
                        pack_b_block(nc, kc, B + pc * rsb + j0 * csb, rsb, csb, NR, bpack);
                        packed_jb = jb;
                    }
                    const int64_t edge_ip = mc % MR ? m_panels - 1 : -1;  // a partial last sliver (columns only)
                    if (edge && ip0 <= edge_ip && edge_ip < ip1)
                        pack_a(mc - edge_ip * MR, kc, A + (ic + edge_ip * MR) * rsa + pc * csa, rsa, csa, MR, edge);
                    // One micro-kernel call: rows tile ip against panel jp of the packed block.
                    auto tile = [&](int64_t ip, int64_t jp) {
                        // In place, the rows go in nearly equal tiles (64: 11, 11, 11, 11, 10, 10, not 12 x 5 + 4):
                        // a short tile costs almost as much as a full one.
                        int64_t i, i_end;
                        if (direct)
                            split_range(mc, m_panels, ip, i, i_end);
                        else
                            i = ip * MR, i_end = std::min(mc, i + MR);
                        const int64_t mr = i_end - i, j = jp * NR, nr = std::min(NR, nc - j);
                        T* cp = C + (ic + i) * rsc + (j0 + j) * csc;
                        if (direct)
                            kr.fn_rows[mr - 1](kc, A + (ic + i) * rsa + pc, rsa, bpack + j * kc, cp, rsc, csc, alpha,
                                               beta_k, nr);
                        else if (columns && mr == MR)
                            kr.fn_columns(kc, A + (ic + i) + pc * csa, csa, bpack + j * kc, cp, rsc, csc, alpha, beta_k,
                                          nr);
                        else if (columns)
                            kr.fn(kc, edge, bpack + j * kc, cp, rsc, csc, alpha, beta_k, mr, nr);
                        else
                            kr.fn(kc, apack + i * kc, bpack + j * kc, cp, rsc, csc, alpha, beta_k, mr, nr);
                    };
                    if (panels_outer) {
                        for (int64_t jp = 0; jp < jp1 - jp0; ++jp)
                            for (int64_t ip = ip0; ip < ip1; ++ip) tile(ip, jp);
                    } else {
                        for (int64_t ip = ip0; ip < ip1; ++ip)
                            for (int64_t jp = 0; jp < jp1 - jp0; ++jp) tile(ip, jp);
                    }
                }
            }
        }
    }
}

}  // namespace

std::string gemm_kernel_name() { return kernel_for<float>(current_choice()).name; }

int64_t l2_cache_bytes() {
    static const int64_t bytes = [] {
#ifdef _SC_LEVEL2_CACHE_SIZE  // glibc; not on macOS
        const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#else
        const long v = 0;
#endif
        return v > 0 ? int64_t(v) : int64_t(512) << 10;
    }();
    return bytes;
}

void note_isa_table_built(int isa) { g_isa_tables_built.fetch_or(1 << isa); }

int isa_tables_built() { return g_isa_tables_built.load(); }

int gemm_isa() {
#ifdef EMBER_X86_KERNELS
    return current_choice();
#else
    return 0;
#endif
}

void set_gemm_kernel(const std::string& name) {
    if (name == "auto") {
        g_forced.store(-1);
        return;
    }
    int choice = -1;
    if (name == "generic") choice = 0;
    if (name == "avx2") choice = 1;
    if (name == "avx512") choice = 2;
    if (choice < 0) throw std::invalid_argument("set_gemm_kernel: expected auto, generic, avx2 or avx512, got " + name);
#ifdef EMBER_X86_KERNELS
    const CpuFeatures& f = cpu_features();
    if ((choice == 1 && !f.avx2_fma()) || (choice == 2 && !f.avx512_all()))
        throw std::invalid_argument("set_gemm_kernel: this CPU does not support " + name);
#else
    if (choice > 0) throw std::invalid_argument("set_gemm_kernel: built without x86 kernels, no " + name);
#endif
    g_forced.store(choice);
}

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
          int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c) {
    const GemmKernel<T> kr = kernel_for<T>(current_choice());
    gemm_run(kr, get_num_threads(), m, n, k, alpha, a, rs_a, cs_a, b, rs_b, cs_b, beta, c, rs_c, cs_c);
}

template <typename T>
int64_t gemm_panel_width() {
    return kernel_for<T>(current_choice()).nr;
}

template <typename T>
void gemm_pack_panels(int64_t k, int64_t n, const T* b, int64_t rs_b, int64_t cs_b, int64_t nr, T* dst) {
    for (int64_t jp = 0; jp * nr < n; ++jp)
        pack_b(std::min(nr, n - jp * nr), k, b + jp * nr * cs_b, rs_b, cs_b, nr, dst + jp * nr * k);
}

template <typename T>
void gemm_panels(int64_t m, int64_t n, int64_t k, const T* a, int64_t rs_a, const T* panels, int64_t ldp,
                 int64_t nr, T* c, int64_t rs_c) {
    const GemmKernel<T> kr = kernel_for<T>(current_choice());
    if (kr.nr != nr) throw std::logic_error("gemm_panels: panels were packed for another micro-kernel");
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        scale_c(m, n, T(0), c, rs_c, 1);
        return;
    }
    // Rows in nearly equal tiles of at most MR (64 rows: 11, 11, 11, 11, 10, 10, not 12 x 5 + 4): a short
    // tile costs almost as much as a full one.
    // Panels outermost: a panel (k x nr, 32 KiB at k = 256) stays in L1 across the row tiles, and only the
    // smaller A streams from L2 (LSTM forward at B = 64, H = 256: 3-4% faster than rows outermost).
    const int64_t tiles = ceil_div(m, kr.mr);
    for (int64_t jp = 0; jp * nr < n; ++jp)
        for (int64_t ti = 0; ti < tiles; ++ti) {
            int64_t i0, i1;
            split_range(m, tiles, ti, i0, i1);
            kr.fn_rows[i1 - i0 - 1](k, a + i0 * rs_a, rs_a, panels + jp * ldp, c + i0 * rs_c + jp * nr, rs_c, 1,
                                    T(1), T(0), std::min(nr, n - jp * nr));
        }
}

template <typename T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t bs_a,
                  int64_t rs_a, int64_t cs_a, const T* b, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta, T* c,
                  int64_t bs_c, int64_t rs_c, int64_t cs_c) {
    const GemmKernel<T> kr = kernel_for<T>(current_choice());
    const int nt = get_num_threads();
    // Items too small to share among the threads run one per thread instead.
    if (nt > 1 && batch >= nt && work_estimate({m, n, k}) < int64_t(192) * 192 * 192) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < batch; ++p)
            gemm_run(kr, 1, m, n, k, alpha, a + p * bs_a, rs_a, cs_a, b + p * bs_b, rs_b, cs_b, beta, c + p * bs_c,
                     rs_c, cs_c);
        return;
    }
    for (int64_t p = 0; p < batch; ++p)
        gemm_run(kr, nt, m, n, k, alpha, a + p * bs_a, rs_a, cs_a, b + p * bs_b, rs_b, cs_b, beta, c + p * bs_c, rs_c,
                 cs_c);
}

template <typename T>
void gemm_naive(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                int64_t rs_b, int64_t cs_b, T beta, T* c, int64_t rs_c, int64_t cs_c) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            T acc = 0;
            for (int64_t p = 0; p < k; ++p) acc += a[i * rs_a + p * cs_a] * b[p * rs_b + j * cs_b];
            T* cp = c + i * rs_c + j * cs_c;
            *cp = beta == T(0) ? alpha * acc : alpha * acc + beta * *cp;
        }
}

#define EMBER_GEMM_INSTANTIATE(T)                                                                                  \
    template void gemm<T>(int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T, \
                          T*, int64_t, int64_t);                                                                   \
    template void gemm_batched<T>(int64_t, int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, int64_t,      \
                                  const T*, int64_t, int64_t, int64_t, T, T*, int64_t, int64_t, int64_t);          \
    template int64_t gemm_panel_width<T>();                                                                       \
    template void gemm_pack_panels<T>(int64_t, int64_t, const T*, int64_t, int64_t, int64_t, T*);                  \
    template void gemm_panels<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, int64_t, T*,     \
                                 int64_t);                                                                         \
    template void gemm_naive<T>(int64_t, int64_t, int64_t, T, const T*, int64_t, int64_t, const T*, int64_t,       \
                                int64_t, T, T*, int64_t, int64_t);
EMBER_GEMM_INSTANTIATE(float)
EMBER_GEMM_INSTANTIATE(double)

}  // namespace ember
