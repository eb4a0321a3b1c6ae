"""2-D max and average pooling over NHWC tensors, on the native pooling kernels."""
from .conv import check_padding, output_size, resolve_padding
from ._util import checked_once, host_signature, kernels, pair, record, require_float, require_rank, tensor_of, wrap


def _pool(op, x, pool_size, strides, padding):
    """(pool, strides, pads) for the kernels, from arguments checked once per signature (see checked_once)."""
    return checked_once(_pool_checks, host_signature((x,), op, pool_size, strides, padding), op, x, pool_size,
                        strides, padding)


def _pool_checks(op, x, pool_size, strides, padding):
    require_float(op, x)
    require_rank(op, "input", x, 4, "N, H, W, C")
    if min(x.shape[1:]) < 1:  # as torch: only the batch may be empty
        raise ValueError(f"{op}: sizes must be >= 1, got input {x.shape}")
    pool = pair(op, "pool_size", pool_size)
    strides = pool if strides is None else pair(op, "strides", strides)
    pads = resolve_padding(op, padding, x.shape[1:3], pool, strides)
    check_padding(op, pads)
    for (before, after), k in zip(pads, pool):
        if before >= k or after >= k:
            raise ValueError(f"{op}: padding {pads} must be smaller than the pool size {pool} on every side, "
                             f"so that no window holds only padding")
    output_size(op, x.shape[1:3], pool, strides, pads, (1, 1), ("input", "pool", x.shape))
    return pool, strides, pads


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Maximum over each window (strides default to the pool size); a NaN in a window propagates."""
    x = tensor_of("max_pool2d", x)
    args = _pool("max_pool2d", x, pool_size, strides, padding)
    backend = kernels(x)
    out = wrap(backend.max_pool2d_forward(x._data, *args))
    return record("max_pool2d", out, [x], lambda g: [backend.max_pool2d_backward(g, x._data, *args)])


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Mean over each window; padding cells are not counted (Keras' "same" average pooling)."""
    x = tensor_of("avg_pool2d", x)
    args = _pool("avg_pool2d", x, pool_size, strides, padding)
    backend = kernels(x)
    out = wrap(backend.avg_pool2d_forward(x._data, *args))
    shape = x.shape
    return record("avg_pool2d", out, [x], lambda g: [backend.avg_pool2d_backward(g, shape, *args)])
