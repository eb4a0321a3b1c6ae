"""Embedding (integer ids -> trainable vectors, optionally masking id 0) and Masking (skip time steps whose
features all equal `mask_value`), the two ways Keras programs give recurrent layers a mask."""
import numpy as np

from .. import device as _device
from .. import initializers, ops, regularizers
from ..tensor import Tensor
from ._args import positive_int
from .base import Layer, invalid_argument


def _initializer(identifier):
    # Keras' "uniform" is RandomUniform(-0.05, 0.05)
    return initializers.get("random_uniform" if identifier == "uniform" else identifier)


class Embedding(Layer):
    """(batch, ...) integer ids in [0, input_dim) -> (batch, ..., output_dim) rows of `embeddings`.

    `mask_zero=True` gives the output the mask `ids != 0` (id 0 is then padding, so input_dim should count it).
    The gradient reaches only the rows looked up (repeated ids add up).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = positive_int("input_dim", input_dim)
        self.output_dim = positive_int("output_dim", output_dim)
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length  # accepted as Keras 2 programs pass it; shapes come from the data

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, regularizer=self.embeddings_regularizer)

    def _ids(self, inputs):
        ids = inputs._data if isinstance(inputs, Tensor) else np.asarray(inputs)  # GPU ids stay on the GPU
        xp = _device.array_module(ids)
        if ids.dtype.kind == "f":
            if not xp.all(xp.isfinite(ids)) or xp.any(ids != xp.round(ids)):
                raise ValueError(f"Layer {self.name!r} expects integer ids; received non-integer values "
                                 f"(dtype {ids.dtype}, shape {ids.shape})")
            ids = ids.astype(np.int64)
        elif ids.dtype.kind not in "iub":
            raise TypeError(f"Layer {self.name!r} expects integer ids; received dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = int(ids[(ids < 0) | (ids >= self.input_dim)].ravel()[0])
            raise ValueError(f"Layer {self.name!r}: id {bad} is out of range: ids must lie in [0, input_dim) = "
                             f"[0, {self.input_dim}) (input shape {ids.shape})")
        return ids.astype(np.intp)

    def call(self, inputs):
        return ops.getitem(self.embeddings, self._ids(inputs))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return self._ids(inputs) != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "mask_zero": self.mask_zero}


class Masking(Layer):
    """Masks the time steps (axis 1) whose features all equal `mask_value`; those steps are zeroed in the output
    and skipped by the recurrent layers after it."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise invalid_argument("mask_value", "a number", mask_value)
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def _keep(self, inputs):
        return inputs._xp.any(inputs._data != self.mask_value, axis=-1)

    def call(self, inputs):
        keep = self._keep(inputs)
        return inputs * Tensor._wrap(keep[..., None].astype(inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
