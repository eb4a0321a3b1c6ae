"""ember's native CPU kernels (ember._C). Arrays are numpy.ndarray of float32 or float64, one dtype per call
(else TypeError); shapes, contiguity and overlap are checked (else ValueError naming the op). Outputs are
preallocated by the caller and overwritten. Every kernel releases the GIL."""
import numpy as np

def set_num_threads(n: int) -> None:
    """Threads every kernel uses from now on, process-wide; n <= 0 restores the default."""

def get_num_threads() -> int: ...
allocator_tuned: bool  # glibc keeps large freed blocks for reuse (see csrc/common/allocator.cpp)
def cpu_features() -> dict[str, object]:
    """CPU flags (x86, sse2, avx, avx2, fma, avx512f/bw/dq/vl), compiled_kernels, gemm_kernel, openmp."""

def gemm_kernel() -> str:
    """The GEMM micro-kernel in use: "avx512", "avx2" or "generic"."""

def set_gemm_kernel(name: str) -> None:
    """Force "generic", "avx2" or "avx512" (ValueError if the CPU lacks it), or "auto"."""

def isa_tables_built() -> tuple[str, ...]:
    """The ISAs whose kernel tables were built so far (only the chosen ones: a builder may use its ISA)."""

def set_conv2d_path(name: str) -> None:
    """Force the conv2d family "gemm", "direct", "rows", "winograd" or "dot" (the input gradient) where it applies
    (else the GEMM path), or "auto" (ValueError on another name)."""

def conv2d_path() -> str: ...

def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> None:
    """out = alpha * a @ b + beta * out. a (B|1, M, K), b (B|1, K, N) with any strides (a batch of 1, or
    batch stride 0, broadcasts), out (B, M, N) C-contiguous. beta == 0 ignores out's old contents."""

def column_sums(a: np.ndarray, out: np.ndarray) -> None:
    """out (N,) = the column sums of a (M, N), in a fixed order whatever the thread count."""

def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, v_max: np.ndarray | None,
                beta_1: float, beta_2: float, epsilon: float, lr_t: float, bias_2: float) -> None:
    """One Adam step in place; lr_t = lr / (1 - beta_1^t), bias_2 = 1 - beta_2^t."""

def gemm_naive(a: np.ndarray, b: np.ndarray, out: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> None:
    """Unblocked reference GEMM on 2-D arrays with any strides."""

def conv2d_forward(x: np.ndarray, w: np.ndarray, out: np.ndarray, sh: int, sw: int, pt: int, pb: int, pl: int,
                   pr: int, dh: int, dw: int, groups: int, bias: np.ndarray | None = None,
                   activation: str | None = None, alpha: float = 0.0) -> None:
    """out (N, Ho, Wo, O) = activation(conv2d of x (N, H, W, C) with w (KH, KW, C // groups, O) + bias (O,));
    C-contiguous arrays; bias None adds nothing, activation None is the identity (else as bias_activation_forward),
    fused into the convolution's stores where its path allows."""

def conv2d_backward_input(grad_y: np.ndarray, w: np.ndarray, grad_x: np.ndarray, sh: int, sw: int, pt: int,
                          pb: int, pl: int, pr: int, dh: int, dw: int, groups: int) -> None:
    """grad_x (N, H, W, C) from grad_y (N, Ho, Wo, O) and w."""

def conv2d_backward_weight(grad_y: np.ndarray, x: np.ndarray, grad_w: np.ndarray, sh: int, sw: int, pt: int,
                           pb: int, pl: int, pr: int, dh: int, dw: int, groups: int) -> None:
    """grad_w (KH, KW, C // groups, O) from grad_y and x, reduced in an order independent of the thread count."""

def max_pool2d_forward(x: np.ndarray, out: np.ndarray, ph: int, pw: int, sh: int, sw: int, pt: int, pb: int,
                       pl: int, pr: int) -> None: ...
def max_pool2d_backward(grad_y: np.ndarray, x: np.ndarray, grad_x: np.ndarray, ph: int, pw: int, sh: int, sw: int,
                        pt: int, pb: int, pl: int, pr: int) -> None: ...
def avg_pool2d_forward(x: np.ndarray, out: np.ndarray, ph: int, pw: int, sh: int, sw: int, pt: int, pb: int,
                       pl: int, pr: int) -> None: ...
def avg_pool2d_backward(grad_y: np.ndarray, grad_x: np.ndarray, ph: int, pw: int, sh: int, sw: int, pt: int,
                        pb: int, pl: int, pr: int) -> None: ...
def activation_forward(name: str, x: np.ndarray, out: np.ndarray, alpha: float = 0.0) -> None:
    """name: relu, leaky_relu, elu, sigmoid, tanh. Same-shape C-contiguous arrays; out may be x."""

def activation_backward(name: str, x: np.ndarray, y: np.ndarray, grad_y: np.ndarray, grad_x: np.ndarray,
                        alpha: float = 0.0) -> None: ...
def bias_activation_forward(name: str | None, x: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
                            alpha: float = 0.0) -> None:
    """out = act(x + bias) over the last axis in one pass; name None: no activation, bias None: no bias."""

def softmax_forward(x: np.ndarray, out: np.ndarray) -> None:
    """Over the last axis of a C-contiguous array."""

def softmax_backward(y: np.ndarray, grad_y: np.ndarray, grad_x: np.ndarray) -> None: ...
def log_softmax_forward(x: np.ndarray, out: np.ndarray) -> None: ...
def log_softmax_backward(y: np.ndarray, grad_y: np.ndarray, grad_x: np.ndarray) -> None: ...

# Recurrent sequences, time-major: x (T, B, I), h0/c0 (B, H), outputs (T, B, H); mask (T, B) bool or None;
# every array C-contiguous and preallocated by the caller (ember.backend.cpu does it).
def simple_rnn_forward(x: np.ndarray, h0: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                       bias: np.ndarray | None, activation: str, mask: np.ndarray | None, h: np.ndarray) -> None: ...
def simple_rnn_backward(grad_h: np.ndarray, x: np.ndarray, h0: np.ndarray, kernel: np.ndarray,
                        recurrent_kernel: np.ndarray, activation: str, mask: np.ndarray | None, h: np.ndarray,
                        grad_x: np.ndarray, grad_h0: np.ndarray, grad_kernel: np.ndarray,
                        grad_recurrent_kernel: np.ndarray, grad_bias: np.ndarray) -> None: ...
def lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                 bias: np.ndarray | None, mask: np.ndarray | None, h: np.ndarray, c: np.ndarray,
                 gates: np.ndarray | None) -> None:
    """gates (T, B, 4H): [i, f, g, o] after their nonlinearities. gates None: inference, c (B, H) receives the
    final cell state only."""

def lstm_backward(grad_h: np.ndarray, grad_c: np.ndarray, x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                  kernel: np.ndarray, recurrent_kernel: np.ndarray, mask: np.ndarray | None, h: np.ndarray,
                  c: np.ndarray, gates: np.ndarray, grad_x: np.ndarray, grad_h0: np.ndarray, grad_c0: np.ndarray,
                  grad_kernel: np.ndarray, grad_recurrent_kernel: np.ndarray, grad_bias: np.ndarray) -> None: ...
def gru_forward(x: np.ndarray, h0: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                bias: np.ndarray | None, reset_after: bool, mask: np.ndarray | None, h: np.ndarray,
                gates: np.ndarray) -> None:
    """gates (T, B, 4H): [z, r, hh, q]; bias (2, 3H) when reset_after else (3H,), or None."""

def gru_backward(grad_h: np.ndarray, x: np.ndarray, h0: np.ndarray, kernel: np.ndarray,
                 recurrent_kernel: np.ndarray, reset_after: bool, mask: np.ndarray | None, h: np.ndarray,
                 gates: np.ndarray, grad_x: np.ndarray, grad_h0: np.ndarray, grad_kernel: np.ndarray,
                 grad_recurrent_kernel: np.ndarray, grad_bias: np.ndarray) -> None: ...
