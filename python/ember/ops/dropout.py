"""Inverted dropout: zero a fraction `rate` of the inputs and scale the rest by 1 / (1 - rate)."""
from .. import random as _random
from ._util import kernels, require_float, tensor_of, wrap
from .elementwise import multiply


def dropout(x, rate, training=True):
    """Drawn from ember's seeded generator, so `ember.manual_seed` makes the masks repeatable."""
    if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout: invalid value for argument `rate`. Expected a float in [0, 1]. "
                         f"Received: rate={rate!r}")
    x = tensor_of("dropout", x)
    require_float("dropout", x)  # the 1 / (1 - rate) scale would be truncated in an integer dtype
    if not training or rate == 0.0:
        return x
    if rate == 1.0:
        return multiply(x, 0.0)
    if x.device == "cpu":
        keep = _random.generator().random(x.shape) >= rate
        scale = x._xp.asarray(keep, dtype=x.dtype) * x.dtype.type(1.0 / (1.0 - rate))
    else:  # made on the GPU (Philox) from one seed drawn from ember's generator: no mask crosses the bus
        scale = kernels(x).dropout_mask(x.shape, x.dtype, rate)
    return multiply(x, wrap(scale))
