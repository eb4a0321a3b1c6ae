"""max_pool2d and avg_pool2d on NHWC input, explicit padding ((top, bottom), (left, right)).

Both loop over the ph * pw window positions; at position (i, j) the cells the windows read form a
strided slice of the padded input, (N, Ho, Wo, C). A boolean mask of the padded plane tells real
cells from padding cells.

Semantics (the spec the native kernels must match):
- max: padding cells never win. A NaN in a window makes the output NaN and the first NaN (row-major
  window order) receives the gradient; otherwise the first maximum receives the whole gradient.
- avg: divides by the number of real cells of each window (Keras; PyTorch count_include_pad=False).
- A window made only of padding (possible only when padding >= pool) outputs 0 and passes no gradient.
"""
import numpy as np


def _out_size(size, pad, k, stride):
    return (size + pad[0] + pad[1] - k) // stride + 1


def _geometry(x_shape, pool, strides, padding):
    n, h, w, c = x_shape
    ho = _out_size(h, padding[0], pool[0], strides[0])
    wo = _out_size(w, padding[1], pool[1], strides[1])
    (top, bottom), (left, right) = padding
    real = np.zeros((h + top + bottom, w + left + right), dtype=bool)
    real[top:top + h, left:left + w] = True
    return ho, wo, real


def _window(i, j, out_hw, strides):
    """The (rows, cols) slices of the padded input at window position (i, j)."""
    (ho, wo), (sh, sw) = out_hw, strides
    return slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)


def _pad(x, padding):
    (top, bottom), (left, right) = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _crop(xp, x_shape, padding):
    (top, _), (left, _) = padding
    h, w = x_shape[1:3]
    return np.ascontiguousarray(xp[:, top:top + h, left:left + w, :])


def _max_pool_winner(x, pool, strides, padding):
    """(y, winner): the pooled output and, per output cell, the flat window position that wins (-1: none)."""
    n, _, _, c = x.shape
    ho, wo, real = _geometry(x.shape, pool, strides, padding)
    xp = _pad(x, padding)
    best = np.full((n, ho, wo, c), -np.inf, dtype=x.dtype)
    best_at = np.full((n, ho, wo, c), -1, dtype=np.int64)
    nan_at = np.full((n, ho, wo, c), -1, dtype=np.int64)
    for i in range(pool[0]):
        for j in range(pool[1]):
            k = i * pool[1] + j
            rows, cols = _window(i, j, (ho, wo), strides)
            v = xp[:, rows, cols, :]
            valid = real[rows, cols][None, :, :, None]
            is_nan = np.isnan(v)
            nan_at[valid & is_nan & (nan_at < 0)] = k
            # Strict '>' keeps the first maximum; the first real cell wins even when it is -inf.
            better = valid & ~is_nan & ((v > best) | (best_at < 0))
            best[better] = v[better]
            best_at[better] = k
    has_nan = nan_at >= 0
    winner = np.where(has_nan, nan_at, best_at)
    y = np.where(has_nan, np.nan, np.where(winner < 0, 0, best)).astype(x.dtype, copy=False)
    return y, winner


def max_pool2d_forward(x, pool, strides, padding):
    return _max_pool_winner(x, pool, strides, padding)[0]


def max_pool2d_backward(grad_y, x, pool, strides, padding):
    _, winner = _max_pool_winner(x, pool, strides, padding)
    ho, wo = grad_y.shape[1:3]
    gxp = np.zeros_like(_pad(x, padding), dtype=grad_y.dtype)
    zero = grad_y.dtype.type(0)
    for i in range(pool[0]):
        for j in range(pool[1]):
            rows, cols = _window(i, j, (ho, wo), strides)
            gxp[:, rows, cols, :] += np.where(winner == i * pool[1] + j, grad_y, zero)
    return _crop(gxp, x.shape, padding)


def _real_counts(real, pool, strides, out_hw):
    """Number of real (non-padding) cells in each window, (Ho, Wo)."""
    count = np.zeros(out_hw, dtype=np.int64)
    for i in range(pool[0]):
        for j in range(pool[1]):
            rows, cols = _window(i, j, out_hw, strides)
            count += real[rows, cols]
    return count


def avg_pool2d_forward(x, pool, strides, padding):
    ho, wo, real = _geometry(x.shape, pool, strides, padding)
    xp = _pad(x, padding)
    total = np.zeros((x.shape[0], ho, wo, x.shape[3]), dtype=x.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            rows, cols = _window(i, j, (ho, wo), strides)
            total += xp[:, rows, cols, :]
    count = _real_counts(real, pool, strides, (ho, wo))
    return total / np.maximum(count, 1)[None, :, :, None].astype(x.dtype)


def avg_pool2d_backward(grad_y, x_shape, pool, strides, padding):
    ho, wo, real = _geometry(x_shape, pool, strides, padding)
    count = _real_counts(real, pool, strides, (ho, wo))
    share = grad_y / np.maximum(count, 1)[None, :, :, None].astype(grad_y.dtype)
    n, h, w, c = x_shape
    (top, bottom), (left, right) = padding
    gxp = np.zeros((n, h + top + bottom, w + left + right, c), dtype=grad_y.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            rows, cols = _window(i, j, (ho, wo), strides)
            gxp[:, rows, cols, :] += share
    return _crop(gxp, x_shape, padding)
