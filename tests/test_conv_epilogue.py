"""conv2d's fused bias and activation (ConvEpilogue): the rows, direct and Winograd forwards apply bias, relu and
leaky_relu as they store each output (conv2d_epilogue.h), every other case one pass after. Each family forced in turn,
on every compiled vector width, against the NumPy reference, NaN included (it must pass through as the activation's
own)."""
import numpy as np
import pytest

from ember.backend import cpu, reference

# (N, H, W, C, KH, KW, O, padding): LeNet's first layer (direct), its second (rows), O = 17 (ragged vector tails)
GEOMETRIES = [
    (2, 12, 12, 1, 5, 5, 6, ((2, 2), (2, 2))),
    (2, 14, 14, 6, 5, 5, 16, ((0, 0), (0, 0))),
    (1, 7, 9, 3, 3, 3, 17, ((1, 1), (1, 0))),
]




@pytest.mark.parametrize("path", ["direct", "rows", "winograd", "gemm", "auto"])
@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", "elu", "tanh"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_forward_matches_the_reference(gemm_kernel, conv_path, path, activation, with_bias, geometry,
                                                  dtype):
    conv_path(path)
    n, h, w, c, kh, kw, o, padding = geometry
    rng = np.random.default_rng(o + len(activation or ""))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    x[0, h // 2, w // 2, 0] = np.nan  # reaches every output whose window holds it
    k = rng.standard_normal((kh, kw, c, o)).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype) if with_bias else None
    args = ((1, 1), padding, (1, 1), 1)
    got = cpu.conv2d_forward(x, k, *args, bias=bias, activation=activation, alpha=0.2)
    expected = reference.conv2d_forward(x.astype(np.float64), k.astype(np.float64), *args,
                                        bias=None if bias is None else bias.astype(np.float64),
                                        activation=activation, alpha=0.2)
    assert got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, float(np.nanmax(np.abs(expected)))))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
