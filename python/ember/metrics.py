"""Stateful metrics with Keras 3 names and semantics, computed on the values' arrays outside the graph: the
built-in ones where the predictions live (NumPy, or CuPy on a GPU, so no batch is copied to the host), functions
of the user's on `.numpy()` values.

A metric keeps a weighted total and count across `update_state` calls; `result()` is total / count as a float
(0.0 before any update, as Keras' divide_no_nan). Per-sample values are averaged over their non-batch axes,
so a metric accumulated over batches equals the metric on the concatenated batches.
"""
import numpy as np

from . import autograd
from . import device as _device
from . import losses as _losses
from .tensor import Tensor


def _numpy(x):
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def _array(x, like=None):
    """The array behind `x` where it lives (a GPU array stays on its GPU); on `like`'s device when given."""
    data = x._data if isinstance(x, Tensor) else x
    if not hasattr(data, "__cuda_array_interface__"):
        data = np.asarray(data)
    return data if like is None else _device.move(data, _device.of_array(like))


def _pair(y_true, y_pred):
    """(array module, y_true, y_pred), both on y_pred's device: a built-in metric's operands."""
    y_pred = _array(y_pred)
    return _device.array_module(y_pred), _array(y_true, like=y_pred), y_pred


def _on_device(fn):
    """Mark a built-in per-sample function: it takes arrays on any device (NumPy or CuPy)."""
    fn.on_device = True
    return fn


def _same_rank(x1, x2):
    """Keras' squeeze_or_expand_to_same_rank on NumPy arrays."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2[..., None]) if x2.ndim == 1 else (x1[..., 0], x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1[..., None], x2) if x1.ndim == 1 else (x1, x2[..., 0])
    return x1, x2


def _check_shapes(name, y_true, y_pred):
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")


class Metric:
    """Base class: subclasses define `update_state`, `result` and `reset_state`."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__}.result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__}.reset_state")

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result (as a Keras metric called directly)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


class Mean(Metric):
    """The weighted mean of the values passed to `update_state(values, sample_weight=None)`."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = _array(values)
        xp = _device.array_module(values)
        values = xp.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            # Keras' reduce_to_samplewise_values: weights of lower rank weigh whole samples
            weight = xp.asarray(_array(sample_weight, like=values), dtype=np.float64)
            values, weight = _same_rank(values, weight)
            if values.ndim > weight.ndim:
                values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
            try:
                weight = xp.broadcast_to(weight, values.shape)
            except ValueError:
                raise ValueError(f"{self.name}: sample_weight of shape {np.shape(sample_weight)} does not broadcast "
                                 f"to the values of shape {values.shape}") from None
            self.total += float(xp.sum(values * weight))
            self.count += float(xp.sum(weight))
        else:
            self.total += float(xp.sum(values.mean(axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values))
            self.count += float(values.shape[0] if values.ndim else 1)

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """A Mean over `fn(y_true, y_pred, **kwargs)`, a per-sample function on NumPy arrays."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or fn.__name__, dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        convert = _array if getattr(self._fn, "on_device", False) else _numpy  # the user's functions get NumPy
        values = self._fn(convert(y_true), convert(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


# -- per-sample functions (NumPy) ---------------------------------------------------------------------------------
@_on_device
def accuracy(y_true, y_pred):
    _, y_true, y_pred = _pair(y_true, y_pred)
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_shapes("accuracy", y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


@_on_device
def binary_accuracy(y_true, y_pred, threshold=0.5):
    _, y_true, y_pred = _pair(y_true, y_pred)
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_shapes("binary_accuracy", y_true, y_pred)
    return (y_true == (y_pred > threshold)).astype(np.float32)


@_on_device
def categorical_accuracy(y_true, y_pred):
    xp, y_true, y_pred = _pair(y_true, y_pred)
    _check_shapes("categorical_accuracy", y_true, y_pred)
    return (xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1)).astype(np.float32)


@_on_device
def sparse_categorical_accuracy(y_true, y_pred):
    xp, y_true, y_pred = _pair(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_accuracy: y_true must hold one class id per sample, of shape "
                         f"{y_pred.shape[:-1]} for y_pred of shape {y_pred.shape}. Received: y_true.shape="
                         f"{y_true.shape}")
    return (y_true == xp.argmax(y_pred, axis=-1)).astype(np.float32)


@_on_device
def mean_absolute_error(y_true, y_pred):
    xp, y_true, y_pred = _pair(y_true, y_pred)
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_shapes("mean_absolute_error", y_true, y_pred)
    return xp.mean(xp.abs(y_true - y_pred), axis=-1)


@_on_device
def mean_squared_error(y_true, y_pred):
    xp, y_true, y_pred = _pair(y_true, y_pred)
    y_true, y_pred = _same_rank(y_true, y_pred)
    _check_shapes("mean_squared_error", y_true, y_pred)
    return xp.mean(xp.square(y_true - y_pred), axis=-1)


def _loss_values(fn):
    """A loss function of ember.losses as a metric function: evaluated outside the graph, returned as an array
    on the predictions' device."""
    def metric_fn(y_true, y_pred, **kwargs):
        with autograd.no_grad():
            return fn(y_true, y_pred, **kwargs)._data

    metric_fn.__name__ = fn.__name__
    return _on_device(metric_fn)


binary_crossentropy = _loss_values(_losses.binary_crossentropy)
categorical_crossentropy = _loss_values(_losses.categorical_crossentropy)
sparse_categorical_crossentropy = _loss_values(_losses.sparse_categorical_crossentropy)


# -- classes ------------------------------------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals y_true."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax(y_true) (one-hot targets)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer class id y_true."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(binary_crossentropy, name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0, axis=-1):
        super().__init__(categorical_crossentropy, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        super().__init__(sparse_categorical_crossentropy, name, dtype, from_logits=from_logits, axis=axis)


# -- lookup -------------------------------------------------------------------------------------------------------
_CLASSES = {c.__name__: c for c in (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    MeanAbsoluteError, MeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy)}
_BY_NAME = {"binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
            "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
            "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, **_CLASSES}
_ACCURACY_BY_LOSS = {"binary_crossentropy": BinaryAccuracy, "categorical_crossentropy": CategoricalAccuracy,
                     "sparse_categorical_crossentropy": SparseCategoricalAccuracy}


def _snake_case(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _loss_name(loss):
    """The Keras function name behind a loss given as a name, a Loss or a function ("bce" -> None)."""
    if loss is None:
        return None
    if isinstance(loss, str):
        try:
            loss = _losses.get(loss)
        except ValueError:
            return None
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", None)


def _resolve_accuracy(loss, output_shape):
    """Keras' rule for "accuracy": by the loss when it says, else by the output's last dimension."""
    by_loss = _ACCURACY_BY_LOSS.get(_loss_name(loss))
    if by_loss is not None:
        return by_loss
    if output_shape is not None and len(output_shape) and output_shape[-1] == 1:
        return BinaryAccuracy
    return CategoricalAccuracy


def get(identifier, loss=None, output_shape=None):
    """A Metric from a name, a Metric instance or class, or a per-sample function of NumPy arrays.

    "accuracy"/"acc" resolves to BinaryAccuracy, CategoricalAccuracy or SparseCategoricalAccuracy from `loss`
    (binary/categorical/sparse_categorical_crossentropy) or else `output_shape` (last dim 1 -> binary, else
    categorical), keeping the name the user gave (so histories read "accuracy" and "val_accuracy"). Every
    name keeps its spelling as the metric's name ("mae" -> MeanAbsoluteError(name="mae")).
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _resolve_accuracy(loss, output_shape)(name=identifier)
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            known = sorted(set(_BY_NAME) | {"accuracy", "acc"})
            raise ValueError(f"Unknown metric {identifier!r}. Known metrics: {known}")
        return cls(name=identifier) if identifier in _BY_NAME and identifier not in _CLASSES else cls()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier {identifier!r}: expected a name, a Metric or a callable")
