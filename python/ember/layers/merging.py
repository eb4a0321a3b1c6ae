"""Merge layers: combine a list of tensors (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)."""
import functools

import numpy as np

from .. import ops
from .base import Layer, invalid_argument


def _check_list(layer, input_shape, minimum=1):
    if not isinstance(input_shape, list) or not all(isinstance(s, (list, tuple)) for s in input_shape):
        raise ValueError(f"A merge layer should be called on a list of inputs. Received: input_shape={input_shape} "
                         f"(not a list of shapes)")
    if len(input_shape) < minimum:
        raise ValueError(f"A `{type(layer).__name__}` layer should be called on a list of at least {minimum} "
                         f"input(s). Received {len(input_shape)} input(s)")


class _ListInput(Layer):
    def compute_output_shape(self, input_shape):
        # base.Layer's version reads the batch size of a list of shapes from the list itself
        shape = super().compute_output_shape(input_shape)
        return (None,) + tuple(shape[1:]) if input_shape[0][0] is None else tuple(shape)


class Merge(_ListInput):
    """Elementwise merges: shapes (batch included) must broadcast together."""

    minimum_inputs = 1

    def build(self, input_shape):
        _check_list(self, input_shape, self.minimum_inputs)
        try:
            np.broadcast_shapes(*[tuple(s) for s in input_shape])
        except ValueError:
            raise ValueError(f"Inputs have incompatible shapes. Received shapes {', '.join(map(str, input_shape))}"
                             ) from None

    def call(self, inputs):
        return self.merge(list(inputs))

    def merge(self, inputs):
        raise NotImplementedError


class Add(Merge):
    def merge(self, inputs):
        return functools.reduce(ops.add, inputs)


class Subtract(Merge):
    def build(self, input_shape):
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"A `Subtract` layer should be called on exactly 2 inputs. Received: "
                             f"input_shape={input_shape}")

    def merge(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


class Multiply(Merge):
    def merge(self, inputs):
        return functools.reduce(ops.multiply, inputs)


class Average(Merge):
    def merge(self, inputs):
        return functools.reduce(ops.add, inputs) * (1.0 / len(inputs))


class Maximum(Merge):
    def merge(self, inputs):
        return functools.reduce(ops.maximum, inputs)


class Minimum(Merge):
    def merge(self, inputs):
        return functools.reduce(ops.minimum, inputs)


class Concatenate(_ListInput):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise invalid_argument("axis", "an int", axis)
        self.axis = int(axis)

    def build(self, input_shape):
        _check_list(self, input_shape)
        ranks = {len(s) for s in input_shape}
        axis = self.axis % len(input_shape[0]) if len(ranks) == 1 and -len(input_shape[0]) <= self.axis < len(
            input_shape[0]) else None
        if axis is None or len({tuple(s[:axis]) + tuple(s[axis + 1:]) for s in input_shape}) > 1:
            raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes except for the "
                             f"concatenation axis. Received: input_shape={input_shape}")

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
