"""Batch normalization (Keras semantics), composed from differentiable primitives."""
from .. import autograd
from ..autograd import record_outputs
from ._util import check_inputs, kernels, normalize_axes, require_float, tensor_of, wrap
from .reduction import mean as _mean


def batch_norm(x, moving_mean, moving_variance, gamma=None, beta=None, training=False, momentum=0.99,
               epsilon=1e-3, axis=-1):
    """Normalize over every axis but `axis` (the channels).

    Training uses the batch's mean and (biased) variance and updates the moving statistics in place:
    moving = moving * momentum + batch * (1 - momentum), as Keras does. Inference uses the moving statistics.
    """
    x = tensor_of("batch_norm", x)
    check_inputs("batch_norm", x, moving_mean, moving_variance, gamma, beta)
    require_float("batch_norm", x)
    (channel_axis,) = normalize_axes("batch_norm", axis, x.ndim, x.shape)
    channels = x.shape[channel_axis]
    for name, t in (("moving_mean", moving_mean), ("moving_variance", moving_variance), ("gamma", gamma),
                    ("beta", beta)):
        if t is not None and tuple(t.shape) != (channels,):
            raise ValueError(f"batch_norm: `{name}` has shape {tuple(t.shape)}, expected ({channels},) for input "
                             f"{x.shape} normalized over axis {channel_axis}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: invalid value for argument `momentum`. Expected a float in [0, 1]. "
                         f"Received: momentum={momentum}")
    reduce_axes = tuple(a for a in range(x.ndim) if a != channel_axis)
    shape = [1] * x.ndim
    shape[channel_axis] = channels

    if training:
        empty = any(x.shape[a] == 0 for a in reduce_axes)  # no values: no statistics (torch keeps them too)
        if x.device != "cpu" and not empty:
            mean, variance = _statistics_kernel(x, channel_axis, shape)
            centered = x - mean
        else:
            mean = _mean(x, reduce_axes, keepdims=True)
            centered = x - mean
            variance = _mean(centered * centered, reduce_axes, keepdims=True)
        with autograd.no_grad():
            for moving, batch in ((moving_mean, mean), (moving_variance, variance)) if not empty else ():
                stat = batch._data.reshape(channels).astype(moving.dtype)
                moving._data = moving._data * momentum + stat * (1.0 - momentum)
    else:
        mean = moving_mean.reshape(shape)
        variance = moving_variance.reshape(shape)
        centered = x - mean
    out = centered * (variance + epsilon) ** -0.5
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out


def _statistics_kernel(x, channel_axis, shape):
    """The batch mean and biased variance per channel (keepdims `shape`) from the backend's statistics kernel (the
    GPU's: one pass, a fixed reduction order), with the composite's gradient:
    d mean / dx = 1 / M, d variance / dx = 2 (x - mean) / M over the M values of each channel."""
    xp = x._xp
    rows = xp.moveaxis(x._data, channel_axis, -1).reshape(-1, x.shape[channel_axis])
    mean, variance = kernels(x).batch_norm_statistics(rows)
    mean, variance = mean.reshape(shape), variance.reshape(shape)
    count = rows.shape[0]

    def backward(grads):
        g_mean, g_variance = grads
        g = 0.0
        if g_mean is not None:
            g = g + g_mean / count
        if g_variance is not None:
            g = g + g_variance * (2.0 / count) * (x._data - mean)
        return [xp.broadcast_to(g, x.shape).astype(x.dtype)]

    return record_outputs("batch_norm_statistics", [wrap(mean), wrap(variance)], [x], backward)
