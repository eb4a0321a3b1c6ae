"""Shape ops: views and rearrangements whose gradients rearrange back."""
import numpy as np

from ._util import check_inputs, normalize_axes, record, tensor_of, unbroadcast, wrap


def _operand(op, x):
    x = tensor_of(op, x)
    check_inputs(op, x)
    return x


def reshape(x, shape):
    x = _operand("reshape", x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    try:
        out = wrap(x._data.reshape(shape))
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                         f"into shape {shape}") from None
    source = x.shape
    return record("reshape", out, [x], lambda g: [g.reshape(source)])


def flatten(x, start_axis=0):
    """Merge the axes from `start_axis` on into one (Flatten keeps the batch axis with start_axis=1)."""
    x = _operand("flatten", x)
    (start,) = normalize_axes("flatten", start_axis, x.ndim, x.shape) if x.ndim else (0,)
    # the merged size written out, not -1: a -1 beside a 0 is ambiguous ((0, 0) -> (0, -1) has no answer)
    return reshape(x, x.shape[:start] + (int(np.prod(x.shape[start:], dtype=np.int64)),))


def transpose(x, axes=None):
    """NumPy's transpose: reverse the axes, or permute them by `axes`."""
    x = _operand("transpose", x)
    if axes is not None:
        axes = tuple(axes)
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)) or len(axes) != x.ndim:
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
        axes = tuple(a % x.ndim for a in axes)
    else:
        axes = tuple(reversed(range(x.ndim)))
    inverse = tuple(np.argsort(axes))
    return record("transpose", wrap(x._data.transpose(axes)), [x], lambda g: [g.transpose(inverse)])


def permute(x, axes):
    return transpose(x, axes)


def swapaxes(x, axis1, axis2):
    x = _operand("swapaxes", x)
    a, b = (normalize_axes("swapaxes", axis, x.ndim, x.shape)[0] for axis in (axis1, axis2))
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return transpose(x, order)


def expand(x, shape):
    """Broadcast to `shape` (-1 keeps a dimension), as torch's expand / NumPy's broadcast_to."""
    x = _operand("expand", x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if len(shape) < x.ndim:
        raise ValueError(f"expand: cannot broadcast shape {x.shape} to {shape}: the target has fewer dimensions "
                         f"({len(shape)}) than the tensor ({x.ndim})")
    full = tuple(x.shape[i - len(shape) + x.ndim] if n == -1 and i - len(shape) + x.ndim >= 0 else n
                 for i, n in enumerate(shape))
    try:
        out = wrap(x._xp.broadcast_to(x._data, full))
    except ValueError:
        raise ValueError(f"expand: cannot broadcast shape {x.shape} to {shape}") from None
    source = x.shape
    return record("expand", out, [x], lambda g: [unbroadcast(g, source)])


broadcast_to = expand


def squeeze(x, axis=None):
    x = _operand("squeeze", x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes("squeeze", axis, x.ndim, x.shape)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, expected 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def expand_dims(x, axis):
    x = _operand("expand_dims", x)
    axes = normalize_axes("expand_dims", axis, x.ndim + 1, x.shape)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


unsqueeze = expand_dims


def _as_tensors(op, tensors):
    tensors = [tensor_of(op, t) for t in tensors]
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    check_inputs(op, *tensors)
    return tensors


def concatenate(tensors, axis=0):
    tensors = _as_tensors("concatenate", tensors)
    first = tensors[0]
    (ax,) = normalize_axes("concatenate", axis, first.ndim, first.shape)
    for t in tensors[1:]:
        if t.ndim != first.ndim or t.shape[:ax] + t.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:]:
            shapes = ", ".join(str(s.shape) for s in tensors)
            raise ValueError(f"concatenate: shapes {shapes} must match except along axis {ax}")
    out = wrap(first._xp.concatenate([t._data for t in tensors], axis=ax))
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1]
    return record("concatenate", out, tensors, lambda g: first._xp.split(g, bounds, axis=ax))


concat = concatenate


def stack(tensors, axis=0):
    tensors = _as_tensors("stack", tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have one shape, got {', '.join(str(t.shape) for t in tensors)}")
    (ax,) = normalize_axes("stack", axis, tensors[0].ndim + 1, tensors[0].shape)
    return concatenate([expand_dims(t, ax) for t in tensors], axis=ax)


def split(x, indices_or_sections, axis=0):
    """NumPy's split: `n` equal sections or a list of split indices; a list of tensors."""
    x = _operand("split", x)
    (ax,) = normalize_axes("split", axis, x.ndim, x.shape)
    length = x.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n <= 0 or length % n:
            raise ValueError(f"split: axis {ax} of shape {x.shape} (size {length}) does not divide into {n} "
                             f"equal sections")
        bounds = [length // n * i for i in range(1, n)]
    else:
        bounds = [int(b) for b in indices_or_sections]
    edges = [0] + bounds + [length]  # slice bounds as NumPy takes them: a negative one counts from the end
    return [x[(slice(None),) * ax + (slice(start, stop),)] for start, stop in zip(edges[:-1], edges[1:])]


def pad(x, pad_width, mode="constant", constant_values=0):
    """NumPy's pad (constant mode); the gradient is the un-padded slice of the incoming gradient."""
    x = _operand("pad", x)
    if mode != "constant":
        raise ValueError(f"pad: invalid value for argument `mode`. Expected 'constant'. Received: mode={mode!r}")
    widths = np.asarray(pad_width)
    if widths.dtype.kind not in "iu":
        raise TypeError(f"pad: pad widths must be integers, got {pad_width!r} for shape {x.shape}")
    try:
        widths = np.broadcast_to(widths, (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} of shape {widths.shape} does not fit a tensor of shape "
                         f"{x.shape}: expected one int, one (before, after) pair or {x.ndim} such pairs") from None
    if (widths < 0).any():
        raise ValueError(f"pad: pad widths must be >= 0, got {pad_width!r} for shape {x.shape}")
    widths = [tuple(int(v) for v in w) for w in widths]
    out = wrap(x._xp.pad(x._data, widths, mode="constant", constant_values=constant_values))
    index = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
    return record("pad", out, [x], lambda g: [g[index]])
