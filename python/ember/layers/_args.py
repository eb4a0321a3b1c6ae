"""Argument checks shared by the layers, raising Keras' form of error (see base.invalid_argument)."""
import numpy as np

from .base import invalid_argument


def int_tuple(name, value, n=2, minimum=1):
    """An int or a tuple of `n` ints, each >= `minimum`, as a tuple (kernel_size, strides, pool_size...)."""
    values = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if len(values) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
                                   for v in values):
        kind = "strictly positive" if minimum == 1 else f">= {minimum}"
        raise invalid_argument(name, f"an int or a tuple of {n} ints, each {kind}", value)
    return tuple(int(v) for v in values)


def positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise invalid_argument(name, "a strictly positive value", value)
    return int(value)


def non_negative(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or value < 0:
        raise invalid_argument(name, "a float >= 0" + (" or None" if allow_none else ""), value)
    return float(value)


def choice(name, value, options):
    lowered = value.lower() if isinstance(value, str) else value
    if lowered not in options:
        raise invalid_argument(name, f"one of {list(options)}", value)
    return lowered


def data_format(value):
    return choice("data_format", "channels_last" if value is None else value, ("channels_last", "channels_first"))


def to_channels_last(x, data_format):
    """NCHW -> NHWC at the layer's edge (ember computes channels-last inside)."""
    if data_format == "channels_last":
        return x
    return x.permute((0,) + tuple(range(2, x.ndim)) + (1,))


def to_channels_first(x, data_format):
    if data_format == "channels_last":
        return x
    return x.permute((0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))


def layout(data_format, rank=2):
    spatial = ", ".join("HWD"[:rank]) if rank <= 3 else "spatial"
    return f"N, {spatial}, C" if data_format == "channels_last" else f"N, C, {spatial}"


def channels_of(input_shape, data_format):
    return input_shape[-1] if data_format == "channels_last" else input_shape[1]
