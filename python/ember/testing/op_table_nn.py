"""Op-table entries for the kernel-backed ops (matmul, conv2d, pooling, activations, softmax) and the
composite layers' ops (batch_norm, dropout). Their references are the NumPy reference backend: the spec."""
import math

import numpy as np

import ember
from ember import ops
from ember.backend import reference as ref

from .op_table import ErrorCase, OpInfo, Sample, away_from_zero, normal, strategy
from .op_table_errors import (axis_out_of_range, mixed_devices, not_float, on_device, on_other_device,
                              ragged_errors, single_input_errors, unsupported_dtype)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _same(size, k, s, d):
    # written out again here, apart from ember.ops, so that the test checks ops' "same" arithmetic
    need = max((int(np.ceil(size / s)) - 1) * s + (k - 1) * d + 1 - size, 0)
    return need // 2, need - need // 2


def _pads(padding, spatial, window, strides, dilation):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return tuple(_same(*a) for a in zip(spatial, window, strides, dilation))
    return padding


def _any_batch(reference):
    """`reference` for a batch of 0 too: computed on one zero image, then none of it (the reference backend,
    the spec, needs a non-empty batch)."""
    def wrapped(x, *args, **kwargs):
        if x.shape[0]:
            return reference(x, *args, **kwargs)
        return reference(np.zeros((1,) + x.shape[1:], x.dtype), *args, **kwargs)[:0]

    wrapped.__name__ = reference.__name__
    return wrapped


@_any_batch
def conv2d_reference(x, w, strides=1, padding="valid", dilation_rate=1, groups=1):
    strides, dilation = _pair(strides), _pair(dilation_rate)
    pads = _pads(padding, x.shape[1:3], w.shape[:2], strides, dilation)
    return ref.conv2d_forward(x, w, strides, pads, dilation, groups)


@_any_batch
def _conv_bias_reference(x, w, b, activation=None, alpha=0.0, **kw):
    return ref.bias_activation_forward(conv2d_reference(x, w, **kw), b, activation, alpha)


def _conv_bias_samples(rng):
    """The fused bias and activation on each conv path: rows (padded, strided), direct (<= 8 channels), GEMM
    (groups, column dilation), depthwise."""
    def s(x, w, **kw):
        return Sample((normal(rng, *x), normal(rng, *w), normal(rng, w[-1])), kw)

    return [s((2, 6, 7, 3), (3, 3, 3, 20), activation="relu", padding="same"),
            s((1, 7, 7, 2), (3, 3, 2, 17), activation="leaky_relu", alpha=0.1, strides=2),
            s((2, 6, 6, 1), (5, 5, 1, 6), activation="relu", padding="same"),
            s((1, 5, 6, 4), (2, 3, 2, 6), activation="sigmoid", groups=2, dilation_rate=(1, 2)),
            s((1, 5, 5, 3), (3, 3, 1, 3), activation="tanh", groups=3),
            s((2, 4, 4, 5), (1, 1, 5, 3))]


def _pool_reference(forward):
    def reference(x, pool_size=2, strides=None, padding="valid"):
        pool = _pair(pool_size)
        strides = pool if strides is None else _pair(strides)
        return forward(x, pool, strides, _pads(padding, x.shape[1:3], pool, strides, (1, 1)))

    return reference


def _pool_bytes(sample):
    """A pooling forward's traffic: its input read, its output (sized from the first image's) written."""
    x = sample.args[0]
    first = _pool_reference(ref.avg_pool2d_forward)(x[:1], **sample.kwargs)
    return x.nbytes + first.nbytes * x.shape[0]


def _conv_samples(rng):
    def s(x, w, **kw):
        return Sample((normal(rng, *x), normal(rng, *w)), kw)

    n, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    return [s((2, 5, 6, 3), (3, 3, 3, 4)),
            s((1, 7, 7, 2), (3, 3, 2, 3), strides=2, padding="same"),
            s((2, 6, 5, 4), (2, 3, 2, 6), groups=2, padding=((1, 0), (2, 1)), dilation_rate=(1, 2)),
            s((1, 5, 5, 3), (3, 3, 1, 6), groups=3, padding="same", strides=(2, 1)),   # depthwise, multiplier 2
            s((2, 4, 4, 5), (1, 1, 5, 3)),
            s((1, 1, 1, 1), (1, 1, 1, 1)),
            s((1, 9, 9, 2), (2, 2, 2, 2), strides=3),                                 # stride > kernel: gaps
            s((n, h, w, 3), (3, 2, 3, 5), padding="same", dilation_rate=2)]


def _pool_samples(rng):
    # distinct values keep max-pool gradients away from ties
    def x(*shape):
        return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + 0.01 * normal(rng, *shape)

    return [Sample((x(2, 6, 6, 3),)), Sample((x(1, 7, 5, 2),), {"pool_size": 3, "strides": 2, "padding": "same"}),
            Sample((x(2, 5, 5, 1),), {"pool_size": (2, 3), "strides": (1, 2), "padding": ((1, 0), (0, 2))}),
            Sample((x(1, 1, 1, 1),), {"pool_size": 1}), Sample((x(1, 4, 6, 2),), {"pool_size": (1, 3)})]


def _activation(name, fn, alpha=0.0, make=away_from_zero, **kw):
    return OpInfo(name, fn, lambda x: ref.activation_forward(name, x, alpha),
                  lambda rng: [Sample((make(rng, 3, 7),)), Sample((make(rng, 2, 3, 4, 5),)), Sample((make(rng, 1),))],
                  errors=single_input_errors(name, float_only=True), strategy=strategy("unary"),
                  kernel=True, bench=[("64x112x112x32", _shapes((64, 112, 112, 32)))], bench_backward=True, **kw)


def _bias_activation_samples(rng):
    def s(shape, activation, alpha=0.0):
        bias = normal(rng, shape[-1])
        # x + bias away from 0, where relu and leaky_relu have their kink
        return Sample((away_from_zero(rng, *shape) - bias, bias), {"activation": activation, "alpha": alpha})

    return [s((3, 7), "relu"), s((2, 3, 4, 5), "leaky_relu", 0.2), s((4, 6), "sigmoid"), s((2, 1, 3), "tanh"),
            s((5, 2), None), s((1,), "relu"), s((6, 6, 6), "leaky_relu", 0.0)]


def _softmax(name, fn, forward):
    return OpInfo(name, lambda x, axis=-1: fn(x, axis), lambda x, axis=-1: forward(x, axis) if x.size else x.copy(),
                  lambda rng: [Sample((normal(rng, 3, 5),)), Sample((normal(rng, 2, 3, 4),), {"axis": 1}),
                               Sample((normal(rng, 4),), {"axis": 0}), Sample((1e4 * normal(rng, 2, 3),))],
                  errors=[axis_out_of_range(name), ragged_errors(name)[1], not_float(name, (2, 3)),
                          on_other_device(name, (2, 3))], strategy=strategy("along_axis"),
                  kernel=True, bench=[("256x1000", _shapes((256, 1000)))])


def _pool_errors(name):
    return [ErrorCase((np.ones((2, 2, 1)),), {}, ValueError,
                      rf"{name}: expected input of rank 4 \(N, H, W, C\), got shape \(2, 2, 1\)", "rank"),
            ErrorCase((np.ones((1, 2, 2, 1)),), {"pool_size": 3}, ValueError,
                      rf"{name}: the pool window \(3, 3\).* is larger than the padded input .* of input shape "
                      rf"\(1, 2, 2, 1\)", "shape"),
            not_float(name, (1, 4, 4, 1)), on_other_device(name, (1, 4, 4, 1))]


_BN_STATS = {"moving_mean": np.zeros(3), "moving_variance": np.ones(3), "training": True}


def _batch_norm(x, gamma, beta, moving_mean, moving_variance, training):
    # fresh moving statistics per call: repeated calls (finite differences) see the same state
    return ops.batch_norm(x, ember.tensor(moving_mean, dtype=x.dtype), ember.tensor(moving_variance, dtype=x.dtype),
                          gamma, beta, training=training)


def _batch_norm_reference(x, gamma, beta, moving_mean, moving_variance, training, epsilon=1e-3):
    axes = tuple(range(x.ndim - 1))
    mean, var = (x.mean(axes), x.var(axes)) if training else (moving_mean, moving_variance)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def _batch_norm_samples(rng):
    def s(shape, training):
        c = shape[-1]
        return Sample((normal(rng, *shape), normal(rng, c), normal(rng, c)),
                      {"moving_mean": normal(rng, c), "moving_variance": 0.5 + rng.random(c), "training": training})

    return [s((8, 3), True), s((2, 3, 3, 4), True), s((5, 2), False), s((2, 2, 2, 3), False)]


def _dropout(x, rate):
    ember.manual_seed(7)  # the same mask every call, for the reference and for finite differences
    return ops.dropout(x, rate)


def _dropout_reference(x, rate):
    keep = np.random.default_rng(7).random(x.shape) >= rate
    return x * keep / (1 - rate)


def _gelu_reference(x, approximate=False):
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + np.vectorize(math.erf, otypes=[x.dtype])(x / np.sqrt(2)))


def _gemm_flops(sample):
    a, b = sample.args[:2]
    return 2 * a.shape[0] * a.shape[1] * b.shape[1]


def _conv_flops(sample):
    x, w = sample.args[:2]
    kw = {k: v for k, v in sample.kwargs.items() if k not in ("activation", "alpha")}
    out = conv2d_reference(np.zeros((1,) + x.shape[1:], np.float32), w.astype(np.float32), **kw)
    return 2 * x.shape[0] * out.shape[1] * out.shape[2] * w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3]


@_any_batch
def conv2d_transpose_reference(x, w, strides=1, padding="valid", output_padding=None, dilation_rate=1):
    """Keras' output length (deconv_output_length) and TF's placement of the crop, written out apart from ops."""
    strides, dilation = _pair(strides), _pair(dilation_rate)
    extra = (None, None) if output_padding is None else _pair(output_padding)
    out, pads = [], []
    for size, k, s, d, e in zip(x.shape[1:3], w.shape[:2], strides, dilation, extra):
        span = k + (k - 1) * (d - 1)
        if e is None:
            length = size * s + max(span - s, 0) if padding == "valid" else size * s
        else:
            length = (size - 1) * s + span - 2 * (span // 2 if padding == "same" else 0) + e
        if padding == "valid":
            before = 0
        elif int(np.ceil(length / s)) == size:  # TF: the forward conv's "same" padding for the output size
            before = _same(length, k, s, d)[0]
        else:                                    # an even kernel with output_padding: Keras' pad = span // 2
            before = span // 2
        out.append(length)
        pads.append((before, max((size - 1) * s + span - length - before, 0)))
    shape = (x.shape[0], out[0], out[1], w.shape[2])
    return ref.conv2d_backward_input(x, w, shape, strides, tuple(pads), dilation, 1)


def _conv_transpose_samples(rng):
    def s(x, w, **kw):
        return Sample((normal(rng, *x), normal(rng, *w)), kw)

    return [s((2, 4, 5, 3), (3, 3, 4, 3)),
            s((1, 3, 4, 2), (3, 3, 3, 2), strides=2, padding="same"),
            s((2, 3, 3, 2), (4, 4, 2, 2), strides=2, padding="same"),
            s((1, 3, 2, 3), (2, 2, 2, 3), strides=3),                                 # stride > kernel: gaps
            s((1, 4, 3, 2), (3, 2, 2, 2), strides=(2, 1), padding="same", output_padding=(1, 0)),
            s((1, 3, 3, 1), (4, 4, 2, 1), strides=2, padding="same", output_padding=0),
            s((1, 3, 4, 2), (3, 3, 2, 2), strides=3, output_padding=2),
            s((2, 4, 4, 2), (3, 2, 3, 2), padding="same", dilation_rate=2),
            s((1, 1, 1, 1), (1, 1, 1, 1))]


def _dense_reference(x, w, b=None, activation=None, alpha=0.0):
    return ref.bias_activation_forward(ref.matmul(x, w), b, activation, alpha)


def _dense_samples(rng):
    """Every rank of x, with and without the bias, each activation, sizes off the GEMM's tiles."""
    def s(x, n, bias=True, activation=None, alpha=0.0):
        w = normal(rng, x[-1], n)
        return Sample((normal(rng, *x), w) + ((normal(rng, n),) if bias else ()),
                      {"activation": activation, "alpha": alpha})

    return [s((4, 5), 3, activation="relu"), s((2, 3, 7), 6, activation="leaky_relu", alpha=0.2),
            s((5,), 4, activation="sigmoid"), s((3, 9), 17, bias=False, activation="tanh"), s((1, 1), 1),
            s((2, 2, 2, 3), 2, bias=False), s((33, 19), 20, activation="relu")]


def _shapes(*shapes, **kw):
    """A bench case: input shapes (the bench fills them with random float32 data) and keywords."""
    return Sample(shapes, kw)


def _crossentropy_reference(x, labels, from_logits=False, axis=-1):
    v = np.moveaxis(x, axis, -1)
    if v.size == 0:
        return np.zeros(labels.shape)
    if from_logits:
        shifted = v - v.max(-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    else:
        log_p = np.log(np.clip(v / v.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))
    return -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]


def _crossentropy_samples(rng):
    def s(shape, axis=-1, from_logits=False):
        rest = tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
        x = normal(rng, *shape) if from_logits else rng.uniform(0.05, 1.0, shape)
        return Sample((x, rng.integers(0, shape[axis], rest)), {"from_logits": from_logits, "axis": axis})

    return [s((5, 4)), s((3, 6), axis=0), s((2, 3, 7), axis=1, from_logits=True), s((1, 1)), s((4, 10), from_logits=True)]


_CE_LABELS = {"labels": np.zeros(2, np.int64)}


NN_OPS = [
    OpInfo("matmul", ops.matmul, ref.matmul,
           lambda rng: [Sample((normal(rng, 3, 4), normal(rng, 4, 5))), Sample((normal(rng, 1, 1), normal(rng, 1, 7))),
                        Sample((normal(rng, 2, 3, 4), normal(rng, 4, 2))), Sample((normal(rng, 4), normal(rng, 4, 3))),
                        Sample((normal(rng, 2, 1, 3, 5), normal(rng, 4, 5, 2))), Sample((normal(rng, 6), normal(rng, 6))),
                        Sample((normal(rng, 17, 33), normal(rng, 33, 19)))],
           errors=[ErrorCase((np.ones(()), np.ones(3)), {}, ValueError,
                             r"matmul: operands must have at least 1 dimension, got shapes \(\) and \(3,\)", "rank"),
                   ErrorCase((np.ones((2, 3)), np.ones((4, 5))), {}, ValueError,
                             r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned", "shape"),
                   ErrorCase((np.ones((2, 2, 3)), np.ones((3, 3, 1))), {}, ValueError,
                             r"matmul: cannot broadcast shapes \(2,\) and \(3,\)", "shape"),
                   unsupported_dtype("matmul", (2, 3), (3, 4)),
                   mixed_devices("matmul", (np.ones((2, 3)), on_device((3, 4))))],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_gemm_flops,
           bench=[(f"{m}x{k}x{n}", _shapes((m, k), (k, n))) for m, k, n in
                  [(256, 256, 256), (1024, 1024, 1024), (256, 800, 500), (64, 4096, 1024), (128, 3136, 576)]],
           strategy=strategy("matmul")),
    OpInfo("dense", lambda x, w, b=None, **k: ops.dense(x, w, b, **k), _dense_reference, _dense_samples,
           errors=[ErrorCase((np.ones(()), np.ones((1, 3))), {}, ValueError,
                             r"dense: expected x of rank >= 1 \(\.\.\., K\) and a kernel of rank 2 \(K, N\), got shapes \(\) "
                             r"and \(1, 3\)", "rank"),
                   ErrorCase((np.ones((2, 3)), np.ones((4, 5))), {}, ValueError,
                             r"dense: shapes \(2, 3\) and \(4, 5\) are not aligned", "shape"),
                   ErrorCase((np.ones((2, 3)), np.ones((3, 5)), np.ones(4)), {}, ValueError,
                             r"dense: kernel \(3, 5\) and bias \(4,\): expected bias \(5,\)", "shape"),
                   ErrorCase((np.ones((2, 3)), np.ones((3, 5)), np.ones(5)), {"activation": "softmax"}, ValueError,
                             r"dense: invalid value for argument `activation`"),
                   not_float("dense", (2, 3), (3, 5), (5,)),
                   mixed_devices("dense", (np.ones((2, 3)), np.ones((3, 5)), on_device((5,))))],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_gemm_flops,
           bench=[("lenet 64x400x120 relu", _shapes((64, 400), (400, 120), (120,), activation="relu")),
                  ("mlp 256x1024x1024 relu", _shapes((256, 1024), (1024, 1024), (1024,), activation="relu"))],
           bench_backward=True, strategy=strategy("dense")),
    OpInfo("conv2d", lambda x, w, **k: ops.conv2d(x, w, **k), conv2d_reference, _conv_samples,
           errors=[ErrorCase((np.ones((2, 5, 5, 3)), np.ones((3, 3, 4, 8))), {}, ValueError,
                             r"conv2d: input \(2, 5, 5, 3\) and kernel \(3, 3, 4, 8\): expected kernel input channels",
                             "shape"),
                   ErrorCase((np.ones((5, 5, 3)), np.ones((3, 3, 3, 8))), {}, ValueError,
                             r"conv2d: expected input of rank 4 \(N, H, W, C\), got shape \(5, 5, 3\)", "rank"),
                   ErrorCase((np.ones((1, 5, 5, 3)), np.ones((3, 3, 3))), {}, ValueError,
                             r"conv2d: expected kernel of rank 4 \(KH, KW, C // groups, O\), got shape \(3, 3, 3\)",
                             "rank"),
                   ErrorCase((np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))), {}, ValueError,
                             r"conv2d: the kernel window \(3, 3\).* is larger than the padded input .*\(1, 2, 2, 1\)",
                             "shape"),
                   ErrorCase((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"strides": 0}, ValueError,
                             r"conv2d: invalid value for argument `strides`"),
                   ErrorCase((np.ones((1, 4, 4, 4)), np.ones((3, 3, 2, 3))), {"groups": 2}, ValueError,
                             r"conv2d: invalid value for argument `groups`"),
                   not_float("conv2d", (1, 4, 4, 1), (3, 3, 1, 1)),
                   mixed_devices("conv2d", (np.ones((1, 4, 4, 1)), on_device((3, 3, 1, 1))))],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_conv_flops, bench_backward=True,
           bench=[("lenet 64x28x28x1 5x5x6", _shapes((64, 28, 28, 1), (5, 5, 1, 6))),
                  ("lenet 64x14x14x6 5x5x16", _shapes((64, 14, 14, 6), (5, 5, 6, 16))),
                  ("binary 32x31x31x16 3x3x32", _shapes((32, 31, 31, 16), (3, 3, 16, 32))),
                  ("vgg 32x28x28x128 3x3x128", _shapes((32, 28, 28, 128), (3, 3, 128, 128), padding="same")),
                  ("resnet 32x14x14x256 3x3x256", _shapes((32, 14, 14, 256), (3, 3, 256, 256), padding="same"))],
           strategy=strategy("conv2d")),
    OpInfo("conv2d_bias_activation", ops.conv2d_bias_activation, _conv_bias_reference,
           _conv_bias_samples,
           errors=[ErrorCase((np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 4)), np.ones((1, 4))), {}, ValueError,
                             r"conv2d_bias_activation: kernel \(3, 3, 2, 4\) and bias \(1, 4\): expected bias \(4,\)", "rank"),
                   ErrorCase((np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 4)), np.ones(5)), {}, ValueError,
                             r"conv2d_bias_activation: kernel \(3, 3, 2, 4\) and bias \(5,\): expected bias \(4,\), one value per "
                             r"channel of the last axis", "shape"),
                   ErrorCase((np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 4)), np.ones(4)), {"activation": "elu"},
                             ValueError, r"conv2d_bias_activation: invalid value for argument `activation`"),
                   not_float("conv2d_bias_activation", (1, 4, 4, 2), (3, 3, 2, 4), (4,)),
                   mixed_devices("conv2d_bias_activation", (np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 4)), on_device((4,))))],
           kernel=True, rtol=1e-4, atol=1e-4, flops=_conv_flops, bench_backward=True,
           bench=[("binary 32x64x64x3 3x3x16 relu", _shapes((32, 64, 64, 3), (3, 3, 3, 16), (16,),
                                                             activation="relu"))],
           strategy=strategy("conv2d_bias_activation")),
    OpInfo("max_pool2d", lambda x, **k: ops.max_pool2d(x, **k), _pool_reference(ref.max_pool2d_forward), _pool_samples,
           errors=_pool_errors("max_pool2d") + [
               ErrorCase((np.ones((1, 4, 4, 1)),), {"pool_size": 0}, ValueError,
                         r"max_pool2d: invalid value for argument `pool_size`")],
           kernel=True, bench=[("64x112x112x32 2x2", _shapes((64, 112, 112, 32)))], bench_backward=True,
           bytes=_pool_bytes,
           strategy=strategy("pool2d")),
    OpInfo("avg_pool2d", lambda x, **k: ops.avg_pool2d(x, **k), _pool_reference(ref.avg_pool2d_forward), _pool_samples,
           errors=_pool_errors("avg_pool2d") + [
               ErrorCase((np.ones((1, 4, 4, 1)),), {"pool_size": 2, "padding": ((2, 0), (0, 0))}, ValueError,
                         r"avg_pool2d: padding .* must be smaller than the pool size")],
           kernel=True, bench=[("64x112x112x32 2x2", _shapes((64, 112, 112, 32)))], bench_backward=True,
           bytes=_pool_bytes,
           strategy=strategy("pool2d")),
    _activation("relu", ops.relu),
    _activation("leaky_relu", lambda x: ops.leaky_relu(x, 0.2), 0.2),
    _activation("elu", lambda x: ops.elu(x, 1.0), 1.0),
    _activation("sigmoid", ops.sigmoid, make=lambda rng, *s: 3 * normal(rng, *s)),
    _activation("tanh", ops.tanh, make=lambda rng, *s: 2 * normal(rng, *s)),
    OpInfo("bias_activation", lambda x, b, **k: ops.bias_activation(x, b, **k),
           lambda x, b, activation=None, alpha=0.0: ref.bias_activation_forward(x, b, activation, alpha),
           _bias_activation_samples,
           errors=[ErrorCase((np.ones(()), np.ones(1)), {"activation": "relu"}, ValueError,
                             r"bias_activation: input \(\) and bias \(1,\): expected bias an input of rank >= 1", "rank"),
                   ErrorCase((np.ones((2, 3)), np.ones(4)), {"activation": "relu"}, ValueError,
                             r"bias_activation: input \(2, 3\) and bias \(4,\): expected bias \(3,\), one value per "
                             r"channel of the last axis", "shape"),
                   ErrorCase((np.ones((2, 3)), np.ones(3)), {"activation": "elu"}, ValueError,
                             r"bias_activation: invalid value for argument `activation`"),
                   ErrorCase((np.ones((2, 3)), np.ones(3)), {"activation": "leaky_relu", "alpha": -0.1}, ValueError,
                             r"bias_activation: invalid value for argument `alpha`"),
                   not_float("bias_activation", (2, 3), (3,)),
                   mixed_devices("bias_activation", (np.ones((2, 3)), on_device((3,))))],
           kernel=True, strategy=strategy("bias_activation"),
           bench=[("64x28x28x6 relu", _shapes((64, 28, 28, 6), (6,), activation="relu")),
                  ("32x62x62x16 relu", _shapes((32, 62, 62, 16), (16,), activation="relu")),
                  ("256x1024 sigmoid", _shapes((256, 1024), (1024,), activation="sigmoid"))]),
    _softmax("softmax", ops.softmax, ref.softmax_forward),
    _softmax("log_softmax", ops.log_softmax, ref.log_softmax_forward),
    OpInfo("batch_norm", _batch_norm, _batch_norm_reference, _batch_norm_samples,
           errors=[ErrorCase((np.ones((4, 3)), np.ones((1, 3)), np.ones(3)), _BN_STATS, ValueError,
                             r"batch_norm: `gamma` has shape \(1, 3\), expected \(3,\) for input \(4, 3\)", "rank"),
                   ErrorCase((np.ones((4, 3)), np.ones(2), np.ones(3)), _BN_STATS, ValueError,
                             r"batch_norm: `gamma` has shape \(2,\), expected \(3,\) for input \(4, 3\)", "shape"),
                   ErrorCase((np.arange(12).reshape(4, 3), np.ones(3), np.ones(3)), _BN_STATS, TypeError,
                             r"batch_norm: expected float32 or float64 inputs, got int64 \(shapes \(4, 3\)\)", "dtype"),
                   mixed_devices("batch_norm", (np.ones((4, 3)), on_device((3,)), np.ones(3)), _BN_STATS)],
           rtol=1e-4, atol=1e-4,
           strategy=strategy("batch_norm")),
    OpInfo("dropout", _dropout, _dropout_reference,
           lambda rng: [Sample((normal(rng, 4, 5),), {"rate": 0.5}), Sample((normal(rng, 3, 3, 2),), {"rate": 0.1})],
           errors=[ErrorCase((np.ones(3),), {"rate": 1.5}, ValueError,
                             r"dropout: invalid value for argument `rate`. Expected a float in \[0, 1\]. Received: rate=1.5")]
           + single_input_errors("dropout", {"rate": 0.5}, float_only=True),
           propagates_nan=False,
           strategy=strategy("dropout")),
    OpInfo("gelu", lambda x, approximate=False: ops.gelu(x, approximate), _gelu_reference,
           lambda rng: [Sample((normal(rng, 3, 4),)), Sample((normal(rng, 5),), {"approximate": True})],
           errors=single_input_errors("gelu", float_only=True),
           strategy=strategy("unary", flags=("approximate",))),
    OpInfo("conv2d_transpose", lambda x, w, **k: ops.conv2d_transpose(x, w, **k), conv2d_transpose_reference,
           _conv_transpose_samples,
           errors=[ErrorCase((np.ones((2, 5, 5, 3)), np.ones((3, 3, 4, 2))), {}, ValueError,
                             r"conv2d_transpose: input \(2, 5, 5, 3\) and kernel \(3, 3, 4, 2\): expected the kernel's "
                             r"last axis \(input channels\) to be 3, got 2", "shape"),
                   ErrorCase((np.ones((5, 5, 3)), np.ones((3, 3, 4, 3))), {}, ValueError,
                             r"conv2d_transpose: expected input of rank 4 \(N, H, W, C\), got shape \(5, 5, 3\)", "rank"),
                   not_float("conv2d_transpose", (1, 4, 4, 1), (3, 3, 1, 1)),
                   mixed_devices("conv2d_transpose", (np.ones((1, 4, 4, 1)), on_device((3, 3, 1, 1)))),
                   ErrorCase((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"strides": 2, "output_padding": 2},
                             ValueError, r"conv2d_transpose: `output_padding` 2 must be smaller than the strides"),
                   ErrorCase((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"padding": "full"}, ValueError,
                             r"conv2d_transpose: invalid value for argument `padding`. Expected 'valid' or 'same'"),
                   ErrorCase((np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))), {"strides": 0}, ValueError,
                             r"conv2d_transpose: invalid value for argument `strides`")],
           kernel=True, rtol=1e-4, atol=1e-4,
           bench=[("dcgan 64x14x14x128 4x4 s2", _shapes((64, 14, 14, 128), (4, 4, 64, 128), strides=2,
                                                        padding="same"))],
           strategy=strategy("conv2d_transpose")),
    OpInfo("sparse_crossentropy", ops.sparse_crossentropy, _crossentropy_reference, _crossentropy_samples,
           errors=[ErrorCase((np.full((2, 4), 0.25), np.zeros((2, 1), np.int64)), {}, ValueError,
                             r"sparse_crossentropy: expected labels of shape \(2,\) \(y_pred \(2, 4\) without axis 1\), "
                             r"got shape \(2, 1\)", "rank"),
                   ErrorCase((np.full((2, 4), 0.25), np.array([0, 4])), {}, ValueError,
                             r"sparse_crossentropy: expected labels in \[0, 4\) for y_pred of shape \(2, 4\)", "shape"),
                   not_float("sparse_crossentropy", (2, 4), kwargs=_CE_LABELS),
                   on_other_device("sparse_crossentropy", (2, 4), kwargs=_CE_LABELS)],
           strategy=strategy("sparse_crossentropy")),
]
