"""2-D convolution, NHWC input and HWIO kernel (Keras' layouts), on the native conv kernels."""
from ._util import kernels, pair, record, require_float, require_rank, wrap


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
    require_float("conv2d", x, kernel)
    require_rank("conv2d", "input", x, 4, "N, H, W, C")
    require_rank("conv2d", "kernel", kernel, 4, "KH, KW, C // groups, O")
    strides = pair("conv2d", "strides", strides)
    dilation = pair("conv2d", "dilation_rate", dilation_rate)
    n, h, w, c = x.shape
    kh, kw, kc, o = kernel.shape
    if not isinstance(groups, int) or groups < 1 or c % groups or o % groups:
        raise ValueError(f"conv2d: invalid value for argument `groups`. Expected a positive int dividing the input "
                         f"channels ({c}) and output channels ({o}). Received: groups={groups!r}")
    if kc * groups != c:
        raise ValueError(f"conv2d: input {x.shape} and kernel {kernel.shape}: expected kernel input channels "
                         f"{c} // groups {groups} = {c // groups}, got {kc}")
    if min(x.shape[1:]) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"conv2d: sizes must be >= 1, got input {x.shape} and kernel {kernel.shape}")
    pads = resolve_padding("conv2d", padding, (h, w), (kh, kw), strides, dilation)
    check_padding("conv2d", pads)
    output_size("conv2d", (h, w), (kh, kw), strides, pads, dilation, ("input", "kernel", x.shape))

    backend = kernels(x)
    args = (strides, pads, dilation, groups)
    out = wrap(backend.conv2d_forward(x._data, kernel._data, *args))

    def backward(g):
        gx = backend.conv2d_backward_input(g, kernel._data, x.shape, *args) if x.requires_grad else None
        gk = backend.conv2d_backward_weight(g, x._data, kernel.shape, *args) if kernel.requires_grad else None
        return [gx, gk]

    return record("conv2d", out, [x, kernel], backward)
