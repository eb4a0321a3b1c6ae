"""Layer wrappers, as Keras: Bidirectional (a recurrent layer run forwards and backwards, outputs merged) and
TimeDistributed (one layer applied to every time step)."""
import numpy as np

from .. import ops
from .base import LAYER_CLASSES, Layer, _accepts, invalid_argument

_MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def _serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _from_config(spec, **changes):
    if isinstance(spec, Layer):
        spec = _serialize(spec)
    config = {**spec["config"], **changes}
    return LAYER_CLASSES[spec["class_name"]].from_config(config)


def _remove_prefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs a copy of `layer` forwards and one backwards (`go_backwards=True`, or `backward_layer`) over the same
    sequence and merges their outputs: "concat" (on the last axis), "sum", "ave", "mul", or None (a list of both).

    The backward outputs are put back in time order before merging, as Keras. Weights: the forward layer's, then
    the backward layer's. `initial_state` holds the forward states, then the backward ones; `return_state` returns
    [output(s), *forward_states, *backward_states].
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, Layer):
            raise invalid_argument("layer", "an ember.layers.Layer instance (a recurrent layer)", layer)
        if backward_layer is not None and not isinstance(backward_layer, (Layer, dict)):
            raise invalid_argument("backward_layer", "None or an ember.layers.Layer instance", backward_layer)
        if merge_mode not in _MERGE_MODES:
            raise invalid_argument("merge_mode", "one of 'sum', 'mul', 'ave', 'concat' or None", merge_mode)
        super().__init__(**kwargs)
        # fresh copies from the layer's config, so that nothing of the given layer's state is shared
        self.forward_layer = _from_config(layer, name="forward_" + _remove_prefix(layer.name, "forward_"))
        self._custom_backward = backward_layer is not None
        if backward_layer is None:
            self.backward_layer = _from_config(layer, go_backwards=True,
                                               name="backward_" + _remove_prefix(layer.name, "backward_"))
        else:
            self.backward_layer = (_from_config(backward_layer) if isinstance(backward_layer, dict)
                                   else backward_layer)
        self._verify()
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = self.forward_layer.stateful
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.supports_masking = True

    def _verify(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"Forward layer and backward layer should have different `go_backwards` value. "
                             f"Received: forward_layer.go_backwards {forward.go_backwards}, "
                             f"backward_layer.go_backwards={backward.go_backwards}")
        for attribute in ("stateful", "return_sequences", "return_state"):
            f, b = getattr(forward, attribute), getattr(backward, attribute)
            if f != b:
                raise ValueError(f"Forward layer and backward layer are expected to have the same value for "
                                 f'attribute "{attribute}", got "{f}" for forward layer and "{b}" for backward layer')

    def build(self, input_shape):
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state)
            half = len(states) // 2
            forward_state, backward_state = states[:half], states[half:]
        kwargs = {"training": training}
        if mask is not None:
            kwargs["mask"] = mask
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) * 0.5
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        out_mask = self.compute_mask(sequences, mask)
        if self.merge_mode is None or self.return_state:
            for o in (output if self.merge_mode is None else [output]):
                o._keras_mask = out_mask
            return (output if self.merge_mode is None else [output]) + states
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        return mask if self.return_sequences else None

    def reset_states(self, states=None):
        half = None if states is None else len(states) // 2
        self.forward_layer.reset_states(None if states is None else states[:half])
        self.backward_layer.reset_states(None if states is None else states[half:])

    reset_state = reset_states

    def get_config(self):
        config = {**super().get_config(), "layer": _serialize(self.forward_layer), "merge_mode": self.merge_mode}
        if self._custom_backward:
            config["backward_layer"] = _serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = _from_config(config.pop("layer"))
        return cls(layer, **config)


class TimeDistributed(Layer):
    """Applies `layer` to every time step of a (batch, time, ...) input: time is folded into the batch, the layer
    runs once on (batch * time, ...), and the result is unfolded. A mask passes through (and on to `layer`)."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise invalid_argument("layer", "an ember.layers.Layer instance", layer)
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                             f"dimensions, received: {tuple(input_shape)}")
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if inputs.ndim < 3:
            self.build(inputs.shape)
        batch, steps = inputs.shape[:2]
        folded = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        kwargs = {}
        if _accepts(type(self.layer), "training"):
            kwargs["training"] = training
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim < 2 or mask.shape[:2] != (batch, steps):
                raise ValueError(f"The `mask` passed to the `TimeDistributed` layer has a shape {mask.shape} that is "
                                 f"incompatible with the input shape {inputs.shape}. Expected mask shape prefix: "
                                 f"({batch}, {steps}).")
            if mask.ndim > 2 and _accepts(type(self.layer), "mask"):  # a (batch, time) mask is per sample here
                kwargs["mask"] = mask.reshape((batch * steps,) + mask.shape[2:])
        out = self.layer(folded, **kwargs)
        return ops.reshape(out, (batch, steps) + tuple(out.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "layer": _serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(_from_config(config.pop("layer")), **config)
