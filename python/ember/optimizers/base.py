"""The optimizer base: parameters, per-parameter state, a learning rate that is a float or a schedule, clipping,
decoupled weight decay, and the two ways in.

PyTorch way: `opt = Adam(model.parameters(), lr=1e-3); loss.backward(); opt.step(); opt.zero_grad()`.
Keras way: `opt = Adam(learning_rate=1e-3); opt.apply_gradients(zip(grads, variables))` (or `opt.step(params)`).

One update, in the order Keras applies it: gradients are clipped (clipvalue | clipnorm | global_clipnorm), the
learning rate is read (a schedule is evaluated at `iterations`), weight decay shrinks each parameter by
`lr * weight_decay * p` (decoupled, as Keras 3 and torch's AdamW; not torch's L2-in-the-gradient), then the
subclass's `_update` changes `p._data` in place. Subclasses define `_init_state` and `_update` on raw arrays.
"""
import math

import numpy as np

from .. import autograd
from .. import device as _device
from .. import schedules as _schedules
from ..tensor import Tensor
from . import clipping


def invalid(name, expected, value):
    return ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value}")


def check_number(name, value, expected, accept):
    """`value` as a float if `accept(float(value))`, else a Keras-style ValueError (bools and NaN refused)."""
    if isinstance(value, bool):
        raise invalid(name, expected, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(name, expected, value) from None
    if not accept(number):
        raise invalid(name, expected, value)
    return number


def in_unit_interval(name, value, closed=True):
    """A float in [0, 1] (or [0, 1) when not `closed`): momenta, betas, rho."""
    if closed:
        return check_number(name, value, "a float in [0, 1]", lambda x: 0.0 <= x <= 1.0)
    return check_number(name, value, "a float in [0, 1)", lambda x: 0.0 <= x < 1.0)


def non_negative(name, value):
    return check_number(name, value, "a non-negative float", lambda x: 0.0 <= x < math.inf)


def _optional_positive(name, value):
    if value is None:
        return None
    return check_number(name, value, "a positive float or None", lambda x: 0.0 < x < math.inf)


def _check_learning_rate(value):
    if isinstance(value, _schedules.LearningRateSchedule) or (callable(value) and not isinstance(value, Tensor)):
        return value
    return check_number("learning_rate", value, "a non-negative float or a schedule", lambda x: 0.0 <= x < math.inf)


def take_alias(kwargs, alias, value):
    """PyTorch spelling (`lr=`, `eps=`) of an argument: it wins over the Keras default when given."""
    return kwargs.pop(alias) if alias in kwargs else value


def zeros_like(array):
    """A zero slot shaped, typed and placed (CPU/GPU) like `array`; 0-d stays a 0-d array, so it updates in place."""
    return _device.array_module(array).zeros_like(array)


def _follow(slots, param):
    """Move slots made on another device to the parameter's (the model was moved with `to` since its last step)."""
    if type(param) is np.ndarray and all(type(v) is np.ndarray or not hasattr(v, "dtype") for v in slots.values()):
        return  # the common case, every step of every parameter: a host parameter with host slots
    for key, value in slots.items():
        if hasattr(value, "dtype") and (type(value) is not type(param) or (
                not _device.is_host(param) and value.device != param.device)):
            slots[key] = _device.move(value, _device.of_array(param))


def _is_learning_rate(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or isinstance(
        value, _schedules.LearningRateSchedule)


def _as_param_list(params):
    if params is None:
        return None
    if isinstance(params, Tensor):
        raise TypeError("params should be an iterable of Tensors (e.g. model.parameters()), but got a single "
                        "Tensor; wrap it in a list.")
    unique, seen = [], set()
    for p in params:
        if isinstance(p, dict):
            raise TypeError("Parameter groups (dicts) are not supported; make one optimizer per group.")
        if not isinstance(p, Tensor):
            raise TypeError(f"params should be Tensors, but one is a {type(p).__name__}.")
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    if not unique:
        raise ValueError("The optimizer got an empty parameter list.")
    return unique


class Optimizer:
    """Base of ember's optimizers; see the module docstring for the order of one update."""

    def __init__(self, params=None, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if _is_learning_rate(params):  # Keras' positional form: Adam(0.001) gives the learning rate first
            params, learning_rate = None, params
        self.params = _as_param_list(params)
        self.learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else non_negative("weight_decay", weight_decay)
        self.clipnorm = _optional_positive("clipnorm", clipnorm)
        self.clipvalue = _optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = _optional_positive("global_clipnorm", global_clipnorm)
        if sum(x is not None for x in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._state = {}  # id(param) -> (param, {slot name: array or count}); the param kept so ids stay unique
        self._no_decay_ids, self._no_decay_names = set(), ()

    # -- learning rate --------------------------------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The rate the next update uses: a float, the schedule evaluated at `iterations` when it is one."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _check_learning_rate(value)

    lr = learning_rate

    # -- the two ways in ------------------------------------------------------------------------------------------
    def step(self, params=None, closure=None):
        """One update of `params` (default: the optimizer's own) from their `.grad`; grads that are None skip.

        `closure` (torch): a callable that recomputes the loss and calls backward; its loss is returned.
        `opt.step(closure)` works too.
        """
        if callable(params) and not isinstance(params, Tensor):
            params, closure = None, params
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        pairs = [(p.grad, p) for p in self._params_or_own(params) if p.grad is not None]
        self._apply(pairs)
        return loss

    def apply_gradients(self, grads_and_vars):
        """Keras: one update from `(gradient, variable)` pairs; gradients are Tensors or arrays, None skips."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        self._apply(pairs)
        return self.iterations

    def apply(self, grads, variables=None):
        """Keras 3: `apply(grads, trainable_variables)`; variables default to the optimizer's own params."""
        return self.apply_gradients(zip(grads, self._params_or_own(variables)))

    def zero_grad(self, set_to_none=True):
        """Forget the own params' gradients (`.grad = None`; zeros when `set_to_none=False`)."""
        for p in self.params or ():
            if set_to_none or p.grad is None:
                p.grad = None
            else:  # a new array: a 0-d gradient may be a NumPy scalar, which has no in-place assignment
                p.grad._data = _device.array_module(p.grad._data).zeros_like(p.grad._data)

    def build(self, variables):
        """Create the state of `variables` now (Keras builds before the first update; ember also does it lazily)."""
        for p in _as_param_list(variables):
            self._state_of(p)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras: no weight decay for these tensors, nor for tensors whose `name` contains one of `var_names`."""
        self._no_decay_ids.update(id(v) for v in var_list or ())
        self._no_decay_names = tuple(self._no_decay_names) + tuple(var_names or ())

    # -- one update -----------------------------------------------------------------------------------------------
    def _params_or_own(self, params):
        if params is not None:
            return _as_param_list(params)
        if self.params is None:
            raise ValueError(f"{type(self).__name__}.step: no parameters. Pass them when making the optimizer "
                             f"({type(self).__name__}(model.parameters())) or to step(params).")
        return self.params

    def _grad_array(self, grad, p):
        g = grad._data if isinstance(grad, Tensor) else grad
        data = p._data
        if type(g) is np.ndarray and type(data) is np.ndarray and g.dtype == data.dtype and g.shape == data.shape:
            return g  # every parameter of every step: nothing to convert
        g = _device.array_module(p._data).asarray(g, dtype=p._data.dtype)
        if g.shape != p._data.shape:
            raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a parameter of shape "
                             f"{p._data.shape}" + (f" ({p.name})" if p.name else ""))
        return g

    def _clip(self, grads):
        if self.clipvalue is not None:
            return clipping.clip_by_value(grads, self.clipvalue)
        if self.clipnorm is not None:
            return clipping.clip_by_norm(grads, self.clipnorm)
        if self.global_clipnorm is not None:
            return clipping.clip_by_global_norm(grads, self.global_clipnorm)
        return grads

    def _state_of(self, p):
        entry = self._state.get(id(p))
        if entry is None or entry[0] is not p:
            entry = (p, self._init_state(p._data))
            self._state[id(p)] = entry
        _follow(entry[1], p._data)
        return entry[1]

    def _decays(self, p):
        if not self.weight_decay or id(p) in self._no_decay_ids:
            return False
        return not (p.name and any(n in p.name for n in self._no_decay_names))

    def _apply(self, pairs):
        params = [p for _, p in pairs]
        grads = self._clip([self._grad_array(g, p) for g, p in pairs])
        lr = self.learning_rate
        with autograd.no_grad():
            for g, p in zip(grads, params):
                if not getattr(p._data.flags, "writeable", True):  # e.g. a tensor over a read-only array
                    p._data = p._data.copy()
                if self._decays(p):
                    p._data -= (lr * self.weight_decay) * p._data
            self._update_all([p._data for p in params], grads, [self._state_of(p) for p in params], lr)
        self.iterations += 1

    def _update_all(self, params, grads, states, lr):
        """`_update` of every parameter (an optimizer may do them in one native call)."""
        for param, grad, state in zip(params, grads, states):
            self._update(param, grad, state, lr)

    def _init_state(self, param):
        """The slots of one parameter (e.g. {"m": zeros}), made on its first update."""
        return {}

    def _update(self, param, grad, state, lr):
        """Change the array `param` in place from `grad`, its `state` and the learning rate `lr`."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    # -- config and state ------------------------------------------------------------------------------------------
    def get_config(self):
        """Constructor arguments (params excluded); a schedule is stored as {"class_name", "config"}."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        elif callable(lr):
            raise TypeError("get_config: a plain callable learning rate has no config; "
                            "use an ember.schedules.LearningRateSchedule subclass.")
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def state_dict(self, params=None):
        """{"iterations", "state": one dict of slots per parameter, in the order of `params` (default: own)}."""
        params = self._params_or_own(params)
        slots = [{k: v if isinstance(v, int) else v.copy() for k, v in self._state[id(p)][1].items()}
                 if id(p) in self._state else {} for p in params]
        return {"iterations": self.iterations, "state": slots}

    def load_state_dict(self, state_dict, params=None):
        params = self._params_or_own(params)
        if len(state_dict["state"]) != len(params):
            raise ValueError(f"load_state_dict: state for {len(state_dict['state'])} parameters, "
                             f"but the optimizer has {len(params)}")
        self.iterations = int(state_dict["iterations"])
        for p, slots in zip(params, state_dict["state"]):
            if slots:
                xp = _device.array_module(p._data)
                self._state[id(p)] = (p, {k: v if isinstance(v, int) else xp.array(v, dtype=p._data.dtype)
                                          for k, v in slots.items()})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None and k != "name")
        return f"{type(self).__name__}({args})"
