"""2-D convolution, NHWC input and HWIO kernel (Keras' layouts), on the native conv kernels."""
from ..device import array_module
from ._util import (checked_once, empty_result, host_signature, kernels, pair, record, require_float, require_rank,
                    tensor_of, wrap)
from .activation import check_bias_activation


def same_padding(size, kernel, stride, dilation=1):
    """Keras/TF "same": output = ceil(size / stride); the odd pixel of padding goes after (bottom/right)."""
    span = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def resolve_padding(op, padding, spatial, window, strides, dilation=(1, 1)):
    """"valid", "same", an int, (ph, pw) or ((top, bottom), (left, right)) as ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return tuple(same_padding(*args) for args in zip(spatial, window, strides, dilation))
    elif isinstance(padding, int):
        return (padding, padding), (padding, padding)
    else:
        try:
            parts = tuple(padding)
            if len(parts) == 2 and all(isinstance(p, int) for p in parts):
                return (parts[0], parts[0]), (parts[1], parts[1])
            if len(parts) == 2 and all(len(p) == 2 for p in parts):
                return tuple((int(p[0]), int(p[1])) for p in parts)
        except TypeError:
            pass
    raise ValueError(f"{op}: invalid value for argument `padding`. Expected 'valid', 'same', an int, (ph, pw) or "
                     f"((top, bottom), (left, right)). Received: padding={padding!r}")


def check_padding(op, padding):
    if any(p < 0 for side in padding for p in side):
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")


def output_size(op, shape, window, strides, padding, dilation, names):
    sizes = []
    for size, k, s, (before, after), d in zip(shape, window, strides, padding, dilation):
        span = (k - 1) * d + 1
        if size + before + after < span:
            raise ValueError(f"{op}: the {names[1]} window {window} (dilated span {span}) is larger than the padded "
                             f"{names[0]} (size {size} + padding {before + after}) of input shape {names[2]}")
        sizes.append((size + before + after - span) // s + 1)
    return tuple(sizes)


def conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Cross-correlate NHWC `x` (N, H, W, C) with HWIO `kernel` (KH, KW, C // groups, O) -> (N, Ho, Wo, O)."""
    return _conv2d("conv2d", x, kernel, None, None, 0.0, strides, padding, dilation_rate, groups)


def conv2d_bias_activation(x, kernel, bias=None, activation=None, alpha=0.0, strides=1, padding="valid",
                           dilation_rate=1, groups=1):
    """activation(conv2d(x, kernel, ...) + bias) as one op, what a Conv2D layer computes: `bias` (O,) or None, and
    `activation` as ops.bias_activation takes it (None, "relu", "leaky_relu" with slope `alpha`, "sigmoid", "tanh").
    The native path adds them as the convolution stores its output, with no second pass over memory."""
    return _conv2d("conv2d_bias_activation", x, kernel, bias, activation, alpha, strides, padding, dilation_rate,
                   groups)


def _conv2d_checks(op, x, kernel, b, activation, alpha, strides, padding, dilation_rate, groups):
    """Validates a conv2d call; returns (strides, pads, dilation, alpha, ho, wo)."""
    require_float(op, x, kernel, *([] if b is None else [b]))
    require_rank(op, "input", x, 4, "N, H, W, C")
    require_rank(op, "kernel", kernel, 4, "KH, KW, C // groups, O")
    strides = pair(op, "strides", strides)
    dilation = pair(op, "dilation_rate", dilation_rate)
    n, h, w, c = x.shape
    kh, kw, kc, o = kernel.shape
    if not isinstance(groups, int) or groups < 1 or c % groups or o % groups:
        raise ValueError(f"{op}: invalid value for argument `groups`. Expected a positive int dividing the input "
                         f"channels ({c}) and output channels ({o}). Received: groups={groups!r}")
    if kc * groups != c:
        raise ValueError(f"{op}: input {x.shape} and kernel {kernel.shape}: expected kernel input channels "
                         f"{c} // groups {groups} = {c // groups}, got {kc}")
    if min(x.shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"{op}: sizes must be >= 1, got input {x.shape} and kernel {kernel.shape}")
    alpha = check_bias_activation(op, o, b, activation, alpha, f"kernel {kernel.shape}")
    pads = resolve_padding(op, padding, (h, w), (kh, kw), strides, dilation)
    check_padding(op, pads)
    ho, wo = output_size(op, (h, w), (kh, kw), strides, pads, dilation, ("input", "kernel", x.shape))
    return strides, pads, dilation, alpha, ho, wo


def _conv2d(op, x, kernel, bias, activation, alpha, strides, padding, dilation_rate, groups):
    x, kernel = tensor_of(op, x), tensor_of(op, kernel)
    b = None if bias is None else tensor_of(op, bias)
    signature = host_signature((x, kernel, b), op, activation, alpha, strides, padding, dilation_rate, groups)
    strides, pads, dilation, alpha, ho, wo = checked_once(_conv2d_checks, signature, op, x, kernel, b, activation,
                                                          alpha, strides, padding, dilation_rate, groups)
    fused = b is not None or activation is not None
    inputs = [x, kernel] + ([] if b is None else [b])
    if x.shape[0] == 0:
        return empty_result(op, (0, ho, wo, kernel.shape[3]), inputs)

    backend = kernels(x)
    args = (strides, pads, dilation, groups)
    out = wrap(backend.conv2d_forward(x._data, kernel._data, *args, None if b is None else b._data, activation,
                                      alpha))
    y = out._data  # the array, not `out`: a closure holding the tensor would make a cycle out -> node -> out

    def backward(g):
        gb = None
        if fused:  # through the activation (read from y) to the convolution's output, and the bias's sums
            g, gb = backend.bias_activation_backward(activation, y, g, alpha, b is not None)
            g = g.reshape(y.shape)
        g = array_module(g).ascontiguousarray(g)  # once, where each kernel would copy a strided or broadcast g
        gx = backend.conv2d_backward_input(g, kernel._data, x.shape, *args) if x.requires_grad else None
        gk = backend.conv2d_backward_weight(g, x._data, kernel.shape, *args) if kernel.requires_grad else None
        return [gx, gk] + ([] if b is None else [gb])

    return record(op, out, inputs, backward)


def transpose_padding(size, kernel, stride, dilation, padding, output_padding):
    """Output size and the padding of the forward conv it transposes, as Keras sizes a transposed conv.

    Keras (its JAX form) pads the stride-dilated input by (left, right) and runs a conv with the kernel flipped.
    That conv is conv2d's input gradient with forward padding (span - 1 - left, span - 1 - right); the forward
    conv may leave trailing rows unread (stride > kernel, or an output_padding), which then only get zeros.
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        left, right = span - 1, span - 1 + extra
    else:
        total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, span - 1)
        right = total - left
    out = (size - 1) * stride + 1 + left + right - span + 1
    before = span - 1 - left
    after = max((size - 1) * stride + span - out - before, 0)  # just enough that the forward conv gives `size`
    return out, (before, after)


def conv2d_transpose(x, kernel, strides=1, padding="valid", output_padding=None, dilation_rate=1):
    """Transposed 2-D convolution of NHWC `x` (N, H, W, C) with `kernel` (KH, KW, O, C) -> (N, Ho, Wo, O), as
    keras.ops.conv_transpose: Ho = H * stride for "same", H * stride + max(span - stride, 0) for "valid" (span =
    dilated kernel size), or (H - 1) * stride + span - 2 * pad + output_padding (pad = span // 2 if "same").

    It is conv2d's input gradient, so it runs on the conv2d kernels: forward = conv2d_backward_input, its input
    gradient = conv2d_forward, its kernel gradient = conv2d_backward_weight with the roles of x and y swapped.
    """
    x, kernel = tensor_of("conv2d_transpose", x), tensor_of("conv2d_transpose", kernel)
    require_float("conv2d_transpose", x, kernel)
    require_rank("conv2d_transpose", "input", x, 4, "N, H, W, C")
    require_rank("conv2d_transpose", "kernel", kernel, 4, "KH, KW, O, C")
    strides = pair("conv2d_transpose", "strides", strides)
    dilation = pair("conv2d_transpose", "dilation_rate", dilation_rate)
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise ValueError(f"conv2d_transpose: invalid value for argument `padding`. Expected 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    extra = (None, None) if output_padding is None else pair("conv2d_transpose", "output_padding", output_padding, 0)
    n, h, w, c = x.shape
    kh, kw, o, kc = kernel.shape
    if kc != c:
        raise ValueError(f"conv2d_transpose: input {x.shape} and kernel {kernel.shape}: expected the kernel's last "
                         f"axis (input channels) to be {c}, got {kc}")
    if min(x.shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"conv2d_transpose: sizes must be >= 1, got input {x.shape} and kernel {kernel.shape}")
    for e, s in zip(extra, strides):
        if e is not None and e >= s:
            raise ValueError(f"conv2d_transpose: `output_padding` {output_padding!r} must be smaller than the "
                             f"strides {strides} on every axis")
    sizes = [transpose_padding(*args, mode, e) for args, e in zip(zip((h, w), (kh, kw), strides, dilation), extra)]
    (ho, pad_h), (wo, pad_w) = sizes
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d_transpose: input {x.shape} and kernel {kernel.shape} give an empty output "
                         f"({ho}, {wo})")
    if n == 0:
        return empty_result("conv2d_transpose", (0, ho, wo, o), [x, kernel])
    backend = kernels(x)
    args = (strides, (pad_h, pad_w), dilation, 1)
    out = wrap(backend.conv2d_backward_input(x._data, kernel._data, (n, ho, wo, o), *args))

    def backward(g):
        gx = backend.conv2d_forward(g, kernel._data, *args) if x.requires_grad else None
        gk = backend.conv2d_backward_weight(x._data, g, kernel.shape, *args) if kernel.requires_grad else None
        return [gx, gk]

    return record("conv2d_transpose", out, [x, kernel], backward)
