"""Recurrent cells, as Keras 3: SimpleRNNCell, LSTMCell, GRUCell. One time step each, composite from ember
ops, so any activation, dropout and recurrent dropout work; `RNN` (recurrent.py) loops them over time."""
import numpy as np

from .. import activations, initializers, ops, random as _random, regularizers
from .. import device as _device
from ..creation import zeros
from ..tensor import Tensor
from ._args import positive_int
from .base import LAYER_CLASSES, Layer, as_tensor, invalid_argument


def _rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 1:
        raise invalid_argument(name, "a float value between 0 and 1", value)
    return float(value)


def _dropout_mask(shape, rate, dtype, generator, device):
    """One inverted-dropout mask on `device`, or None when nothing drops."""
    if rate == 0.0:
        return None
    if rate == 1.0:
        return zeros(shape, dtype=dtype, device=device)
    keep = generator.random(shape) >= rate
    return Tensor._wrap(_device.move(keep.astype(dtype) / dtype.type(1.0 - rate), device))


def _serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _deserialize(spec):
    if isinstance(spec, Layer):
        return spec
    return LAYER_CLASSES[spec["class_name"]].from_config(dict(spec["config"]))


# -- cells ---------------------------------------------------------------------------------------------------------
class _Cell(Layer):
    """What the three cells share: arguments, weights `kernel` (in, gates * units), `recurrent_kernel`
    (units, gates * units), `bias`, and dropout masks drawn once per sequence (the RNN calls `begin_sequence`)."""

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = _rate("dropout", dropout)
        self.recurrent_dropout = _rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)
        self._masks = None  # (input mask, recurrent mask) for the sequence in progress

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        n = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], n), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, n), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer)
        self.bias = (self.add_weight("bias", self._bias_shape(), self._bias_initializer(),
                                     regularizer=self.bias_regularizer) if self.use_bias else None)
        self.built = True

    def __call__(self, inputs, states, training=None):
        """`cell(x_t, [h, (c)])` -> (output, new_states), as a Keras cell."""
        inputs = as_tensor(inputs, self.dtype, self.device)
        states = [as_tensor(s, self.dtype, self.device)
                  for s in (states if isinstance(states, (list, tuple)) else [states])]
        self._check_step(inputs, states)
        if not self.built:
            self.build(tuple(inputs.shape))
        return self.call(inputs, states, training=training)

    def _check_step(self, inputs, states):
        """One step's input is (batch, features) and its states (batch, size) each, with the sizes of state_size."""
        self.check_rank(inputs.shape, 2, "batch, features")
        if self.built and inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis -1 of "
                             f"input shape to have value {self.kernel.shape[0]}, but received input with shape "
                             f"{inputs.shape}")
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        expected = [(inputs.shape[0], n) for n in sizes]
        received = [tuple(s.shape) for s in states]
        if received != expected:
            raise ValueError(f"Layer {self.name!r} expects states of shapes {expected} (batch, units) for input "
                             f"{inputs.shape}; received {received}")

    # dropout: Keras draws one mask per sequence for the inputs and one for the recurrent state
    def begin_sequence(self, batch, input_dim, training):
        self._masks = self._draw_masks(batch, input_dim, training)

    def end_sequence(self):
        self._masks = None

    def _draw_masks(self, batch, input_dim, training):
        if not training:
            return None, None
        generator = self._generator or _random.generator()
        return (_dropout_mask((batch, input_dim), self.dropout, self.dtype, generator, self.device),
                _dropout_mask((batch, self.units), self.recurrent_dropout, self.dtype, generator, self.device))

    def _dropped(self, inputs, h, training):
        masks = self._masks if self._masks is not None else self._draw_masks(inputs.shape[0], inputs.shape[-1],
                                                                             training)
        dp, rdp = masks
        return (inputs if dp is None else inputs * dp), (h if rdp is None else h * rdp)

    def get_initial_state(self, batch_size):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [zeros((batch_size, n), dtype=self.dtype, device=self.device) for n in sizes]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


class SimpleRNNCell(_Cell):
    """h_t = activation(x_t W + b + h_{t-1} U)."""

    def call(self, inputs, states, training=None):
        h = states[0]
        x, h_dropped = self._dropped(inputs, h, training)
        z = ops.matmul(x, self.kernel)
        if self.bias is not None:
            z = z + self.bias
        out = self.activation(z + ops.matmul(h_dropped, self.recurrent_kernel))
        return out, [out]


class LSTMCell(_Cell):
    """Gates [i, f, c, o] = x_t W + h_{t-1} U + b; c_t = f c_{t-1} + i act(c~); h_t = o act(c_t)."""

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_ones(shape, dtype):  # Keras: the forget gate's bias starts at one
            return np.concatenate([init((u,), dtype), np.ones((u,), dtype), init((2 * u,), dtype)])

        return forget_ones

    def call(self, inputs, states, training=None):
        h, c = states
        x, h_dropped = self._dropped(inputs, h, training)
        z = ops.matmul(x, self.kernel) + ops.matmul(h_dropped, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        i, f, g, o = ops.split(z, 4, axis=-1)
        act, gate = self.activation, self.recurrent_activation
        c = gate(f) * c + gate(i) * act(g)
        h = gate(o) * act(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """Gates [z, r, hh]; h_t = z h_{t-1} + (1 - z) hh. reset_after: r multiplies (h U_h + b_rh) (cuDNN's form,
    bias (2, 3 * units) = input and recurrent biases); else r multiplies h before U_h (bias (3 * units,))."""

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h = states[0]
        x, h_dropped = self._dropped(inputs, h, training)
        u, gate = self.units, self.recurrent_activation
        input_bias = recurrent_bias = None
        if self.bias is not None:
            input_bias, recurrent_bias = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        xz, xr, xh = ops.split(ops.matmul(x, self.kernel) if input_bias is None
                               else ops.matmul(x, self.kernel) + input_bias, 3, axis=-1)
        if self.reset_after:
            rec = ops.matmul(h_dropped, self.recurrent_kernel)
            if recurrent_bias is not None:
                rec = rec + recurrent_bias
            rz, rr, rh = ops.split(rec, 3, axis=-1)
            z, r = gate(xz + rz), gate(xr + rr)
            hh = self.activation(xh + r * rh)
        else:
            rz, rr = ops.split(ops.matmul(h_dropped, self.recurrent_kernel[:, :2 * u]), 2, axis=-1)
            z, r = gate(xz + rz), gate(xr + rr)
            hh = self.activation(xh + ops.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * u:]))
        h = z * h + (1.0 - z) * hh
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}
