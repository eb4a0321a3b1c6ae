"""Recurrent layers, as Keras 3: the cells SimpleRNNCell, LSTMCell, GRUCell (one step, composite from ember ops, so
any activation, dropout and recurrent dropout work), `RNN` (loops a cell over time in Python, with masks, initial
and carried states), and SimpleRNN, LSTM, GRU, which run the fused sequence ops (ember.ops.simple_rnn / lstm / gru)
when their settings allow (Keras' activations, no recurrent dropout) and the cell loop otherwise.

Masks follow Keras: a masked step keeps the states and repeats the previous output (zeros before the first real
step, or always zeros with `zero_output_for_mask`, which Bidirectional sets when it returns sequences).
"""
import numpy as np

from .. import activations, backend as _backend, ops
from .. import device as _device
from ..creation import zeros
from ..tensor import Tensor
from .base import Layer, _accepts, as_tensor, invalid_argument
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell, _deserialize, _serialize


# -- the sequence layer --------------------------------------------------------------------------------------------
class RNN(Layer):
    """Runs `cell` over the time axis of (batch, time, features) inputs.

    Returns the last output (batch, units), or every step's (batch, time, units) with `return_sequences`; with
    `return_state`, a list [output, *final_states]. `go_backwards` reads the sequence from its end and returns the
    outputs in that (reversed) order, as Keras. `stateful` carries the final states into the next call (fixed
    batch size; `reset_states()` zeroes them). `layer(x, initial_state=[h0, c0])` sets the starting states.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, dict):
            cell = _deserialize(cell)
        if not callable(getattr(cell, "call", None)):
            raise invalid_argument("cell", "a cell: a layer with a `call` method and a `state_size`", cell)
        if getattr(cell, "state_size", None) is None:
            raise ValueError(f"The RNN cell should have a `state_size` attribute (single integer or list of "
                             f"integers, one integer per RNN state). Received: cell={cell!r}")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras programs; the Python loop is already unrolled
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None
        self._use_fused = True  # tests turn the fused ops off to compare them with the cell loop

    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def build(self, input_shape):
        self.check_rank(input_shape, 3, "batch, time, features")
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build((input_shape[0],) + tuple(input_shape[2:]))
            self.cell.built = True
        self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        from ..models.functional import SymbolicTensor

        symbolic = isinstance(inputs, SymbolicTensor)
        if symbolic and self.stateful and inputs.shape[0] is None:
            raise ValueError(f"When using `stateful=True` in a RNN, the batch size must be static. Found dynamic "
                             f"batch size: sequence.shape={inputs.shape} (pass batch_size= to ember.Input)")
        out = super().__call__(inputs, training=training, **kwargs)
        if symbolic and self.stateful:
            self.states = None  # the stand-in run that built the graph leaves no state behind
        return out

    # -- states ---------------------------------------------------------------------------------------------------
    def get_initial_state(self, batch_size):
        return [zeros((batch_size, n), dtype=self.dtype, device=self.device) for n in self.state_size]

    def reset_states(self, states=None):
        """Zero the carried states of a stateful layer (or set them to `states`)."""
        if states is not None:
            self.states = [as_tensor(s, self.dtype, self.device).detach() for s in
                           (states if isinstance(states, (list, tuple)) else [states])]
        elif self.states is not None:
            self.states = [zeros(s.shape, dtype=self.dtype, device=s.device) for s in self.states]

    reset_state = reset_states

    def _initial_states(self, batch, initial_state):
        sizes = self.state_size
        if initial_state is None:
            if not self.stateful:
                return self.get_initial_state(batch)
            if self.states is not None and self.states[0].shape[0] != batch:
                if any(bool(s._xp.any(s._data)) for s in self.states):
                    raise ValueError(f"If an RNN is stateful, the batch size of the input sequences must be the "
                                     f"same as the batch size of the initial state.\n- Expected batch size: "
                                     f"{self.states[0].shape[0]}\n- Received batch size: {batch}")
                self.states = None  # zero states carry nothing: start again at this batch size
            if self.states is None:
                self.states = self.get_initial_state(batch)
            return list(self.states)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != len(sizes):
            raise ValueError(f"Layer {self.name!r} expects {len(sizes)} initial state(s) of sizes {sizes}; "
                             f"received {len(states)}")
        states = [as_tensor(s, self.dtype, self.device) for s in states]
        for i, (s, n) in enumerate(zip(states, sizes)):
            if tuple(s.shape) != (batch, n):
                raise ValueError(f"Layer {self.name!r}: initial_state[{i}] has shape {tuple(s.shape)}; expected "
                                 f"(batch, units) = {(batch, n)}")
        return states

    # -- calling --------------------------------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=None):
        if sequences.ndim != 3:
            self.check_rank(sequences.shape, 3, "batch, time, features")
        batch, steps = sequences.shape[:2]
        if steps < 1:
            raise ValueError(f"Layer {self.name!r} received a sequence with no time steps: {sequences.shape}")
        states = self._initial_states(batch, initial_state)
        mask = _time_mask(self, mask, batch, steps)
        last, outputs, states = self._run(sequences, states, mask, training)
        if self.stateful:
            self.states = [s.detach() for s in states]
        output = outputs if self.return_sequences else last
        if not self.return_state:
            return output
        output._keras_mask = mask if self.return_sequences else None
        return [output] + list(states)

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        """From the shapes alone (running a stand-in batch would advance a stateful layer's states)."""
        batch, steps = input_shape[0], input_shape[1]
        units = getattr(self.cell, "output_size", None) or self.state_size[0]
        output = (batch, steps, units) if self.return_sequences else (batch, units)
        return [output] + [(batch, n) for n in self.state_size] if self.return_state else output

    def _run(self, x, states, mask, training):
        return self._cell_loop(x, states, mask, training)

    def _cell_loop(self, x, states, mask, training):
        """The reference path: one cell call per step; masked steps keep states and repeat the last output."""
        batch, steps = x.shape[:2]
        cell = self.cell
        cell_kwargs = {"training": training} if _accepts(type(cell), "training") else {}
        if hasattr(cell, "begin_sequence"):
            cell.begin_sequence(batch, x.shape[-1], training)
        outputs, previous = [], None
        try:
            for step in range(steps):
                t = steps - 1 - step if self.go_backwards else step
                out, new_states = cell.call(x[:, t], states, **cell_kwargs)
                new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
                if mask is not None:
                    keep = mask[:, t:t + 1]
                    if self.zero_output_for_mask or previous is None:
                        out = ops.where(keep, out, 0.0)
                    else:
                        out = ops.where(keep, out, previous)
                    new_states = [ops.where(keep, new, old) for new, old in zip(new_states, states)]
                previous, states = out, new_states
                if self.return_sequences:
                    outputs.append(out)
        finally:
            if hasattr(cell, "end_sequence"):
                cell.end_sequence()
        return previous, (ops.stack(outputs, axis=1) if self.return_sequences else None), states

    def get_config(self):
        config = {**super().get_config(), "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                  "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}
        if type(self) is RNN:
            config["cell"] = _serialize(self.cell)
        return config


def _time_mask(layer, mask, batch, steps):
    """The (batch, time) bool mask as an array on the layer's device, or None when absent or all true."""
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if mask is None:
        return None
    mask = mask._data if isinstance(mask, Tensor) else mask
    mask = _device.move(mask if hasattr(mask, "__cuda_array_interface__") else np.asarray(mask), layer.device)
    if mask.shape != (batch, steps):
        raise ValueError(f"Layer {layer.name!r}: mask has shape {mask.shape}; expected (batch, time) = "
                         f"{(batch, steps)}")
    mask = mask.astype(bool)
    return None if mask.all() else mask


# -- SimpleRNN, LSTM, GRU: the cell's arguments plus RNN's; fused ops when they apply -----------------------------
_RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")
_BASE_ARGS = ("name", "trainable", "dtype", "input_shape", "input_dim")


class _FusedRNN(RNN):
    cell_class = None

    def __init__(self, units, **kwargs):
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGS + _BASE_ARGS if k in kwargs}
        cell = self.cell_class(units, dtype=rnn_kwargs.get("dtype"), trainable=rnn_kwargs.get("trainable", True),
                               **kwargs)
        super().__init__(cell, **rnn_kwargs)

    def __getattr__(self, name):
        # units, activation, kernel, recurrent_kernel, bias, dropout... are the cell's, as in Keras
        cell = self.__dict__.get("cell")
        if cell is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(cell, name)

    def _fused_op(self):
        """The fused op's name and extra arguments, or None where only the cell loop computes this layer."""
        return None

    def _run(self, x, states, mask, training):
        fused = self._fused_op() if self._use_fused else None
        if fused is None or not _fused_available(fused[0], x) or (training and self.cell.recurrent_dropout > 0):
            return self._cell_loop(x, states, mask, training)
        name, extra = fused
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        dp, _ = self.cell._draw_masks(x.shape[0], x.shape[-1], training)
        if dp is not None:  # one input mask for every step, as the cell loop uses
            x = x * ops.reshape(dp, (dp.shape[0], 1, dp.shape[1]))
        cell = self.cell
        result = getattr(ops, name)(x, *states, cell.kernel, cell.recurrent_kernel, cell.bias, *extra,
                                    mask=mask)  # the op makes it contiguous (time-major) where x lives
        outputs, final = result[0], list(result[1:])
        if mask is not None:
            # the op repeats h_{t-1} at a masked step; Keras repeats the previous output, zeros before any
            keep = mask if self.zero_output_for_mask else _device.array_module(mask).cumsum(mask, axis=1) > 0
            if not keep.all():
                outputs = ops.where(keep[:, :, None], outputs, 0.0)
        last = outputs[:, -1]
        return last, outputs, final

    def get_config(self):
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        return {**super().get_config(), **cell}


def _fused_available(name, x):
    """Whether ops has the fused op and the backend computing on `x` has its kernels (they land op by op)."""
    return hasattr(ops, name) and hasattr(_backend.for_array(x._data), f"{name}_forward")


def _fused_activation(fn):
    if fn is activations.tanh:
        return "tanh"
    if fn is activations.relu:
        return "relu"
    return None


class SimpleRNN(_FusedRNN):
    """Fully connected RNN: h_t = activation(x_t W + b + h_{t-1} U); weights kernel, recurrent_kernel, bias."""

    cell_class = SimpleRNNCell

    def _fused_op(self):
        activation = _fused_activation(self.cell.activation)
        return None if activation is None else ("simple_rnn", (activation,))


class LSTM(_FusedRNN):
    """Long short-term memory (Hochreiter 1997), Keras' gates [i, f, c, o]; states [h, c]."""

    cell_class = LSTMCell

    def _fused_op(self):
        cell = self.cell
        if _fused_activation(cell.activation) != "tanh" or cell.recurrent_activation is not activations.sigmoid:
            return None
        return "lstm", ()


class GRU(_FusedRNN):
    """Gated recurrent unit (Cho 2014), Keras' gates [z, r, hh]; `reset_after=True` is the cuDNN form."""

    cell_class = GRUCell

    def _fused_op(self):
        cell = self.cell
        if _fused_activation(cell.activation) != "tanh" or cell.recurrent_activation is not activations.sigmoid:
            return None
        return "gru", (cell.reset_after,)
