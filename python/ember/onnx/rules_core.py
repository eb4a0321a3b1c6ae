"""Export rules for the core, activation, normalization, merge and embedding layers."""
import numpy as np

from .. import layers as L
from .graph import ExportError, Value, apply_activation, identity, inverse
from .registry import rule


def _weight(w):
    return np.asarray(w.numpy())


def out_shape(out):
    return (None,) + tuple(out.shape[1:])


# -- dense and activations ------------------------------------------------------------------------------------------
@rule(L.Dense)
def dense(g, layer, x, data, out):
    name = g.form(x)
    kernel = g.const(f"{layer.name}/kernel", _weight(layer.kernel))
    if x.rank == 2:  # Gemm adds the bias too
        inputs = [name, kernel] + ([g.const(f"{layer.name}/bias", _weight(layer.bias))] if layer.use_bias else [])
        y = g.node("Gemm", inputs, f"{layer.name}/Gemm")
    else:
        y = g.node("MatMul", [name, kernel], f"{layer.name}/MatMul")
        if layer.use_bias:
            y = g.node("Add", [y, g.const(f"{layer.name}/bias", _weight(layer.bias))], f"{layer.name}/BiasAdd")
    return apply_activation(g, Value(y, out_shape(out)), layer.activation, layer)


@rule(L.Activation)
def activation(g, layer, x, data, out):
    return apply_activation(g, x, layer.activation, layer)


@rule(L.ReLU)
def relu(g, layer, x, data, out):
    slope, cap, threshold = layer.negative_slope, layer.max_value, layer.threshold
    scope = layer.name
    if not threshold and not slope:
        if cap is None:
            return g.elementwise(x, lambda n: g.node("Relu", [n], f"{scope}/Relu"))
        low, high = g.const(f"{scope}/min", 0.0), g.const(f"{scope}/max", cap)
        return g.elementwise(x, lambda n: g.node("Clip", [n, low, high], f"{scope}/Clip"))  # ReLU6 and kin
    if not threshold and cap is None:
        return g.elementwise(x, lambda n: g.node("LeakyRelu", [n], f"{scope}/LeakyRelu", alpha=slope))

    def general(n):  # as ember's ReLU.call: where(x > t, x, 0), capped, minus slope * relu(t - x)
        t = g.const(f"{scope}/threshold", threshold)
        y = g.node("Where", [g.node("Greater", [n, t], f"{scope}/above"), n, g.const(f"{scope}/zero", 0.0)],
                   f"{scope}/Where")
        if cap is not None:
            y = g.node("Min", [y, g.const(f"{scope}/max", cap)], f"{scope}/Min")
        if slope:
            below = g.node("Relu", [g.node("Sub", [t, n], f"{scope}/t_minus_x")], f"{scope}/below")
            leak = g.node("Mul", [below, g.const(f"{scope}/slope", slope)], f"{scope}/leak")
            y = g.node("Sub", [y, leak], f"{scope}/Sub")
        return y

    return g.elementwise(x, general)


@rule(L.LeakyReLU)
def leaky_relu(g, layer, x, data, out):
    return g.elementwise(x, lambda n: g.node("LeakyRelu", [n], f"{layer.name}/LeakyRelu",
                                             alpha=layer.negative_slope))


@rule(L.ELU)
def elu(g, layer, x, data, out):
    return g.elementwise(x, lambda n: g.node("Elu", [n], f"{layer.name}/Elu", alpha=layer.alpha))


@rule(L.Softmax)
def softmax(g, layer, x, data, out):
    perm, name = g.some_form(x)
    axis = inverse(perm)[layer.axis % x.rank]
    return Value(g.node("Softmax", [name], f"{layer.name}/Softmax", axis=axis), x.shape, perm)


# -- layers that are the identity at inference ----------------------------------------------------------------------
@rule(L.Dropout, L.GaussianNoise)
def inference_identity(g, layer, x, data, out):
    return x


@rule(L.RandomFlip, L.RandomTranslation, L.RandomRotation, L.RandomZoom)
def augmentation(g, layer, x, data, out):
    if getattr(layer, "transforms_at_inference", False):
        raise ExportError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) transforms images at "
                          f"inference and has no export rule")
    return x


@rule(L.RandomCrop)
def random_crop(g, layer, x, data, out):
    """The center crop it makes at inference, as a Slice of the spatial axes."""
    if x.rank != 4:
        raise ExportError(f"ONNX export: layer {layer.name!r} (RandomCrop) needs batched images, got {x.shape}")
    rows, cols = (1, 2) if layer.data_format == "channels_last" else (2, 3)
    top, left = (x.shape[rows] - layer.height) // 2, (x.shape[cols] - layer.width) // 2
    perm, name = g.some_form(x)
    where = inverse(perm)
    y = g.node("Slice", [name, g.ints(f"{layer.name}/starts", [top, left]),
                         g.ints(f"{layer.name}/ends", [top + layer.height, left + layer.width]),
                         g.ints(f"{layer.name}/axes", [where[rows], where[cols]])], f"{layer.name}/Slice")
    return Value(y, out_shape(out), perm)


# -- reshaping --------------------------------------------------------------------------------------------------------
@rule(L.Flatten)
def flatten(g, layer, x, data, out):
    if x.rank <= 2:
        return x
    perm = None  # ember flattens channels-last; a channels_first Flatten moves the channels last first
    if layer.data_format == "channels_first":
        perm = (0,) + tuple(range(2, x.rank)) + (1,)
    return Value(g.node("Flatten", [g.form(x, perm)], f"{layer.name}/Flatten", axis=1), out_shape(out))


@rule(L.Reshape)
def reshape(g, layer, x, data, out):
    shape = g.ints(f"{layer.name}/shape", (0,) + tuple(layer.target_shape))  # 0: keep the (dynamic) batch size
    return Value(g.node("Reshape", [g.form(x), shape], f"{layer.name}/Reshape"), out_shape(out))


# -- normalization ----------------------------------------------------------------------------------------------------
@rule(L.BatchNormalization)
def batch_norm(g, layer, x, data, out):
    axis = layer.axis % x.rank
    if axis == 0:
        raise ExportError(f"ONNX export: layer {layer.name!r} (BatchNormalization) normalizes axis 0 (the batch), "
                          f"which ONNX's BatchNormalization cannot")
    size = x.shape[axis]
    ones, zeros = np.ones(size), np.zeros(size)
    params = [_weight(layer.gamma) if layer.scale else ones, _weight(layer.beta) if layer.center else zeros,
              _weight(layer.moving_mean), _weight(layer.moving_variance)]
    names = [g.const(f"{layer.name}/{what}", p) for what, p in zip(("gamma", "beta", "mean", "variance"), params)]
    # ONNX normalizes axis 1: use a form that has the channels there (the NCHW form a conv left), else make one
    perm = next((p for p in x.forms if p[1] == axis), None)
    if perm is None:
        perm = (0, axis) + tuple(a for a in range(1, x.rank) if a != axis)
    y = g.node("BatchNormalization", [g.form(x, perm)] + names, f"{layer.name}/BatchNormalization",
               epsilon=layer.epsilon)
    return Value(y, x.shape, perm)


# -- merging ----------------------------------------------------------------------------------------------------------
def _merge(op, g, layer, xs, out):
    perm, names = g.common_form(xs)
    if len(names) > 2 and op in ("Add", "Max", "Min"):
        op = {"Add": "Sum"}.get(op, op)  # the variadic forms
        return Value(g.node(op, names, f"{layer.name}/{op}"), out_shape(out), _merged_perm(perm, out))
    y = names[0]
    for i, other in enumerate(names[1:]):
        y = g.node(op, [y, other], f"{layer.name}/{op}" + (f"_{i}" if i else ""))
    return Value(y, out_shape(out), _merged_perm(perm, out))


def _merged_perm(perm, out):
    return perm if len(perm) == out.ndim else identity(out.ndim)


@rule(L.Add)
def add(g, layer, xs, data, out):
    return _merge("Add", g, layer, xs, out)


@rule(L.Subtract)
def subtract(g, layer, xs, data, out):
    return _merge("Sub", g, layer, xs, out)


@rule(L.Multiply)
def multiply(g, layer, xs, data, out):
    return _merge("Mul", g, layer, xs, out)


@rule(L.Maximum)
def maximum(g, layer, xs, data, out):
    return _merge("Max", g, layer, xs, out)


@rule(L.Minimum)
def minimum(g, layer, xs, data, out):
    return _merge("Min", g, layer, xs, out)


@rule(L.Average)
def average(g, layer, xs, data, out):
    total = _merge("Add", g, layer, xs, out)
    scale = g.const(f"{layer.name}/inverse_count", 1.0 / len(xs))
    return g.elementwise(total, lambda n: g.node("Mul", [n, scale], f"{layer.name}/Mean"))


@rule(L.Concatenate)
def concatenate(g, layer, xs, data, out):
    perm, names = g.common_form(xs)
    axis = inverse(perm)[layer.axis % xs[0].rank]
    return Value(g.node("Concat", names, f"{layer.name}/Concat", axis=axis), out_shape(out), perm)


# -- embedding --------------------------------------------------------------------------------------------------------
@rule(L.Embedding)
def embedding(g, layer, x, data, out):
    from onnx import TensorProto

    ids = g.node("Cast", [g.form(x)], f"{layer.name}/ids", to=TensorProto.INT64)  # float ids work in ember too
    table = g.const(f"{layer.name}/embeddings", _weight(layer.embeddings))
    return Value(g.node("Gather", [table, ids], f"{layer.name}/Gather", axis=0), out_shape(out))
