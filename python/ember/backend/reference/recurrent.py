"""Recurrent sequences: SimpleRNN, LSTM and GRU, time-major (x (T, B, I), states (B, H), outputs (T, B, H)).

Each forward projects the whole input at once (x W + b, one GEMM over T * B rows), then steps through time with
one (B, H) x (H, kH) GEMM per step. Each backward walks the steps in reverse (backpropagation through time):
`dh` is the gradient arriving at h_t (from the output at t and from step t + 1), the gate gradients of every step
are kept, and the input-side gradients (grad_x, grad_kernel, input bias) are then one GEMM each over all steps.

Masks: where mask[t, b] is False, step t leaves row b's state as it was (h_t = h_{t-1}, c_t = c_{t-1}), so the
gradient arriving at h_t goes to h_{t-1} unchanged and nothing reaches that step's gates. The gate gradients of
masked rows are zeroed with np.where rather than multiplied by the mask, and masked steps' inputs are zeroed before
grad_kernel = x^T dz: a NaN the mask hides (padding) must not leak into the weight gradients as 0 * NaN.

Keras' gate orders and formulas:
    LSTM  z = x W + h U + b split [i, f, g, o];  c = f c' + i g;  h = o tanh(c)        (i, f, o sigmoid, g tanh)
    GRU   [z, r, hh];  h = z h' + (1 - z) hh;   hh = tanh(x W_h + b_h + r q), q = h' U_h + b_rh   (reset_after)
                                               hh = tanh(x W_h + b_h + q),   q = (r h') U_h        (not)
"""
import numpy as np

SIMPLE_RNN_ACTIVATIONS = ("tanh", "relu")


def _sigmoid(x):
    # exp(-|x|) never overflows: for x >= 0 use 1 / (1 + e^-x), for x < 0 use e^x / (1 + e^x).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _project(x, kernel, bias):
    """x W (+ b) for every step at once: (T, B, I) -> (T, B, K)."""
    t, b, i = x.shape
    xw = (x.reshape(t * b, i) @ kernel).reshape(t, b, -1)
    return xw if bias is None else xw + bias


def _input_grads(dz, x, kernel, mask):
    """grad_x and grad_kernel from the gradients of every step's input projection dz (T, B, K)."""
    t, b, i = x.shape
    flat = dz.reshape(t * b, -1)
    if mask is not None:
        x = np.where(mask[:, :, None], x, 0)  # masked steps' inputs (padding, maybe NaN) times a zero gradient
    return (flat @ kernel.T).reshape(t, b, i), x.reshape(t * b, i).T @ flat


def _keep(mask, t, new, old):
    """new where step t is not masked, else old (row-wise)."""
    return new if mask is None else np.where(mask[t][:, None], new, old)


def _split(dh, mask, t):
    """The gradient at h_t as (part that reaches step t's cell, part that passes straight to h_{t-1})."""
    if mask is None:
        return dh, None
    m = mask[t][:, None]
    return np.where(m, dh, 0), np.where(m, 0, dh)


def _zero_masked(dz, mask, t):
    return dz if mask is None else np.where(mask[t][:, None], dz, 0)


def _plus(a, b):
    return a if b is None else a + b


# -- SimpleRNN ------------------------------------------------------------------------------------------------
def _act(name, a):
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.where(a <= 0, 0, a).astype(a.dtype, copy=False)  # '<=' so that NaN falls through as NaN
    raise ValueError(f"simple_rnn: unknown activation {name!r}. Expected one of {list(SIMPLE_RNN_ACTIVATIONS)}.")


def _act_grad(name, y, g):
    """g * act'(a) from the activation's output y = act(a); relu'(0) = 0."""
    if name == "tanh":
        return g * (1 - y * y)
    return np.where(y > 0, g, 0).astype(g.dtype, copy=False)


def simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, activation, mask):
    xw = _project(x, kernel, bias)
    h = np.empty(xw.shape, dtype=x.dtype)
    prev = h0
    for t in range(x.shape[0]):
        prev = h[t] = _keep(mask, t, _act(activation, xw[t] + prev @ recurrent_kernel), prev)
    return h


def simple_rnn_backward(grad_h, x, h0, kernel, recurrent_kernel, activation, mask, h):
    steps = x.shape[0]
    da = np.empty(h.shape, dtype=x.dtype)
    grad_u = np.zeros_like(recurrent_kernel)
    carry = np.zeros_like(h0)
    for t in reversed(range(steps)):
        dh, passed = _split(grad_h[t] + carry, mask, t)
        # On a masked row h[t] is h_{t-1}, not this step's output, but that row's gradient is zeroed anyway.
        da[t] = _zero_masked(_act_grad(activation, h[t], dh), mask, t)
        prev = h[t - 1] if t > 0 else h0
        grad_u += prev.T @ da[t]
        carry = _plus(da[t] @ recurrent_kernel.T, passed)
    grad_x, grad_kernel = _input_grads(da, x, kernel, mask)
    return grad_x, carry, grad_kernel, grad_u, da.sum(axis=(0, 1))


# -- LSTM -----------------------------------------------------------------------------------------------------
def lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, mask):
    xw = _project(x, kernel, bias)
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[1]
    h = np.empty((steps, batch, units), dtype=x.dtype)
    c = np.empty_like(h)
    gates = np.empty((steps, batch, 4 * units), dtype=x.dtype)
    h_prev, c_prev = h0, c0
    for t in range(steps):
        z = xw[t] + h_prev @ recurrent_kernel
        i, f, o = (_sigmoid(z[:, k * units:(k + 1) * units]) for k in (0, 1, 3))
        g = np.tanh(z[:, 2 * units:3 * units])
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        c_new = f * c_prev + i * g
        h_prev = h[t] = _keep(mask, t, o * np.tanh(c_new), h_prev)
        c_prev = c[t] = _keep(mask, t, c_new, c_prev)
    return h, c, gates


def lstm_backward(grad_h, grad_c, x, h0, c0, kernel, recurrent_kernel, mask, h, c, gates):
    steps, units = x.shape[0], h0.shape[1]
    dz = np.empty(gates.shape, dtype=x.dtype)
    grad_u = np.zeros_like(recurrent_kernel)
    carry_h, carry_c = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(steps)):
        dh, passed_h = _split(grad_h[t] + carry_h, mask, t)
        dc, passed_c = _split(grad_c[t] + carry_c, mask, t)
        i, f, g, o = (gates[t, :, k * units:(k + 1) * units] for k in range(4))
        h_prev, c_prev = (h[t - 1], c[t - 1]) if t > 0 else (h0, c0)
        tanh_c = np.tanh(c[t])  # c[t] is this step's cell on every row whose gradient is kept
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dz[t] = _zero_masked(np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                             dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)], axis=1), mask, t)
        grad_u += h_prev.T @ dz[t]
        carry_h = _plus(dz[t] @ recurrent_kernel.T, passed_h)
        carry_c = _plus(_zero_masked(dc * f, mask, t), passed_c)
    grad_x, grad_kernel = _input_grads(dz, x, kernel, mask)
    return grad_x, carry_h, carry_c, grad_kernel, grad_u, dz.sum(axis=(0, 1))


# -- GRU ------------------------------------------------------------------------------------------------------
def _gru_biases(bias, reset_after):
    """(input bias, recurrent bias) of Keras' GRU: bias (2, 3H) when reset_after, (3H,) otherwise, or None."""
    if bias is None:
        return None, None
    return (bias[0], bias[1]) if reset_after else (bias, None)


def gru_forward(x, h0, kernel, recurrent_kernel, bias, reset_after, mask):
    b_in, b_rec = _gru_biases(bias, reset_after)
    xw = _project(x, kernel, b_in)
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[1]
    h = np.empty((steps, batch, units), dtype=x.dtype)
    gates = np.empty((steps, batch, 4 * units), dtype=x.dtype)
    u_zr, u_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]
    prev = h0
    for t in range(steps):
        x_zr, x_h = xw[t, :, :2 * units], xw[t, :, 2 * units:]
        if reset_after:
            rec = prev @ recurrent_kernel if b_rec is None else prev @ recurrent_kernel + b_rec
            zr = _sigmoid(x_zr + rec[:, :2 * units])
            q = rec[:, 2 * units:]
            r = zr[:, units:]
            hh = np.tanh(x_h + r * q)
        else:
            zr = _sigmoid(x_zr + prev @ u_zr)
            r = zr[:, units:]
            q = (r * prev) @ u_h
            hh = np.tanh(x_h + q)
        z = zr[:, :units]
        gates[t] = np.concatenate([zr, hh, q], axis=1)
        prev = h[t] = _keep(mask, t, z * prev + (1 - z) * hh, prev)
    return h, gates


def gru_backward(grad_h, x, h0, kernel, recurrent_kernel, bias, reset_after, mask, h, gates):
    """grad_bias has bias' shape for `reset_after` ((2, 3H) or (3H,)) even when bias is None."""
    steps, units = x.shape[0], h0.shape[1]
    dx_proj = np.empty((steps,) + h0.shape[:1] + (3 * units,), dtype=x.dtype)  # d(x W + b_in) per step
    grad_u = np.zeros_like(recurrent_kernel)
    grad_b_rec = np.zeros(3 * units, dtype=x.dtype)
    u_zr, u_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]
    carry = np.zeros_like(h0)
    for t in reversed(range(steps)):
        dh, passed = _split(grad_h[t] + carry, mask, t)
        z, r, hh, q = (gates[t, :, k * units:(k + 1) * units] for k in range(4))
        prev = h[t - 1] if t > 0 else h0
        da_h = dh * (1 - z) * (1 - hh * hh)  # gradient of hh's pre-activation
        da_z = dh * (prev - hh) * z * (1 - z)
        if reset_after:
            da_r = da_h * q * r * (1 - r)
            d_rec = _zero_masked(np.concatenate([da_z, da_r, da_h * r], axis=1), mask, t)  # d(h' U + b_rec)
            grad_u += prev.T @ d_rec
            grad_b_rec += d_rec.sum(axis=0)
            d_prev = d_rec @ recurrent_kernel.T
            da_zr = d_rec[:, :2 * units]
        else:
            da_h = _zero_masked(da_h, mask, t)
            d_rh = da_h @ u_h.T  # gradient of r * h'
            da_r = d_rh * prev * r * (1 - r)
            da_zr = _zero_masked(np.concatenate([da_z, da_r], axis=1), mask, t)
            grad_u[:, :2 * units] += prev.T @ da_zr
            grad_u[:, 2 * units:] += _zero_masked(r * prev, mask, t).T @ da_h
            d_prev = da_zr @ u_zr.T + d_rh * r
        dx_proj[t] = np.concatenate([da_zr, _zero_masked(da_h, mask, t)], axis=1)
        carry = _plus(_zero_masked(d_prev + dh * z, mask, t), passed)
    grad_x, grad_kernel = _input_grads(dx_proj, x, kernel, mask)
    grad_b_in = dx_proj.sum(axis=(0, 1))
    grad_bias = np.stack([grad_b_in, grad_b_rec]) if reset_after else grad_b_in
    return grad_x, carry, grad_kernel, grad_u, grad_bias
