"""ember.Sequential: a plain stack of layers, each feeding the next."""
import numpy as np

from .. import autograd
from ..layers.base import Layer
from .functional import SymbolicTensor
from .model import Model, deserialize_layer, serialize_layer


class Sequential(Model):
    """`Sequential([Input((28, 28, 1)), Conv2D(...), ...])` or `Sequential(); model.add(layer)`."""

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._input_spec = None  # the input shape (without batch) when known: then the model builds at once
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, SymbolicTensor):
            if self._layers:
                raise ValueError("Sequential: an Input may only come first")
            self._input_spec = (layer.shape[1:], layer.dtype)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer or ember.Input, received {layer!r}")
        if not self._layers and self._input_spec is None and layer._input_shape_arg is not None:
            self._input_spec = (layer._input_shape_arg, layer.dtype)
        self._layers.append(layer)
        self.built = False
        if self._input_spec is not None:
            self.build((None,) + tuple(self._input_spec[0]))

    def pop(self):
        layer = self._layers.pop()
        self.built = False
        return layer

    def build(self, input_shape):
        """Run a batch of one through the stack: every layer builds and learns its output shape."""
        shape = tuple(1 if n is None else n for n in input_shape)
        if self._input_spec is None:  # built by a first call: remember the input shape for get_config/load_model
            self._input_spec = (tuple(input_shape[1:]), self.dtype)
        dtype = self._input_spec[1]
        with autograd.no_grad():
            self.call(np.zeros(shape, dtype))
        self.built = True

    def call(self, inputs, training=None):
        for layer in self._layers:
            inputs = layer(inputs, training=training)
        return inputs

    def get_config(self):
        config = {"name": self.name, "layers": [serialize_layer(layer) for layer in self._layers]}
        if self._input_spec is not None:
            config["input_shape"] = list(self._input_spec[0])
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .functional import Input

        model = cls(name=config.get("name"))
        if "input_shape" in config:
            model.add(Input(tuple(config["input_shape"])))
        for spec in config["layers"]:
            model.add(deserialize_layer(spec, custom_objects))
        return model
