"""The Winograd F(2x2, 3x3) convolution (csrc/cpu/conv2d_winograd*): forced with set_conv2d_path("winograd") on every
compiled vector width, its three passes against the NumPy reference in float32 and float64 at the edges
of its tiling (odd output sizes that leave half tiles, one pixel, padding 0 to 2 on each side, ragged channel tails,
more tiles than one block), float64 finite differences through ops.conv2d, the same bits whatever the thread count,
and the shapes `auto` gives it."""
import numpy as np
import pytest

import ember
from ember.backend import cpu, reference
from ember.testing import gradcheck

# (N, H, W, C, O, padding)
GEOMETRIES = [
    (2, 7, 9, 5, 3, ((1, 1), (1, 1))),       # odd output rows and columns: half tiles at both edges
    (1, 1, 1, 3, 4, ((1, 1), (1, 1))),       # one pixel: all but the centre tap read padding
    (3, 5, 6, 17, 33, ((0, 0), (0, 0))),     # 'valid', a 1-lane channel tail
    (2, 6, 6, 8, 8, ((2, 2), (2, 2))),       # the widest padding it takes (a 'valid' layer's input gradient)
    (2, 9, 4, 130, 70, ((1, 2), (2, 0))),    # asymmetric padding, channel counts off every vector width
    (5, 13, 11, 16, 24, ((1, 1), (1, 1))),   # 5 * 7 * 6 = 210 tiles: several blocks per thread
    (1, 3, 40, 1, 1, ((0, 0), (1, 1))),      # one channel each way, one row of tiles
]


@pytest.fixture
def winograd_path(conv_path):
    conv_path("winograd")


def _data(geometry, dtype, seed):
    n, h, w, c, o, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((3, 3, c, o)).astype(dtype)
    args = ((1, 1), padding, (1, 1), 1)
    gy = rng.standard_normal(reference.conv2d_forward(x, k, *args).shape).astype(dtype)
    return x, k, gy, args


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_three_passes_match_the_reference(gemm_kernel, winograd_path, geometry, dtype,
                                               conv_passes_match_the_reference):
    x, k, gy, args = _data(geometry, dtype, sum(geometry[:5]))
    conv_passes_match_the_reference(x, k, gy, args)


@pytest.mark.parametrize("geometry", [GEOMETRIES[i] for i in (0, 2, 3)], ids=str)
def test_gradients_match_finite_differences(winograd_path, geometry):
    n, h, w, c, o, padding = geometry
    rng = np.random.default_rng(11)
    x = rng.standard_normal((min(n, 2), h, w, c))
    k = rng.standard_normal((3, 3, c, o))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, strides=(1, 1), padding=padding), [x, k], atol=1e-6, rtol=1e-5)


def test_results_do_not_depend_on_the_thread_count(winograd_path, conv_passes_on_one_and_three_threads):
    # 7 * 8 * 7 = 392 tiles: in the forward, blocks of 12 to 30 split among the threads; in the weight gradient (4 MiB
    # of transforms per chunk, 256 tiles at least at 128 + 136 channels) one full chunk and one partial
    x, k, gy, args = _data((7, 15, 13, 128, 136, ((1, 1), (1, 1))), np.float32, 3)
    conv_passes_on_one_and_three_threads(x, k, gy, args)


# auto takes Winograd for 3x3 stride-1 layers from 16 input channels and 8 outputs (32 with the AVX-512 kernels, whose
# 32-wide panels are half empty below that), with 24 tiles or more; the input gradient is the transposed layer's
# forward, so there the roles of C and O swap; the weight gradient from C * O = 128 * min(Wo, 16) on (512 at Wo = 4,
# 2048 from Wo = 16), where the forward takes it. `taken` per kernel family: (avx2 and generic, avx512).
@pytest.mark.parametrize("geometry, taken", [
    ((2, 12, 12, 16, 8, ((1, 1), (1, 1))), ((True, False, False), (False, False, False))),
    ((2, 12, 12, 8, 16, ((1, 1), (1, 1))), ((False, True, False), (False, False, False))),
    ((2, 12, 12, 32, 32, ((0, 0), (0, 0))), ((True, True, False), (True, True, False))),
    ((2, 12, 12, 64, 64, ((1, 1), (1, 1))), ((True, True, True), (True, True, True))),
    # small images: C * O = 512 is enough
    ((8, 4, 4, 16, 32, ((1, 1), (1, 1))), ((True, True, True), (True, False, True))),
    # 4 tiles: the weights' transform would dominate
    ((1, 4, 4, 64, 64, ((1, 1), (1, 1))), ((False, False, False), (False, False, False))),
])
def test_auto_takes_winograd_where_it_is_ahead(gemm_kernel, conv_path, geometry, taken):
    x, k, gy, args = _data(geometry, np.float32, 5)

    def passes(path):
        conv_path(path)
        return (cpu.conv2d_forward(x, k, *args), cpu.conv2d_backward_input(gy, k, x.shape, *args),
                cpu.conv2d_backward_weight(gy, x, k.shape, *args))

    auto, winograd = passes("auto"), passes("winograd")
    # Winograd's sums round differently from every other path's, so equal bits mean auto took it.
    expected = taken[gemm_kernel == "avx512"]
    assert tuple(np.array_equal(a, b) for a, b in zip(auto, winograd)) == expected


def test_a_nan_reaches_exactly_the_outputs_whose_window_holds_it(winograd_path):
    x = np.ones((1, 8, 8, 16), np.float32)
    k = np.ones((3, 3, 16, 8), np.float32)
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    for h, w in [(0, 0), (3, 4), (7, 7), (2, 5)]:
        xn = x.copy()
        xn[0, h, w, 3] = np.nan
        got = cpu.conv2d_forward(xn, k, *args)
        expected = np.zeros((8, 8), bool)
        expected[max(h - 1, 0):h + 2, max(w - 1, 0):w + 2] = True
        for o in range(8):
            np.testing.assert_array_equal(np.isnan(got[0, :, :, o]), expected)
