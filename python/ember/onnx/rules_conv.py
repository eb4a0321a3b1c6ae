"""Export rules for convolutions, pooling, padding and upsampling: ONNX's Conv, ConvTranspose and pooling ops take
NCHW, so these rules read and write the channels-first form of their tensors (graph.py keeps the transposes few).

"same" padding becomes explicit pads computed from the (fixed) input size exactly as ember computes them, so the
odd pixel goes after (bottom/right) as in Keras, and average pooling never counts padding (count_include_pad=0).
"""
import numpy as np

from .. import layers as L
from ..ops.conv import resolve_padding, transpose_padding
from .graph import ExportError, Value, apply_activation, channels_first, identity, inverse
from .registry import rule
from .rules_core import _weight, out_shape

_NCHW = channels_first(4)


def _layouts(layer):
    """(perm of the ONNX op's NCHW input, of its NCHW output), relative to ember's tensors for this layer."""
    channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
    return (_NCHW, _NCHW) if channels_last else (identity(4), identity(4))


def _spatial(layer, shape):
    """(height, width) of an ember tensor shape in the layer's data format."""
    return (shape[1], shape[2]) if layer.data_format == "channels_last" else (shape[2], shape[3])


def _onnx_pads(pads):
    """((top, bottom), (left, right)) -> ONNX's [top, left, bottom, right]."""
    (top, bottom), (left, right) = pads
    return [top, left, bottom, right]


def _check_rank(layer, x):
    if x.rank != 4:
        raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) expects a rank-4 input, got "
                          f"shape {x.shape}")


def _nchw(g, layer, x):
    """The name of `x` in the layout ONNX's op reads (NCHW)."""
    return g.form(x, _layouts(layer)[0])


def _conv(g, x_nchw, kernel_oihw, bias, group, strides, dilation, pads, scope):
    """One ONNX Conv; returns the output name (NCHW)."""
    inputs = [x_nchw, g.const(f"{scope}/kernel", kernel_oihw)]
    if bias is not None:
        inputs.append(g.const(f"{scope}/bias", bias))
    return g.node("Conv", inputs, f"{scope}/Conv", group=group, strides=list(strides), dilations=list(dilation),
                  pads=_onnx_pads(pads), kernel_shape=list(kernel_oihw.shape[2:]))


def _finish(g, layer, name, out):
    _, perm = _layouts(layer)
    return apply_activation(g, Value(name, out_shape(out), perm), layer.activation, layer)


def _pads(layer, x, window):
    return resolve_padding(layer.name, layer.padding, _spatial(layer, x.shape), window, layer.strides,
                           getattr(layer, "dilation_rate", (1, 1)))


def _bias(layer):
    return _weight(layer.bias) if layer.bias is not None else None


@rule(L.Conv2D)
def conv2d(g, layer, x, data, out):
    _check_rank(layer, x)
    kernel = _weight(layer.kernel)  # HWIO -> OIHW
    y = _conv(g, _nchw(g, layer, x), kernel.transpose(3, 2, 0, 1), _bias(layer), layer.groups, layer.strides,
              layer.dilation_rate, _pads(layer, x, layer.kernel_size), layer.name)
    return _finish(g, layer, y, out)


def _depthwise_oihw(kernel):
    """Keras' depthwise kernel (kh, kw, in, multiplier) as grouped OIHW (in * multiplier, 1, kh, kw): output channel
    c * multiplier + m is input channel c's m-th filter, as ember's layers.convolutional.depthwise orders them."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, 1, channels * multiplier).transpose(3, 2, 0, 1)


@rule(L.DepthwiseConv2D)
def depthwise_conv2d(g, layer, x, data, out):
    _check_rank(layer, x)
    kernel = _weight(layer.kernel)
    y = _conv(g, _nchw(g, layer, x), _depthwise_oihw(kernel), _bias(layer), kernel.shape[2], layer.strides,
              layer.dilation_rate, _pads(layer, x, layer.kernel_size), layer.name)
    return _finish(g, layer, y, out)


@rule(L.SeparableConv2D)
def separable_conv2d(g, layer, x, data, out):
    _check_rank(layer, x)
    depthwise = _weight(layer.depthwise_kernel)
    mid = _conv(g, _nchw(g, layer, x), _depthwise_oihw(depthwise), None, depthwise.shape[2], layer.strides,
                layer.dilation_rate, _pads(layer, x, layer.kernel_size), f"{layer.name}/depthwise")
    pointwise = _weight(layer.pointwise_kernel).transpose(3, 2, 0, 1)
    y = _conv(g, mid, pointwise, _bias(layer), 1, (1, 1), (1, 1), ((0, 0), (0, 0)),
              f"{layer.name}/pointwise")
    return _finish(g, layer, y, out)


@rule(L.Conv2DTranspose)
def conv2d_transpose(g, layer, x, data, out):
    """ember sizes a transposed conv as Keras (ops.conv.transpose_padding): it is the input gradient of a conv
    with pads (before, after) whose input has the output's size. ONNX's ConvTranspose is that gradient too; the
    trailing rows that conv never reads come out as output_padding."""
    _check_rank(layer, x)
    kernel = _weight(layer.kernel)  # (kh, kw, filters, in) -> ONNX's (in, filters, kh, kw)
    extra = layer.output_padding or (None, None)
    pads, adjust = [], []
    for size, k, s, d, e, target in zip(_spatial(layer, x.shape), layer.kernel_size, layer.strides, layer.dilation_rate,
                                        extra, _spatial(layer, out.shape)):
        size_out, (before, after) = transpose_padding(size, k, s, d, layer.padding, e)
        natural = (size - 1) * s + (k - 1) * d + 1 - before - after
        if size_out != target or not 0 <= size_out - natural < max(s, d):
            raise ExportError(f"ONNX export: layer {layer.name!r} (Conv2DTranspose): input size {size}, kernel {k}, "
                              f"stride {s}, dilation {d} give an output geometry ONNX's ConvTranspose cannot express")
        pads.append((before, after))
        adjust.append(size_out - natural)
    inputs = [_nchw(g, layer, x), g.const(f"{layer.name}/kernel", kernel.transpose(3, 2, 0, 1))]
    if layer.bias is not None:
        inputs.append(g.const(f"{layer.name}/bias", _bias(layer)))
    y = g.node("ConvTranspose", inputs, f"{layer.name}/ConvTranspose", strides=list(layer.strides),
               dilations=list(layer.dilation_rate), pads=_onnx_pads(pads), output_padding=adjust,
               kernel_shape=list(layer.kernel_size))
    return _finish(g, layer, y, out)


# -- pooling ------------------------------------------------------------------------------------------------------
def _pool(op, g, layer, x, out, **attrs):
    _check_rank(layer, x)
    pads = resolve_padding(layer.name, layer.padding, _spatial(layer, x.shape), layer.pool_size, layer.strides)
    y = g.node(op, [_nchw(g, layer, x)], f"{layer.name}/{op}", kernel_shape=list(layer.pool_size),
               strides=list(layer.strides), pads=_onnx_pads(pads), **attrs)
    return Value(y, out_shape(out), _layouts(layer)[1])


@rule(L.MaxPooling2D)
def max_pool(g, layer, x, data, out):
    return _pool("MaxPool", g, layer, x, out)


@rule(L.AveragePooling2D)
def average_pool(g, layer, x, data, out):
    return _pool("AveragePool", g, layer, x, out, count_include_pad=0)  # Keras: padding cells are not counted


def _global_pool(op, g, layer, x, out):
    _check_rank(layer, x)
    perm, name = g.some_form(x)
    spatial = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    axes = sorted(inverse(perm)[a] for a in spatial)
    y = g.node(op, [name], f"{layer.name}/{op}", axes=axes, keepdims=int(layer.keepdims))
    if layer.keepdims:
        return Value(y, out_shape(out), perm)
    # the remaining axes keep the order they had in this form: batch and channels, which is ember's order too
    return Value(y, out_shape(out))


@rule(L.GlobalAveragePooling2D)
def global_average_pool(g, layer, x, data, out):
    return _global_pool("ReduceMean", g, layer, x, out)


@rule(L.GlobalMaxPooling2D)
def global_max_pool(g, layer, x, data, out):
    return _global_pool("ReduceMax", g, layer, x, out)


# -- padding and upsampling -----------------------------------------------------------------------------------------
@rule(L.ZeroPadding2D)
def zero_padding(g, layer, x, data, out):
    _check_rank(layer, x)
    perm, name = g.some_form(x)
    spatial = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    before, after = [0] * 4, [0] * 4
    for axis, (b, a) in zip(spatial, layer.padding):
        before[inverse(perm)[axis]], after[inverse(perm)[axis]] = b, a
    y = g.node("Pad", [name, g.ints(f"{layer.name}/pads", before + after)], f"{layer.name}/Pad", mode="constant")
    return Value(y, out_shape(out), perm)


@rule(L.UpSampling2D)
def upsampling(g, layer, x, data, out):
    """Nearest-neighbour repetition by integer factors: Resize with asymmetric coordinates and floor rounding
    picks source pixel floor(i / factor), exactly ember's repeat."""
    _check_rank(layer, x)
    perm, name = g.some_form(x)
    spatial = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    scales = [1.0] * 4
    for axis, factor in zip(spatial, layer.size):
        scales[inverse(perm)[axis]] = float(factor)
    scale_name = g.const(f"{layer.name}/scales", np.asarray(scales, np.float32), np.float32)
    y = g.node("Resize", [name, "", scale_name], f"{layer.name}/Resize", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return Value(y, out_shape(out), perm)
