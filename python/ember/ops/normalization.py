"""Batch normalization (Keras semantics), composed from differentiable primitives."""
from .. import autograd
from ._util import check_inputs, normalize_axes, require_float, tensor_of
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
        mean = _mean(x, reduce_axes, keepdims=True)
        centered = x - mean
        variance = _mean(centered * centered, reduce_axes, keepdims=True)
        empty = any(x.shape[a] == 0 for a in reduce_axes)  # no values: no statistics (torch keeps them too)
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
