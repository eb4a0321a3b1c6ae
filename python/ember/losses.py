"""Losses with Keras 3 names, defaults and reductions.

Functions (`mean_squared_error`, `binary_crossentropy`, ...) give one value per sample: they reduce over the
last axis (the class axis for the crossentropies) and keep the batch dimensions. Classes (`MeanSquaredError`,
...) weight those values by `sample_weight` and reduce them to a scalar. All are composites of ember ops, so
autograd gives their gradients; the crossentropies take the stable forms (log_softmax, softplus) from logits
and clip probabilities to [1e-7, 1 - 1e-7] as Keras does.
"""
import warnings

import numpy as np

from . import device as _device
from . import ops
from .ops import crossentropy
from .ops._util import require_float
from .tensor import Tensor, to_array

EPSILON = 1e-7  # Keras' backend.epsilon(): the clip applied to probabilities before their log
REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight", None)


# -- operands -----------------------------------------------------------------------------------------------------
def _as_prediction(y_pred):
    if isinstance(y_pred, Tensor):
        return y_pred
    array = to_array(y_pred)
    return Tensor._wrap(array if array.dtype.kind == "f" else array.astype(np.float32))


def _as_target(y_true, like):
    """`y_true` as a tensor of `like`'s dtype on `like`'s device (a constant unless it is already a tensor)."""
    if isinstance(y_true, Tensor):
        out = y_true if y_true.dtype == like.dtype else ops.cast(y_true, like.dtype)
        return out if out.device == like.device else out.to(like.device)
    return Tensor._wrap(_device.move(to_array(y_true, dtype=like.dtype), like.device))


def _operands(y_true, y_pred):
    y_pred = _as_prediction(y_pred)
    return _as_target(y_true, y_pred), y_pred


def _labels(y_true, like):
    """The array of `y_true` (class ids, weights) on `like`'s device, outside the graph: labels that live on a GPU
    stay there (no copy to the host and back)."""
    data = y_true._data if isinstance(y_true, Tensor) else y_true
    if not hasattr(data, "__cuda_array_interface__"):
        data = np.asarray(data)
    return _device.move(data, like.device)


def _same_rank(x1, x2):
    """Keras' squeeze_or_expand_to_same_rank: ranks that differ by a trailing 1 are made equal."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, ops.expand_dims(x2, -1)) if x2.ndim == 1 else (ops.squeeze(x1, -1), x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (ops.expand_dims(x1, -1), x2) if x1.ndim == 1 else (x1, ops.squeeze(x2, -1))
    return x1, x2


def _matched(name, y_true, y_pred):
    shapes = (y_true.shape, y_pred.shape)
    y_true, y_pred = _same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape or y_pred.ndim == 0:
        raise ValueError(f"{name}: y_true and y_pred must have the same shape (batch, ..., features). "
                         f"Received: y_true.shape={shapes[0]}, y_pred.shape={shapes[1]}")
    return y_true, y_pred


def _class_axis(name, y_pred, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"{name}: invalid value for argument `axis`. Expected an int in "
                         f"[{-y_pred.ndim}, {y_pred.ndim}) for y_pred of shape {y_pred.shape}. Received: axis={axis!r}")
    return int(axis) % y_pred.ndim


def _check_smoothing(name, label_smoothing):
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{name}: invalid value for argument `label_smoothing`. Expected a float in [0, 1]. "
                         f"Received: label_smoothing={label_smoothing!r}")
    return float(label_smoothing)


def _log_probabilities(y_pred, from_logits, axis):
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    # Keras renormalizes, then clips so that log never sees 0
    probabilities = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(probabilities, EPSILON, 1.0 - EPSILON))


# -- per-sample loss functions ------------------------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2) over the last axis."""
    y_true, y_pred = _matched("mean_squared_error", *_operands(y_true, y_pred))
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|) over the last axis."""
    y_true, y_pred = _matched("mean_absolute_error", *_operands(y_true, y_pred))
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over `axis` of -(y log p + (1 - y) log(1 - p)).

    From logits x this is softplus(x) - x*y = max(x, 0) - x*y + log1p(exp(-|x|)), finite for any x; from
    probabilities p is clipped to [1e-7, 1 - 1e-7] first. Label smoothing moves targets toward 0.5.
    """
    name = "binary_crossentropy"
    label_smoothing = _check_smoothing(name, label_smoothing)
    y_true, y_pred = _matched(name, *_operands(y_true, y_pred))
    axis = _class_axis(name, y_pred, axis)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = ops.softplus(y_pred) - y_pred * y_true
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        elementwise = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log1p(-p))
    return ops.mean(elementwise, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log p) over the class `axis`; y_true one-hot (or a distribution).

    Label smoothing: y_true * (1 - s) + s / num_classes.
    """
    name = "categorical_crossentropy"
    label_smoothing = _check_smoothing(name, label_smoothing)
    y_true, y_pred = _operands(y_true, y_pred)
    if y_true.shape != y_pred.shape or y_pred.ndim == 0:
        raise ValueError(f"{name}: y_true (one-hot) and y_pred must have the same shape (batch, ..., classes). "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    axis = _class_axis(name, y_pred, axis)
    if y_pred.shape[axis] == 1:
        warnings.warn(f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with num_classes > 1. "
                      f"Received: y_pred.shape={y_pred.shape}. Consider using 'binary_crossentropy' if you only "
                      f"have 2 classes.", stacklevel=2)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    return -ops.sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


def _class_ids(name, y_true, y_pred, axis):
    """Integer ids of shape y_pred.shape without `axis` (a trailing 1 on y_true is dropped, as Keras)."""
    ids = _labels(y_true, y_pred)
    xp = _device.array_module(ids)
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1:]
    if ids.ndim == y_pred.ndim and ids.shape[-1] == 1:
        ids = ids.reshape(ids.shape[:-1])
    if ids.shape != expected:
        raise ValueError(f"{name}: y_true must hold one integer class id per sample, of shape {expected} "
                         f"(or {expected + (1,)}) for y_pred of shape {y_pred.shape}. Received: "
                         f"y_true.shape={tuple(np.shape(y_true))}")
    if ids.dtype.kind == "f":
        if not xp.all(ids == xp.round(ids)):
            raise ValueError(f"{name}: y_true must hold integer class ids; received non-integer values")
        ids = ids.astype(np.int64)
    elif ids.dtype.kind not in "iub":
        raise TypeError(f"{name}: y_true must hold integer class ids; received dtype {ids.dtype}")
    classes = y_pred.shape[axis]
    if ids.size and (ids.min() < 0 or ids.max() >= classes):
        raise ValueError(f"{name}: class ids must lie in [0, {classes}) for y_pred with {classes} classes. "
                         f"Received ids from {ids.min()} to {ids.max()}")
    return ids


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """categorical_crossentropy with integer class ids for y_true (shape (batch,) or (batch, 1)).

    With `ignore_class`, samples labelled with it contribute 0 (the class `SparseCategoricalCrossentropy`
    also leaves them out of the average, as Keras does).
    """
    name = "sparse_categorical_crossentropy"
    y_pred = _as_prediction(y_pred)
    axis = _class_axis(name, y_pred, axis)
    ids = _labels(y_true, y_pred)  # the one-hot is made where the predictions are
    xp = _device.array_module(ids)
    valid = None
    if ignore_class is not None:
        valid = ids != ignore_class
        ids = xp.where(valid, ids, 0)
    ids = _class_ids(name, ids, y_pred, axis).astype(np.intp, copy=False)
    require_float(name, y_pred)
    losses = crossentropy.of_class_ids(y_pred, ids, from_logits, axis, EPSILON)  # one node, see ops/crossentropy.py
    if valid is not None:
        losses = losses * Tensor._wrap(valid.reshape(losses.shape).astype(y_pred.dtype))
    return losses


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# -- reduction ----------------------------------------------------------------------------------------------------
def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. "
                         f"Received: reduction={reduction!r}")
    return reduction


def reduce_weighted_values(name, values, sample_weight=None, reduction="sum_over_batch_size"):
    """Multiply per-sample `values` by `sample_weight` (broadcast, Keras rank rules) and reduce them."""
    reduction = standardize_reduction(reduction)
    weight = None
    if sample_weight is not None:
        weight = _as_target(sample_weight, values)
        if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
            weight = ops.squeeze(weight, -1)  # (batch, 1) weights for (batch,) values: kept as (batch,)
        elif values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
            weight = ops.expand_dims(weight, -1)
        try:
            np.broadcast_shapes(weight.shape, values.shape)
        except ValueError:
            raise ValueError(f"{name}: sample_weight of shape {tuple(np.shape(sample_weight))} does not broadcast "
                             f"to the per-sample losses of shape {values.shape}") from None
        values = values * weight
    if reduction in (None, "none") or values.ndim == 0:
        return values
    if reduction != "sum" and (reduction != "mean_with_sample_weight" or weight is None) and values.size:
        return ops.mean(values)  # the same sum divided by the count, as one node
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        divisor = float(weight._xp.sum(weight._xp.broadcast_to(weight._data, values.shape)))
    else:
        divisor = float(values.size)
    return total / divisor if divisor else total * 0.0  # Keras' divide_no_nan


# -- classes ------------------------------------------------------------------------------------------------------
class Loss:
    """Base class: `call(y_true, y_pred)` gives per-sample losses; `__call__` weights and reduces them."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = dtype

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_prediction(y_pred)
        if self.dtype is not None:
            y_pred = ops.cast(y_pred, self.dtype)
        return reduce_weighted_values(self.name, self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None), reduction, dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        config = super().get_config()
        if type(self) is LossFunctionWrapper:
            config["fn"] = self.fn.__name__
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if cls is LossFunctionWrapper:
            config["fn"] = _FUNCTIONS[config["fn"]]
        return cls(**config)


class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=_check_smoothing(name, label_smoothing), axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, float(label_smoothing), axis


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=_check_smoothing(name, label_smoothing), axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, float(label_smoothing), axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None, axis=-1):
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.ignore_class is None:
            return super().__call__(y_true, y_pred, sample_weight)
        # ignored samples weigh 0 and leave the average, as Keras' mask does
        prediction = _as_prediction(y_pred)
        ids = _labels(y_true, prediction)
        valid = (ids != self.ignore_class).astype(np.float64)
        if valid.ndim == prediction.ndim:
            valid = valid.reshape(valid.shape[:-1])
        if self.reduction in ("sum_over_batch_size", "mean"):
            valid = valid * (valid.size / max(float(valid.sum()), 1.0))
        weight = valid if sample_weight is None else valid * _labels(sample_weight, prediction).astype(np.float64)
        return super().__call__(y_true, y_pred, weight)


# -- lookup -------------------------------------------------------------------------------------------------------
_FUNCTIONS = {f.__name__: f for f in (mean_squared_error, mean_absolute_error, binary_crossentropy,
                                      categorical_crossentropy, sparse_categorical_crossentropy)}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy)}
_BY_NAME = {"mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
            "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, **_CLASSES}


def _snake_case(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def serialize(loss):
    """A Loss as {"class_name", "config"} (what `get` and `deserialize` accept back)."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if getattr(loss, "__name__", None) in _FUNCTIONS:
        return loss.__name__
    raise ValueError(f"Cannot serialize loss {loss!r}: expected a Loss instance or a built-in loss function")


def deserialize(config):
    cls = _CLASSES.get(config["class_name"]) or (LossFunctionWrapper if config["class_name"] ==
                                                 "LossFunctionWrapper" else None)
    if cls is None:
        raise ValueError(f"Unknown loss class {config['class_name']!r}. Known: {sorted(_CLASSES)}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """A Loss instance from a name ("mse", "binary_crossentropy", "MeanSquaredError", ...), a Loss instance or
    class, a serialized dict, or any callable `fn(y_true, y_pred)` (wrapped in LossFunctionWrapper).

    Unlike Keras, names give a Loss *instance* (default reduction), never the bare per-sample function, so
    the caller can always write `loss(y_true, y_pred, sample_weight)` and get a scalar.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown loss {identifier!r}. Known losses: {sorted(_BY_NAME)}")
        return cls()
    if callable(identifier):
        for cls in _CLASSES.values():
            if cls().fn is identifier:
                return cls()
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier {identifier!r}: expected a name, a Loss or a callable")
