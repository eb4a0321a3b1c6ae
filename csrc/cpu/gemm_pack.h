// GEMM's packing (gemm.cpp): A slivers and B panels copied k-major into the micro-kernel's layout, zero-padded to
// MR / NR. Included only by gemm.cpp; internal linkage, as there.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gemm_kernel.h"

namespace ember {
namespace {

// ---- packing ----
// A sliver: rows [0, mr) of the mc x kc block at `a` (rows rs apart, rs != 1), stored k-major in groups of MR,
// zero-padded to MR.
template <typename T>
void pack_a(int64_t mr, int64_t kc, const T* a, int64_t rs, int64_t cs, int64_t MR, T* dst) {
    for (int64_t i = 0; i < mr; ++i) {
        const T* src = a + i * rs;
        if (cs == 1)
            for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
        else
            for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p * cs];
    }
    for (int64_t i = mr; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = T(0);
}

// Slivers [ip0, ip1) of the mc x kc block at `a`, sliver ip at dst + ip * MR * kc. A transposed A (rs == 1: the
// block's columns are contiguous, as x^T in a weight gradient) is read one source row at a time across all the
// slivers: sliver by sliver, each took 6 floats of a 64-byte line from every one of the kc rows, and the lines
// (kc x 1.6 KB for 385 rows) had left the L2 before the next sliver came back for the rest.
template <typename T>
void pack_a_slivers(const GemmKernel<T>& kr, int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T* dst,
                    int64_t ip0, int64_t ip1) {
    const int64_t MR = kr.mr;
    if (rs != 1) {
        for (int64_t ip = ip0; ip < ip1; ++ip) {
            const int64_t mr = std::min(MR, mc - ip * MR);
            if (kr.pack_rows && cs == 1 && mr == MR)
                kr.pack_rows(kc, a + ip * MR * rs, rs, dst + ip * MR * kc);
            else
                pack_a(mr, kc, a + ip * MR * rs, rs, cs, MR, dst + ip * MR * kc);
        }
        return;
    }
    // Whole slivers copy MR values a row with a fixed-size copy: the loop of a run-time length did 6-float runs one
    // value at a time, ~3.7 cycles a value (256x64x25088 with A transposed: 16.8 ms on 1 thread, 9.4 with A in place).
    const int64_t whole = std::min(ip1, mc / MR);
    for (int64_t p = 0; p < kc; ++p) {
        const T* src = a + p * cs;
        T* d = dst + p * MR;
        int64_t ip = ip0;
        if (MR == 6)
            for (; ip < whole; ++ip) std::memcpy(d + ip * MR * kc, src + ip * MR, 6 * sizeof(T));
        else if (MR == 12)
            for (; ip < whole; ++ip) std::memcpy(d + ip * MR * kc, src + ip * MR, 12 * sizeof(T));
        for (; ip < ip1; ++ip) {
            const int64_t i0 = ip * MR, mr = std::min(MR, mc - i0);
            T* di = d + ip * MR * kc;
            for (int64_t i = 0; i < mr; ++i) di[i] = src[i0 + i];
            for (int64_t i = mr; i < MR; ++i) di[i] = T(0);
        }
    }
}

// B panel: columns [0, nr) of the kc x nc block at `b`, stored k-major in groups of NR, zero-padded.
template <typename T>
void pack_b(int64_t nr, int64_t kc, const T* b, int64_t rs, int64_t cs, int64_t NR, T* dst) {
    if (cs == 1 || rs != 1) {
        for (int64_t p = 0; p < kc; ++p) {
            const T* src = b + p * rs;
            T* d = dst + p * NR;
            if (cs == 1)
                std::memcpy(d, src, size_t(nr) * sizeof(T));  // libc's wide copy: the loop got 16-byte moves
            else
                for (int64_t j = 0; j < nr; ++j) d[j] = src[j * cs];
            for (int64_t j = nr; j < NR; ++j) d[j] = T(0);
        }
        return;
    }
    // A transposed B (k contiguous, columns cs apart): a cache line of each column at a time. Row by row, the
    // nr lines in flight (cs often a multiple of 4 KiB: the same L1 set) evicted each other before their other
    // values were read; packing U^T (2048 x 512) took a third of the LSTM backward at T = 20, B = 4, H = 512
    // (backward 2.6 -> 1.8 ms, 2 threads).
    constexpr int64_t kb = 64 / sizeof(T);
    for (int64_t p0 = 0; p0 < kc; p0 += kb) {
        const int64_t p1 = std::min(kc, p0 + kb);
        for (int64_t j = 0; j < nr; ++j) {
            const T* src = b + j * cs;
            for (int64_t p = p0; p < p1; ++p) dst[p * NR + j] = src[p];
        }
        for (int64_t p = p0; p < p1; ++p)
            for (int64_t j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
    }
}

// B block: columns [0, nc) of the kc x nc block at `b` into ceil(nc / NR) panels of kc x NR, NR * kc apart.
// A row-major B (unit column stride) is read row by row across all the panels: panel by panel, each 64-byte piece
// of a row sat in a page of its own (rows N floats apart) and the copy waited on DRAM and the TLB line by line.
// Zen 3, 1 thread, GFLOP/s: 64x4096x1024 56 -> 61, 128x3136x576 66 -> 75, 32x1024x4096 43 -> 47.
// Rows of B asked for kPackAhead rows before they are copied: a row-major B block is nc-float runs of rows N
// apart, which the hardware prefetcher does not follow from one run to the next. With it and pack_a_slivers,
// in-process A/B on Zen 3 (GFLOP/s, 1 / 2 threads): 64x4096x1024 61 -> 70 / 135 -> 150, LSTM weight gradient
// 385x1024x3200 (A transposed) 83 -> 86 / 151 -> 161, 161x512x3200 76 -> 83 / 123 -> 135, 2048^3 equal.
// Distances 2 to 16 measured alike.
constexpr int64_t kPackAhead = 8;
template <typename T>
void pack_b_block(int64_t nc, int64_t kc, const T* b, int64_t rs, int64_t cs, int64_t NR, T* dst) {
    if (cs != 1) {
        for (int64_t jp = 0; jp * NR < nc; ++jp)
            pack_b(std::min(NR, nc - jp * NR), kc, b + jp * NR * cs, rs, cs, NR, dst + jp * NR * kc);
        return;
    }
    const int64_t full = nc / NR, tail = nc - full * NR;
    for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + p * rs;
        T* d = dst + p * NR;
        if (p + kPackAhead < kc)
            for (int64_t j = 0; j < nc; j += 64 / int64_t(sizeof(T))) __builtin_prefetch(src + kPackAhead * rs + j);
        for (int64_t jp = 0; jp < full; ++jp, src += NR, d += NR * kc)
            for (int64_t j = 0; j < NR; ++j) d[j] = src[j];
        if (tail) {
            for (int64_t j = 0; j < tail; ++j) d[j] = src[j];
            for (int64_t j = tail; j < NR; ++j) d[j] = T(0);
        }
    }
}

}  // namespace
}  // namespace ember
