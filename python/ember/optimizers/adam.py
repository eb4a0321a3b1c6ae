"""Adam (Kingma & Ba, Algorithm 1, as torch.optim.Adam) and AdamW (decoupled weight decay, as torch.optim.AdamW)."""
import numpy as np

from .. import backend as _backend
from .. import device as _device

_native = None  # ember._C, imported on the first native update (importing ember does not load the kernels)


def _kernels():
    global _native
    if _native is None:
        from .. import _C

        _native = _C
    return _native
from .base import Optimizer, in_unit_interval, invalid, non_negative, take_alias, zeros_like


class Adam(Optimizer):
    """Adam: Kingma & Ba (2015), Algorithm 1, the update of torch.optim.Adam.

    At the t-th update of a parameter (t counts that parameter's own updates):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t);  v_hat = v / (1 - beta_2**t)
        p -= lr * m_hat / (sqrt(v_hat) + epsilon)
    With `amsgrad=True` (torch's form): `v_max = max(v_max, v)` and `v_hat = v_max / (1 - beta_2**t)`.

    Defaults are Keras's (epsilon=1e-7; torch's is 1e-8). Keras 3's Adam puts epsilon outside the bias correction
    (`p -= lr_t * m / (sqrt(v) + epsilon)` with `lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`), i.e. an
    effective epsilon of `epsilon * sqrt(1 - beta_2**t)`; it differs from this only while sqrt(v_hat) ~ epsilon.
    `weight_decay` is decoupled (Keras 3): `p -= lr * weight_decay * p` before the step, which makes this AdamW;
    torch's Adam(weight_decay=) adds `weight_decay * p` to the gradient instead.
    PyTorch spellings: `lr=`, `betas=(beta_1, beta_2)`, `eps=`.
    """

    def __init__(self, params=None, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        learning_rate = take_alias(kwargs, "lr", learning_rate)
        epsilon = take_alias(kwargs, "eps", epsilon)
        if "betas" in kwargs:
            betas = kwargs.pop("betas")
            try:
                beta_1, beta_2 = betas
            except (TypeError, ValueError):
                raise invalid("betas", "a pair (beta_1, beta_2)", betas) from None
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = in_unit_interval("beta_1", beta_1, closed=False)
        self.beta_2 = in_unit_interval("beta_2", beta_2, closed=False)
        self.epsilon = non_negative("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _init_state(self, param):
        state = {"step": 0, "m": zeros_like(param), "v": zeros_like(param)}
        if self.amsgrad:
            state["v_max"] = zeros_like(param)
        return state

    def _update(self, param, grad, state, lr):
        xp = _device.array_module(param)
        b1, b2 = self.beta_1, self.beta_2
        state["step"] += 1
        t = state["step"]
        m, v = state["m"], state["v"]
        if _backend.current() == "cpu" and _native_update(param, grad, m, v):
            # one fused pass (ember._C.adam_update): the same operations as below in the same order
            _kernels().adam_update(param, grad if grad.flags.c_contiguous else grad.copy(), m, v, state.get("v_max"),
                                   b1, b2, self.epsilon, lr / (1.0 - b1 ** t), 1.0 - b2 ** t)
            return
        m *= b1
        m += (1.0 - b1) * grad
        v *= b2
        v += (1.0 - b2) * (grad * grad)
        if self.amsgrad:
            v = xp.maximum(state["v_max"], v, out=state["v_max"])
        denominator = xp.sqrt(v / (1.0 - b2 ** t)) + self.epsilon
        param -= (lr / (1.0 - b1 ** t)) * m / denominator

    def _update_all(self, params, grads, states, lr):
        """The parameters the fused kernel takes in one native call (adam_update_many, the same operations as
        adam_update), the others one by one."""
        on_cpu = _backend.current() == "cpu"
        native = [i for i, (p, g, s) in enumerate(zip(params, grads, states))
                  if on_cpu and _native_update(p, g, s["m"], s["v"])]
        if len(native) < 2:
            return super()._update_all(params, grads, states, lr)
        taken = set(native)
        for i, (param, grad, state) in enumerate(zip(params, grads, states)):
            if i not in taken:
                self._update(param, grad, state, lr)
        b1, b2 = self.beta_1, self.beta_2
        lr_t, bias_2 = [], []
        for i in native:
            states[i]["step"] += 1
            t = states[i]["step"]
            lr_t.append(lr / (1.0 - b1 ** t))
            bias_2.append(1.0 - b2 ** t)
        _kernels().adam_update_many([params[i] for i in native],
                                    [grads[i] if grads[i].flags.c_contiguous else grads[i].copy() for i in native],
                                    [states[i]["m"] for i in native], [states[i]["v"] for i in native],
                                    [states[i]["v_max"] for i in native] if self.amsgrad else None,
                                    b1, b2, self.epsilon, lr_t, bias_2)

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                    amsgrad=self.amsgrad)


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # dtypes, not types: no conversion to compare


def _native_update(param, grad, m, v):
    """Whether the fused native kernel takes this update: NumPy float arrays of one dtype, C-contiguous (and the
    backend the native CPU one, which the caller checks: the reference backend keeps the NumPy lines, the spec)."""
    return (type(param) is np.ndarray and param.dtype in _KERNEL_DTYPES
            and grad.dtype == param.dtype and m.dtype == param.dtype and param.flags.c_contiguous)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), the update of torch.optim.AdamW and Keras's AdamW:
        p -= lr * weight_decay * p          (before the Adam step, with the same lr)
        then the Adam update (see `Adam`).
    Default weight_decay is Keras's 0.004 (torch's is 0.01). PyTorch spellings: `lr=`, `betas=`, `eps=`.
    """

    def __init__(self, params=None, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None,
                 **kwargs):
        if weight_decay is None:
            raise invalid("weight_decay", "a non-negative float", weight_decay)
        super().__init__(params, learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm,
                         clipvalue, global_clipnorm, name, **kwargs)
