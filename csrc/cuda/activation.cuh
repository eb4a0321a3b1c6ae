// One activation of one value, shared by the activation kernels and the convolution's fused epilogue (so that both
// give the reference's results bit for bit): NaN propagates through every activation.
#pragma once

#include "activation.h"
#include "common.cuh"

namespace ember {
namespace cuda {

template <typename T>
EMBER_HD T activate(Act act, T v, T alpha) {
    switch (act) {
        case Act::relu: return v <= T(0) ? T(0) : v;  // '<=' so that NaN falls through as NaN
        case Act::leaky_relu: return v * (v > T(0) ? T(1) : alpha);
        case Act::elu: return v > T(0) ? v : alpha * expm1_(min0(v));
        case Act::sigmoid: return sigmoid_(v);
        case Act::tanh: return tanh_(v);
    }
    return v;
}

}  // namespace cuda
}  // namespace ember
