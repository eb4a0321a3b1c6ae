"""Activation layers with arguments: ReLU, LeakyReLU, ELU, Softmax."""
from .. import ops
from ._args import non_negative
from .base import Layer, invalid_argument


class ReLU(Layer):
    """Keras' ReLU: x above `threshold` (else 0), capped at `max_value`, minus negative_slope * (threshold - x)
    below the threshold."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = non_negative("max_value", max_value, allow_none=True)
        self.negative_slope = non_negative("negative_slope", negative_slope)
        self.threshold = non_negative("threshold", threshold)

    def call(self, inputs):
        if self.negative_slope and self.max_value is None and not self.threshold:
            return ops.leaky_relu(inputs, self.negative_slope)
        if self.threshold:
            out = ops.where(ops.greater(inputs, self.threshold), inputs, 0.0)
        else:
            out = ops.relu(inputs)
        if self.max_value is not None:
            out = ops.minimum(out, self.max_value)
        if self.negative_slope:
            out = out - self.negative_slope * ops.relu(self.threshold - inputs)
        return out

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = non_negative("negative_slope", negative_slope)

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise invalid_argument("alpha", "a float", alpha)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise invalid_argument("axis", "an int", axis)
        self.axis = axis

    def call(self, inputs):
        return ops.softmax(inputs, self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
