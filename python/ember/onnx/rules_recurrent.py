"""Export rules for SimpleRNN, LSTM and GRU (ONNX's RNN, LSTM and GRU ops), Bidirectional and TimeDistributed.

ONNX's recurrent ops read time-major (time, batch, features) and store each gate's weights as rows: W is
(gates * units, features), the transpose of Keras' kernel. The gate order differs for the LSTM only: Keras stacks
[i, f, c, o], ONNX [i, o, f, c]. GRU's [z, r, h] is the same in both; Keras' `reset_after=True` (r multiplies
h U_h + b_rh) is ONNX's linear_before_reset=1. Keras' single bias goes in ONNX's input bias W_b, with R_b zero,
except the reset_after GRU's, whose second row is R_b.

`go_backwards` reverses the sequence before the op (a Slice), so outputs come in reversed order as in Keras.
"""
import numpy as np

from .. import activations
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from ..layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from ..layers.wrappers import Bidirectional, TimeDistributed
from .graph import ExportError, Value
from .registry import rule
from .rules_core import _weight, out_shape

_TIME_MAJOR = (1, 0, 2)  # the form of an ember (batch, time, features) tensor that ONNX's ops read
_ACTIVATIONS = {activations.tanh: "Tanh", activations.sigmoid: "Sigmoid", activations.relu: "Relu"}
_INT64_MIN = -(2 ** 63)


def _activation(layer, fn):
    if fn not in _ACTIVATIONS:
        raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) uses the activation {fn!r}; "
                          f"ONNX's recurrent ops are exported with {sorted(_ACTIVATIONS.values())} only")
    return _ACTIVATIONS[fn]


def _lstm_gates(a, units):
    """Keras' [i, f, c, o] blocks along the last axis -> ONNX's [i, o, f, c]."""
    i, f, c, o = (a[..., k * units:(k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


def _weights(cell):
    """(op, W, R, B or None, extra attributes) for ONNX, each with the leading num_directions axis of 1."""
    units = cell.units
    kernel, recurrent = _weight(cell.kernel), _weight(cell.recurrent_kernel)
    bias = _weight(cell.bias) if cell.bias is not None else None
    if isinstance(cell, LSTMCell):
        kernel, recurrent = _lstm_gates(kernel, units), _lstm_gates(recurrent, units)
        bias = None if bias is None else np.concatenate([_lstm_gates(bias, units), np.zeros_like(bias)])
        acts = [cell.recurrent_activation, cell.activation, cell.activation]
        op, extra = "LSTM", {}
    elif isinstance(cell, GRUCell):
        if bias is not None:
            bias = bias.reshape(-1) if cell.reset_after else np.concatenate([bias, np.zeros_like(bias)])
        acts = [cell.recurrent_activation, cell.activation]
        op, extra = "GRU", {"linear_before_reset": int(cell.reset_after)}
    else:
        bias = None if bias is None else np.concatenate([bias, np.zeros_like(bias)])
        acts = [cell.activation]
        op, extra = "RNN", {}
    w, r = kernel.T[None], recurrent.T[None]
    return op, w, r, None if bias is None else bias[None], acts, extra


def _reverse_time(g, name, scope):
    """Reverse axis 0 (time, in the time-major form)."""
    return g.node("Slice", [name, g.ints(f"{scope}/start", [-1]), g.ints(f"{scope}/end", [_INT64_MIN]),
                            g.ints(f"{scope}/axis", [0]), g.ints(f"{scope}/step", [-1])], f"{scope}/reverse")


def emit_rnn(g, layer, x, data, initial_state=None):
    """The recurrent op for `layer` (an RNN whose cell is a SimpleRNNCell, LSTMCell or GRUCell): returns
    (sequence Value in time-major form, [final state Values]); the sequence is in the layer's output order."""
    cell = layer.cell
    if not isinstance(cell, (SimpleRNNCell, LSTMCell, GRUCell)) or type(cell).call not in (
            SimpleRNNCell.call, LSTMCell.call, GRUCell.call):
        raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) runs the cell "
                          f"{type(cell).__name__}; only SimpleRNNCell, LSTMCell and GRUCell export")
    if getattr(data, "_keras_mask", None) is not None:
        raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) receives a mask (from "
                          f"Embedding(mask_zero=True) or Masking); masked recurrent layers have no ONNX form")
    op, w, r, b, acts, extra = _weights(cell)
    scope, units = layer.name, cell.units
    seq = g.form(x, _TIME_MAJOR)
    if layer.go_backwards:
        seq = _reverse_time(g, seq, f"{scope}/input")
    inputs = [seq, g.const(f"{scope}/W", w), g.const(f"{scope}/R", r), g.const(f"{scope}/B", b) if b is not None
              else "", ""]  # "" : no sequence_lens (every sequence is full length)
    states = list(initial_state or [])
    for i, state in enumerate(states):
        inputs.append(g.node("Unsqueeze", [g.form(state), g.ints(f"{scope}/state_axis_{i}", [0])],
                             f"{scope}/initial_state_{i}"))
    while inputs[-1] == "":
        inputs.pop()
    n_states = 2 if op == "LSTM" else 1
    outs = g.node(op, inputs, f"{scope}/{op}", outputs=1 + n_states, hidden_size=units,
                  activations=[_activation(layer, f) for f in acts], **extra)
    squeeze_axis = g.ints(f"{scope}/direction_axis", [1])
    batch, steps = x.shape[0], x.shape[1]
    sequence = Value(g.node("Squeeze", [outs[0], squeeze_axis], f"{scope}/sequence"), (batch, steps, units),
                     _TIME_MAJOR)
    state_axis = g.ints(f"{scope}/state_axis", [0])
    finals = [Value(g.node("Squeeze", [name, state_axis], f"{scope}/state_{i}"), (batch, units))
              for i, name in enumerate(outs[1:])]
    return sequence, finals


@rule(RNN, SimpleRNN, LSTM, GRU)
def recurrent(g, layer, x, data, out, initial_state=None):
    sequence, finals = emit_rnn(g, layer, x, data, initial_state)
    output = sequence if layer.return_sequences else finals[0]  # the last output is the final h
    return [output] + finals if layer.return_state else output


@rule(Bidirectional)
def bidirectional(g, layer, x, data, out, initial_state=None):
    forward_state = backward_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        forward_state, backward_state = initial_state[:half], initial_state[half:]
    y, forward_finals = emit_rnn(g, layer.forward_layer, x, data, forward_state)
    y_rev, backward_finals = emit_rnn(g, layer.backward_layer, x, data, backward_state)
    if layer.return_sequences:  # the backward outputs back in time order, as ember's Bidirectional
        y_rev = Value(_reverse_time(g, g.form(y_rev, _TIME_MAJOR), f"{layer.name}/backward"), y_rev.shape,
                      _TIME_MAJOR)
    else:
        y, y_rev = forward_finals[0], backward_finals[0]
    scope, mode = layer.name, layer.merge_mode
    perm = _TIME_MAJOR if layer.return_sequences else None
    a, b = g.form(y, perm), g.form(y_rev, perm)
    shape = out_shape(out[0] if isinstance(out, (list, tuple)) else out)
    if mode == "concat":
        merged = [Value(g.node("Concat", [a, b], f"{scope}/Concat", axis=-1), shape, perm)]
    elif mode in ("sum", "ave"):
        total = g.node("Add", [a, b], f"{scope}/Add")
        if mode == "ave":
            total = g.node("Mul", [total, g.const(f"{scope}/half", 0.5)], f"{scope}/Mean")
        merged = [Value(total, shape, perm)]
    elif mode == "mul":
        merged = [Value(g.node("Mul", [a, b], f"{scope}/Mul"), shape, perm)]
    else:
        merged = [y, y_rev]
    if mode is None or layer.return_state:
        return merged + (forward_finals + backward_finals if layer.return_state else [])
    return merged[0]


@rule(TimeDistributed)
def time_distributed(g, layer, x, data, out):
    """The inner layer's rule on (batch * time, ...), as ember folds the time axis into the batch."""
    from .registry import find_rule

    inner = layer.layer
    fn = find_rule(inner)
    if fn is None:
        raise ExportError(f"ONNX export: layer {layer.name!r} (TimeDistributed) wraps layer {inner.name!r} "
                          f"({type(inner).__name__}), which has no export rule")
    steps, rest = x.shape[1], tuple(x.shape[2:])
    folded = Value(g.node("Reshape", [g.form(x), g.ints(f"{layer.name}/fold", (-1,) + rest)], f"{layer.name}/fold"),
                   (None,) + rest)
    folded_data = data.reshape((-1,) + rest)
    inner_out = inner(folded_data, training=False)
    y = fn(g, inner, folded, folded_data, inner_out)
    unfold = g.ints(f"{layer.name}/unfold", (-1, steps) + tuple(inner_out.shape[1:]))
    return Value(g.node("Reshape", [g.form(y), unfold], f"{layer.name}/unfold"), out_shape(out))
