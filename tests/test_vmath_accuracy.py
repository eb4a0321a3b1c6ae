"""The float32 transcendental kernels (csrc/cpu/vmath.h) hold the bounds their comments state, on every compiled
vector width: tanh within 4.9 ulp with FMA, 6.2 in the generic build's separate multiply and add (a clamped
rational), and exactly +-1 from |x| = 7.905, sigmoid within 2.5 ulp down
to the smallest normal result and exactly 0 below -87.34; NaN passes through both."""
import numpy as np
import pytest

from ember import _C

pytestmark = pytest.mark.parametrize("gemm_kernel", ["generic", "avx2", "avx512"], indirect=True)


def _ulps(got, exact):
    """|got - exact| in units of the float32 spacing at the correctly rounded exact value."""
    rounded = exact.astype(np.float32)
    spacing = np.spacing(np.abs(rounded)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def _kernel(name, x):
    y = np.empty_like(x)
    _C.activation_forward(name, x, y)
    return y


GRID = np.linspace(-20, 20, 1 << 20, dtype=np.float32)


def test_tanh_is_within_five_ulp_of_the_double_precision_result(gemm_kernel):
    bound = 6.2 if gemm_kernel == "generic" else 4.9
    assert _ulps(_kernel("tanh", GRID), np.tanh(GRID.astype(np.float64))).max() <= bound


def test_tanh_is_exactly_one_in_magnitude_past_its_clamp(gemm_kernel):
    x = np.array([7.9054, 9.1, 50.0, np.inf], np.float32)
    np.testing.assert_array_equal(_kernel("tanh", x), np.ones(4, np.float32))
    np.testing.assert_array_equal(_kernel("tanh", -x), -np.ones(4, np.float32))


def test_sigmoid_is_within_two_and_a_half_ulp_down_to_the_smallest_normal_result(gemm_kernel):
    x = np.linspace(-87.3, 30, 1 << 20, dtype=np.float32)
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert _ulps(_kernel("sigmoid", x), exact).max() <= 2.5


def test_sigmoid_is_exactly_zero_and_one_at_the_far_ends(gemm_kernel):
    x = np.array([-87.4, -100.0, -np.inf, 100.0, np.inf], np.float32)
    np.testing.assert_array_equal(_kernel("sigmoid", x), np.array([0, 0, 0, 1, 1], np.float32))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_nan_passes_through(gemm_kernel, name):
    assert np.isnan(_kernel(name, np.array([np.nan] * 9, np.float32))).all()
