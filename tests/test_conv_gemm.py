"""The GEMM convolution's input gradient (csrc/cpu/conv2d.cpp), forced with set_conv2d_path("gemm"): image by image
(one group, no column dilation, two images or more: dcol bands from gemm_panels added onto grad_x while in cache) and
batch-wide (one image, groups, column dilation), against the NumPy reference in float32 and float64 on every compiled
vector width, float64 finite differences, and the same bits at one and three threads."""
import numpy as np
import pytest

import ember
from ember import _C
from ember.backend import cpu, reference
from ember.testing import gradcheck

# (N, H, W, C, KH, KW, O, strides, padding, dilation, groups)
GEOMETRIES = [
    (2, 14, 14, 6, 5, 5, 16, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),    # LeNet's second layer: by image
    (3, 40, 12, 6, 5, 5, 7, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),     # 36 output rows in bands of 13, 13, 10
    (3, 9, 11, 5, 3, 3, 17, (2, 2), ((1, 0), (2, 1)), (1, 1), 1),     # stride 2, asymmetric padding
    (2, 8, 8, 33, 3, 2, 40, (1, 3), ((1, 1), (0, 2)), (2, 1), 1),     # row dilation, stride 3, ragged panels
    (2, 5, 5, 3, 5, 5, 2, (1, 1), ((4, 4), (4, 4)), (1, 1), 1),       # padding as large as the kernel
    (2, 3, 3, 1, 1, 1, 1, (2, 2), ((0, 0), (0, 0)), (1, 1), 1),       # 1x1 stride 2: taps that read no output
    (1, 14, 14, 6, 5, 5, 16, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),    # one image: batch-wide
    (2, 9, 9, 6, 3, 3, 4, (1, 1), ((1, 1), (1, 1)), (1, 1), 2),       # groups: batch-wide
    (2, 9, 9, 4, 3, 3, 5, (1, 1), ((1, 1), (1, 1)), (1, 2), 1),       # column dilation: batch-wide
]


@pytest.fixture(autouse=True)
def gemm_path(conv_path):
    conv_path("gemm")


def _data(geometry, dtype, seed):
    n, h, w, c, kh, kw, o, strides, padding, dilation, groups = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c // groups, o)).astype(dtype)
    args = (strides, padding, dilation, groups)
    gy = rng.standard_normal(reference.conv2d_forward(x, k, *args).shape).astype(dtype)
    return x, k, gy, args


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_input_gradient_matches_the_reference(gemm_kernel, geometry, dtype):
    x, k, gy, args = _data(geometry, dtype, sum(geometry[:7]))
    expected = reference.conv2d_backward_input(gy.astype(np.float64), k.astype(np.float64), x.shape, *args)
    got = cpu.conv2d_backward_input(gy, k, x.shape, *args)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("geometry", [GEOMETRIES[i] for i in (0, 2, 3, 4)], ids=str)
def test_gradients_match_finite_differences(geometry):
    n, h, w, c, kh, kw, o, strides, padding, dilation, groups = geometry
    h, w = min(h, 9), min(w, 9)  # small enough for central differences of every input
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c // groups, o))
    with ember.use_backend("cpu"):
        gradcheck(lambda a, b: ember.ops.conv2d(a, b, strides=strides, padding=padding, dilation_rate=dilation),
                  [x, k], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("geometry", [GEOMETRIES[1], (5, 12, 13, 40, 3, 3, 300, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)],
                         ids=str)
def test_results_do_not_depend_on_the_thread_count(geometry):
    x, k, gy, args = _data(geometry, np.float32, 3)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = cpu.conv2d_backward_input(gy, k, x.shape, *args)
        _C.set_num_threads(3)
        three = cpu.conv2d_backward_input(gy, k, x.shape, *args)
    finally:
        _C.set_num_threads(before)
    np.testing.assert_array_equal(one, three)
