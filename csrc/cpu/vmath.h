// exp, sigmoid and tanh written so that a loop over them vectorizes: no calls, no branches, no tables.
// float gets Cephes' polynomials for exp (the same ones NumPy/SLEEF-class libraries use) and a rational tanh;
// double keeps libm, which is exact to within an ulp and which the float64 gradient checks compare against at 1e-10.
//
// Measured against double-precision libm over 2^24 evenly spaced points in [-20, 20] (scalar build): exp <= 1 ulp
// (relative 8.2e-8), sigmoid <= 2.5 ulp, tanh <= 4.9 ulp (absolute 2.9e-7; see tanh_f). NaN propagates
// through every function (the clamps keep NaN, and every later step of the computation is arithmetic on it).
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

static inline int32_t float_to_bits(float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i;
}

// Clamps written as `a < b ? a : b` and `a > b ? a : b`, the forms x86's minps/maxps compute exactly (the second
// operand when either is NaN): GCC then emits one min or max per clamp where the nested ternaries cost a compare
// and a blend each. x goes second, so a NaN x comes out as itself.
static inline float clamp_keep_nan(float x, float lo, float hi) {
    const float below_hi = hi < x ? hi : x;
    return lo > below_hi ? lo : below_hi;
}

// exp's float range: below kExpMin the result is subnormal (exp_f gives 0 there), above kExpMax it overflows.
static constexpr float kExpMin = -87.33654f, kExpMax = 88.3762626647949f;

// e^x = scale (1 + q), the two parts returned apart: x clamped to [kExpMin, kExpMax], n = round(x / ln 2),
// scale = 2^n, and q = e^r - 1 for r = x - n ln 2 (|r| <= ln 2 / 2) from Cephes' polynomial. exp_f adds the 1;
// expm1_f (activation_impl.h) keeps q apart, so that it has no cancellation near 0.
static inline float exp_parts_of_clamped(float xc, float& scale);

static inline float exp_parts(float x, float& scale) {
    return exp_parts_of_clamped(clamp_keep_nan(x, kExpMin, kExpMax), scale);
}

// exp_parts of an x already in [kExpMin, kExpMax] (or NaN): callers that know one bound holds clamp the other only.
static inline float exp_parts_of_clamped(float xc, float& scale) {
    // n = round(x / ln 2) by the 1.5 * 2^23 trick (no SSE4.1 round needed in the generic build): t's low mantissa
    // bits hold n itself, read as an integer with no float-to-int conversion (whose NaN case is undefined in C++,
    // and needed a compare and a blend; a NaN x gives some n, and a NaN result all the same).
    const float shifter = 12582912.0f;
    const float t = xc * 1.44269504088896341f + shifter;
    const float nf = t - shifter;
    const float r = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;  // Cody-Waite: x - n ln2 in two parts
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const int32_t n = float_to_bits(t) - float_to_bits(shifter);  // in [-126, 127]
    scale = bits_to_float(int32_t(uint32_t(n + 127) << 23));
    return p * r * r + r;
}

// exp(x) for x in [kExpMin, kExpMax]; below it returns 0, above it exp(kExpMax) (sigmoid takes exp(-x) past it
// for x < -kExpMax, where it returns 0 itself).
static inline float exp_f(float x) {
    float scale;
    const float q = exp_parts(x, scale);
    const float y = (q + 1.0f) * scale;
    return x < kExpMin ? 0.0f : y;
}

// 1 / (1 + e^-x): for x < 0 the large e^-x is itself accurate to an ulp, so the quotient keeps tiny results
// accurate too (<= 2.5 ulp down to the smallest normal float). Below x = kExpMin the result would be subnormal and
// exp_f's clamp would stop it short of 0: it is 0 there, as at -inf. (Was exp(-|x|) with e / (1 + e) selected for
// x < 0: 23 -> 19 cycles per 8 floats from L1 on Zen 3, AVX2.) With the clamps as min/max forms, n read from t's bits
// and exp_f's select dropped, the AVX2 build went from 8 blends per vector to 3: through the activation op on 32K
// floats (L2, 1 thread, Zen 3) sigmoid 27.0 -> 19.5 cycles per 8 floats, elu 26.6 -> 22.5, tanh 15.5 -> 14.2; every
// output bit-identical (activations and softmax on 2M points, LSTM/GRU passes, generic and AVX2).
static inline float sigmoid_f(float x) {
    // exp_parts, not exp_f: past x = -kExpMin, e^-x clamped at e^kExpMin (1.2e-38) still gives s = 1 exactly, so
    // exp_f's select of 0 there is not needed.
    float scale;
    const float q = exp_parts(-x, scale);
    const float s = 1.0f / (1.0f + (q + 1.0f) * scale);
    return x < kExpMin ? 0.0f : s;  // NaN fails the test and stays NaN
}

// A rational function, odd degree 13 over even degree 6 (the minimax fit Eigen, and so TensorFlow/Keras, use for
// float tanh), clamped where it returns exactly +-1: |x| >= 7.905 gives 1 (correctly rounded tanh reaches 1 at
// 9.02), so a saturated unit's tanh' = 1 - y^2 is exactly 0. Against double-precision tanh over 2^24 points in
// [-20, 20]: <= 4.9 ulp, absolute error <= 2.9e-7 (near |x| = 5.9) with FMA; 6.2 ulp, 3.7e-7 in the generic
// build's separate multiply and add. It replaced 1 - 2 / (e^{2|x|} + 1) with a small-|x| polynomial (<= 1.3 ulp),
// which cost 38 cycles per 8 floats against 13.5 (Zen 3, AVX2, from L1): tanh is a third of an LSTM cell's
// transcendental work and all of a SimpleRNN's.
static inline float tanh_f(float x) {
    const float clamp = 7.90531110763549805f;
    const float xc = clamp_keep_nan(x, -clamp, clamp);
    const float z = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * z + 2.00018790482477e-13f;
    p = p * z - 8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * z + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    return (p * xc) / q;
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
