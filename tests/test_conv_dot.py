"""The input gradient as dot products over the output channels (csrc/cpu/conv2d_dot_impl.h), forced with
set_conv2d_path("dot"): layers of stride 1 with at most 8 inputs and a multiple of 16 outputs, on every compiled vector
width, against the NumPy reference in float32 and float64, with float64 finite-difference gradients through
ops.conv2d, the same bits whatever the thread count, and auto's choice of it."""
import numpy as np
import pytest

import ember
from ember.backend import cpu, reference
from ember.testing import gradcheck

# (N, H, W, C, KH, KW, O, ((top, bottom), (left, right))): LeNet's 6->16; every channel count 1..8 (odd ones fill
# half of the last two-channel vector with AVX-512); 32 and 48 outputs (several chunks of lanes per tap); rows
# narrower than a tile, one pixel more or less than tiles; 'same' and asymmetric padding, padding past the kernel,
# a kernel wider than the image, 1x1 and 1xK kernels.
GEOMETRIES = [
    (2, 14, 14, 6, 5, 5, 16, ((0, 0), (0, 0))),
    (2, 9, 11, 1, 3, 3, 16, ((1, 1), (1, 1))),
    (1, 7, 17, 2, 3, 3, 32, ((0, 2), (2, 0))),
    (3, 6, 9, 3, 3, 3, 16, ((1, 1), (1, 1))),
    (1, 5, 7, 4, 2, 4, 48, ((1, 0), (3, 0))),
    (2, 8, 5, 5, 3, 3, 16, ((2, 2), (2, 2))),
    (1, 4, 6, 7, 5, 5, 16, ((4, 4), (4, 4))),
    (2, 6, 13, 8, 3, 5, 32, ((0, 0), (2, 2))),
    (1, 3, 2, 6, 1, 7, 16, ((0, 0), (3, 3))),
    (1, 1, 1, 2, 1, 1, 16, ((0, 0), (0, 0))),
    (2, 5, 3, 6, 5, 5, 16, ((2, 2), (2, 2))),
]


@pytest.fixture
def dot_path(conv_path):
    conv_path("dot")


def _data(geometry, dtype, seed):
    n, h, w, c, kh, kw, o, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c, o)).astype(dtype)
    args = ((1, 1), padding, (1, 1), 1)
    gy = rng.standard_normal(cpu.conv2d_forward(x, k, *args).shape).astype(dtype)
    return x, k, gy, args


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_input_gradient_matches_the_reference(gemm_kernel, dot_path, geometry, dtype):
    x, k, gy, args = _data(geometry, dtype, abs(hash(geometry)) % 2**32)
    got = cpu.conv2d_backward_input(gy, k, x.shape, *args)
    expected = reference.conv2d_backward_input(gy.astype(np.float64), k.astype(np.float64), x.shape, *args)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("geometry", GEOMETRIES[:4], ids=str)
def test_gradients_match_finite_differences(dot_path, geometry):
    n, h, w, c, kh, kw, o, padding = geometry
    rng = np.random.default_rng(5)
    x = rng.standard_normal((min(n, 2), min(h, 8), min(w, 8), c))
    k = rng.standard_normal((kh, kw, c, o))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, padding=padding), [x, k], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("geometry", [GEOMETRIES[0], GEOMETRIES[7]], ids=str)
def test_results_do_not_depend_on_the_thread_count(dot_path, geometry, conv_passes_on_one_and_three_threads):
    n, h, w, c, kh, kw, o, padding = geometry
    x, k, gy, args = _data((9, h, w, c, kh, kw, o, padding), np.float32, 3)  # 9 images: uneven over threads
    conv_passes_on_one_and_three_threads(x, k, gy, args)


def test_a_nan_reaches_exactly_the_inputs_whose_window_holds_it(dot_path):
    k = np.ones((5, 5, 6, 16), np.float32)
    args = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    for h, w in [(0, 0), (4, 7), (9, 9)]:
        gy = np.ones((1, 10, 10, 16), np.float32)
        gy[0, h, w, 3] = np.nan
        got = cpu.conv2d_backward_input(gy, k, (1, 14, 14, 6), *args)
        expected = np.zeros((14, 14), bool)
        expected[h:h + 5, w:w + 5] = True
        for c in range(6):
            np.testing.assert_array_equal(np.isnan(got[0, :, :, c]), expected)


# auto takes it with the AVX-512 kernels from two input channels; with 8 lanes and 16 registers its tiles are a pixel
# or two and the other paths lead. Its sums round as no other path's, so equal bits mean auto took it.
@pytest.mark.parametrize("geometry, taken", [
    (GEOMETRIES[0], (False, True)),
    (GEOMETRIES[3], (False, True)),
    (GEOMETRIES[1], (False, False)),
])
def test_auto_takes_it_where_it_is_ahead(gemm_kernel, conv_path, geometry, taken):
    x, k, gy, args = _data(geometry, np.float32, 9)

    def input_gradient(path):
        conv_path(path)
        return cpu.conv2d_backward_input(gy, k, x.shape, *args)

    assert np.array_equal(input_gradient("auto"), input_gradient("dot")) == taken[gemm_kernel == "avx512"]
