"""The direct narrow convolution (csrc/cpu/conv2d_direct*.cpp), forced with set_conv2d_path("direct"): the layers it
takes (stride 1, few channels) on every compiled vector width, against the NumPy reference, in float32 and float64,
with float64 finite-difference gradients through ops.conv2d and the same bits whatever the thread count."""
import numpy as np
import pytest

import ember
from ember.backend import cpu
from ember.testing import gradcheck

# (N, H, W, C, KH, KW, O, ((top, bottom), (left, right))): LeNet's two layers, every weight-pattern period the
# kernels specialize (O = 1..8, 16, 32 against 2-, 4-, 8- and 16-lane vectors) and the general one (O = 9, 11),
# one-pixel images, kernels as wide as the padded input, asymmetric and more-than-kernel padding.
GEOMETRIES = [
    (3, 28, 28, 1, 5, 5, 6, ((0, 0), (0, 0))),
    (2, 14, 14, 6, 5, 5, 16, ((0, 0), (0, 0))),
    (2, 9, 7, 3, 3, 3, 32, ((1, 1), (1, 1))),
    (1, 5, 6, 2, 3, 2, 7, ((2, 0), (1, 0))),
    (2, 4, 9, 5, 2, 4, 9, ((0, 3), (2, 1))),
    (2, 5, 5, 4, 5, 5, 3, ((4, 4), (4, 4))),
    (1, 1, 1, 1, 1, 1, 1, ((0, 0), (0, 0))),
    (1, 3, 8, 2, 3, 3, 11, ((1, 1), (0, 0))),
    (5, 6, 13, 1, 1, 3, 2, ((0, 0), (1, 1))),
    (2, 7, 3, 8, 3, 3, 5, ((1, 1), (1, 1))),
    (1, 4, 17, 4, 2, 2, 8, ((0, 1), (0, 1))),
    (4, 6, 6, 1, 3, 3, 4, ((1, 1), (1, 1))),
    # the pixel-vector forward (at most 8 outputs, any input channels; the input gradient of at most 8 inputs):
    (2, 9, 40, 3, 3, 3, 8, ((1, 1), (1, 1))),     # rows of two tiles and a tail
    (3, 7, 16, 5, 3, 3, 6, ((1, 1), (1, 1))),     # rows of one float32 vector, two to a tile, the last one alone
    (2, 10, 9, 16, 5, 5, 1, ((2, 2), (2, 2))),    # one output channel from 16
    (1, 3, 33, 2, 1, 7, 8, ((0, 0), (3, 3))),     # a 1x7 kernel
]



@pytest.fixture(autouse=True)
def direct_path(conv_path):
    conv_path("direct")


def _args(padding):
    return (1, 1), padding, (1, 1), 1


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_three_passes_match_the_reference(gemm_kernel, geometry, dtype, conv_passes_match_the_reference):
    n, h, w, c, kh, kw, o, padding = geometry
    rng = np.random.default_rng(abs(hash(geometry)) % 2**32)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c, o)).astype(dtype)
    args = _args(padding)
    y = cpu.conv2d_forward(x, k, *args)
    gy = rng.standard_normal(y.shape).astype(dtype)
    conv_passes_match_the_reference(x, k, gy, args, y)


@pytest.mark.parametrize("geometry", GEOMETRIES[:6], ids=str)
def test_gradients_match_finite_differences(geometry):
    n, h, w, c, kh, kw, o, padding = geometry
    n, h, w = min(n, 2), min(h, 8), min(w, 8)  # small enough for central differences of every input
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, o))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, padding=padding), [x, k], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES[:3] + GEOMETRIES[-3:-2], ids=str)
def test_results_do_not_depend_on_the_thread_count(geometry, conv_passes_on_one_and_three_threads):
    n, h, w, c, kh, kw, o, padding = geometry
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, h, w, c), dtype=np.float32)  # 9 images: uneven over threads and weight chunks
    k = rng.standard_normal((kh, kw, c, o), dtype=np.float32)
    args = _args(padding)
    gy = rng.standard_normal(cpu.conv2d_forward(x, k, *args).shape, dtype=np.float32)
    conv_passes_on_one_and_three_threads(x, k, gy, args)


# Depthwise (groups == C): (N, H, W, C, KH, KW, multiplier, strides, padding, dilation). Channel counts cover the
# 4-, 2- and 1-vector blocks and single-channel tails of every width.
DEPTHWISE = [
    (2, 7, 6, 128, 3, 3, 1, (1, 1), ((1, 1), (1, 1)), (1, 1)),
    (1, 9, 8, 37, 3, 3, 1, (2, 2), ((1, 0), (0, 1)), (1, 1)),
    (2, 8, 9, 21, 3, 2, 1, (1, 2), ((2, 2), (1, 1)), (2, 1)),
    (1, 5, 5, 3, 5, 5, 1, (1, 1), ((2, 2), (2, 2)), (1, 1)),
    (1, 6, 6, 5, 3, 3, 2, (2, 1), ((1, 1), (1, 1)), (1, 1)),
    (3, 4, 4, 70, 1, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1)),
]


@pytest.mark.parametrize("geometry", DEPTHWISE, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_passes_match_the_reference(gemm_kernel, geometry, dtype, conv_passes_match_the_reference):
    n, h, w, c, kh, kw, mult, strides, padding, dilation = geometry
    rng = np.random.default_rng(abs(hash(geometry)) % 2**32)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, 1, c * mult)).astype(dtype)
    args = (strides, padding, dilation, c)
    y = cpu.conv2d_forward(x, k, *args)
    conv_passes_match_the_reference(x, k, rng.standard_normal(y.shape).astype(dtype), args, y)


def test_depthwise_gradients_match_finite_differences():
    rng = np.random.default_rng(11)
    x, k = rng.standard_normal((2, 5, 6, 19)), rng.standard_normal((3, 3, 1, 19))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, strides=(2, 1), padding="same", groups=19), [x, k],
                  atol=1e-6, rtol=1e-5)
