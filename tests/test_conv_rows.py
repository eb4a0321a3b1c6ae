"""The implicit-GEMM convolution (csrc/cpu/conv2d_rows*): forced with set_conv2d_path("rows") on every compiled vector
width, its three passes against the NumPy reference in float32 and float64 at the edges of its tiles (1..24 pixels per
tile, channel tiles of 1..4 vectors with ragged tails, windows of one tap to 576), float64 finite differences through
ops.conv2d, and the same bits whatever the thread count in both of the weight gradient's reduction schemes."""
import numpy as np
import pytest

import ember
from ember import _C
from ember.backend import cpu, reference
from ember.testing import gradcheck

# (N, H, W, C, KH, KW, O, strides, padding, dilation)
ROWS_IN_BLOCKS = (2, 6, 300, 64, 3, 3, 64, (1, 1), ((1, 1), (1, 1)), (1, 1))  # 154 KiB a row
PAIRED_SAME = (2, 9, 8, 3, 3, 3, 16, (1, 1), ((1, 1), (1, 1)), (1, 1))
GEOMETRIES = [
    (3, 28, 28, 1, 5, 5, 6, (1, 1), ((2, 2), (2, 2)), (1, 1)),     # LeNet's first layer, 'same'
    (2, 14, 14, 6, 5, 5, 16, (1, 1), ((0, 0), (0, 0)), (1, 1)),    # its second
    (2, 20, 30, 3, 3, 3, 16, (1, 1), ((0, 0), (0, 0)), (1, 1)),    # 28 pixels a row: two tiles of 14
    (1, 1, 1, 1, 1, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1)),       # one pixel, one tap
    (2, 9, 11, 5, 3, 3, 17, (2, 1), ((1, 0), (2, 1)), (1, 1)),     # a 1-lane channel tail, asymmetric padding
    (1, 8, 8, 7, 3, 2, 70, (1, 3), ((1, 1), (0, 2)), (2, 1)),      # 5 vectors as 3 + 2, row dilation, stride 3
    (2, 6, 7, 130, 1, 1, 130, (1, 1), ((0, 0), (0, 0)), (1, 1)),   # pointwise, 3 channel tiles
    (1, 5, 5, 4, 5, 5, 3, (1, 1), ((4, 4), (4, 4)), (1, 1)),       # padding as large as the kernel
    (2, 7, 40, 8, 3, 3, 33, (1, 1), ((1, 1), (1, 1)), (1, 1)),     # 40 pixels a row at every tile width
    (2, 6, 6, 64, 3, 3, 64, (1, 1), ((1, 1), (1, 1)), (1, 1)),     # K * O = 36864: the weight gradient splits tiles
    ROWS_IN_BLOCKS,                                                # and runs images in blocks of rows
    # Rows short enough to go two to a forward tile (AVX-512: wo <= 12 at one vector, <= 6 at two; AVX2: <= 6 at one):
    PAIRED_SAME,                                                   # 'same': edge pairs read different kernel rows
    (2, 8, 7, 4, 3, 2, 20, (2, 1), ((0, 0), (0, 0)), (1, 1)),      # two vectors a pixel, stride 2, 3 rows: one alone
    (3, 7, 6, 2, 3, 3, 8, (1, 1), ((0, 0), (0, 0)), (1, 1)),       # 4 pixels a row, pairs on AVX2 too
    # 5-wide kernels and one channel vector: AVX-512's sliding forward tiles (each input column broadcast once)
    (2, 9, 9, 3, 5, 5, 10, (1, 1), ((0, 0), (0, 0)), (1, 1)),      # 5 rows of 5: two pairs and a row alone
    (1, 6, 30, 2, 5, 5, 16, (1, 1), ((2, 2), (2, 2)), (1, 1)),     # 30 pixels a row: tiles of 15, edge rows
    (2, 11, 11, 2, 5, 5, 8, (2, 2), ((1, 1), (1, 1)), (1, 1)),     # stride 2: not sliding
]



@pytest.fixture
def rows_path(conv_path):
    conv_path("rows")


def _data(geometry, dtype, seed):
    n, h, w, c, kh, kw, o, strides, padding, dilation = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c, o)).astype(dtype)
    args = (strides, padding, dilation, 1)
    gy = rng.standard_normal(reference.conv2d_forward(x, k, *args).shape).astype(dtype)
    return x, k, gy, args


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_three_passes_match_the_reference(gemm_kernel, rows_path, geometry, dtype, conv_passes_match_the_reference):
    x, k, gy, args = _data(geometry, dtype, abs(hash(geometry)) % 2**32)
    conv_passes_match_the_reference(x, k, gy, args)


@pytest.mark.parametrize("geometry", [GEOMETRIES[i] for i in (0, 4, 5, 7)], ids=str)
def test_gradients_match_finite_differences(rows_path, geometry):
    n, h, w, c, kh, kw, o, strides, padding, dilation = geometry
    n, h, w = min(n, 2), min(h, 8), min(w, 8)  # small enough for central differences of every input
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, o))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, strides=strides, padding=padding, dilation_rate=dilation),
                  [x, k], atol=1e-6, rtol=1e-5)


# 70 output rows (more than the 16 partial sums) for the grouped weight gradient; K * O >= 32768 for the split one,
# with images in one block of rows and in several; rows paired in the forward's tiles.
@pytest.mark.parametrize("geometry", [(7, 12, 13, 6, 3, 3, 20, (1, 1), ((1, 1), (1, 1)), (1, 1)),
                                      (3, 9, 30, 32, 3, 3, 130, (1, 1), ((0, 0), (1, 1)), (1, 1)),
                                      ROWS_IN_BLOCKS, PAIRED_SAME], ids=str)
def test_results_do_not_depend_on_the_thread_count(rows_path, geometry, conv_passes_on_one_and_three_threads):
    x, k, gy, args = _data(geometry, np.float32, 3)
    conv_passes_on_one_and_three_threads(x, k, gy, args)


def test_the_forced_path_is_checked_and_restored():
    expected = "set_conv2d_path: expected 'auto', 'gemm', 'direct', 'rows', 'winograd' or 'dot', got 'fast'"
    with pytest.raises(ValueError, match=expected):
        _C.set_conv2d_path("fast")
    assert _C.conv2d_path() == "auto"
    for name in ("gemm", "direct", "rows", "winograd", "dot", "auto"):
        _C.set_conv2d_path(name)
        assert _C.conv2d_path() == name


@pytest.mark.parametrize("path", ["auto", "gemm", "direct", "rows", "winograd", "dot"])
def test_a_stride_or_dilation_that_is_never_taken_may_be_any_size(conv_path, path):
    # One output along an axis never uses its stride, one kernel tap never its dilation: 2**62 of either must give
    # the plain result (the kernels once multiplied them into a row stride and overflowed).
    conv_path(path)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    k = rng.standard_normal((1, 3, 3, 4)).astype(np.float32)
    args = ((2**62, 2**62), ((0, 0), (1, 1)), (2**62, 1), 1)
    gy = rng.standard_normal((2, 1, 1, 4)).astype(np.float32)
    x64, k64, gy64 = (a.astype(np.float64) for a in (x, k, gy))
    for got, expected in [(cpu.conv2d_forward(x, k, *args), reference.conv2d_forward(x64, k64, *args)),
                          (cpu.conv2d_backward_input(gy, k, x.shape, *args),
                           reference.conv2d_backward_input(gy64, k64, x.shape, *args)),
                          (cpu.conv2d_backward_weight(gy, x, k.shape, *args),
                           reference.conv2d_backward_weight(gy64, x64, k.shape, *args))]:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["auto", "gemm", "direct", "rows", "winograd", "dot"])
def test_padding_far_wider_than_the_image_is_not_buffered(conv_path, path):
    # A zero-bordered copy of this image would be 2**42 values: the direct and rows paths, which buffer one, leave
    # it to the GEMM path. Stride 2**20 puts the middle output of 3 x 3 on the one pixel.
    conv_path(path)
    x, k = np.full((1, 1, 1, 2), 3.0, np.float32), np.full((1, 1, 2, 1), 2.0, np.float32)
    args = ((2**20, 2**20), ((2**20, 2**20), (2**20, 2**20)), (1, 1), 1)
    expected = np.zeros((1, 3, 3, 1), np.float32)
    expected[0, 1, 1, 0] = 12.0
    np.testing.assert_array_equal(cpu.conv2d_forward(x, k, *args), expected)
    gy = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    np.testing.assert_array_equal(cpu.conv2d_backward_input(gy, k, x.shape, *args), np.full(x.shape, 8.0))
    np.testing.assert_array_equal(cpu.conv2d_backward_weight(gy, x, k.shape, *args), np.full(k.shape, 12.0))


@pytest.mark.parametrize("n, hw, c, o", [(2, 1, 1, 1), (3, 1, 2, 3), (2, 2, 1, 6), (5, 3, 1, 7), (4, 1, 3, 12)])
def test_weight_gradient_of_images_smaller_than_a_vector(conv_path, n, hw, c, o):
    """O not a whole number of vectors: grad_y is read in place only where a pixel's last vector stays in the array
    (an ASan report on 1x1 images of one channel found the last-image-only rule too loose)."""
    conv_path("rows")
    rng = np.random.default_rng(n * 100 + o)
    x = rng.standard_normal((n, hw, hw, c))
    w_shape = (1, 1, c, o)
    gy = rng.standard_normal((n, hw, hw, o))
    args = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    expected = reference.conv2d_backward_weight(gy, x, w_shape, *args)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        got = cpu.conv2d_backward_weight(gy.astype(dtype), x.astype(dtype), w_shape, *args)
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
