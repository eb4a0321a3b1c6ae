"""Hypothesis strategies of valid op inputs of any size, for the property tests (tests/test_properties.py).

Each op-table entry names one (OpInfo.strategy); it draws a Sample of float32 arrays, already in the memory
layout the op will see: contiguous, strided (non-contiguous), reversed (negative strides) or Fortran order.
Shapes include size-0 and size-1 dimensions and, for elementwise ops, broadcasting. Half the arrays hold
a few extremes at drawn places: huge, subnormal, signed zeros, infinities and NaN. A Sample whose `error` is set
is an input PyTorch refuses (a max over an empty axis): the op must raise ValueError matching it.

This module imports hypothesis, a test dependency; the op table reaches it only through OpInfo.strategy.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .op_table import Sample

LAYOUTS = ("contiguous", "strided", "reversed", "fortran")
TINY = (1e-40, -1e-40, 1.4e-45)   # float32 subnormals, the last the smallest there is


def laid_out(a, layout):
    """The values of `a` in `layout` (the same values, other strides)."""
    if a.ndim == 0 or a.size == 0 or layout == "contiguous":
        return a
    if layout == "strided":  # every other element of a wider buffer
        view = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)[..., ::2]
        view[...] = a
        return view
    if layout == "reversed":  # every stride negative
        return np.flip(np.ascontiguousarray(np.flip(a)))
    return np.asfortranarray(a)


def _fair(options):
    """One of `options`, each about as likely (sampled_from leans to the first ones)."""
    return st.integers(0, 2 ** 16 - 1).map(lambda i: options[i % len(options)])


@st.composite
def arrays(draw, shape, large=1e30, low=-3.0, high=3.0, finite=False):
    """float32 values in [low, high]; in half the draws up to three extremes (+-large, subnormals, +-0, and
    unless `finite`, +-inf and NaN) at drawn positions; in a drawn layout."""
    a = draw(hnp.arrays(np.float32, tuple(shape), elements=st.floats(low, high, width=32)))
    if a.size and draw(_fair([True, False])):
        kinds = [(large, -large), TINY + (0.0, -0.0)] + ([] if finite else [(np.inf, -np.inf, np.nan)])
        for _ in range(draw(st.integers(1, 3))):  # a kind, then a value, each about uniformly
            values = draw(_fair(kinds))
            a.flat[draw(st.integers(0, a.size - 1))] = draw(_fair(values))
    return laid_out(a, draw(_fair(LAYOUTS)))


@st.composite
def shapes(draw, min_dims=0, max_dims=4, min_side=0, max_side=4):
    """A shape; a side is 0 about one time in ten (hypothesis alone would pick 0 half the time)."""
    sides = [n for n in range(max(min_side, 1), max_side + 1) for _ in range(3)] + [0] * (min_side == 0)
    return tuple(draw(_fair(sides)) for _ in range(draw(st.integers(min_dims, max_dims))))


# -- elementwise ----------------------------------------------------------------------------------------------------
@st.composite
def unary(draw, large=1e30, low=-3.0, high=3.0, flags=()):
    """One array of any shape; `flags`: the op's boolean keywords, drawn."""
    x = draw(arrays(draw(shapes()), large, low, high))
    return Sample((x,), {flag: draw(st.booleans()) for flag in flags})


@st.composite
def broadcasting(draw, n=2, condition=False, large=1e30):
    """`n` arrays whose shapes broadcast together (NumPy's rules); `condition`: the first is a bool array."""
    drawn = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=4, min_side=0, max_side=4))
    args = [draw(arrays(s, large)) for s in drawn.input_shapes]
    if condition:
        args[0] = draw(hnp.arrays(np.bool_, drawn.input_shapes[0]))
    return Sample(tuple(args))


@st.composite
def bias_activation(draw):
    """x of rank >= 1, a bias along its last axis, one of the fused op's activations."""
    x = draw(arrays(draw(shapes(min_dims=1))))
    bias = draw(arrays((x.shape[-1],)))
    return Sample((x, bias), {"activation": draw(_fair([None, "relu", "leaky_relu", "sigmoid", "tanh"])),
                              "alpha": 0.2})


@st.composite
def clip(draw):
    lo = draw(st.none() | st.floats(-2, 2, width=32))
    hi = draw(st.floats(-2, 2, width=32) if lo is None else st.none() | st.floats(lo, 3, width=32))
    x = draw(arrays(draw(shapes())))
    return Sample((x,), {"min": lo, "max": hi})


@st.composite
def dropout(draw):
    return Sample((draw(arrays(draw(shapes()))),), {"rate": draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))})


# -- reductions -----------------------------------------------------------------------------------------------------
@st.composite
def _axes(draw, ndim, many):
    """None, one axis (maybe negative) or, when `many`, a tuple of distinct axes."""
    if ndim == 0:
        return None  # NumPy has no axis 0 of a 0-d array (torch has): only the full reduction is common ground
    one = st.integers(-ndim, ndim - 1)
    options = [st.none(), one]
    if many:
        options.append(st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim).map(tuple))
    return draw(st.one_of(*options))


@st.composite
def reduction(draw, many=True, extremum=None, index=None, large=1e30):
    """Any shape, an axis choice and keepdims. `extremum` (max/min) and `index` (argmax/argmin): an empty axis to
    reduce over has no answer, so the Sample expects the ValueError PyTorch raises there too."""
    x = draw(arrays(draw(shapes()), large))
    axis = draw(_axes(x.ndim, many))
    sample = Sample((x,), {"axis": axis, "keepdims": draw(st.booleans())})
    reduced = range(x.ndim) if axis is None else [a % x.ndim for a in np.atleast_1d(axis)]
    if extremum and any(x.shape[a] == 0 for a in reduced):
        sample.error = rf"{extremum}: cannot reduce an empty tensor of shape"
    if index and x.size == 0 and (axis is None or x.shape[axis] == 0):
        sample.error = rf"{index}: cannot take {index} (of an empty tensor|over axis)"
    return sample


@st.composite
def along_axis(draw):
    """softmax and log_softmax: rank >= 1, any axis."""
    x = draw(arrays(draw(shapes(min_dims=1))))
    return Sample((x,), {"axis": draw(st.integers(-x.ndim, x.ndim - 1))})


@st.composite
def sparse_crossentropy(draw):
    """Probabilities in [1/16, 1] (or logits of any value) of rank >= 1, a class axis, labels within it."""
    from_logits = draw(st.booleans())
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    rest = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    if shape[axis] == 0 and np.prod(rest, dtype=np.int64):  # no class for a label to name: one class instead
        shape = shape[:axis % len(shape)] + (1,) + shape[axis % len(shape) + 1:]
    x = draw(arrays(shape) if from_logits else arrays(shape, low=0.0625, high=1.0))
    labels = draw(hnp.arrays(np.int64, rest, elements=st.integers(0, max(shape[axis] - 1, 0))))
    return Sample((x, labels), {"from_logits": from_logits, "axis": axis})


# -- shape ops ------------------------------------------------------------------------------------------------------
@st.composite
def reshape(draw):
    x = draw(arrays(draw(shapes())))
    dims = draw(st.permutations(x.shape)) if x.ndim else []
    while len(dims) > 1 and draw(st.booleans()):  # merge two neighbours
        i = draw(st.integers(0, len(dims) - 2))
        dims[i:i + 2] = [dims[i] * dims[i + 1]]
    dims = list(dims) + [1] * draw(st.integers(0, 1))
    if dims and x.size and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return Sample((x,), {"shape": tuple(dims)})


@st.composite
def transpose(draw):
    x = draw(arrays(draw(shapes())))
    return Sample((x,), {"axes": draw(st.none() | st.permutations(range(x.ndim)).map(tuple))})


@st.composite
def expand(draw):
    x = draw(arrays(draw(shapes(max_dims=3))))
    target = [draw(st.integers(0, 3)) if n == 1 else (-1 if draw(st.booleans()) else n) for n in x.shape]
    lead = draw(st.lists(st.integers(0, 3), max_size=2))
    return Sample((x,), {"shape": tuple(lead + target)})


@st.composite
def squeeze(draw):
    x = draw(arrays(draw(shapes(max_side=2))))
    ones = [i for i, n in enumerate(x.shape) if n == 1]
    axis = draw(st.none() | st.lists(st.sampled_from(ones), min_size=1, unique=True).map(tuple)) if ones else None
    return Sample((x,), {"axis": axis})


@st.composite
def expand_dims(draw):
    x = draw(arrays(draw(shapes(max_dims=3))))
    return Sample((x,), {"axis": draw(st.integers(-x.ndim - 1, x.ndim))})


@st.composite
def flatten(draw):
    x = draw(arrays(draw(shapes(min_dims=1))))
    return Sample((x,), {"start_axis": draw(st.integers(0, x.ndim - 1))})


@st.composite
def joined(draw, stack=False):
    """concatenate (shapes equal but along `axis`) and stack (shapes equal)."""
    base = draw(shapes(min_dims=0 if stack else 1, max_dims=3, max_side=3))
    axis = draw(st.integers(-len(base) - 1, len(base)) if stack else st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if not stack:
            shape[axis] = draw(st.integers(0, 3))
        parts.append(draw(arrays(shape)))
    return Sample(tuple(parts), {"axis": axis})


@st.composite
def split(draw):
    x = draw(arrays(draw(shapes(min_dims=1, max_side=6))))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    length = x.shape[axis]
    divisors = [n for n in range(1, 7) if length % n == 0]
    sections = draw(st.sampled_from(divisors) | st.lists(st.integers(-1, length + 1), max_size=3))
    pieces = sections if isinstance(sections, int) else len(sections) + 1
    return Sample((x,), {"sections": sections, "axis": axis, "piece": draw(st.integers(0, pieces - 1))})


@st.composite
def pad(draw):
    x = draw(arrays(draw(shapes(min_dims=1, max_dims=3, max_side=3))))
    pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
    width = draw(st.integers(0, 2) | pair | st.lists(pair, min_size=x.ndim, max_size=x.ndim).map(tuple))
    return Sample((x,), {"pad_width": width, "constant_values": draw(st.floats(-2, 2, width=32))})


@st.composite
def _basic_item(draw, n):
    """An index item for an axis of size n: a slice (negative steps too) or an int in range."""
    bound = st.none() | st.integers(-5, 5)
    items = [st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, -1, -2]))]
    if n:
        items.append(st.integers(-n, n - 1))
    return draw(st.one_of(*items))


@st.composite
def getitem(draw):
    """Basic indexing (ints, slices with negative steps, None, Ellipsis), integer arrays and boolean masks."""
    x = draw(arrays(draw(shapes(min_dims=1, max_dims=3))))
    kind = draw(st.sampled_from(["basic", "basic", "ellipsis", "integers", "mask"]))
    if kind == "integers" and x.shape[0]:
        index = draw(hnp.arrays(np.int64, draw(st.integers(0, 4)), elements=st.integers(-x.shape[0], x.shape[0] - 1)))
    elif kind == "mask":
        index = draw(hnp.arrays(np.bool_, x.shape))
    else:
        count = draw(st.integers(0, x.ndim))
        axes = x.shape[x.ndim - count:] if kind == "ellipsis" else x.shape[:count]  # after ..., the last axes
        items = [draw(_basic_item(n)) for n in axes]
        for _ in range(draw(st.integers(0, 2))):  # new axes (None) take no axis of x
            items.insert(draw(st.integers(0, len(items))), None)
        index = (Ellipsis,) * (kind == "ellipsis") + tuple(items)
    return Sample((x,), {"index": index})


# -- nn ops -----------------------------------------------------------------------------------------------------------
@st.composite
def matmul(draw, large=1e30):
    """(..., m, k) @ (..., k, n) with broadcast batch dims, and 1-D operands; any of m, k, n may be 0."""
    m, k, n = (draw(st.integers(0, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3))
    a_shape, b_shape = batch.input_shapes[0] + (m, k), batch.input_shapes[1] + (k, n)
    kind = draw(st.sampled_from(["matrix", "matrix", "vector-left", "vector-right", "vectors"]))
    if kind in ("vector-left", "vectors"):
        a_shape = (k,)
    if kind in ("vector-right", "vectors"):
        b_shape = (k,)
    return Sample((draw(arrays(a_shape, large)), draw(arrays(b_shape, large))))


@st.composite
def dense(draw, large=1e30):
    """x (..., k) @ kernel (k, n) + an optional bias, one of the fused activations; any size may be 0."""
    x = draw(arrays(draw(shapes(min_dims=1, max_dims=3)), large))
    n = draw(st.integers(0, 5))
    args = (x, draw(arrays((x.shape[-1], n), large)))
    if draw(st.booleans()):
        args += (draw(arrays((n,), large)),)
    return Sample(args, {"activation": draw(_fair([None, "relu", "leaky_relu", "sigmoid", "tanh"])), "alpha": 0.2})


def _sides(draw, span, pads):
    """An input size whose padded length holds the window's dilated span."""
    return max(1, span - pads) + draw(st.integers(0, 3))


@st.composite
def _padding(draw, window):
    pair = st.tuples(st.integers(0, window[0] - 1), st.integers(0, window[0] - 1))
    other = st.tuples(st.integers(0, window[1] - 1), st.integers(0, window[1] - 1))
    return draw(st.sampled_from(["valid", "same"]) | st.tuples(pair, other))


def _padded_sizes(draw, padding, spans):
    if padding == "valid":
        return [_sides(draw, s, 0) for s in spans]
    if padding == "same":
        return [1 + draw(st.integers(0, 4)) for _ in spans]
    return [_sides(draw, s, sum(p)) for s, p in zip(spans, padding)]


# Convolution weights are drawn finite: an inf or NaN weight that meets only zero padding gives NaN in the
# reference (it multiplies the padding: 0 * inf) and 0 in the native kernels (they skip padding); both are
# defensible. Infinities and NaN still come in through the input, where the backends agree.


@st.composite
def conv2d(draw, large=1e30):
    """Groups, strides, dilation, "valid"/"same"/explicit padding. A batch of 0 works; no input or output
    channels is a ValueError, as in torch."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c, o = groups * draw(st.integers(0, 2)), groups * draw(st.integers(0, 2))
    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(_padding(window))
    h, w = _padded_sizes(draw, padding, [(k - 1) * d + 1 for k, d in zip(window, dilation)])
    x = draw(arrays((draw(st.integers(0, 2)), h, w, c), large))
    kernel = draw(arrays(window + (c // groups, o), large, finite=True))
    sample = Sample((x, kernel), {"strides": strides, "padding": padding, "dilation_rate": dilation, "groups": groups})
    if c == 0 or o == 0:
        sample.error = r"conv2d: (sizes must be >= 1|invalid value for argument `groups`)"
    return sample


@st.composite
def conv2d_bias_activation(draw):
    """conv2d's drawings with a bias per output channel and one of the fused activations."""
    sample = draw(conv2d())
    x, kernel = sample.args
    bias = draw(arrays((kernel.shape[3],)))
    fused = Sample((x, kernel, bias), {**sample.kwargs, "activation": draw(_fair([None, "relu", "leaky_relu",
                                                                                 "sigmoid", "tanh"])), "alpha": 0.2})
    if sample.error:
        fused.error = sample.error.replace("conv2d:", "conv2d_bias_activation:")
    return fused


@st.composite
def conv2d_transpose(draw, large=1e30):
    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1) if max(strides) > 1 else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    extra = draw(st.none() | st.tuples(*(st.integers(0, s - 1) for s in strides)))
    x = draw(arrays((draw(st.integers(0, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                     draw(st.integers(1, 3))), large))
    kernel = draw(arrays(window + (draw(st.integers(1, 3)), x.shape[3]), large, finite=True))
    padding = draw(st.sampled_from(["valid", "same"]))
    sample = Sample((x, kernel), {"strides": strides, "padding": padding, "output_padding": extra,
                                  "dilation_rate": dilation})
    if padding == "same" and extra is not None:  # Keras' length: (size - 1) * stride + span - 2 * (span // 2) + extra
        spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
        lengths = [(n - 1) * s + span - 2 * (span // 2) + e for n, s, span, e in zip(x.shape[1:3], strides, spans, extra)]
        if min(lengths) < 1:
            sample.error = r"conv2d_transpose: .* give an empty output"
    return sample


@st.composite
def pool2d(draw):
    """A batch of 0 works; no channels is a ValueError, as in torch."""
    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(_padding(window))
    h, w = _padded_sizes(draw, padding, window)
    x = draw(arrays((draw(st.integers(0, 2)), h, w, draw(st.integers(0, 3)))))
    sample = Sample((x,), {"pool_size": window, "strides": strides, "padding": padding})
    if x.shape[3] == 0:
        sample.error = r"pool2d: sizes must be >= 1"
    return sample


@st.composite
def batch_norm(draw, large=1e15):
    x = draw(arrays(draw(shapes(min_dims=2, max_dims=4, max_side=3)), large))
    c = x.shape[-1]
    gamma, beta = draw(arrays((c,))), draw(arrays((c,)))
    stats = {"moving_mean": draw(hnp.arrays(np.float64, c, elements=st.floats(-2, 2))),
             "moving_variance": draw(hnp.arrays(np.float64, c, elements=st.floats(0.25, 4))),
             "training": draw(st.booleans())}
    return Sample((x, gamma, beta), stats)


@st.composite
def recurrent(draw, states, gates, bias_shape, variants, large=1e30):
    """B >= 0, T >= 1, H >= 1, masks, no bias, every variant; no features (I = 0) is a ValueError, as in torch."""
    b, t, i, h = draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
    kwargs = dict(draw(st.sampled_from(variants)))
    args = [draw(arrays((b, t, i), large))] + [draw(arrays((b, h), large)) for _ in range(states)]
    args += [draw(arrays((i, gates * h), large)), draw(arrays((h, gates * h), large))]
    args.append(draw(arrays(bias_shape(h, kwargs), large)) if draw(st.booleans()) else None)
    if draw(st.booleans()):
        kwargs["mask"] = draw(hnp.arrays(np.bool_, (b, t)))
    return Sample(tuple(args), kwargs, error=None if i else r"has no features")
