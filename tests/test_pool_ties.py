"""Max pooling's gradient goes to the first cell holding the window's maximum (the first NaN when there is one),
as the reference does: windows full of ties and NaNs, overlapping, padded and strided, float64, on the kernels."""
import numpy as np
import pytest

from ember.backend import cpu, reference

WINDOWS = [((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 3), (1, 2), ((1, 1), (0, 2))), ((2, 3), (2, 1), ((1, 0), (1, 1)))]


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("with_nan", [False, True])
def test_max_pool_gradient_goes_to_the_first_maximum(window, with_nan):
    rng = np.random.default_rng(len(str(window)) + with_nan)
    x = rng.integers(0, 3, (2, 7, 6, 70)).astype(np.float64)  # 70 channels: a full block of 64 and a tail
    if with_nan:
        x[0, 1, 1, 2] = x[1, 2, 3, 0] = x[1, 2, 2, 0] = x[0, 3, 3, 65] = np.nan
    gy = rng.standard_normal(reference.max_pool2d_forward(x, *window).shape)
    got, expected = cpu.max_pool2d_backward(gy, x, *window), reference.max_pool2d_backward(gy, x, *window)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=1e-12, atol=1e-12)


TILED = [((2, 2), (2, 2)), ((2, 3), (2, 3)), ((3, 3), (3, 3)), ((1, 2), (1, 2)), ((3, 1), (3, 1))]


@pytest.mark.parametrize("window", TILED, ids=str)
@pytest.mark.parametrize("channels", [1, 3, 6, 15, 16, 17, 32, 70])
@pytest.mark.parametrize("size", [(6, 6), (7, 8)], ids=["whole", "remainder"])
def test_max_pool_gradient_with_tiling_windows(window, channels, size):
    """Strides equal to the pool, no padding before: the flattened-row paths (fewer than 16 channels) and the
    per-window one (16 or more, a block of 64 and a tail at 70): ties, NaNs, rows and columns past the last window."""
    rng = np.random.default_rng(channels + 10 * size[0] + len(str(window)))
    x = rng.integers(0, 3, (2,) + size + (channels,)).astype(np.float64)
    x[0, 1, 1, 0] = x[1, 2, 3, -1] = x[1, 2, 2, -1] = x[1, 5, 5, 0] = np.nan
    for padding in (((0, 0), (0, 0)), ((0, window[0][0] - 1), (0, window[0][1] - 1))):  # 'same': the last windows
        _check_tiled(x, rng, (window[0], window[1], padding))                         # reach past the input


def _check_tiled(x, rng, args):
    gy = rng.standard_normal(reference.max_pool2d_forward(x, *args).shape)
    for dtype in (np.float64, np.float32):
        got = cpu.max_pool2d_backward(gy.astype(dtype), x.astype(dtype), *args)
        expected = reference.max_pool2d_backward(gy, x, *args)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=1e-6, atol=1e-6)


def test_relu_gradient_keeps_the_reference_semantics_for_inf_and_nan():
    x = np.array([-1.0, 0.0, 2.0, np.nan, -np.inf, np.inf, 3.0, -2.0] * 5)
    gy = np.array([np.inf, np.nan, np.nan, 1.0, 2.0, -np.inf, np.inf, 5.0] * 5)
    y = reference.activation_forward("relu", x)
    got = cpu.activation_backward("relu", x, y, gy)
    expected = reference.activation_backward("relu", x, y, gy)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("channels", [1, 3, 6, 8, 9, 16, 17, 32, 64, 70])
@pytest.mark.parametrize("size", [(6, 6), (7, 9), (2, 2)], ids=["whole", "remainder", "one"])
def test_max_pool_forward_of_tiling_2x2_windows_on_every_isa(gemm_kernel, channels, size):
    """The 2x2 windows tiling the rows: flattened rows (at most 8 channels or 16), each window's channels in place
    (more than 16: 32 and 64 compile-time widths, 17 and 70 read at run time), the per-window path (9): each window's
    maximum, NaN when it holds one, ties and signed zeros as the reference gives them, rows and columns past the last
    window."""
    rng = np.random.default_rng(channels + size[1])
    x = rng.integers(-2, 3, (3,) + size + (channels,)).astype(np.float64)
    x[rng.random(x.shape) < 0.1] = -0.0
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.02] = -np.inf
    args = ((2, 2), (2, 2), ((0, 0), (0, 0)))
    expected = reference.max_pool2d_forward(x, *args)
    for dtype in (np.float64, np.float32):
        got = cpu.max_pool2d_forward(x.astype(dtype), *args)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_array_equal(np.nan_to_num(got), np.nan_to_num(expected))


@pytest.mark.parametrize("channels", [1, 6, 17, 32, 64, 70])
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_average_pool_forward_on_every_isa(gemm_kernel, window, channels):
    """The average pool's forward, compiled per ISA with the channel block's width a constant where it is one of the
    cases (1, 6, 32, 64: a full block and a 6-channel tail at 70) and read at run time otherwise (17), 2x2 windows
    tiling the rows from 17 channels summed in place: each window's real cells summed from zero in order and divided
    by their count (padding not counted), float32 and float64."""
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((2, 7, 9, channels))
    expected = reference.avg_pool2d_forward(x, *window)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        np.testing.assert_allclose(cpu.avg_pool2d_forward(x.astype(dtype), *window), expected, rtol=tol, atol=tol)
