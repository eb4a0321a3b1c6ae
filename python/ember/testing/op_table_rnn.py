"""Op-table entries for the recurrent sequence ops (simple_rnn, lstm, gru).

Each entry's op returns one tensor, every step's output and the final states side by side,
[outputs (B, T * H) | h_T | c_T], so that the gradient check covers the gradient arriving through each of them.
The references are the NumPy reference backend (the spec); tests/test_recurrent_reference.py checks that spec
against a per-step loop written apart from it and against PyTorch.
"""
import numpy as np

from ember import ops
from ember.backend import reference as ref

from .op_table import ErrorCase, OpInfo, Sample, normal, strategy
from .op_table_errors import on_device

# -- ops and references: [outputs | final states] as one (B, T * H + states * H) array --------------------------


def _flat(outputs, *states):
    b, t, h = outputs.shape  # sizes written out: a -1 beside a batch of 0 would be ambiguous
    return ops.concatenate([ops.reshape(outputs, (b, t * h)), *states], axis=1)


def _time_major(a):
    return None if a is None else np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _packed(h, *final):
    """Time-major h (T, B, H) and final states as the op table's flat [outputs | states]."""
    return np.concatenate([_time_major(h).reshape(h.shape[1], -1), *final], axis=1)


def simple_rnn_op(x, h0, kernel, recurrent_kernel, bias, activation="tanh", mask=None):
    return _flat(*ops.simple_rnn(x, h0, kernel, recurrent_kernel, bias, activation=activation, mask=mask))


def _any_batch(states):
    """A reference for a batch of 0 too: [outputs | states] of no rows (the reference backend needs a batch)."""
    def decorate(reference):
        def wrapped(x, h0, *args, **kwargs):
            if x.shape[0]:
                return reference(x, h0, *args, **kwargs)
            return np.zeros((0, (x.shape[1] + states) * h0.shape[1]), x.dtype)

        return wrapped

    return decorate


@_any_batch(states=1)
def simple_rnn_reference(x, h0, kernel, recurrent_kernel, bias, activation="tanh", mask=None):
    h = ref.simple_rnn_forward(_time_major(x), h0, kernel, recurrent_kernel, bias, activation, _time_major(mask))
    return _packed(h, h[-1])


def lstm_op(x, h0, c0, kernel, recurrent_kernel, bias, mask=None):
    return _flat(*ops.lstm(x, h0, c0, kernel, recurrent_kernel, bias, mask=mask))


@_any_batch(states=2)
def lstm_reference(x, h0, c0, kernel, recurrent_kernel, bias, mask=None):
    h, c, _ = ref.lstm_forward(_time_major(x), h0, c0, kernel, recurrent_kernel, bias, _time_major(mask))
    return _packed(h, h[-1], c[-1])


def gru_op(x, h0, kernel, recurrent_kernel, bias, reset_after=True, mask=None):
    return _flat(*ops.gru(x, h0, kernel, recurrent_kernel, bias, reset_after=reset_after, mask=mask))


@_any_batch(states=1)
def gru_reference(x, h0, kernel, recurrent_kernel, bias, reset_after=True, mask=None):
    h, _ = ref.gru_forward(_time_major(x), h0, kernel, recurrent_kernel, bias, reset_after, _time_major(mask))
    return _packed(h, h[-1])


# -- samples ----------------------------------------------------------------------------------------------------
def _masks(rng, b, t):
    """A (B, T) mask with some steps off, the first row's first step on (so a NaN there shows), and, when B > 1,
    the last row masked throughout (its states stay the initial ones)."""
    mask = rng.random((b, t)) < 0.6
    mask[0, 0] = True
    if b > 1:
        mask[-1] = False
    return mask


def _sizes(rng):
    return tuple(int(n) for n in rng.integers(1, 4, size=4))  # B, T, I, H


def _rnn_samples(states, gates, bias_shape, variants):
    """Samples over sizes (incl. B = T = I = H = 1), masks and no bias; each variant's keywords in turn."""
    def samples(rng):
        def s(b, t, i, h, use_bias=True, mask=False, **kw):
            args = [normal(rng, b, t, i)] + [normal(rng, b, h) for _ in range(states)]
            args += [normal(rng, i, gates * h) / np.sqrt(i), normal(rng, h, gates * h) / np.sqrt(h)]
            args.append(normal(rng, *bias_shape(h, kw)) if use_bias else None)
            if mask:
                kw["mask"] = _masks(rng, b, t)
            return Sample(tuple(args), kw)

        def v(k):
            return dict(variants[k % len(variants)])

        cases = [s(2, 3, 3, 2, **v(0)), s(1, 1, 1, 1, **v(1)), s(3, 4, 2, 2, mask=True, **v(2)),
                 s(2, 3, 2, 1, use_bias=False, **v(3)), s(*_sizes(rng), mask=True, **v(4)),
                 s(*_sizes(rng), use_bias=False, mask=True, **v(5))]
        return cases + [s(1, 2, 2, 2, **v(k)) for k in range(1, len(variants))]  # each other variant unmasked

    return samples


def _rnn_bias(h, kw):
    return (h,)


def _lstm_bias(h, kw):
    return (4 * h,)


def _gru_bias(h, kw):
    return (2, 3 * h) if kw.get("reset_after", True) else (3 * h,)


# -- bad inputs ----------------------------------------------------------------------------------------------------
def _errors(name, states, gates, bias):
    o = np.ones
    hs = [o((2, 3))] * states

    def e(x, kernel, recurrent, error, match, b=bias, kw=None, h=None, kind="shape"):
        return ErrorCase((x, *(h or hs), kernel, recurrent, b), kw or {}, error, match, kind)

    k, u = o((4, gates * 3)), o((3, gates * 3))
    factor = "units" if gates == 1 else f"{gates} \\* units"
    return [
        e(o((2, 4)), k, u, ValueError,
          rf"{name}: expected input of rank 3 \(batch, time, features\), got shape \(2, 4\)", kind="rank"),
        e(o((2, 5, 4)), o(4 * gates * 3), u, ValueError,
          rf"{name}: expected kernel of rank 2 \(features, {factor}\), got shape \({4 * gates * 3},\)", kind="rank"),
        e(o((2, 5, 4)), o((5, gates * 3)), u, ValueError,
          rf"{name}: kernel \(5, {gates * 3}\) does not match input features 4: expected \(4, {factor}\)"),
        e(o((2, 5, 4)), k, o((3, gates * 3 + 1)), ValueError,
          rf"{name}: recurrent_kernel \(3, {gates * 3 + 1}\) is not \(units, {factor}\)"),
        e(o((2, 5, 4)), k, u, ValueError, rf"{name}: h0 \(3, 3\) does not match input \(2, 5, 4\) and units 3",
          h=[o((3, 3))] + hs[1:]),
        e(o((2, 5, 4)), k, u, ValueError, rf"{name}: bias \(7,\) does not match units 3", b=o(7)),
        e(o((2, 5, 4)), k, u, ValueError,
          rf"{name}: mask \(5, 2\) does not match input \(2, 5, 4\): expected \(batch, time\) = \(2, 5\)",
          kw={"mask": np.ones((5, 2), bool)}),
        e(o((2, 5, 4), np.int64), k, u, TypeError,
          rf"{name}: expected float32 or float64 inputs, got int64 \(shapes \(2, 5, 4\)", kind="dtype"),
        e(o((2, 5, 4)), k, u, RuntimeError,
          rf"{name}: expected all tensors on one device, got cpu \(shape \(2, 5, 4\)\) and cuda:0 \(shape \(2, 3\)\)",
          h=[on_device((2, 3))] + hs[1:], kind="device"),
        e(o((2, 0, 4)), k, u, ValueError, rf"{name}: input \(2, 0, 4\) has no time steps"),
        e(o((2, 5, 0)), o((0, gates * 3)), u, ValueError, rf"{name}: input \(2, 5, 0\) has no features"),
    ]


# -- bench -----------------------------------------------------------------------------------------------------------
BENCH_SIZES = [(50, 64, 128, 256), (100, 32, 32, 128), (20, 4, 128, 512)]  # T, B, I, H


def _bench(states, gates, bias_shape):
    return [(f"T{t} B{b} I{i} H{h}", Sample(((b, t, i), *[(b, h)] * states, (i, gates * h), (h, gates * h),
                                             bias_shape(h)), {}))
            for t, b, i, h in BENCH_SIZES]


def _rnn_flops(gates):
    """2 (I + H) * gates * H multiply-adds per row and step: the two GEMMs; the gate math is O(H)."""
    def flops(sample):
        b, t, i = sample.args[0].shape
        h = sample.args[-2].shape[0]
        return 2 * t * b * (i + h) * gates * h

    return flops


def torch_rnn_weights(name, kernel, recurrent_kernel, bias, reset_after=True):
    """Keras-layout weights as PyTorch's nn.RNN/LSTM/GRU parameters (layer 0), NumPy arrays by parameter name.

    PyTorch stores (gates * H, I) matrices and two biases; its LSTM gate order [i, f, g, o] is Keras', its GRU's is
    [r, z, n] against Keras' [z, r, hh], and its GRU is Keras' reset_after=True GRU.
    """
    h = recurrent_kernel.shape[0]
    order = np.arange(kernel.shape[1])
    if name == "gru":
        order = np.concatenate([np.arange(h, 2 * h), np.arange(h), np.arange(2 * h, 3 * h)])
    if bias is None:
        b_ih = b_hh = np.zeros(kernel.shape[1])
    elif name == "gru":
        b_ih, b_hh = bias[0], bias[1]
    else:
        b_ih, b_hh = bias, np.zeros_like(bias)
    return {"weight_ih_l0": kernel[:, order].T, "weight_hh_l0": recurrent_kernel[:, order].T,
            "bias_ih_l0": b_ih[order], "bias_hh_l0": b_hh[order]}


RNN_OPS = [
    OpInfo("simple_rnn", simple_rnn_op, simple_rnn_reference,
           _rnn_samples(1, 1, _rnn_bias, [{"activation": "tanh"}, {"activation": "relu"}]),
           strategy=strategy("recurrent", states=1, gates=1, bias_shape=_rnn_bias,
                             variants=[{"activation": "tanh"}, {"activation": "relu"}]),
           errors=_errors("simple_rnn", 1, 1, np.ones(3)) + [
               ErrorCase((np.ones((2, 5, 4)), np.ones((2, 3)), np.ones((4, 3)), np.ones((3, 3)), None),
                         {"activation": "gelu"}, ValueError,
                         r"simple_rnn: invalid value for argument `activation`. Expected 'tanh' or 'relu'")],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_rnn_flops(1), bench_backward=True,
           bench=[(f"T{t} B{b} I{i} H{h}", Sample(((b, t, i), (b, h), (i, h), (h, h), (h,)), {}))
                  for t, b, i, h in BENCH_SIZES[:1]]),
    OpInfo("lstm", lstm_op, lstm_reference, _rnn_samples(2, 4, _lstm_bias, [{}]),
           strategy=strategy("recurrent", states=2, gates=4, bias_shape=_lstm_bias, variants=[{}]),
           errors=_errors("lstm", 2, 4, np.ones(12)) + [
               ErrorCase((np.ones((2, 5, 4)), np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 12)), np.ones((3, 12)),
                          None), {}, ValueError, r"lstm: c0 \(2, 4\) does not match input \(2, 5, 4\) and units 3")],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_rnn_flops(4), bench_backward=True,
           bench=_bench(2, 4, lambda h: (4 * h,))),
    OpInfo("gru", gru_op, gru_reference,
           _rnn_samples(1, 3, _gru_bias, [{"reset_after": True}, {"reset_after": False}]),
           strategy=strategy("recurrent", states=1, gates=3, bias_shape=_gru_bias,
                             variants=[{"reset_after": True}, {"reset_after": False}]),
           errors=_errors("gru", 1, 3, np.ones((2, 9))) + [
               ErrorCase((np.ones((2, 5, 4)), np.ones((2, 3)), np.ones((4, 9)), np.ones((3, 9)), np.ones((2, 9))),
                         {"reset_after": False}, ValueError, r"gru: bias \(2, 9\) does not match units 3: expected "
                                                             r"\(9,\)")],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_rnn_flops(3), bench_backward=True,
           bench=_bench(1, 3, lambda h: (2, 3 * h))),
]
