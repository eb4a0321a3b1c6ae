"""ember's CUDA kernels (ember._cuda), built when CMake finds a CUDA compiler (EMBER_CUDA=AUTO|ON|OFF).

Arrays are objects with __cuda_array_interface__ (v2 or v3; CuPy arrays) of float32 or float64, one dtype per call,
C-contiguous (gemm's a and b: any strides), in device memory of the current device: a host array is a TypeError,
another dtype a TypeError, a shape, contiguity, read-only output or overlap problem a ValueError naming the op, as
in ember._C. The kernel functions mirror ember._C's (_C.pyi) one for one: same names, same positional arguments,
same semantics, plus a keyword-only `stream` (a cudaStream_t as an int, e.g. cupy.cuda.get_current_stream().ptr;
0 is the legacy default stream). Calls are asynchronous on that stream, after the streams the arrays' interfaces
name (v3 "stream"); each launch is checked. The module imports with no driver (the CUDA runtime is linked
statically): device_count() is then 0, driver_error() says why, and every kernel raises CudaError.
"""
from typing import Any

import numpy as np

Array = Any  # an object with __cuda_array_interface__, e.g. cupy.ndarray

class CudaError(RuntimeError):
    """A CUDA call or launch failed: "<op>: CUDA error <name> (<description>) at csrc/cuda/<file>:<line>", or
    "<op>: no CUDA device (<why>)"."""

class CudaOutOfMemoryError(CudaError, MemoryError):
    """The GPU ran out of memory (scratch buffers are cudaMallocAsync'd on the call's stream)."""

def device_count() -> int:
    """CUDA devices visible; 0, never an exception, without a driver or a device."""

def driver_error() -> str:
    """'' when device_count() > 0, else why not ("CUDA driver not found ...", "no CUDA-capable device ...")."""

def runtime_version() -> int:
    """The CUDA runtime the module was built with, e.g. 13000 for 13.0."""

def driver_version() -> int:
    """The installed driver's CUDA version, 0 when there is none."""

def compiled_architectures() -> list[str]:
    """GPU code in the module: "sm_80", "sm_90" (machine code), "compute_90" (PTX the driver compiles for newer GPUs)."""

def synchronize() -> None:
    """Waits for the current device; raises CudaError for an earlier kernel's failure."""

def gemm(a: Array, b: Array, out: Array, alpha: float = 1.0, beta: float = 0.0, *, stream: int = 0) -> None:
    """out = alpha * a @ b + beta * out. a (B|1, M, K), b (B|1, K, N) with any strides (a batch of 1 broadcasts),
    out (B, M, N) C-contiguous. beta == 0 ignores out's old contents. Tiled in shared memory, register-blocked,
    plain FMA in float32 (no TF32); k is reduced in ascending order (split into fixed chunks, added in order, when
    the output has too few tiles)."""

def column_sums(a: Array, out: Array, *, stream: int = 0) -> None:
    """out (N,) = the column sums of a C-contiguous a (M, N): chunks of rows fixed by M, each summed in row order,
    the chunks added in order."""

def gemm_naive(a: Array, b: Array, out: Array, alpha: float = 1.0, beta: float = 0.0, *, stream: int = 0) -> None:
    """Unblocked reference GEMM on 2-D arrays with any strides."""

def conv2d_forward(x: Array, w: Array, out: Array, sh: int, sw: int, pt: int, pb: int, pl: int, pr: int, dh: int,
                   dw: int, groups: int, bias: Array | None = None, activation: str | None = None,
                   alpha: float = 0.0, *, stream: int = 0) -> None:
    """out (N, Ho, Wo, O) = activation(conv2d(x, w) + bias) of x (N, H, W, C) with w (KH, KW, C // groups, O): an
    implicit GEMM per group whose store adds the bias (O,) and applies the activation; a direct kernel when
    groups == C > 1 (depthwise), then one pass for the bias and activation."""

def conv2d_backward_input(grad_y: Array, w: Array, grad_x: Array, sh: int, sw: int, pt: int, pb: int, pl: int,
                          pr: int, dh: int, dw: int, groups: int, *, stream: int = 0) -> None:
    """grad_x (N, H, W, C) from grad_y (N, Ho, Wo, O) and w; a tap that reaches no output adds nothing."""

def conv2d_backward_weight(grad_y: Array, x: Array, grad_w: Array, sh: int, sw: int, pt: int, pb: int, pl: int,
                           pr: int, dh: int, dw: int, groups: int, *, stream: int = 0) -> None:
    """grad_w (KH, KW, C // groups, O) from grad_y and x, reduced in an order fixed by the shapes alone."""

def max_pool2d_forward(x: Array, out: Array, ph: int, pw: int, sh: int, sw: int, pt: int, pb: int, pl: int,
                       pr: int, *, stream: int = 0) -> None: ...
def max_pool2d_backward(grad_y: Array, x: Array, grad_x: Array, ph: int, pw: int, sh: int, sw: int, pt: int,
                        pb: int, pl: int, pr: int, *, stream: int = 0) -> None:
    """Each window's gradient to its first NaN, else its first maximum (row-major); windows added in order."""

def avg_pool2d_forward(x: Array, out: Array, ph: int, pw: int, sh: int, sw: int, pt: int, pb: int, pl: int,
                       pr: int, *, stream: int = 0) -> None: ...
def avg_pool2d_backward(grad_y: Array, grad_x: Array, ph: int, pw: int, sh: int, sw: int, pt: int, pb: int,
                        pl: int, pr: int, *, stream: int = 0) -> None: ...
def activation_forward(name: str, x: Array, out: Array, alpha: float = 0.0, *, stream: int = 0) -> None:
    """name: relu, leaky_relu, elu, sigmoid, tanh. Same-shape C-contiguous arrays; out may be x."""

def activation_backward(name: str, x: Array, y: Array, grad_y: Array, grad_x: Array, alpha: float = 0.0, *,
                        stream: int = 0) -> None: ...
def softmax_forward(x: Array, out: Array, *, stream: int = 0) -> None:
    """Over the last axis of a C-contiguous array (one thread per row)."""

def softmax_backward(y: Array, grad_y: Array, grad_x: Array, *, stream: int = 0) -> None: ...
def log_softmax_forward(x: Array, out: Array, *, stream: int = 0) -> None: ...
def log_softmax_backward(y: Array, grad_y: Array, grad_x: Array, *, stream: int = 0) -> None: ...

# Recurrent sequences, time-major: x (T, B, I), h0/c0 (B, H), outputs (T, B, H); mask (T, B) bool or None. The input
# projection of every step is one GEMM; each step one fused kernel (recurrent product + gates + state update; GRU
# without reset_after two); backward through time likewise, then the weight gradients as one GEMM over all steps.
def simple_rnn_forward(x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, bias: Array | None,
                       activation: str, mask: Array | None, h: Array, *, stream: int = 0) -> None: ...
def simple_rnn_backward(grad_h: Array, x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, activation: str,
                        mask: Array | None, h: Array, grad_x: Array, grad_h0: Array, grad_kernel: Array,
                        grad_recurrent_kernel: Array, grad_bias: Array, *, stream: int = 0) -> None: ...
def lstm_forward(x: Array, h0: Array, c0: Array, kernel: Array, recurrent_kernel: Array, bias: Array | None,
                 mask: Array | None, h: Array, c: Array, gates: Array, *, stream: int = 0) -> None:
    """gates (T, B, 4H): [i, f, g, o] after their nonlinearities."""

def lstm_backward(grad_h: Array, grad_c: Array, x: Array, h0: Array, c0: Array, kernel: Array,
                  recurrent_kernel: Array, mask: Array | None, h: Array, c: Array, gates: Array, grad_x: Array,
                  grad_h0: Array, grad_c0: Array, grad_kernel: Array, grad_recurrent_kernel: Array, grad_bias: Array,
                  *, stream: int = 0) -> None: ...
def gru_forward(x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, bias: Array | None, reset_after: bool,
                mask: Array | None, h: Array, gates: Array, *, stream: int = 0) -> None:
    """gates (T, B, 4H): [z, r, hh, q]; bias (2, 3H) when reset_after else (3H,), or None."""

def gru_backward(grad_h: Array, x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, reset_after: bool,
                 mask: Array | None, h: Array, gates: Array, grad_x: Array, grad_h0: Array, grad_kernel: Array,
                 grad_recurrent_kernel: Array, grad_bias: Array, *, stream: int = 0) -> None: ...

# CUDA-only kernels.
def batch_norm_statistics(x: Array, mean: Array, var: Array, *, stream: int = 0) -> None:
    """mean (C,) and biased variance (C,) of x (M, C): Welford over fixed chunks of rows (from M alone), merged in
    order; float32 accumulates in float32, float64 in float64. M == 0 gives NaN."""

def dropout_mask(out: Array, rate: float, seed: int, offset: int, *, stream: int = 0) -> None:
    """out (any shape, C-contiguous, read flat): element i is 1 / (1 - rate) (0 when rate is 1) if Philox4x32-10
    word q = offset + i is >= floor(rate * 2**32), else 0. Word q is word q % 4 of the block at counter
    (q // 4 low, q // 4 high, 0, 0) under key (seed low, seed high) (32-bit halves). rate in [0, 1] (else
    ValueError); seed and offset are 64-bit; (seed, offset) determine the mask, and offset += n continues it."""

class emulator:
    """The kernel functions above over NumPy arrays, run on the CPU: the same kernel bodies, operand loaders, stores
    and recurrent cells, driven by a host loop that reduces in the device's order (not the shared-memory tiling).
    For tests on machines without a GPU; slow. `stream` is accepted and ignored."""

    gemm = gemm
    column_sums = column_sums
    gemm_naive = gemm_naive
    conv2d_forward = conv2d_forward
    conv2d_backward_input = conv2d_backward_input
    conv2d_backward_weight = conv2d_backward_weight
    max_pool2d_forward = max_pool2d_forward
    max_pool2d_backward = max_pool2d_backward
    avg_pool2d_forward = avg_pool2d_forward
    avg_pool2d_backward = avg_pool2d_backward
    activation_forward = activation_forward
    activation_backward = activation_backward
    softmax_forward = softmax_forward
    softmax_backward = softmax_backward
    log_softmax_forward = log_softmax_forward
    log_softmax_backward = log_softmax_backward
    simple_rnn_forward = simple_rnn_forward
    simple_rnn_backward = simple_rnn_backward
    lstm_forward = lstm_forward
    lstm_backward = lstm_backward
    gru_forward = gru_forward
    gru_backward = gru_backward
    batch_norm_statistics = batch_norm_statistics
    dropout_mask = dropout_mask
