"""sparse_crossentropy: -log p[label] per sample as one graph node (what SparseCategoricalCrossentropy runs).

The composite it replaces (normalize, clip, log, one-hot product, sum: seven nodes) cost a training step more
Python than its arithmetic on a (batch, classes) array; here forward and backward are a few array expressions.
    probabilities p:  q = p[y] / sum(p);  loss = -log(clip(q, eps, 1 - eps))
                      d loss / d p_j = -(1 / clip(q)) [eps <= q <= 1 - eps] (delta_jy - q) / sum(p)
    logits x:         loss = logsumexp(x) - x[y];  d loss / d x_j = softmax(x)_j - delta_jy
(the clip's gradient passes with the bounds included, as ops.clip's).
"""
import numpy as np

from ._util import data_of, empty_result, normalize_axes, record, require_float, tensor_of, wrap


def sparse_crossentropy(y_pred, labels, from_logits=False, axis=-1, epsilon=1e-7):
    """Per-sample cross-entropy of integer class `labels` (y_pred's shape without `axis`) under `y_pred`,
    probabilities (renormalized along `axis`, then clipped to [epsilon, 1 - epsilon], as Keras) or logits."""
    name = "sparse_crossentropy"
    x = tensor_of(name, y_pred)
    require_float(name, x)
    (ax,) = normalize_axes(name, axis, x.ndim, x.shape)
    return of_class_ids(x, _labels(name, data_of(labels, name), x, ax), from_logits, ax, epsilon)


def of_class_ids(x, ids, from_logits, ax, epsilon):
    """sparse_crossentropy of a float Tensor `x` and integer `ids` already checked against it (shape and range, as
    _labels checks them: the losses check them their own way first), `ax` a non-negative axis."""
    name = "sparse_crossentropy"
    if x.size == 0:
        return empty_result(name, ids.shape, [x])
    xp = x._xp
    last = ax == x.ndim - 1
    v = x._data if last else xp.moveaxis(x._data, ax, -1)
    rows = (xp.arange(v.shape[0]), ids) if v.ndim == 2 else None  # (batch, classes): one fancy index picks

    def picked(a):  # a[..., ids] as (..., 1)
        return a[rows][:, None] if rows is not None else xp.take_along_axis(a, ids[..., None], -1)

    def one_hot():
        return ids[..., None] == xp.arange(v.shape[-1])
    if from_logits:
        shifted = v - v.max(axis=-1, keepdims=True)
        log_total = xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        loss = (log_total - picked(shifted))[..., 0]

        def grad_of(g):
            return (xp.exp(shifted - log_total) - one_hot()) * g[..., None]
    else:
        total = v.sum(axis=-1, keepdims=True)
        q = picked(v) / total
        clipped = xp.minimum(xp.maximum(q, epsilon), 1.0 - epsilon)  # np.clip's Python wrapper costs more
        loss = -xp.log(clipped)[..., 0]

        def grad_of(g):
            inside = (q >= epsilon) & (q <= 1.0 - epsilon)
            return xp.where(inside, -g[..., None] / (clipped * total), 0.0) * (one_hot() - q)

    out = wrap(loss.astype(x.dtype, copy=False))

    def backward(g):
        grad = grad_of(g).astype(x.dtype, copy=False)
        return [grad if last else xp.moveaxis(grad, -1, ax)]

    return record(name, out, [x], backward)


def _labels(name, labels, x, axis):
    expected = x.shape[:axis] + x.shape[axis + 1:]
    ids = x._xp.asarray(labels)
    if ids.shape != expected:
        raise ValueError(f"{name}: expected labels of shape {expected} (y_pred {x.shape} without axis {axis}), got "
                         f"shape {ids.shape}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class labels, got dtype {ids.dtype} (shape {ids.shape})")
    classes = x.shape[axis]
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= classes):
        raise ValueError(f"{name}: expected labels in [0, {classes}) for y_pred of shape {x.shape}, got labels from "
                         f"{int(ids.min())} to {int(ids.max())}")
    return ids.astype(np.intp, copy=False)
