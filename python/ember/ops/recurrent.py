"""Recurrent sequences (SimpleRNN, LSTM, GRU), batch-major as Keras: x (B, T, I), states (B, H), outputs (B, T, H).

Each op transposes to the kernels' time-major layout, runs the whole sequence in one backend call and records ONE
autograd node, so whatever of its results reaches a loss, the backward kernel runs once for every step. SimpleRNN
and GRU return (outputs, h_T), the LSTM (outputs, h_T, c_T): the outputs of one node, so no packed array is sliced
and no zero gradients of it are summed.
"""
import numpy as np

from ..autograd import record_outputs, will_record
from ._util import Tensor, kernels, require_float, require_rank, wrap


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
    if features < 1:  # as torch (input_size must be > 0); a batch of 0 is fine
        raise ValueError(f"{op}: input {x.shape} has no features; expected at least one")
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
    """(T, B, ...) <-> (B, T, ...), contiguous (the swap is its own inverse)."""
    return xp.ascontiguousarray(a.transpose(1, 0, 2))


def _step_gradient(xp, like, g_steps, g_final):
    """The gradient of every step's state (T, B, H), time-major as the backward kernels take it, from the
    gradients of the batch-major sequence and of the final state (either may be None: no gradient reached it)."""
    if g_steps is None:
        grad = xp.zeros(like.shape, like.dtype)
    else:  # always a copy (ascontiguousarray would return a view when T or B is 1): the last step is added to
        grad = xp.array(g_steps.transpose(1, 0, 2), order="C")
    if g_final is not None:
        grad[-1] += g_final
    return grad


def _sequence_results(xp, h):
    """The batch-major outputs (B, T, H) and the final state (B, H): a recurrent op's results."""
    return [wrap(_batch_major(xp, h)), wrap(h[-1].copy())]


def _empty_batch(op, x, units, states, inputs):
    """A batch of 0 (as torch allows): empty outputs and final states, zero weight gradients, no kernel call."""
    xp = x._xp
    outs = [wrap(xp.zeros((0, x.shape[1], units), x.dtype))] + [wrap(xp.zeros((0, units), x.dtype))
                                                                 for _ in range(states)]
    return tuple(record_outputs(op, outs, inputs, lambda grads: _grads_for(
        inputs, [xp.zeros(t.shape, t.dtype) for t in inputs])))


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
    inputs = [x, h0, kernel, recurrent_kernel] + ([] if bias is None else [bias])
    if x.shape[0] == 0:
        return _empty_batch("simple_rnn", x, units, 1, inputs)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    h = backend.simple_rnn_forward(xt, h0._data, kernel._data, recurrent_kernel._data, _data(bias), activation, m)

    def backward(grads):
        gx, gh0, gk, gu, gb = backend.simple_rnn_backward(
            _step_gradient(xp, h, *grads), xt, h0._data, kernel._data, recurrent_kernel._data, activation, m, h)
        return _grads_for(inputs, [_batch_major(xp, gx), gh0, gk, gu, gb])

    return tuple(record_outputs("simple_rnn", _sequence_results(xp, h), inputs, backward))


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, mask=None):
    """Keras' LSTM over x (B, T, I), gates [i, f, g, o] -> (outputs (B, T, H), h_T (B, H), c_T (B, H)).

    kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None. mask (B, T): where False, the step keeps the
    previous states. h0/c0 None: zeros.
    """
    x, (h0, c0), kernel, recurrent_kernel, bias, units = _prepare(
        "lstm", x, [("h0", h0), ("c0", c0)], kernel, recurrent_kernel, bias, 4, "[i, f, g, o]")
    _check_bias("lstm", bias, (4 * units,), units)
    m = _time_major_mask("lstm", mask, x)
    inputs = [x, h0, c0, kernel, recurrent_kernel] + ([] if bias is None else [bias])
    if x.shape[0] == 0:
        return _empty_batch("lstm", x, units, 2, inputs)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    weights = (kernel._data, recurrent_kernel._data)
    if hasattr(backend, "lstm_inference") and not will_record(inputs):
        h, c_last = backend.lstm_inference(xt, h0._data, c0._data, *weights, _data(bias), m)
        return tuple(_sequence_results(xp, h) + [wrap(c_last)])
    h, c, gates = backend.lstm_forward(xt, h0._data, c0._data, *weights, _data(bias), m)

    def backward(grads):
        g_outputs, g_hT, g_cT = grads  # only the final cell state is an output: c's other steps get zeros
        grads = backend.lstm_backward(_step_gradient(xp, h, g_outputs, g_hT), _step_gradient(xp, c, None, g_cT),
                                      xt, h0._data, c0._data, *weights, m, h, c, gates)
        return _grads_for(inputs, [_batch_major(xp, grads[0])] + list(grads[1:]))

    results = _sequence_results(xp, h) + [wrap(c[-1].copy())]
    return tuple(record_outputs("lstm", results, inputs, backward))


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
    inputs = [x, h0, kernel, recurrent_kernel] + ([] if bias is None else [bias])
    if x.shape[0] == 0:
        return _empty_batch("gru", x, units, 1, inputs)
    backend, xt, xp = kernels(x), _time_major(x), x._xp
    args = (kernel._data, recurrent_kernel._data, _data(bias), reset_after, m)
    h, gates = backend.gru_forward(xt, h0._data, *args)

    def backward(grads):
        gx, gh0, gk, gu, gb = backend.gru_backward(_step_gradient(xp, h, *grads), xt, h0._data, *args, h, gates)
        return _grads_for(inputs, [_batch_major(xp, gx), gh0, gk, gu, gb])

    return tuple(record_outputs("gru", _sequence_results(xp, h), inputs, backward))
