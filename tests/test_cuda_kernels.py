"""ember._cuda's kernels against the NumPy reference (ember.backend.reference), float32 and float64, on shapes with
the edges that break index math: size 1, primes, sizes that are not multiples of the 16/64/128 tiles, split-K
reductions, strides, asymmetric padding, dilation, groups, depthwise, masks, ties, NaN and infinities.

Every comparison runs on two targets:
- "device": the kernels on a GPU, on CuPy arrays, on CuPy's current stream. Skipped (with the reason) where
  ember._cuda was not built, CuPy is not installed, or no GPU is visible.
- "emulator": ember._cuda.emulator, the same kernel bodies, operand loaders, stores and recurrent cells driven by a
  host loop over NumPy arrays, reducing in the device's order. It runs everywhere ember._cuda was built, so the
  kernels' index math and cell code are checked on machines without a GPU (CI); what it cannot check is the device's
  shared-memory tiling and grid mappings (gemm_tile.cuh: tile_product), which only the device target covers.
Outputs are poisoned with NaN before each call, so an element a kernel forgets to write fails the comparison.
"""
import importlib

import numpy as np
import pytest

from ember import _build_info
from ember.backend import reference as R

if not _build_info.CUDA_BUILT:  # only then: a module that was built but fails to import must fail, not skip
    pytest.skip(f"ember._cuda was not built: {_build_info.CUDA_SKIPPED_BECAUSE}", allow_module_level=True)
from ember import _cuda  # noqa: E402

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-4, np.float64: 1e-10}


def _device_skip_reason():
    try:
        importlib.import_module("cupy")
    except ImportError:
        return "CuPy is not installed"
    if _cuda.device_count() == 0:
        return f"no CUDA device: {_cuda.driver_error()}"
    return None


DEVICE_SKIP = _device_skip_reason()


class Emulator:
    name = "emulator"
    module = _cuda.emulator

    def put(self, a):
        return None if a is None else np.array(a)

    def get(self, a):
        return np.asarray(a)

    def empty(self, shape, dtype):
        return np.full(shape, np.nan, dtype)

    def call(self, name, *args):
        getattr(self.module, name)(*args)


class Device:
    name = "device"

    def __init__(self):
        self.cp = importlib.import_module("cupy")

    def put(self, a):
        return None if a is None else self.cp.asarray(a)

    def get(self, a):
        return self.cp.asnumpy(a)  # waits for the current stream

    def empty(self, shape, dtype):
        return self.cp.full(shape, np.nan, dtype)

    def call(self, name, *args):
        getattr(_cuda, name)(*args, stream=self.cp.cuda.get_current_stream().ptr)


@pytest.fixture(params=["emulator", pytest.param("device", marks=pytest.mark.skipif(
    DEVICE_SKIP is not None, reason=f"CUDA device target: {DEVICE_SKIP}"))])
def target(request):
    return Emulator() if request.param == "emulator" else Device()


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def assert_close(got, ref, dtype, what=""):
    """Same shape, same NaN and infinity pattern, finite values within float rounding of the reference (relative
    to the largest magnitude, since sums of products cancel)."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, what
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaN pattern differs"
    inf = np.isinf(ref)
    assert np.array_equal(got[inf], ref[inf]) and not np.isinf(got[~inf]).any(), f"{what}: infinities differ"
    fin = np.isfinite(ref)
    scale = max(1.0, float(np.abs(ref[fin]).max())) if fin.any() else 1.0
    np.testing.assert_allclose(got[fin], ref[fin], rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


# -- gemm --------------------------------------------------------------------------------------------------------
GEMM_SHAPES = [  # (batch of a, batch of b, M, N, K)
    (1, 1, 1, 1, 1),
    (3, 3, 17, 31, 13),      # primes, batch
    (4, 1, 5, 70, 19),       # b broadcast (batch 1: stride 0)
    (1, 2, 33, 2, 129),      # a broadcast, K past one 16-step by 1
    (1, 1, 5, 7, 3000),      # few tiles, long K: split-K
    (2, 2, 1100, 1000, 5),   # enough 128 x 128 tiles for the large float32 tile
    (2, 2, 0, 4, 3),         # empty
    (1, 1, 3, 4, 0),         # K = 0: out = beta * out
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ba,bb,m,n,k", GEMM_SHAPES)
def test_gemm_matches_reference(target, dtype, ba, bb, m, n, k):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b = rand(rng, (ba, m, k), dtype), rand(rng, (bb, k, n), dtype)
    out = rand(rng, (max(ba, bb), m, n), dtype)
    old = out.copy()
    dev_out = target.put(out)
    target.call("gemm", target.put(a), target.put(b), dev_out, 0.5, 2.0)
    assert_close(target.get(dev_out), 0.5 * (a @ b) + 2.0 * old, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_beta_zero_ignores_nan_in_out(target, dtype):
    rng = np.random.default_rng(1)
    a, b = rand(rng, (2, 9, 6), dtype), rand(rng, (2, 6, 5), dtype)
    out = target.empty((2, 9, 5), dtype)
    target.call("gemm", target.put(a), target.put(b), out, 1.0, 0.0)
    assert_close(target.get(out), a @ b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_reads_transposed_strided_and_reversed_operands(target, dtype):
    """_C's gemm takes a and b with any strides; so does this one (views made on the target's own arrays)."""
    rng = np.random.default_rng(2)
    a_base, b_base = rand(rng, (3, 40, 23), dtype), rand(rng, (3, 40, 62), dtype)
    views = [  # (view of a_base: (3, 23, 40), view of b_base: (3, 40, 31))
        (lambda a: a.transpose(0, 2, 1), lambda b: b[:, :, ::2]),        # unit stride along M; column stride 2
        (lambda a: a.transpose(0, 2, 1)[:, ::-1], lambda b: b[:, ::-1, 1::2]),  # negative strides
    ]
    for view_a, view_b in views:
        out = target.empty((3, 23, 31), dtype)
        target.call("gemm", view_a(target.put(a_base)), view_b(target.put(b_base)), out, 1.0, 0.0)
        assert_close(target.get(out), view_a(a_base) @ view_b(b_base), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_naive_writes_a_strided_output(target, dtype):
    rng = np.random.default_rng(3)
    a, b = rand(rng, (7, 5), dtype), rand(rng, (5, 11), dtype)
    full = target.put(np.full((11, 7), np.nan, dtype))
    out = full.T  # (7, 11) with strides (1, 7)
    target.call("gemm_naive", target.put(a), target.put(b), out, 1.0, 0.0)
    assert_close(target.get(full).T, a @ b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n", [(1, 1), (7, 3), (600, 6), (2600, 33), (0, 4)])
def test_column_sums_match_reference(target, dtype, m, n):
    rng = np.random.default_rng(m + n)
    a = rand(rng, (m, n), dtype)
    out = target.empty((n,), dtype)
    target.call("column_sums", target.put(a), out)
    assert_close(target.get(out), R.column_sums(a), dtype)


# -- conv2d ------------------------------------------------------------------------------------------------------
CONVS = [  # x shape, (kh, kw, o), strides, padding, dilation, groups
    ((2, 7, 5, 3), (3, 2, 4), (1, 2), ((1, 0), (2, 1)), (1, 1), 1),
    ((1, 9, 9, 6), (3, 3, 9), (2, 2), ((1, 1), (1, 1)), (2, 1), 3),        # groups, dilation
    ((2, 6, 6, 4), (3, 3, 8), (1, 1), ((1, 1), (1, 1)), (1, 1), 4),        # depthwise, multiplier 2
    ((1, 5, 5, 1), (1, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),        # 1x1, one channel
    ((1, 1, 1, 2), (1, 1, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),        # one pixel
    ((3, 11, 13, 5), (5, 3, 17), (3, 2), ((2, 3), (0, 4)), (1, 2), 1),     # primes, stride > kernel rows
    ((2, 20, 21, 3), (3, 3, 7), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),      # 840 pixels: split-K in backward-weight
    ((2, 24, 24, 5), (3, 3, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 5),      # depthwise, 1152 pixels: split chunks
]


def _conv_args(strides, padding, dilation, groups):
    (t, b), (l, r) = padding
    return (strides[0], strides[1], t, b, l, r, dilation[0], dilation[1], groups)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,k,strides,padding,dilation,groups", CONVS)
def test_conv2d_matches_reference(target, dtype, x_shape, k, strides, padding, dilation, groups):
    rng = np.random.default_rng(sum(x_shape) + sum(k))
    x = rand(rng, x_shape, dtype)
    w = rand(rng, (k[0], k[1], x_shape[3] // groups, k[2]), dtype)
    geo = (strides, padding, dilation, groups)
    args = _conv_args(*geo)
    y = R.conv2d_forward(x, w, *geo)
    out = target.empty(y.shape, dtype)
    target.call("conv2d_forward", target.put(x), target.put(w), out, *args)
    assert_close(target.get(out), y, dtype, "forward")

    gy = rand(rng, y.shape, dtype)
    gx = target.empty(x.shape, dtype)
    target.call("conv2d_backward_input", target.put(gy), target.put(w), gx, *args)
    assert_close(target.get(gx), R.conv2d_backward_input(gy, w, x.shape, *geo), dtype, "backward_input")
    gw = target.empty(w.shape, dtype)
    target.call("conv2d_backward_weight", target.put(gy), target.put(x), gw, *args)
    assert_close(target.get(gw), R.conv2d_backward_weight(gy, x, w.shape, *geo), dtype, "backward_weight")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", "elu", "sigmoid", "tanh"])
@pytest.mark.parametrize("x_shape,k,strides,padding,dilation,groups", [CONVS[0], CONVS[1], CONVS[2], CONVS[5]])
def test_conv2d_forward_epilogue_matches_reference(target, dtype, activation, x_shape, k, strides, padding,
                                                   dilation, groups):
    rng = np.random.default_rng(sum(x_shape) + len(activation or ""))
    x = rand(rng, x_shape, dtype)
    w = rand(rng, (k[0], k[1], x_shape[3] // groups, k[2]), dtype)
    bias = rand(rng, (k[2],), dtype)
    geo = (strides, padding, dilation, groups)
    for b in (bias, None):
        y = R.conv2d_forward(x, w, *geo, bias=b, activation=activation, alpha=0.3)
        out = target.empty(y.shape, dtype)
        target.call("conv2d_forward", target.put(x), target.put(w), out, *_conv_args(*geo),
                    None if b is None else target.put(b), activation, 0.3)
        assert_close(target.get(out), y, dtype, f"forward bias={b is not None} {activation}")


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_backward_weight_of_an_empty_batch_is_zero(target, groups):
    """The reference does not take an empty batch (ember.ops short-circuits it); the kernel must write zeros."""
    gw = target.empty((3, 3, 2 // groups, 4), np.float32)
    target.call("conv2d_backward_weight", target.put(np.zeros((0, 5, 5, 4), np.float32)),
                target.put(np.zeros((0, 5, 5, 2), np.float32)), gw, 1, 1, 1, 1, 1, 1, 1, 1, groups)
    np.testing.assert_array_equal(target.get(gw), np.zeros((3, 3, 2 // groups, 4)))


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_backward_input_nan_weight_reaches_only_pixels_its_tap_reaches(target, groups):
    """A tap that reaches no output from an input pixel adds nothing there (not 0 * NaN), as the reference."""
    rng = np.random.default_rng(4)
    x_shape, geo = (1, 7, 7, 2), ((2, 2), ((1, 0), (0, 1)), (1, 1), groups)
    w = rand(rng, (3, 3, 2 // groups, 4), np.float64)
    w[2, 0, 0, 1] = np.nan
    gy = rand(rng, (1, 3, 3, 4), np.float64)
    ref = R.conv2d_backward_input(gy, w, x_shape, *geo)
    assert np.isnan(ref).any() and not np.isnan(ref).all()
    gx = target.empty(x_shape, np.float64)
    target.call("conv2d_backward_input", target.put(gy), target.put(w), gx, *_conv_args(*geo))
    assert_close(target.get(gx), ref, np.float64)


# -- pooling -----------------------------------------------------------------------------------------------------
POOLS = [  # pool, strides, padding
    ((2, 2), (2, 2), ((0, 0), (0, 0))),
    ((3, 3), (1, 2), ((1, 1), (2, 0))),     # overlapping windows
    ((2, 3), (3, 1), ((2, 2), (0, 3))),     # windows of padding only (padding >= pool), stride > pool
    ((1, 1), (1, 1), ((0, 0), (0, 0))),
    ((5, 4), (2, 3), ((0, 1), (1, 0))),
]


def _pool_input(rng, dtype):
    x = rand(rng, (2, 7, 6, 3), dtype)
    x[0, 1, 1, 0] = np.nan
    x[0, 4, 2, 0] = np.nan
    x[1, 2:4, 2:4, 1] = 5.0      # ties: the first maximum wins
    x[1, :, :, 2] = -np.inf      # every real cell -inf: the first one wins
    x[0, 5, 5, 2] = np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool,strides,padding", POOLS)
def test_pooling_matches_reference(target, dtype, pool, strides, padding):
    rng = np.random.default_rng(5)
    x = _pool_input(rng, dtype)
    (t, b), (l, r) = padding
    args = (pool[0], pool[1], strides[0], strides[1], t, b, l, r)
    for name in ("max", "avg"):
        y = getattr(R, f"{name}_pool2d_forward")(x, pool, strides, padding)
        out = target.empty(y.shape, dtype)
        target.call(f"{name}_pool2d_forward", target.put(x), out, *args)
        assert_close(target.get(out), y, dtype, f"{name} forward")
        gy = rand(rng, y.shape, dtype)
        gx = target.empty(x.shape, dtype)
        if name == "max":
            ref = R.max_pool2d_backward(gy, x, pool, strides, padding)
            target.call("max_pool2d_backward", target.put(gy), target.put(x), gx, *args)
        else:
            ref = R.avg_pool2d_backward(gy, x.shape, pool, strides, padding)
            target.call("avg_pool2d_backward", target.put(gy), gx, *args)
        assert_close(target.get(gx), ref, dtype, f"{name} backward")


# -- activations and softmax -------------------------------------------------------------------------------------
ACTIVATIONS = ["relu", "leaky_relu", "elu", "sigmoid", "tanh"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_reference(target, dtype, name):
    rng = np.random.default_rng(6)
    x = rand(rng, (3, 37), dtype, scale=4.0)
    x.flat[:8] = [0.0, -0.0, np.nan, np.inf, -np.inf, 30.0, -30.0, 1e-30]
    y = R.activation_forward(name, x, 0.3)
    out = target.empty(x.shape, dtype)
    target.call("activation_forward", name, target.put(x), out, 0.3)
    assert_close(target.get(out), y, dtype, "forward")
    gy = rand(rng, x.shape, dtype)
    gx = target.empty(x.shape, dtype)
    target.call("activation_backward", name, target.put(x), target.put(y), target.put(gy), gx, 0.3)
    assert_close(target.get(gx), R.activation_backward(name, x, y, gy, 0.3), dtype, "backward")


def test_activation_runs_in_place(target):
    x = np.linspace(-3, 3, 11).astype(np.float32)
    buf = target.put(x)
    target.call("activation_forward", "relu", buf, buf, 0.0)
    assert_close(target.get(buf), R.activation_forward("relu", x), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (3, 1), (2, 5, 37), (4, 130)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference(target, dtype, shape, log):
    rng = np.random.default_rng(7)
    x = rand(rng, shape, dtype, scale=30.0)
    if x.size > 4:
        x.flat[1] = -np.inf
    prefix = "log_softmax" if log else "softmax"
    y = getattr(R, f"{prefix}_forward")(x)
    out = target.empty(shape, dtype)
    target.call(f"{prefix}_forward", target.put(x), out)
    assert_close(target.get(out), y, dtype, "forward")
    gy = rand(rng, shape, dtype)
    gx = target.empty(shape, dtype)
    target.call(f"{prefix}_backward", target.put(y), target.put(gy), gx)
    ref = getattr(R, f"{prefix}_backward")(y, gy)
    assert_close(target.get(gx), ref, dtype, "backward")


# -- recurrent sequences -----------------------------------------------------------------------------------------
RNN_DIMS = [(3, 2, 4, 5), (5, 33, 3, 17), (1, 1, 1, 1), (4, 3, 0, 2), (2, 40, 7, 33)]  # (T, B, I, H)


def _rnn_inputs(rng, dims, dtype, gates, masked):
    t, b, i, h = dims
    x = rand(rng, (t, b, i), dtype)
    if masked:
        mask = rng.random((t, b)) > 0.3
        x[~mask] = np.nan  # padding the mask hides must not reach any output or gradient
    else:
        mask = None
    return x, rand(rng, (b, h), dtype), rand(rng, (i, gates * h), dtype, 0.5), rand(rng, (h, gates * h), dtype, 0.5), mask


def _run(target, name, inputs, outputs, dtype):
    dev_out = [target.empty(o.shape, dtype) for o in outputs]
    target.call(name, *[target.put(a) if isinstance(a, np.ndarray) or a is None else a for a in inputs], *dev_out)
    return [target.get(o) for o in dev_out]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", RNN_DIMS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_matches_reference(target, dtype, dims, masked, activation):
    rng = np.random.default_rng(sum(dims))
    x, h0, w, u, mask = _rnn_inputs(rng, dims, dtype, 1, masked)
    bias = rand(rng, (dims[3],), dtype)
    h = R.simple_rnn_forward(x, h0, w, u, bias, activation, mask)
    (got,) = _run(target, "simple_rnn_forward", [x, h0, w, u, bias, activation, mask], [h], dtype)
    assert_close(got, h, dtype, "h")
    gh = rand(rng, h.shape, dtype)
    refs = R.simple_rnn_backward(gh, x, h0, w, u, activation, mask, h)
    gots = _run(target, "simple_rnn_backward", [gh, x, h0, w, u, activation, mask, h], refs, dtype)
    for what, g, r in zip(["grad_x", "grad_h0", "grad_kernel", "grad_recurrent", "grad_bias"], gots, refs):
        assert_close(g, r, dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", RNN_DIMS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("with_bias", [True, False])
def test_lstm_matches_reference(target, dtype, dims, masked, with_bias):
    rng = np.random.default_rng(sum(dims) + 1)
    x, h0, w, u, mask = _rnn_inputs(rng, dims, dtype, 4, masked)
    c0 = rand(rng, h0.shape, dtype)
    bias = rand(rng, (4 * dims[3],), dtype) if with_bias else None
    h, c, gates = R.lstm_forward(x, h0, c0, w, u, bias, mask)
    gots = _run(target, "lstm_forward", [x, h0, c0, w, u, bias, mask], [h, c, gates], dtype)
    for what, g, r in zip(["h", "c", "gates"], gots, [h, c, gates]):
        assert_close(g, r, dtype, what)
    gh, gc = rand(rng, h.shape, dtype), rand(rng, h.shape, dtype)
    refs = R.lstm_backward(gh, gc, x, h0, c0, w, u, mask, h, c, gates)
    gots = _run(target, "lstm_backward", [gh, gc, x, h0, c0, w, u, mask, h, c, gates], refs, dtype)
    for what, g, r in zip(["grad_x", "grad_h0", "grad_c0", "grad_kernel", "grad_recurrent", "grad_bias"], gots, refs):
        assert_close(g, r, dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", RNN_DIMS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gru_matches_reference(target, dtype, dims, masked, reset_after, with_bias):
    rng = np.random.default_rng(sum(dims) + 2)
    x, h0, w, u, mask = _rnn_inputs(rng, dims, dtype, 3, masked)
    units3 = 3 * dims[3]
    bias = rand(rng, (2, units3) if reset_after else (units3,), dtype) if with_bias else None
    h, gates = R.gru_forward(x, h0, w, u, bias, reset_after, mask)
    gots = _run(target, "gru_forward", [x, h0, w, u, bias, reset_after, mask], [h, gates], dtype)
    for what, g, r in zip(["h", "gates"], gots, [h, gates]):
        assert_close(g, r, dtype, what)
    gh = rand(rng, h.shape, dtype)
    refs = R.gru_backward(gh, x, h0, w, u, bias, reset_after, mask, h, gates)
    gots = _run(target, "gru_backward", [gh, x, h0, w, u, reset_after, mask, h, gates], refs, dtype)
    for what, g, r in zip(["grad_x", "grad_h0", "grad_kernel", "grad_recurrent", "grad_bias"], gots, refs):
        assert_close(g, r, dtype, what)


@pytest.mark.parametrize("t,b", [(0, 3), (3, 0)])
def test_lstm_backward_of_an_empty_sequence_gives_zero_gradients(target, t, b):
    """The reference does not take empty sequences (ember.ops short-circuits them); the kernels must still write
    every output: no step, or no row, means zero gradients."""
    rng = np.random.default_rng(8)
    i, h = 3, 4
    x, h0, c0 = rand(rng, (t, b, i), np.float32), rand(rng, (b, h), np.float32), rand(rng, (b, h), np.float32)
    w, u = rand(rng, (i, 4 * h), np.float32), rand(rng, (h, 4 * h), np.float32)
    seq = np.zeros((t, b, h), np.float32)
    outs = [np.zeros((t, b, i)), np.zeros((b, h)), np.zeros((b, h)), np.zeros((i, 4 * h)), np.zeros((h, 4 * h)),
            np.zeros(4 * h)]
    gots = _run(target, "lstm_backward", [seq, seq, x, h0, c0, w, u, None, seq, seq,
                                          np.zeros((t, b, 4 * h), np.float32)], outs, np.float32)
    for g, expected in zip(gots, outs):
        np.testing.assert_array_equal(g, expected)


# -- batch-norm statistics and dropout masks (CUDA-only kernels) -------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,c", [(1, 3), (7, 1), (1000, 5), (2600, 33)])
def test_batch_norm_statistics_match_numpy(target, dtype, m, c):
    rng = np.random.default_rng(m + c)
    x = (rand(rng, (m, c), dtype) * 3 + 100).astype(dtype)  # a large mean: a naive sum of squares would cancel
    mean, var = target.empty((c,), dtype), target.empty((c,), dtype)
    target.call("batch_norm_statistics", target.put(x), mean, var)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(target.get(mean), x64.mean(axis=0), rtol=TOL[dtype])
    np.testing.assert_allclose(target.get(var), x64.var(axis=0), rtol=50 * TOL[dtype])


def test_batch_norm_statistics_of_no_rows_are_nan(target):
    """As NumPy's mean of nothing (outputs start at 0 here, so NaN is written, not left over)."""
    mean, var = target.put(np.zeros(3, np.float32)), target.put(np.zeros(3, np.float32))
    target.call("batch_norm_statistics", target.put(np.zeros((0, 3), np.float32)), mean, var)
    assert np.isnan(target.get(mean)).all() and np.isnan(target.get(var)).all()


def philox4x32_10(counter, key):
    """Philox4x32-10 (Salmon et al., SC'11) on one block, in Python integers: the spec of dropout_mask."""
    c, k = list(counter), list(key)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k[1], p0 & 0xFFFFFFFF]
        k = [(k[0] + 0x9E3779B9) & 0xFFFFFFFF, (k[1] + 0xBB67AE85) & 0xFFFFFFFF]
    return c


def reference_dropout_mask(n, rate, seed, offset, dtype):
    """Element i: Philox word q = offset + i (block q // 4, word q % 4, key = seed's two halves), kept when it is
    >= floor(rate * 2**32), as 1 / (1 - rate)."""
    threshold = int(rate * 2.0 ** 32)
    key = (seed & 0xFFFFFFFF, seed >> 32)
    out = np.empty(n, dtype)
    for i in range(n):
        q = offset + i
        word = philox4x32_10((q // 4 & 0xFFFFFFFF, q // 4 >> 32, 0, 0), key)[q % 4]
        out[i] = (1.0 / (1.0 - rate) if rate < 1 else 0.0) if word >= threshold else 0.0
    return out


@pytest.mark.parametrize("counter,key,expected", [  # Random123's known-answer vectors
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_reference_philox_matches_the_published_known_answers(counter, key, expected):
    assert philox4x32_10(counter, key) == list(expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate,seed,offset", [(0.5, 0, 0), (0.3, 12345678901234, 7), (0.9, 2 ** 63 - 1, 2 ** 40 + 3),
                                              (0.0, 5, 0), (1.0, 5, 0)])
def test_dropout_mask_is_philox_exactly(target, dtype, rate, seed, offset):
    n = 203
    out = target.empty((n,), dtype)
    target.call("dropout_mask", out, rate, seed, offset)
    np.testing.assert_array_equal(target.get(out), reference_dropout_mask(n, rate, seed, offset, dtype))


def test_dropout_masks_continue_one_stream_across_offsets(target):
    whole, tail = target.empty((100,), np.float32), target.empty((63,), np.float32)
    target.call("dropout_mask", whole, 0.4, 99, 0)
    target.call("dropout_mask", tail, 0.4, 99, 37)
    np.testing.assert_array_equal(target.get(whole)[37:], target.get(tail))


# -- argument checks (both targets: they run before anything reaches a device) -----------------------------------
def test_mixed_dtypes_raise_type_error_naming_the_op(target):
    out = target.empty((1, 2, 2), np.float32)
    with pytest.raises(TypeError, match=r"gemm: expected all arrays of one dtype.*b float64"):
        target.call("gemm", target.put(np.ones((1, 2, 2), np.float32)), target.put(np.ones((1, 2, 2))), out, 1.0, 0.0)


def test_wrong_output_shape_raises_value_error_naming_the_op_and_shapes(target):
    x = target.put(np.ones((1, 5, 5, 2), np.float32))
    w = target.put(np.ones((3, 3, 2, 4), np.float32))
    out = target.empty((1, 3, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: out has shape \(1, 3, 3, 5\), expected \(1, 3, 3, 4\)"):
        target.call("conv2d_forward", x, w, out, 1, 1, 0, 0, 0, 0, 1, 1, 1)
    out = target.empty((1, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: kernel \(3, 3, 2, 4\), bias \(5,\): expected bias \(O,\)"):
        target.call("conv2d_forward", x, w, out, 1, 1, 0, 0, 0, 0, 1, 1, 1, target.put(np.ones(5, np.float32)))
    with pytest.raises(ValueError, match=r"activation: unknown activation 'swish'"):
        target.call("conv2d_forward", x, w, out, 1, 1, 0, 0, 0, 0, 1, 1, 1, None, "swish")


def test_unknown_activation_raises_value_error(target):
    x = target.put(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        target.call("activation_forward", "swish", x, x, 0.0)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_dropout_rate_outside_0_1_raises_value_error(target, rate):
    with pytest.raises(ValueError, match=r"dropout_mask: invalid value for argument `rate`"):
        target.call("dropout_mask", target.empty((4,), np.float32), rate, 0, 0)


def test_rnn_mask_of_another_dtype_raises(target):
    rng = np.random.default_rng(9)
    x, h0, w, u = rand(rng, (2, 3, 4), np.float32), rand(rng, (3, 5), np.float32), rand(rng, (4, 5), np.float32), \
        rand(rng, (5, 5), np.float32)
    with pytest.raises(ValueError, match="simple_rnn_forward: expected `mask` of dtype bool"):
        target.call("simple_rnn_forward", target.put(x), target.put(h0), target.put(w), target.put(u), None, "tanh",
                    target.put(np.ones((2, 3), np.float32)), target.empty((2, 3, 5), np.float32))
