"""Core layers: Dense, Activation, Flatten, Reshape, Dropout."""
import math

import numpy as np

from .. import activations, initializers, ops, random as _random, regularizers
from ._args import data_format as _data_format, positive_int, to_channels_last
from .base import Layer, invalid_argument


class Dense(Layer):
    """`activation(inputs @ kernel + bias)` on the last axis of an input of any rank >= 2; kernel (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected min_ndim=2, "
                             f"found ndim={len(input_shape)}. Full shape received: {tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer)
                     if self.use_bias else None)

    def call(self, inputs):
        if inputs.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis -1 of "
                             f"input shape to have value {self.kernel.shape[0]}, but received input with shape "
                             f"{inputs.shape}")
        fused = activations.fused_args(inputs, self.bias, self.activation)
        if fused is not None and inputs.dtype == self.kernel.dtype:  # product, bias and activation: one op
            return ops.dense(inputs, self.kernel, self.bias, *fused)
        return activations.with_bias(ops.matmul(inputs, self.kernel), self.bias, self.activation)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


class Activation(Layer):
    """Applies an activation function by name ("relu") or callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """(batch, ...) -> (batch, prod(...)); channels_first inputs are made channels-last first, as Keras does."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected min_ndim=1 "
                             f"(batch, ...), found ndim=0. Full shape received: {tuple(input_shape)}")

    def call(self, inputs):
        if inputs.ndim > 2:
            inputs = to_channels_last(inputs, self.data_format)
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape all but the batch axis to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            shape = tuple(int(n) for n in target_shape)
        except (TypeError, ValueError):
            shape = None
        if shape is None or any(n < -1 or n == 0 for n in shape) or shape.count(-1) > 1:
            raise invalid_argument("target_shape", "a tuple of positive ints with at most one -1", target_shape)
        self.target_shape = shape

    def call(self, inputs):
        size = math.prod(inputs.shape[1:])
        known = math.prod(n for n in self.target_shape if n != -1)
        if (size % known if -1 in self.target_shape else size != known):
            raise ValueError(f"Layer {self.name!r}: cannot reshape an input of shape {inputs.shape} ({size} values "
                             f"per sample) to target_shape {self.target_shape}")
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def _noise_shape(value):
    """A tuple of positive ints and Nones (None: the input's size on that axis)."""
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    if isinstance(value, str) or shape is None or not all(
            n is None or (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0) for n in shape):
        raise invalid_argument("noise_shape", "None or a tuple of positive ints and Nones", value)
    return tuple(None if n is None else int(n) for n in shape)


class Dropout(Layer):
    """Inverted dropout, active only when called with training=True; `noise_shape` broadcasts one mask (None
    entries take the input's size); `seed` gives the layer its own generator."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise invalid_argument("rate", "a float value between 0 and 1", rate)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else _noise_shape(noise_shape)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise invalid_argument("seed", "None or a non-negative int", seed)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None and self._generator is None:
            return ops.dropout(inputs, self.rate)
        shape = inputs.shape if self.noise_shape is None else self._mask_shape(inputs.shape)
        if self.rate == 1.0:
            return inputs * 0.0
        generator = self._generator or _random.generator()
        keep = generator.random(shape) >= self.rate
        return inputs * (keep.astype(inputs.dtype) / inputs.dtype.type(1.0 - self.rate))

    def _mask_shape(self, shape):
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"Layer {self.name!r}: noise_shape {self.noise_shape} must have the rank of the input "
                             f"{shape}")
        mask = tuple(n if m is None else m for n, m in zip(shape, self.noise_shape))
        if any(m not in (1, n) for n, m in zip(shape, mask)):
            raise ValueError(f"Layer {self.name!r}: noise_shape {self.noise_shape} does not broadcast to the input "
                             f"{shape}")
        return mask

    def get_config(self):
        noise = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise, "seed": self.seed}
