// Pieces shared by the recurrent drivers (rnn.cpp, gru.cpp): the recurrent weights packed once per call, the
// per-sequence parallel region split by units, fixed-order column sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "../common/parallel.h"
#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {
namespace rnn_detail {

// Workspaces of the drivers, one per slot and thread, 64-byte aligned, grown on demand and kept (never shrunk),
// like the GEMM's. Fresh per-call vectors (dz alone is 13 MB at T = 50, B = 64, H = 256) were returned to the
// OS and faulted in again on every call: in a training loop that cost about as much as the backward pass.
enum ScratchSlot { kPacked, kPacked2, kWork, kCarry, kWork2, kRh, kDrh, kZeros, kXh, kGradW, kSlots };

template <typename T>
T* scratch(ScratchSlot slot, size_t count) {
    struct Buffer {
        void* raw = nullptr;
        size_t bytes = 0;
        ~Buffer() { std::free(raw); }
    };
    thread_local Buffer buffers[kSlots];
    Buffer& b = buffers[slot];
    const size_t need = std::max<size_t>(count, 1) * sizeof(T);
    if (need > b.bytes) {
        std::free(b.raw);
        b.raw = std::aligned_alloc(64, (need + 63) / 64 * 64);
        b.bytes = b.raw ? need : 0;
        if (!b.raw) throw std::bad_alloc();
    }
    return static_cast<T*>(b.raw);
}

// The recurrent weights packed once per call for gemm_panels, gate by gate: gate g's `width` columns of B
// (k, gates * width) become ceil(width / nr) panels, so that the units [j0, j1) of every gate (j0 a multiple
// of nr) are whole panels. Packing once and streaming the panels every step replaces a per-step GEMM that
// re-packed (or transposed) all of U for a product of only B rows.
template <typename T>
struct PackedGates {
    int64_t k = 0, gates = 0, width = 0, nr = 0, ppg = 0;  // ppg: panels per gate
    T* data = nullptr;
    const T* b = nullptr;
    int64_t rs_b = 0, cs_b = 0;

    // B(kk, g * width + j) = b[kk * rs_b + (g * width + j) * cs_b]. With pack_now false, nothing is packed
    // until pack() is called: inside for_step_blocks each thread packs the panels it alone reads (its units
    // of every gate), in parallel and into its own L2, with no barrier needed before its first product.
    PackedGates(int64_t k_, int64_t gates_, int64_t width_, const T* b_, int64_t rs_b_, int64_t cs_b_,
                bool pack_now = true, ScratchSlot slot = kPacked)
        : k(k_), gates(gates_), width(width_), nr(gemm_panel_width<T>()), ppg((width_ + nr - 1) / nr),
          data(scratch<T>(slot, size_t(gates_ * ppg * nr * k_))), b(b_), rs_b(rs_b_), cs_b(cs_b_) {
        if (pack_now) pack(0, width);
    }

    // The panels holding units [j0, j1) of every gate; j0 a multiple of nr.
    void pack(int64_t j0, int64_t j1) const {
        if (j1 <= j0) return;
        for (int64_t g = 0; g < gates; ++g)
            gemm_pack_panels<T>(k, j1 - j0, b + (g * width + j0) * cs_b, rs_b, cs_b, nr,
                                data + (g * ppg + j0 / nr) * nr * k);
    }

    // c (m, j1 - j0) = a (m, kk) @ B[k0 : k0 + kk, gate g's columns j0..j1); j0 a multiple of nr.
    void multiply(int64_t m, const T* a, int64_t rs_a, int64_t g, int64_t j0, int64_t j1, T* c, int64_t rs_c,
                  int64_t k0, int64_t kk) const {
        const T* p = data + (g * ppg + j0 / nr) * nr * k + k0 * nr;
        gemm_panels<T>(m, j1 - j0, kk, a, rs_a, p, nr * k, nr, c, rs_c);
    }
};

// Below this many multiply-adds per step the steps run on one thread: a barrier would cost more.
constexpr int64_t kParallelStepMacs = int64_t(1) << 18;

// How one sequence's steps are shared among threads, inside one parallel region for the whole sequence (one fork
// per sequence instead of one or two per step). By units: thread i owns units [j0, j1) (whole panels of nr) of
// every gate for all rows, computes their recurrent products and pointwise passes, and calls step_barrier() where
// it needs other threads' units (the full h_{t-1} of a step, the full dz[t]); each streams only its share of U.
// By rows: the rows of a batch never meet in a recurrent layer, so a thread that owns rows [b0, b1) of every step
// runs the whole sequence without waiting for anyone (one barrier, after the packing); each streams all of U,
// from L2 or L3. LSTM forward (2 threads): per-step barriers and their waits were 6% of the time at B = 64,
// H = 256. Every element is computed by the same code whatever the split, so results do not depend on it.
struct StepSplit {
    int threads = 1;
    bool by_rows = false;
};

// By rows when each thread gets at least kMinRowsPerThread rows (fewer rows make short micro-kernel tiles and
// more copies of U streamed per flop); otherwise by units, and one thread below kParallelStepMacs. The choice
// changes no result: every element is computed by the same code in either split. A/B (2 threads, Zen 4):
// inference at T = 100, B = 32, H = 128 3.3 ms by rows vs 5.9 ms by units; T = 50, B = 64, H = 256 12.2 vs 12.6.
constexpr int64_t kMinRowsPerThread = 12;

inline StepSplit step_split(int64_t B, int64_t H, int64_t nr, int64_t macs_per_step) {
    StepSplit sp;
    const int64_t nt = get_num_threads();
    if (macs_per_step < kParallelStepMacs || nt <= 1) return sp;
    if (B >= nt * kMinRowsPerThread) {
        sp.threads = int(nt);
        sp.by_rows = true;
    } else {
        sp.threads = int(std::min<int64_t>(nt, (H + nr - 1) / nr));
    }
    return sp;
}

// Runs pack(j0, j1) on every thread (its share of the panels), then body(b0, b1, j0, j1) with the rows and
// units it owns: all rows and a block of whole panels by units, a block of rows and all units by rows (after
// one barrier: every thread reads every panel). Bodies call step_barrier() after each step only when the
// split is by units.
template <class Pack, class F>
void for_step_blocks(const StepSplit& sp, int64_t B, int64_t H, int64_t nr, Pack&& pack, F&& body) {
    if (sp.threads <= 1) {
        pack(int64_t(0), H);
        body(int64_t(0), B, int64_t(0), H);
        return;
    }
#pragma omp parallel num_threads(sp.threads)
    {
#ifdef _OPENMP
        const int64_t i = omp_get_thread_num(), n = omp_get_num_threads();
#else
        const int64_t i = 0, n = 1;
#endif
        int64_t lo, hi;
        split_range((H + nr - 1) / nr, n, i, lo, hi);
        const int64_t j0 = std::min(H, lo * nr), j1 = std::min(H, hi * nr);
        pack(j0, j1);
        if (sp.by_rows) {
#pragma omp barrier
            int64_t b0, b1;
            split_range(B, n, i, b0, b1);
            body(b0, b1, int64_t(0), H);
        } else {
            body(int64_t(0), B, j0, j1);  // every thread has a panel: all reach the barriers
        }
    }
}

// The split by units only (SimpleRNN): body(j0, j1) on each thread. A batch of 0 rows is never split by rows.
template <class F>
void for_unit_blocks(int64_t H, int64_t nr, int64_t macs_per_step, F&& body) {
    for_step_blocks(step_split(0, H, nr, macs_per_step), int64_t(0), H, nr, [](int64_t, int64_t) {},
                    [&](int64_t, int64_t, int64_t j0, int64_t j1) { body(j0, j1); });
}

// Asks for the columns [j0, j1) of `rows` rows (row stride ld) to be brought into L2 ahead of the pass that
// reads them. The per-step slices of the big (T, B, k * H) arrays are short runs (a thread's units of each
// gate) in a buffer that is L3- or memory-resident: the hardware prefetcher misses them, and the pass stalled
// on them (30% of the LSTM forward at B = 32, H = 128) where the recurrent GEMM before it could hide the wait.
template <typename T>
inline void prefetch_cols(const T* p, int64_t rows, int64_t ld, int64_t j0, int64_t j1) {
    constexpr int64_t line = 64 / sizeof(T);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = j0 / line * line; j < j1; j += line) __builtin_prefetch(p + r * ld + j, 0, 2);
}

inline void step_barrier() {
#pragma omp barrier
}

// Row stride for a (rows, n) workspace written a column block per thread: n rounded up to 16, plus 16 when
// that is a multiple of 256 elements, so that successive rows do not map to the same cache sets (a stride of
// a multiple of 4 KiB made the LSTM step 3x slower).
inline int64_t padded_ld(int64_t n) {
    const int64_t r = (n + 15) / 16 * 16;
    return r % 256 == 0 ? r + 16 : r;
}

// dst[j] = sum over rows of src[r, j] (row stride lds), in double, rows in order: the same bits whatever the
// thread count. Parallel over blocks of columns.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* src, int64_t lds, T* dst) {
    constexpr int64_t kb = 256;
    const int64_t blocks = (cols + kb - 1) / kb;
    const int nt = rows * cols >= 65536 ? get_num_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t c0 = blk * kb, c1 = std::min(cols, c0 + kb);
        double acc[kb] = {};
        for (int64_t r = 0; r < rows; ++r) {
            const T* row = src + r * lds;
            for (int64_t c = c0; c < c1; ++c) acc[c - c0] += double(row[c]);
        }
        for (int64_t c = c0; c < c1; ++c) dst[c] = T(acc[c - c0]);
    }
}

// grad_u (K, N) = sum_t h_{t-1}^T dz[t] with h_{-1} = h0: two GEMMs (h0 with step 0, h[0..T-2] with the rest).
template <typename T>
void grad_recurrent_gemm(int64_t steps, int64_t B, int64_t K, int64_t N, const T* h0, const T* h, int64_t ldh,
                         const T* dz, int64_t ldz, T* grad_u, int64_t ldg) {
    if (steps == 0) {
        for (int64_t k = 0; k < K; ++k) std::fill(grad_u + k * ldg, grad_u + k * ldg + N, T(0));
        return;
    }
    gemm<T>(K, N, B, T(1), h0, 1, ldh, dz, ldz, 1, T(0), grad_u, ldg, 1);
    if (steps > 1)
        gemm<T>(K, N, (steps - 1) * B, T(1), h, 1, ldh, dz + B * ldz, ldz, 1, T(1), grad_u, ldg, 1);
}

// The weight gradients of a cell whose gate pre-activations z[t] = x_t W + h_{t-1} U + b, as ONE GEMM over all
// steps: [W; U; b] gradient (I + H + 1, N) = [x_t | h_{t-1} | 1]^T dz, the rows [x | h_prev | 1] concatenated
// once (h_{-1} = h0). One product of 385 rows instead of three (I rows, H rows, column sums): the packed
// panels of dz are reused by all of them, and the bias comes out of the same reduction, in the same fixed
// order over rows (float accumulation, like the weights'). LSTM backward at T = 50, B = 64, I = 128, H = 256
// (2 threads): 17.2 ms -> 15.4 ms. Where the three gradients are consecutive rows of one array (as ember.backend.cpu
// allocates them), the GEMM writes them in place; else through a workspace and three copies (LSTM backward at
// T = 20, B = 4, I = 128, H = 512, 2 threads: 2.87 -> 2.62 ms in place, a 5 MB copy less).
template <typename T>
void grad_weights_gemm(int64_t steps, int64_t B, int64_t I, int64_t H, int64_t N, const T* x, const T* h0,
                       const T* h, const T* dz, int64_t ldz, T* grad_w, T* grad_u, T* grad_b) {
    const int64_t rows = steps * B, K1 = I + H + 1, ld = padded_ld(K1);
    T* xh = scratch<T>(kXh, size_t(std::max<int64_t>(rows, 1) * ld));
    const bool stacked = grad_b && grad_u == grad_w + I * N && grad_b == grad_u + H * N;
    T* g = stacked ? grad_w : scratch<T>(kGradW, size_t(K1 * N));
    const int nt = rows * K1 >= 65536 ? get_num_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; ++r) {
        T* dst = xh + r * ld;
        const T* hp = r < B ? h0 + r * H : h + (r - B) * H;
        std::copy(x + r * I, x + (r + 1) * I, dst);
        std::copy(hp, hp + H, dst + I);
        dst[I + H] = T(1);
    }
    gemm<T>(K1, N, rows, T(1), xh, 1, ld, dz, ldz, 1, T(0), g, N, 1);
    if (stacked) return;
    std::copy(g, g + I * N, grad_w);
    std::copy(g + I * N, g + (I + H) * N, grad_u);
    if (grad_b) std::copy(g + (I + H) * N, g + K1 * N, grad_b);
}

}  // namespace rnn_detail
}  // namespace ember
