// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2015): each 2x2 block of
// output pixels comes from a 4x4 block of input pixels, and in the transformed domain the 9 taps x 4 pixels of
// multiply-adds per channel pair become 16 products, so the forward's GEMM work falls by 2.25x:
//   U[xi] (C, O)   = G w G^T, per channel pair, once per call, packed as the GEMM's panels
//   V[xi] (P, C)   = B^T d B, per tile of 4x4 inputs and channel (P tiles: N * ceil(Ho/2) * ceil(Wo/2))
//   M[xi] (P, O)   = V[xi] @ U[xi], 16 GEMMs (xi = 0..15)
//   y (2x2 pixels) = A^T M A, then bias and activation.
// Tiles go in blocks small enough that a block's V and M stay in L2 between the transforms and the products; each
// block is one thread's and each output element is computed the same way whatever the block, so results do not
// depend on the thread count. F(2x2, 3x3)'s transforms only add, subtract and halve (U), so float32 results stay
// within a few ulps of the direct sum's; F(4x4, 3x3) would save another 1.8x of products at 10-100x its error.
#pragma once

#include <cstdint>

#include "../common/shapes.h"
#include "conv2d_epilogue.h"

namespace ember {

template <typename T>
struct ConvWinogradKernels {
    // y (N, Ho, Wo, O) = epilogue(conv(x, w)) for a geometry conv2d_winograd_applies accepts.
    void (*forward)(const Conv2dGeom& g, const T* x, const T* w, T* y, const StoreEpilogue<T>& epilogue);
    // gw (3, 3, C, O) = sum over pixels of the x window * gy, in an order fixed by the shape alone.
    void (*backward_weight)(const Conv2dGeom& g, const T* gy, const T* x, T* gw);
};

// 3x3 kernel, stride 1, no dilation, one group, padding at most 2 on each side (past it whole tiles read zeros), and
// at most 2^21 channel pairs: the transformed weights, 16 values a pair twice over (plain and packed), stay under
// 256 MiB of float.
inline bool conv2d_winograd_applies(const Conv2dGeom& g) {
    return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 &&
           g.pt <= 2 && g.pb <= 2 && g.pl <= 2 && g.pr <= 2 && g.n * g.ho * g.wo > 0 &&
           g.c * g.o <= (int64_t(1) << 21);
}

// The table for this CPU, as the GEMM's choice (for_gemm_isa).
template <typename T>
const ConvWinogradKernels<T>& conv_winograd_kernels();

ConvWinogradKernels<float> conv_winograd_generic_f32();
ConvWinogradKernels<double> conv_winograd_generic_f64();
ConvWinogradKernels<float> conv_winograd_avx2_f32();
ConvWinogradKernels<double> conv_winograd_avx2_f64();
ConvWinogradKernels<float> conv_winograd_avx512_f32();
ConvWinogradKernels<double> conv_winograd_avx512_f64();

}  // namespace ember
