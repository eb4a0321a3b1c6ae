"""ember.optimizers: SGD, Adam, AdamW, RMSprop; gradient clipping; learning-rate schedules.

Both ways work: `opt = Adam(model.parameters(), lr=1e-3); opt.step(); opt.zero_grad()` (PyTorch) and
`opt = Adam(learning_rate=1e-3); opt.apply_gradients(zip(grads, variables))` (Keras).
"""
from .. import schedules
from .adam import Adam, AdamW
from .base import Optimizer
from .clipping import clip_grad_norm, clip_grad_norm_, clip_grad_value, clip_grad_value_
from .rmsprop import RMSprop
from .sgd import SGD

_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def serialize(optimizer):
    """`{"class_name": ..., "config": ...}`: what `deserialize` and `get` take back."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config, custom_objects=None):
    """The optimizer a `serialize` dict describes; `custom_objects` maps further class names to classes."""
    known = {cls.__name__: cls for cls in _OPTIMIZERS.values()}
    known.update(custom_objects or {})
    name = config.get("class_name")
    cls = known.get(name) or _OPTIMIZERS.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {name!r}. Known optimizers: {', '.join(sorted(_OPTIMIZERS))}")
    return cls.from_config(config.get("config", {}), custom_objects)


def get(identifier):
    """An optimizer from a name ("adam", case-insensitive, with default arguments), a `serialize` dict, or an
    optimizer (returned as is); None gives None."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _OPTIMIZERS.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. "
                             f"Known optimizers: {', '.join(sorted(_OPTIMIZERS))}")
        return cls()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Expected an optimizer, its name "
                     f"({', '.join(sorted(_OPTIMIZERS))}) or its serialized dict.")


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "get", "serialize", "deserialize", "clip_grad_norm",
           "clip_grad_norm_", "clip_grad_value", "clip_grad_value_", "schedules"]
