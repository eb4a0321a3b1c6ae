// The register-only FMA loop of peak.h, written once over a vector type V with fmadd(a, b, c) = a * b + c.
// Included only by peak_avx2.cpp and peak_avx512.cpp, each compiled with its own -m flags.
//
// kAcc independent accumulators: an FMA's result is ready 4-5 cycles after it issues and the cores this targets
// issue two per cycle, so at least 10 chains must be in flight to keep both units busy; 12 leave a margin and,
// with the two constants, fit AVX2's 16 registers.
#pragma once

#include <cstdint>

namespace ember {
namespace {

template <class Ops>
float fma_loop_body(int64_t iters, float seed) {
    constexpr int kAcc = 12;
    using V = typename Ops::V;
    V acc[kAcc];
    for (int k = 0; k < kAcc; ++k) acc[k] = Ops::set1(seed + float(k));
    // acc -> acc * a + b converges to 1 (no overflow, no subnormals, whatever iters is).
    const V a = Ops::set1(0.999999f), b = Ops::set1(1e-6f);
    for (int64_t i = 0; i < iters; ++i)
        for (int k = 0; k < kAcc; ++k) acc[k] = Ops::fmadd(acc[k], a, b);
    for (int k = 1; k < kAcc; ++k) acc[0] = Ops::add(acc[0], acc[k]);
    return Ops::first(acc[0]);
}

template <class Ops>
FmaLoop make_fma_loop() {
    return {fma_loop_body<Ops>, int64_t(12) * Ops::width * 2};
}

}  // namespace
}  // namespace ember
