"""Recurrent sequences (SimpleRNN, LSTM, GRU), batch-major as Keras: x (B, T, I), states (B, H), outputs (B, T, H).

Each op transposes to the kernels' time-major layout, runs the whole sequence in one backend call and records ONE
autograd node, so whatever of its results reaches a loss, the backward kernel runs once for every step. SimpleRNN
and GRU: the node's output is the (B, T, H) outputs and h_T is a slice of it. LSTM: the node's output is a 0-d
stand-in and outputs, h_T and c_T are each recorded on it; their backwards add into one pair of time-major
gradient buffers (no packed [h | c] array, nor zero gradients of it to sum).
"""
import numpy as np

from .. import autograd
from ._util import Tensor, kernels, record, require_float, require_rank, wrap
from .indexing import getitem


def _as_tensor(value):
    return value if isinstance(value, Tensor) else wrap(np.asarray(value))


def _zeros_state(x, units):
    return wrap(x._xp.zeros((x.shape[0], units), dtype=x.dtype))


def _check_weights(op, x, kernel, recurrent_kernel, gates, gate_names):
    """Units H from the recurrent kernel (H, gates * H); the kernel must be (I, gates * H)."""
    factor = "units" if gates == 1 else f"{gates} * units"
    require_rank(op, "input", x, 3, "batch, time, features")
    require_rank(op, "kernel", kernel, 2, f"features, {factor}")
    require_rank(op, "recurrent_kernel", recurrent_kernel, 2, f"units, {factor}")
    units = recurrent_kernel.shape[0]
    if units < 1 or recurrent_kernel.shape[1] != gates * units:
        raise ValueError(f"{op}: recurrent_kernel {recurrent_kernel.shape} is not (units, {factor}) for any units"
                         f"{'' if gates == 1 else f' (gates {gate_names})'}")
    features = x.shape[2]
    if kernel.shape != (features, gates * units):
        raise ValueError(f"{op}: kernel {kernel.shape} does not match input features {features}: expected "
                         f"({features}, {factor}) = {(features, gates * units)} for units {units} of "
                         f"recurrent_kernel {recurrent_kernel.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{op}: input {x.shape} has no time steps; expected at least one")
    return units


def _check_state(op, name, state, x, units):
    if state.shape != (x.shape[0], units):
        raise ValueError(f"{op}: {name} {state.shape} does not match input {x.shape} and units {units}: "
                         f"expected (batch, units) = {(x.shape[0], units)}")


def _check_bias(op, bias, expected, units):
    if bias is not None and bias.shape != expected:
        raise ValueError(f"{op}: bias {bias.shape} does not match units {units}: expected {expected}")


def _time_major_mask(op, mask, x):
    """The (B, T) mask as the kernels' (T, B) contiguous bool array, or None."""
    if mask is None:
        return None
    m = mask._data if isinstance(mask, Tensor) else x._xp.asarray(mask)
    if m.shape != x.shape[:2]:
        raise ValueError(f"{op}: mask {tuple(m.shape)} does not match input {x.shape}: expected (batch, time) = "
                         f"{x.shape[:2]}")
    if m.dtype != bool and m.dtype.kind not in "iu":
        raise TypeError(f"{op}: mask must be bool (or 0/1 integers), got {m.dtype}")
    return x._xp.ascontiguousarray(m.astype(bool).T)


def _time_major(x):
    return x._xp.ascontiguousarray(x._data.transpose(1, 0, 2))


def _batch_major(xp, a):
    return xp.ascontiguousarray(a.transpose(1, 0, 2))


def _data(t):
    return None if t is None else t._data


def _grads_for(inputs, grads):
    """One gradient per recorded input: None where the input needs none."""
    return [g if t.requires_grad else None for t, g in zip(inputs, grads)]


def _prepare(op, x, states, kernel, recurrent_kernel, bias, gates, gate_names):
    x, kernel, recurrent_kernel = _as_tensor(x), _as_tensor(kernel), _as_tensor(recurrent_kernel)
    bias = None if bias is None else _as_tensor(bias)
    require_float(op, *[t for t in (x, kernel, recurrent_kernel, bias) if t is not None])
    units = _check_weights(op, x, kernel, recurrent_kernel, gates, gate_names)
    out_states = []
    for name, state in states:
        state = _zeros_state(x, units) if state is None else _as_tensor(state)
        require_float(op, x, state)
        _check_state(op, name, state, x, units)
        out_states.append(state)
    return x, out_states, kernel, recurrent_kernel, bias, units


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, activation="tanh", mask=None):
    """h_t = activation(x_t W + h_{t-1} U + b) over x (B, T, I) -> (outputs (B, T, H), h_T (B, H)).

    activation: "tanh" or "relu". mask (B, T): where False, the step keeps the previous state. h0 None: zeros.
    """
    if activation not in ("tanh", "relu"):
        raise ValueError(f"simple_rnn: invalid value for argument `activation`. Expected 'tanh' or 'relu'. "
                         f"Received: activation={activation!r}")
    x, (h0,), kernel, recurrent_kernel, bias, units = _prepare(
        "simple_rnn", x, [("h0", h0)], kernel, recurrent_kernel, bias, 1, "")
    _check_bias("simple_rnn", bias, (units,), units)
    m = _time_major_mask("simple_rnn", mask, x)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    h = backend.simple_rnn_forward(xt, h0._data, kernel._data, recurrent_kernel._data, _data(bias), activation, m)
    inputs = [x, h0, kernel, recurrent_kernel] + ([] if bias is None else [bias])

    def backward(g):
        gx, gh0, gk, gu, gb = backend.simple_rnn_backward(
            _batch_major(xp, g), xt, h0._data, kernel._data, recurrent_kernel._data, activation, m, h)
        return _grads_for(inputs, [_batch_major(xp, gx), gh0, gk, gu, gb])

    outputs = record("simple_rnn", wrap(_batch_major(xp, h)), inputs, backward)
    return outputs, getitem(outputs, (slice(None), -1))


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None):
    """Keras' LSTM over x (B, T, I), gates [i, f, g, o] -> (outputs (B, T, H), h_T (B, H), c_T (B, H)).

    kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None. mask (B, T): where False, the step keeps the
    previous states. h0/c0 None: zeros.
    """
    x, (h0, c0), kernel, recurrent_kernel, bias, units = _prepare(
        "lstm", x, [("h0", h0), ("c0", c0)], kernel, recurrent_kernel, bias, 4, "[i, f, g, o]")
    _check_bias("lstm", bias, (4 * units,), units)
    m = _time_major_mask("lstm", mask, x)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    weights = (kernel._data, recurrent_kernel._data)
    h, c, gates = backend.lstm_forward(xt, h0._data, c0._data, *weights, _data(bias), m)
    inputs = [x, h0, c0, kernel, recurrent_kernel] + ([] if bias is None else [bias])

    grad = _LstmGrad(xp, h.shape, h.dtype)

    def backward(_):
        grad_h, grad_c = grad.take(xp)
        grads = backend.lstm_backward(grad_h, grad_c, xt, h0._data, c0._data, *weights, m, h, c, gates)
        return _grads_for(inputs, [_batch_major(xp, grads[0])] + list(grads[1:]))

    # The node's output is a stand-in (a 0-d array): the user's three tensors are read from h and c directly and
    # their backwards add into `grad`'s time-major buffers, the kernel backward's own layout, and hand the node
    # only 0-d zeros. So no (B, T, 2H) packed array, zero gradients of it, or their sums.
    node = record("lstm", wrap(xp.zeros((), dtype=h.dtype)), inputs, backward)
    outputs = _lstm_part(node, _batch_major(xp, h), grad, "h", None)
    return (outputs, _lstm_part(node, h[-1].copy(), grad, "h", -1),
            _lstm_part(node, c[-1].copy(), grad, "c", -1))


class _LstmGrad:
    """The gradients of every step's h and c, (T, B, H) each, gathered from the lstm's outputs during one
    backward pass (None: no gradient reached it yet). A pass that finds another pass's remains starts over."""

    __slots__ = ("shape", "dtype", "h", "c", "pass_id")

    def __init__(self, xp, shape, dtype):
        self.shape, self.dtype, self.h, self.c, self.pass_id = shape, dtype, None, None, None

    def add(self, xp, which, step, g):
        if self.pass_id != autograd.current_pass():
            self.h = self.c = None
            self.pass_id = autograd.current_pass()
        buf = getattr(self, which)
        if step is None:  # g: (B, T, H) batch-major
            g = g.transpose(1, 0, 2)
            if buf is None:
                setattr(self, which, xp.ascontiguousarray(g, dtype=self.dtype))
                return
        if buf is None:
            buf = xp.zeros(self.shape, dtype=self.dtype)
            setattr(self, which, buf)
        if step is None:
            buf += g
        else:
            buf[step] += g

    def take(self, xp):
        h = xp.zeros(self.shape, dtype=self.dtype) if self.h is None else self.h
        c = xp.zeros(self.shape, dtype=self.dtype) if self.c is None else self.c
        self.h = self.c = self.pass_id = None
        return h, c


def _lstm_part(node, array, grad, which, step):
    """One of the lstm's results: `array` (which states, every step or only `step`), differentiable through
    `grad` into the one lstm node."""
    xp = node._xp

    def backward(g):
        grad.add(xp, which, step, g)
        return [xp.zeros((), dtype=g.dtype)]

    return record("lstm", wrap(array), [node], backward)


def gru(x, h0, kernel, recurrent_kernel, bias=None, reset_after=True, mask=None):
    """Keras' GRU over x (B, T, I), gates [z, r, hh] -> (outputs (B, T, H), h_T (B, H)).

    kernel (I, 3H), recurrent_kernel (H, 3H); bias (2, 3H) (input, recurrent) when reset_after (PyTorch's and
    cuDNN's form, Keras' default), (3H,) otherwise, or None. mask (B, T): where False, the step keeps the previous
    state. h0 None: zeros.
    """
    x, (h0,), kernel, recurrent_kernel, bias, units = _prepare(
        "gru", x, [("h0", h0)], kernel, recurrent_kernel, bias, 3, "[z, r, hh]")
    reset_after = bool(reset_after)
    _check_bias("gru", bias, (2, 3 * units) if reset_after else (3 * units,), units)
    m = _time_major_mask("gru", mask, x)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    args = (kernel._data, recurrent_kernel._data, _data(bias), reset_after, m)
    h, gates = backend.gru_forward(xt, h0._data, *args)
    inputs = [x, h0, kernel, recurrent_kernel] + ([] if bias is None else [bias])

    def backward(g):
        gx, gh0, gk, gu, gb = backend.gru_backward(_batch_major(xp, g), xt, h0._data, *args, h, gates)
        return _grads_for(inputs, [_batch_major(xp, gx), gh0, gk, gu, gb])

    outputs = record("gru", wrap(_batch_major(xp, h)), inputs, backward)
    return outputs, getitem(outputs, (slice(None), -1))
