#!/usr/bin/env python3
"""Fuzz every Python-visible entry point of ember._C: random shapes, strides, dtypes, aliasing and arguments.

A bad argument must raise TypeError or ValueError; anything else (another exception, a crash, a sanitizer
report, a hang) is a finding. Shapes are drawn consistent with the op most of the time, so that the kernels run,
and GEMM results are compared with NumPy's. Run (see fuzz/README.md):

    python fuzz/fuzz_bindings.py -atheris_runs=100000 fuzz/corpus/bindings
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from draw import Draw  # noqa: E402

from ember import _C  # noqa: E402

EXPECTED = (TypeError, ValueError)
ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh") * 3 + ("Relu", "", "softmax\0")


def floats(d):
    return d.choice((np.dtype(np.float32), np.dtype(np.float64)))


def perturb(d, shape):
    """`shape`, or now and then the same with one dimension off by one or a dimension added or dropped."""
    shape = list(shape)
    if not d.chance(10):
        return tuple(shape)
    kind = d.int(0, 2)
    if kind == 0 and shape:
        i = d.int(0, len(shape) - 1)
        shape[i] = max(0, shape[i] + d.choice((-1, 1)))
    elif kind == 1:
        shape.insert(d.int(0, len(shape)), d.int(0, 3))
    elif shape:
        shape.pop(d.int(0, len(shape) - 1))
    return tuple(shape)


# -- one builder per entry point: (function, args, kwargs, check or None) --------------------------------------------
def gemm(d):
    t, batch, m, n, k = floats(d), d.size(), d.size(), d.size(), d.size()
    a = d.array(perturb(d, (d.choice((batch, 1)), m, k)), t)
    b = d.array(perturb(d, (d.choice((batch, 1)), k, n)), t)
    out = d.maybe_alias(d.array(perturb(d, (batch, m, n)), t, output=True), [a, b])
    alpha, beta = d.scalar(), d.choice((0.0, 1.0, d.scalar()))
    return _C.gemm, (a, b, out), dict(alpha=alpha, beta=beta), gemm_check(a, b, out, alpha, beta)


def gemm_naive(d):
    t, m, n, k = floats(d), d.size(), d.size(), d.size()
    a, b = d.array(perturb(d, (m, k)), t), d.array(perturb(d, (k, n)), t)
    out = d.maybe_alias(d.array(perturb(d, (m, n)), t, output=True), [a, b])
    alpha, beta = d.scalar(), d.choice((0.0, 1.0, d.scalar()))
    return _C.gemm_naive, (a, b, out), dict(alpha=alpha, beta=beta), gemm_check(a, b, out, alpha, beta)


def column_sums(d):
    t, m, n = floats(d), d.size(), d.size()
    a = d.array(perturb(d, (m, n)), t)
    out = d.maybe_alias(d.array(perturb(d, (n,)), t, output=True), [a])
    return _C.column_sums, (a, out), {}, column_sums_check(a, out)


def adam_update(d):
    t, shape = floats(d), perturb(d, (d.size(), d.size()))
    p = d.array(shape, t, output=True)
    g = d.maybe_alias(d.array(perturb(d, shape), t), [p])
    m = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [p, g])
    v = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [p, g, m])
    v_max = d.array(perturb(d, shape), t, output=True) if d.chance(2) else None
    return (_C.adam_update, (p, g, m, v, v_max, d.scalar(), d.scalar(), d.scalar(), d.scalar(), d.scalar()), {},
            None)


def adam_update_many(d):
    t, count = floats(d), d.int(0, 3)
    amsgrad = d.chance(2)
    groups = [[], [], [], [], []]
    for _ in range(count):
        shape = perturb(d, (d.size(),))
        p = d.array(shape, t, output=True)
        g = d.maybe_alias(d.array(perturb(d, shape), t), [p] + groups[0])
        m = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [p, g])
        v = d.array(perturb(d, shape), t, output=True)
        for group, a in zip(groups, (p, g, m, v, d.array(perturb(d, shape), t, output=True))):
            group.append(a)
    lengths = [count + (d.choice((-1, 1)) if d.chance(10) else 0) for _ in range(2)]
    lr_t, bias_2 = ([d.scalar() for _ in range(max(n, 0))] for n in lengths)
    return (_C.adam_update_many, (*groups[:4], groups[4] if amsgrad else None, d.scalar(), d.scalar(), d.scalar(),
                                  lr_t, bias_2), {}, None)


def column_sums_check(a, out):
    """After a successful call on a finite float64 matrix, out must hold its column sums."""
    if not all(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in (a, out)) or a.ndim != 2:
        return None
    if not np.isfinite(a).all() or (abs(a) > 1e100).any():
        return None
    expected = a.sum(axis=0)
    return lambda: np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9 * (1 + abs(a).sum()))


def gemm_check(a, b, out, alpha, beta):
    """After a successful call on finite float64 operands, out must be alpha * a @ b + beta * out."""
    if not all(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in (a, b, out)):
        return None
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(out).all()
            and np.isfinite(alpha) and np.isfinite(beta) and abs(alpha) < 1e6 and abs(beta) < 1e6):
        return None
    try:
        with np.errstate(all="ignore"):
            expected = alpha * np.matmul(a, b) + (beta * out if beta != 0 else 0.0)
    except ValueError:  # shapes that do not multiply: the binding must refuse them
        return None
    if expected.shape != out.shape:
        return None

    def check():
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    return check


def conv_geometry(d):
    n, h, w = d.size(), d.size(), d.size()
    groups = d.choice((1, 1, 1, 2, 3)) if not d.chance(16) else d.param(1, 4)
    cg, og = d.int(1, 3), d.int(1, 3)
    c = cg * groups if isinstance(groups, int) and 0 < groups < 64 else d.int(0, 4)
    o = og * groups if isinstance(groups, int) and 0 < groups < 64 else d.int(1, 4)
    kh, kw = d.int(1, 3), d.int(1, 3)
    args = dict(sh=d.param(1, 3), sw=d.param(1, 3), pt=d.param(0, 2), pb=d.param(0, 2), pl=d.param(0, 2),
                pr=d.param(0, 2), dh=d.param(1, 2), dw=d.param(1, 2), groups=groups)
    ho, wo = out_size(h, kh, args["sh"], args["pt"], args["pb"], args["dh"]), \
        out_size(w, kw, args["sw"], args["pl"], args["pr"], args["dw"])
    x_shape, w_shape = (n, h, w, c), (kh, kw, max(c // max(groups, 1), 0) if groups > 0 else c, o)
    return args, x_shape, w_shape, (n, ho, wo, o)


def out_size(size, kernel, stride, pad0, pad1, dilation):
    """The output size for drawn arguments, clamped to something small enough to allocate."""
    try:
        extent = dilation * (kernel - 1) + 1
        value = (size + pad0 + pad1 - extent) // stride + 1
    except ZeroDivisionError:
        return 1
    return min(max(value, 0), 24)


def conv2d_forward(d):
    t = floats(d)
    args, xs, ws, ys = conv_geometry(d)
    x, w = d.array(perturb(d, xs), t), d.array(perturb(d, ws), t)
    out = d.maybe_alias(d.array(perturb(d, ys), t, output=True), [x, w])
    if d.chance(2):  # the fused epilogue: a bias of any length, any activation name, any alpha
        channels = ws[-1] if not d.chance(8) else d.size()
        bias = d.array(perturb(d, (channels,)), t) if not d.chance(4) else None
        args = dict(args, bias=bias, activation=d.choice(ACTIVATIONS) if not d.chance(4) else None,
                    alpha=d.scalar())
    return _C.conv2d_forward, (x, w, out), args, None


def conv2d_backward_input(d):
    t = floats(d)
    args, xs, ws, ys = conv_geometry(d)
    gy, w = d.array(perturb(d, ys), t), d.array(perturb(d, ws), t)
    gx = d.maybe_alias(d.array(perturb(d, xs), t, output=True), [gy, w])
    return _C.conv2d_backward_input, (gy, w, gx), args, None


def conv2d_backward_weight(d):
    t = floats(d)
    args, xs, ws, ys = conv_geometry(d)
    gy, x = d.array(perturb(d, ys), t), d.array(perturb(d, xs), t)
    gw = d.maybe_alias(d.array(perturb(d, ws), t, output=True), [gy, x])
    return _C.conv2d_backward_weight, (gy, x, gw), args, None


def pool_geometry(d):
    n, h, w, c = d.size(), d.size(), d.size(), d.size()
    args = dict(ph=d.param(1, 3), pw=d.param(1, 3), sh=d.param(1, 3), sw=d.param(1, 3), pt=d.param(0, 2),
                pb=d.param(0, 2), pl=d.param(0, 2), pr=d.param(0, 2))
    ho = out_size(h, args["ph"], args["sh"], args["pt"], args["pb"], 1)
    wo = out_size(w, args["pw"], args["sw"], args["pl"], args["pr"], 1)
    return args, (n, h, w, c), (n, ho, wo, c)


def pool_forward(name):
    def build(d):
        t = floats(d)
        args, xs, ys = pool_geometry(d)
        x = d.array(perturb(d, xs), t)
        out = d.maybe_alias(d.array(perturb(d, ys), t, output=True), [x])
        return getattr(_C, name), (x, out), args, None
    return build


def max_pool2d_backward(d):
    t = floats(d)
    args, xs, ys = pool_geometry(d)
    gy, x = d.array(perturb(d, ys), t), d.array(perturb(d, xs), t)
    gx = d.maybe_alias(d.array(perturb(d, xs), t, output=True), [gy, x])
    return _C.max_pool2d_backward, (gy, x, gx), args, None


def avg_pool2d_backward(d):
    t = floats(d)
    args, xs, ys = pool_geometry(d)
    gy = d.array(perturb(d, ys), t)
    gx = d.maybe_alias(d.array(perturb(d, xs), t, output=True), [gy])
    return _C.avg_pool2d_backward, (gy, gx), args, None


def any_shape(d):
    return tuple(d.size() for _ in range(d.int(0, 4)))


def activation_forward(d):
    t, shape = floats(d), any_shape(d)
    x = d.array(shape, t)
    out = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [x])
    return _C.activation_forward, (d.choice(ACTIVATIONS), x, out), dict(alpha=d.scalar()), None


def bias_activation_forward(d):
    t, shape = floats(d), any_shape(d)
    x = d.array(shape, t)
    channels = shape[-1] if shape and not d.chance(8) else d.size()
    bias = d.array(perturb(d, (channels,)), t) if not d.chance(4) else None
    out = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [a for a in (x, bias) if a is not None])
    name = d.choice(ACTIVATIONS) if not d.chance(4) else None
    return _C.bias_activation_forward, (name, x, bias, out), dict(alpha=d.scalar()), None


def activation_backward(d):
    t, shape = floats(d), any_shape(d)
    x, y, gy = (d.array(perturb(d, shape), t) for _ in range(3))
    gx = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [x, y, gy])
    return _C.activation_backward, (d.choice(ACTIVATIONS), x, y, gy, gx), dict(alpha=d.scalar()), None


def bias_activation_backward(d):
    t, shape = floats(d), any_shape(d)
    y, gy = (d.array(perturb(d, shape), t) for _ in range(2))
    gx = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [y, gy])
    channels = shape[-1] if shape and not d.chance(8) else d.size()
    gb = d.maybe_alias(d.array(perturb(d, (channels,)), t, output=True), [y, gy, gx])
    name = d.choice(ACTIVATIONS) if not d.chance(4) else None
    return _C.bias_activation_backward, (name, y, gy, gx, gb), dict(alpha=d.scalar()), None


def softmax_forward(name):
    def build(d):
        t, shape = floats(d), any_shape(d)
        x = d.array(shape, t)
        out = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [x])
        return getattr(_C, name), (x, out), {}, None
    return build


def softmax_backward(name):
    def build(d):
        t, shape = floats(d), any_shape(d)
        y, gy = d.array(shape, t), d.array(perturb(d, shape), t)
        gx = d.maybe_alias(d.array(perturb(d, shape), t, output=True), [y, gy])
        return getattr(_C, name), (y, gy, gx), {}, None
    return build


# -- recurrent: (T, B, I) inputs, (B, H) states, gates G * H wide -------------------------------------------------
def rnn_dims(d):
    return d.int(0, 4), d.int(0, 4), d.int(0, 4), d.int(0, 5)


def mask(d, T, B):
    kind = d.int(0, 5)
    if kind <= 2:
        return None
    if kind == 3:
        return np.ones(perturb(d, (T, B)), bool) if T * B else np.zeros((T, B), bool)
    if kind == 4:
        return (np.arange(T * B).reshape(T, B) % 3 != 0)
    return d.array((T, B), np.dtype(np.float32))  # wrong dtype


def rnn_arrays(d, t, shapes, outputs):
    ins = [d.array(perturb(d, s), t) for s in shapes]
    outs = [d.maybe_alias(d.array(perturb(d, s), t, output=True), ins) for s in outputs]
    return ins, outs


def simple_rnn_forward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    (x, h0, k, r, b), (h,) = rnn_arrays(d, t, [(T, B, I), (B, H), (I, H), (H, H), (H,)], [(T, B, H)])
    b = None if d.chance(3) else b
    act = d.choice(("tanh", "relu", "sigmoid"))
    return _C.simple_rnn_forward, (x, h0, k, r, b, act, mask(d, T, B), h), {}, None


def simple_rnn_backward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    (gh, x, h0, k, r, h), outs = rnn_arrays(d, t, [(T, B, H), (T, B, I), (B, H), (I, H), (H, H), (T, B, H)],
                                            [(T, B, I), (B, H), (I, H), (H, H), (H,)])
    act = d.choice(("tanh", "relu", "elu"))
    return _C.simple_rnn_backward, (gh, x, h0, k, r, act, mask(d, T, B), h, *outs), {}, None


def lstm_forward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    inference = d.chance(3)  # gates None: c receives the final cell state (B, H) only
    (x, h0, c0, k, r, b), outs = rnn_arrays(d, t, [(T, B, I), (B, H), (B, H), (I, 4 * H), (H, 4 * H), (4 * H,)],
                                            [(T, B, H), (B, H)] if inference else [(T, B, H), (T, B, H), (T, B, 4 * H)])
    b = None if d.chance(3) else b
    return _C.lstm_forward, (x, h0, c0, k, r, b, mask(d, T, B), *outs, *([None] if inference else [])), {}, None


def lstm_backward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    ins, outs = rnn_arrays(d, t, [(T, B, H), (T, B, H), (T, B, I), (B, H), (B, H), (I, 4 * H), (H, 4 * H)],
                           [(T, B, I), (B, H), (B, H), (I, 4 * H), (H, 4 * H), (4 * H,)])
    saved = [d.array(perturb(d, s), t) for s in [(T, B, H), (T, B, H), (T, B, 4 * H)]]
    return _C.lstm_backward, (*ins, mask(d, T, B), *saved, *outs), {}, None


def gru_forward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    reset_after = d.chance(2)
    bias_shape = (2, 3 * H) if reset_after else (3 * H,)
    (x, h0, k, r, b), outs = rnn_arrays(d, t, [(T, B, I), (B, H), (I, 3 * H), (H, 3 * H), bias_shape],
                                        [(T, B, H), (T, B, 4 * H)])
    b = None if d.chance(3) else b
    return _C.gru_forward, (x, h0, k, r, b, reset_after, mask(d, T, B), *outs), {}, None


def gru_backward(d):
    t, (T, B, I, H) = floats(d), rnn_dims(d)
    reset_after = d.chance(2)
    bias_shape = (2, 3 * H) if reset_after else (3 * H,)
    (gh, x, h0, k, r, h, g), outs = rnn_arrays(
        d, t, [(T, B, H), (T, B, I), (B, H), (I, 3 * H), (H, 3 * H), (T, B, H), (T, B, 4 * H)],
        [(T, B, I), (B, H), (I, 3 * H), (H, 3 * H), bias_shape])
    return _C.gru_backward, (gh, x, h0, k, r, reset_after, mask(d, T, B), h, g, *outs), {}, None


# -- process-wide settings: drawn, used by one kernel call, then restored -----------------------------------------
def settings(d):
    choice = d.int(0, 5)
    if choice == 4:
        return _C.set_conv2d_path, (d.choice(("auto", "gemm", "direct", "rows", "winograd", "")),), {}, None
    if choice == 5:
        return _C.conv2d_path, (), {}, None
    if choice == 0:
        return _C.set_num_threads, (d.param(0, 4),), {}, None
    if choice == 1:
        return _C.set_gemm_kernel, (d.choice(("auto", "generic", "avx2", "avx512", "sse", "")),), {}, None
    if choice == 2:
        return _C.cpu_features, (), {}, None
    return d.choice((_C.get_num_threads, _C.gemm_kernel, _C.isa_tables_built)), (), {}, None


# -- the bench's machine measurements: valid calls run for milliseconds, so valid durations are drawn tiny --------
def bench(d):
    seconds = d.choice((1e-6, 1e-4, 0.0, -1.0, float("nan"), float("inf"), 61.0, 1e300))
    threads = d.choice((0, 1, 2, -1, 1025, 2 ** 31 - 1))
    if d.chance(2):
        return _C.measure_fma_peak, (seconds, threads), {}, None
    # never a valid size past 1 MiB: the measurement would touch that much memory (up to 2^40 bytes is valid)
    size = d.choice((64, 100, 4096, 1 << 20, 0, 63, -64, (1 << 40) + 1, 2 ** 63 - 1))
    return _C.measure_copy_bandwidth, (size, seconds, threads), {}, None


# -- the host block cache: arrays of drawn shapes (valid ones small; overflowing ones refused), its state, a clear --
def host_cache(d):
    choice = d.int(0, 3)
    if choice == 0:
        return _C.host_cache_info, (), {}, None
    if choice == 1:
        return _C.host_cache_clear, (), {}, None
    shape = [d.choice((0, 1, 3, 100, -1, 2 ** 62)) for _ in range(d.int(0, 3))]
    dtype = d.choice((np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)))

    def check():  # a valid call's array: that shape and dtype, writable end to end
        a = _C.empty(shape, dtype)
        assert a.shape == tuple(shape) and a.dtype == dtype and a.flags["C_CONTIGUOUS"]
        a.fill(1)

    return _C.empty, (shape, dtype), {}, check


BUILDERS = {
    "gemm": gemm, "gemm_naive": gemm_naive, "column_sums": column_sums, "adam_update": adam_update,
    "adam_update_many": adam_update_many, "conv2d_forward": conv2d_forward,
    "conv2d_backward_input": conv2d_backward_input, "conv2d_backward_weight": conv2d_backward_weight,
    "max_pool2d_forward": pool_forward("max_pool2d_forward"),
    "avg_pool2d_forward": pool_forward("avg_pool2d_forward"),
    "max_pool2d_backward": max_pool2d_backward, "avg_pool2d_backward": avg_pool2d_backward,
    "activation_forward": activation_forward, "bias_activation_forward": bias_activation_forward,
    "activation_backward": activation_backward, "bias_activation_backward": bias_activation_backward,
    "softmax_forward": softmax_forward("softmax_forward"),
    "log_softmax_forward": softmax_forward("log_softmax_forward"),
    "softmax_backward": softmax_backward("softmax_backward"),
    "log_softmax_backward": softmax_backward("log_softmax_backward"),
    "simple_rnn_forward": simple_rnn_forward, "simple_rnn_backward": simple_rnn_backward,
    "lstm_forward": lstm_forward, "lstm_backward": lstm_backward, "gru_forward": gru_forward,
    "gru_backward": gru_backward, "settings": settings, "host_cache": host_cache,
}
if hasattr(_C, "measure_fma_peak"):
    BUILDERS["bench"] = bench
NAMES = sorted(BUILDERS)
# Entry points deliberately not fuzzed: the sanitizer canary (a deliberate crash, only in the EMBER_SANITIZE build).
UNFUZZED = {"_sanitizer_canary"}


def test_one_input(data):
    d = Draw(data)
    name = NAMES[d.int(0, len(NAMES) - 1)]
    fn, args, kwargs, check = BUILDERS[name](d)
    try:
        fn(*args, **kwargs)
        if name == "settings":  # one kernel call under the drawn setting
            x = np.linspace(-1, 1, 64, dtype=np.float32)
            _C.gemm(x.reshape(1, 8, 8), x.reshape(1, 8, 8), np.empty((1, 8, 8), np.float32))
    except EXPECTED:
        return
    finally:
        if name == "settings":
            _C.set_num_threads(0)
            _C.set_gemm_kernel("auto")
            _C.set_conv2d_path("auto")
    if check is not None:
        check()


def main():
    import atheris
    from instrument import instrument_modules

    # Coverage of the harness's own branches (which entry point, layout, perturbation): GCC's coverage of the C++
    # is not the kind libFuzzer reads, so the native code is explored through these choices.
    instrument_modules(atheris, [__name__, "draw"])
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
