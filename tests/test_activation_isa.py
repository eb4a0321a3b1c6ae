"""The float32 activation kernels of every compiled ISA (generic, AVX2, AVX-512: activation_impl.h built three times)
against the NumPy reference, forward and backward, on sizes that end inside a vector and with NaN, infinities and
signed zeros; and the fused bias + activation forward and backward, whose bias strips and column sums run at the
same width."""
import numpy as np
import pytest

from ember.backend import cpu, reference

NAMES = ["relu", "leaky_relu", "elu", "sigmoid", "tanh"]


def _values(n, seed):
    x = (np.random.default_rng(seed).standard_normal(n) * 4).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, -104.0], np.float32)
    x[: min(n, special.size)] = special[: min(n, special.size)]
    return x


@pytest.mark.parametrize("n", [1, 15, 17, 1000, 40001])
@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_match_the_reference_on_every_isa(gemm_kernel, name, n):
    x = _values(n, n)
    gy = np.random.default_rng(n + 1).standard_normal(n).astype(np.float32)
    y = cpu.activation_forward(name, x, 0.2)
    expected = reference.activation_forward(name, x.astype(np.float64), 0.2)
    np.testing.assert_allclose(y, expected, rtol=3e-6, atol=1e-6)
    gx = cpu.activation_backward(name, x, y, gy, 0.2)
    # from the kernel's own y: the float tanh is exactly 1 past its clamp, so 1 - y^2 is 0 there, not 1.6e-6
    expected_gx = reference.activation_backward(name, x.astype(np.float64), y.astype(np.float64),
                                                gy.astype(np.float64), 0.2)
    np.testing.assert_allclose(gx, expected_gx, rtol=3e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4099, 6), (37, 16), (3, 300)])
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", None])
def test_the_fused_bias_activation_passes_match_the_reference_on_every_isa(gemm_kernel, name, shape):
    rng = np.random.default_rng(shape[0])
    x, b = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    y = cpu.bias_activation_forward(x, b, name, 0.2)
    expected = reference.bias_activation_forward(x.astype(np.float64), b.astype(np.float64), name, 0.2)
    np.testing.assert_allclose(y, expected, rtol=3e-6, atol=1e-6)
    gy = rng.standard_normal(shape).astype(np.float32)
    gx, gb = cpu.bias_activation_backward(name, y, gy, 0.2, True)
    expected_gx, expected_gb = reference.bias_activation_backward(name, y.astype(np.float64), gy.astype(np.float64),
                                                                  0.2, True)
    np.testing.assert_allclose(gx, expected_gx, rtol=3e-5, atol=1e-6)
    np.testing.assert_allclose(gb, expected_gb, rtol=1e-4, atol=1e-4)
