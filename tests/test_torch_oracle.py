"""PyTorch as an outside oracle for the kernel backends (forward and backward).

The NumPy reference is ember's spec; this file checks that spec (and the native "cpu" kernels) against an
independent engine. It is optional: without torch it skips. Layouts are converted at the edge:
NHWC <-> NCHW for images, HWIO <-> OIHW for conv kernels. Asymmetric padding is applied with F.pad
before torch's op, because torch's own padding arguments are symmetric.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from ember import backend as backends  # noqa: E402

BACKENDS = [
    "reference",
    pytest.param("cpu", marks=pytest.mark.skipif(not backends.native_available(),
                                                 reason="ember._C (native kernels) not built")),
]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture(params=BACKENDS)
def be(request):
    return backends.get(request.param)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def close(actual, expected, dtype):
    assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_allclose(actual, expected, equal_nan=True, **TOL[dtype])


def leaf(a):
    return torch.tensor(a, requires_grad=True)


def nchw(a):
    return torch.as_tensor(a).permute(0, 3, 1, 2)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).numpy()


def torch_pad(t, padding, value=0.0):
    (top, bottom), (left, right) = padding
    return F.pad(t, (left, right, top, bottom), value=value)


# ---------------------------------------------------------------------------------------------- matmul

@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),  # batch dims broadcast
])
def test_matmul_matches_torch(be, dtype, a_shape, b_shape):
    a, b = rand(a_shape, dtype, 1), rand(b_shape, dtype, 2)
    close(be.matmul(a, b), torch.matmul(torch.tensor(a), torch.tensor(b)).numpy(), dtype)


# ---------------------------------------------------------------------------------------------- conv2d

CONV_CASES = {
    # name: (x NHWC, (KH, KW, O), strides, padding ((top, bottom), (left, right)), dilation, groups)
    "plain": ((2, 6, 7, 3), (3, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "same_pad": ((2, 6, 6, 3), (3, 3, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "asym_pad_strided": ((2, 7, 8, 3), (3, 2, 4), (2, 3), ((0, 1), (1, 0)), (1, 1), 1),
    "dilated": ((1, 9, 9, 2), (3, 3, 3), (1, 2), ((2, 1), (0, 2)), (2, 3), 1),
    "stride_gt_kernel": ((2, 9, 10, 3), (2, 1, 4), (3, 4), ((0, 0), (0, 0)), (1, 1), 1),
    "grouped": ((2, 6, 6, 4), (3, 3, 6), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
    "depthwise": ((2, 7, 7, 4), (3, 3, 4), (2, 2), ((1, 1), (1, 1)), (1, 1), 4),
    "depthwise_multiplier": ((1, 6, 5, 3), (3, 2, 6), (1, 1), ((1, 0), (0, 1)), (2, 1), 3),
    "pointwise": ((2, 4, 4, 8), (1, 1, 5), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
}


@pytest.mark.parametrize("case", list(CONV_CASES), ids=list(CONV_CASES))
def test_conv2d_matches_torch(be, dtype, case):
    x_shape, (kh, kw, o), strides, padding, dilation, groups = CONV_CASES[case]
    x = rand(x_shape, dtype, 1)
    w = rand((kh, kw, x_shape[3] // groups, o), dtype, 2)

    xt, wt = leaf(x), leaf(w)
    yt = F.conv2d(torch_pad(nchw(xt), padding), wt.permute(3, 2, 0, 1),
                  stride=strides, dilation=dilation, groups=groups)
    y = be.conv2d_forward(x, w, strides, padding, dilation, groups)
    close(y, nhwc(yt), dtype)

    gy = rand(y.shape, dtype, 3)
    yt.backward(nchw(gy))
    gx = be.conv2d_backward_input(gy, w, x.shape, strides, padding, dilation, groups)
    gw = be.conv2d_backward_weight(gy, x, w.shape, strides, padding, dilation, groups)
    close(gx, xt.grad.numpy(), dtype)
    close(gw, wt.grad.numpy(), dtype)


def test_conv2d_untouched_input_cells_get_zero_gradient(be, dtype):
    # stride 3 with a 1x1 kernel reads rows/cols 0, 3, 6 only; the rest must get exactly 0.
    x, w = rand((1, 7, 7, 2), dtype, 1), rand((1, 1, 2, 3), dtype, 2)
    gy = rand((1, 3, 3, 3), dtype, 3)
    gx = be.conv2d_backward_input(gy, w, x.shape, (3, 3), ((0, 0), (0, 0)), (1, 1), 1)
    untouched = np.ones((7, 7), dtype=bool)
    untouched[::3, ::3] = False
    assert np.all(gx[:, untouched, :] == 0)


# ---------------------------------------------------------------------------------------------- pooling

POOL_CASES = {
    # name: (x NHWC, pool, strides, padding)
    "plain": ((2, 6, 6, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    "overlapping": ((2, 7, 6, 2), (3, 3), (1, 2), ((0, 0), (0, 0))),
    "same_pad_sym": ((2, 5, 5, 3), (3, 3), (1, 1), ((1, 1), (1, 1))),
    "same_pad_asym": ((2, 5, 6, 2), (2, 2), (2, 2), ((0, 1), (0, 0))),  # Keras 'same', odd height
    "asym_pad_rect": ((1, 7, 8, 3), (3, 2), (2, 1), ((1, 0), (1, 1))),
    "stride_gt_pool": ((2, 8, 9, 2), (2, 2), (3, 3), ((0, 0), (0, 0))),
}


def _symmetric(padding):
    return padding[0][0] == padding[0][1] and padding[1][0] == padding[1][1]


def torch_max_pool(xt, pool, strides, padding):
    if _symmetric(padding):
        return F.max_pool2d(nchw(xt), pool, strides, padding=(padding[0][0], padding[1][0]))
    return F.max_pool2d(torch_pad(nchw(xt), padding, value=-float("inf")), pool, strides)


def torch_avg_pool(xt, pool, strides, padding):
    if _symmetric(padding):
        return F.avg_pool2d(nchw(xt), pool, strides, padding=(padding[0][0], padding[1][0]),
                            count_include_pad=False)
    # Asymmetric: window sum over the zero-padded input divided by the window's count of real cells.
    total = F.avg_pool2d(torch_pad(nchw(xt), padding), pool, strides, divisor_override=1)
    count = F.avg_pool2d(torch_pad(torch.ones_like(nchw(xt)), padding), pool, strides, divisor_override=1)
    return total / count


@pytest.mark.parametrize("case", list(POOL_CASES), ids=list(POOL_CASES))
def test_max_pool2d_matches_torch(be, dtype, case):
    x_shape, pool, strides, padding = POOL_CASES[case]
    x = rand(x_shape, dtype, 1) - 3  # all negative, so a zero from padding would win if it could
    xt = leaf(x)
    yt = torch_max_pool(xt, pool, strides, padding)
    y = be.max_pool2d_forward(x, pool, strides, padding)
    close(y, nhwc(yt), dtype)

    gy = rand(y.shape, dtype, 3)
    yt.backward(nchw(gy))
    close(be.max_pool2d_backward(gy, x, pool, strides, padding), xt.grad.numpy(), dtype)


@pytest.mark.parametrize("case", list(POOL_CASES), ids=list(POOL_CASES))
def test_avg_pool2d_matches_torch(be, dtype, case):
    x_shape, pool, strides, padding = POOL_CASES[case]
    x = rand(x_shape, dtype, 1)
    xt = leaf(x)
    yt = torch_avg_pool(xt, pool, strides, padding)
    y = be.avg_pool2d_forward(x, pool, strides, padding)
    close(y, nhwc(yt), dtype)

    gy = rand(y.shape, dtype, 3)
    yt.backward(nchw(gy))
    close(be.avg_pool2d_backward(gy, x.shape, pool, strides, padding), xt.grad.numpy(), dtype)


def test_max_pool2d_nan_matches_torch(be, dtype):
    # One NaN per window: torch and ember agree that it wins and takes the gradient. (With several
    # NaNs in one window ember's spec gives the gradient to the first; torch's CPU kernel to the last.)
    x = rand((1, 6, 6, 2), dtype, 1)
    x[0, 1, 2, 0] = x[0, 4, 5, 1] = np.nan
    pool, strides, padding = (2, 2), (2, 2), ((0, 0), (0, 0))
    xt = leaf(x)
    yt = torch_max_pool(xt, pool, strides, padding)
    y = be.max_pool2d_forward(x, pool, strides, padding)
    close(y, nhwc(yt), dtype)
    gy = rand(y.shape, dtype, 3)
    yt.backward(nchw(gy))
    close(be.max_pool2d_backward(gy, x, pool, strides, padding), xt.grad.numpy(), dtype)


def test_max_pool2d_ties_go_to_first_maximum_like_torch(be, dtype):
    x = np.ones((1, 4, 4, 1), dtype=dtype)
    pool, strides, padding = (2, 2), (1, 1), ((0, 0), (0, 0))
    xt = leaf(x)
    yt = torch_max_pool(xt, pool, strides, padding)
    gy = rand((1, 3, 3, 1), dtype, 3)
    yt.backward(nchw(gy))
    close(be.max_pool2d_backward(gy, x, pool, strides, padding), xt.grad.numpy(), dtype)


# ---------------------------------------------------------------------------------------------- activations

SPECIAL = [-1e4, -100.0, -30.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 1.0, 30.0, 100.0, 1e4, np.nan]


def torch_activation(name, xt, alpha):
    return {
        "relu": lambda: F.relu(xt),
        "leaky_relu": lambda: F.leaky_relu(xt, negative_slope=alpha),
        "elu": lambda: F.elu(xt, alpha=alpha),
        "sigmoid": lambda: torch.sigmoid(xt),
        "tanh": lambda: torch.tanh(xt),
    }[name]()


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "sigmoid", "tanh"])
@pytest.mark.parametrize("values", ["random", "special"])
def test_activation_matches_torch(be, dtype, name, values):
    alpha = 0.3 if name in ("leaky_relu", "elu") else 0.0
    if values == "random":
        x = 3 * rand((4, 5, 6), dtype, 1)
    else:  # large magnitudes, the kinks at +-0 and NaN (whose gradient follows torch's branch tests)
        x = np.array(SPECIAL, dtype=dtype)
    xt = leaf(x)
    yt = torch_activation(name, xt, alpha)
    # Overflow must not happen; NaN inputs are compared, not trapped.
    with np.errstate(all="raise", invalid="ignore", under="ignore"):
        y = be.activation_forward(name, x, alpha)
        close(y, yt.detach().numpy(), dtype)
        gy = rand(x.shape, dtype, 3)
        yt.backward(torch.tensor(gy))
        close(be.activation_backward(name, x, y, gy, alpha), xt.grad.numpy(), dtype)


# ---------------------------------------------------------------------------------------------- softmax

@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["unit", "large"])
def test_softmax_matches_torch(be, dtype, kind, axis, scale):
    x = (scale * rand((3, 4, 5), dtype, 1)).astype(dtype)
    xt = leaf(x)
    yt = (torch.softmax if kind == "softmax" else torch.log_softmax)(xt, dim=axis)
    forward, backward = getattr(be, f"{kind}_forward"), getattr(be, f"{kind}_backward")
    with np.errstate(all="raise", under="ignore"):
        y = forward(x, axis)
        assert np.all(np.isfinite(y))
        tol = TOL[dtype] if scale == 1.0 else dict(rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale)
        np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
        assert y.dtype == dtype
        gy = rand(x.shape, dtype, 3)
        yt.backward(torch.tensor(gy))
        close(backward(y, gy, axis), xt.grad.numpy(), dtype)
