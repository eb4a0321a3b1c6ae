"""Kernel backends: the NumPy reference (the spec), the native CPU kernels (ember._C), the CUDA kernels (ember._cuda).

Every backend module exposes the same functions on raw arrays (NumPy on the CPU, CuPy on a GPU). Ops pick the
backend by where their operands live (`for_array`): GPU arrays always run on "cuda"; CPU arrays on the CPU
choice ("cpu" unless `set_backend` / `use_backend` say "reference"). The caller (ember.ops)
has already validated shapes and dtypes and resolved padding to explicit pairs, so backends compute only.
Each function returns a new array of the input's dtype (float32 or float64).

    matmul(a, b)                                   a (..., M, K), b (..., K, N), batch dims broadcast
    column_sums(a)                                 a (M, N) -> (N,): a bias gradient, summed over the rows
    conv2d_forward(x, w, strides, padding, dilation, groups, bias=None, activation=None, alpha=0.0)
        x (N, H, W, C) NHWC, w (KH, KW, C // groups, O) HWIO, strides (sh, sw),
        padding ((top, bottom), (left, right)), dilation (dh, dw); returns (N, Ho, Wo, O) where
        Ho = (H + top + bottom - dh * (KH - 1) - 1) // sh + 1; bias and activation as bias_activation_forward
    conv2d_backward_input(grad_y, w, x_shape, strides, padding, dilation, groups)   -> grad_x
    conv2d_backward_weight(grad_y, x, w_shape, strides, padding, dilation, groups)  -> grad_w
    max_pool2d_forward(x, pool, strides, padding)  x NHWC, pool (ph, pw); padding cells never win
    max_pool2d_backward(grad_y, x, pool, strides, padding)
        the gradient goes to the first NaN of each window if any, else to its first maximum (row-major)
    avg_pool2d_forward(x, pool, strides, padding)  divides by the count of real (non-padding) cells, as Keras
    avg_pool2d_backward(grad_y, x_shape, pool, strides, padding)
    activation_forward(name, x, alpha)             name: relu, leaky_relu, elu, sigmoid, tanh; NaN propagates
    activation_backward(name, x, y, grad_y, alpha) relu'(0) = 0; elu and leaky_relu use alpha
    bias_activation_forward(x, bias, name, alpha)  act(x + bias), bias (C,) on the last axis or None, name None or
        relu, leaky_relu (alpha >= 0), sigmoid, tanh: the activations whose derivative follows from y alone
    bias_activation_backward(name, y, grad_y, alpha, bias) -> (grad_x, grad_bias or None)
    softmax_forward(x, axis) / softmax_backward(y, grad_y, axis)
    log_softmax_forward(x, axis) / log_softmax_backward(y, grad_y, axis)      y is the forward's output

Recurrent sequences are time-major: x (T, B, I), states (B, H), outputs (T, B, H); `mask` is None or a (T, B)
bool array: where it is False the step is skipped (h_t = h_{t-1}, c_t = c_{t-1}). Gates follow Keras' order and
fixed nonlinearities (sigmoid gates, tanh candidate/cell); other activations use the composite cell path.
`grad_h` (and `grad_c`) are the gradients of every step's output (final states are the last step's).
    simple_rnn_forward(x, h0, kernel (I, H), recurrent_kernel (H, H), bias (H,) | None, activation, mask) -> h
        h_t = act(x_t W + h_{t-1} U + b), activation "tanh" or "relu"
    simple_rnn_backward(grad_h, x, h0, kernel, recurrent_kernel, activation, mask, h)
        -> (grad_x, grad_h0, grad_kernel, grad_recurrent_kernel, grad_bias)
    lstm_forward(x, h0, c0, kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) | None, mask)
        -> (h, c, gates)    gates (T, B, 4H) after their nonlinearities, in Keras order [i, f, g, o]
    lstm_backward(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel, mask, h, c, gates)
        -> (grad_x, grad_h0, grad_c0, grad_kernel, grad_recurrent_kernel, grad_bias)
    gru_forward(x, h0, kernel (I, 3H), recurrent_kernel (H, 3H), bias, reset_after, mask) -> (h, gates)
        Keras' GRU, gates [z, r, hh]: bias (2, 3H) (input, recurrent) when reset_after else (3H,), or None;
        gates (T, B, 4H) = [z, r, hh, q], q = h_{t-1} U_h + b_rh (reset_after) or (r * h_{t-1}) U_h (not)
    gru_backward(grad_h, x, h0, kernel, recurrent_kernel, bias, reset_after, mask, h, gates)
        -> (grad_x, grad_h0, grad_kernel, grad_recurrent_kernel, grad_bias)
"""
import contextlib
import importlib
import threading

import numpy as np

_NAMES = ("reference", "cpu")  # the CPU backends: what set_backend / use_backend choose between
_GPU = "cuda"  # the backend of every GPU array (ember.backend.cuda)
_loaded = {}
_cpu_choice = None  # the process-wide choice (set_backend)


class _Choice(threading.local):
    """.choice: this thread's choice inside `use_backend` blocks, over the process one. A class default, so that
    every op reads it without the AttributeError a getattr with a default raises and catches in a new thread."""

    choice = None


_local = _Choice()


def get(name):
    """The backend module called `name` ("reference", "cpu" or "cuda")."""
    if name not in _NAMES and name != _GPU:
        raise ValueError(f"Unknown backend {name!r}. Expected one of {list(_NAMES) + [_GPU]}.")
    if name not in _loaded:
        _loaded[name] = importlib.import_module(f"ember.backend.{name}")
    return _loaded[name]


def native_available():
    try:
        importlib.import_module("ember._C")
    except ImportError:
        return False
    return True


def current():
    """Name of the backend CPU tensors use now, in this thread: "cpu" (native kernels) unless set otherwise."""
    global _cpu_choice
    override = _local.choice
    if override is not None:
        return override
    if _cpu_choice is None:
        _cpu_choice = "cpu" if native_available() else "reference"
    return _cpu_choice


def set_backend(name):
    """Run CPU ops on `name`: "cpu" (ember's native kernels) or "reference" (plain NumPy, the spec), in every
    thread (a thread inside a `use_backend` block keeps that block's choice until it leaves it)."""
    global _cpu_choice
    _check_cpu_choice(name)
    _cpu_choice = name


@contextlib.contextmanager
def use_backend(name):
    """`with ember.use_backend("reference"): ...` runs the block on that backend, then restores the old one.

    The switch is this thread's alone (as no_grad): another thread's ops keep their backend, and blocks that
    overlap in two threads cannot restore each other's choice.
    """
    _check_cpu_choice(name)
    previous = _local.choice
    _local.choice = name
    try:
        yield
    finally:
        _local.choice = previous


def _check_cpu_choice(name):
    if name == _GPU:
        raise ValueError(f"The backend {_GPU!r} is not a choice: ops on GPU tensors always run on it. Move tensors "
                         f"with .to('cuda') or make the GPU the default with ember.set_device('cuda'). set_backend "
                         f"and use_backend choose between the CPU backends {list(_NAMES)}.")
    get(name)


def for_array(array):
    """The backend module that computes on `array`: "cuda" for a GPU (CuPy) array, else the current CPU choice."""
    if isinstance(array, (np.ndarray, np.generic)):
        module = _loaded.get(_local.choice or _cpu_choice)  # every op asks: the loaded module without the checks
        return module if module is not None else get(current())
    return get(_GPU)
