// The direct narrow convolution for the baseline ISA, the run-time choice among the compiled-in versions, and
// the rule for when it applies.
#include <string>

#include "conv2d_direct_impl.h"
#include "gemm.h"

EMBER_CONV_DIRECT(generic, 16)

namespace ember {

namespace {

// Stride 1, no dilation, one group, few channels: there the GEMM's 32-wide register tile holds mostly padding
// (O = 6 or 16) and its reduction (KH * KW * C = 25 or 150) is too short to amortize packing and im2col.
bool unit_stride_one_group(const Conv2dGeom& g) {
    return g.groups == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

bool narrow(const Conv2dGeom& g) {
    return unit_stride_one_group(g) && g.c <= kDirectMaxChannels && g.o <= kDirectMaxChannels && g.modest_padding();
}

}  // namespace

// The thresholds are measured (dev/conv_bench.py, 1 thread, AVX-512): the direct forward is ahead up to O = 16
// (2-4x at LeNet's 1->6 and 6->16) and even at O = 32 for C <= 3, behind the GEMM from 8->32 on.
bool conv2d_direct_forward_applies(const Conv2dGeom& g) { return narrow(g) && (g.o <= 16 || g.c * g.o <= 96); }

// Its weight gradient streams two operands per FMA: ahead only for the narrowest layers (1->6: 5x, 4->8: 1.8x),
// level at 1->32, behind from 3->16 on.
bool conv2d_direct_weight_applies(const Conv2dGeom& g) { return narrow(g) && g.c * g.o <= 32; }

// Up to 8 outputs (conv2d.cpp has the measurements); kw as PixelVectorConv takes it, whatever the vector width.
bool conv2d_direct_pixel_weight_ahead(const Conv2dGeom& g) {
    return narrow(g) && g.o <= 8 && PixelVectorConv<float, 16>::weight_applies(g);
}

bool conv2d_dot_backward_input_supported(const Conv2dGeom& g) {
    return unit_stride_one_group(g) && g.c <= DotInputGrad<float, 16>::kMaxC && g.o % 16 == 0;
}

template <>
const ConvDirectKernels<float>& conv_direct_kernels<float>() {
    return for_gemm_isa<ConvDirectKernels<float>, EMBER_ISA_BUILDERS(conv_direct, f32)>();
}

template <>
const ConvDirectKernels<double>& conv_direct_kernels<double>() {
    return for_gemm_isa<ConvDirectKernels<double>, EMBER_ISA_BUILDERS(conv_direct, f64)>();
}

}  // namespace ember
