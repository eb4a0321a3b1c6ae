"""RMSprop (Hinton's lecture 6e), plain or centered, with momentum: torch.optim.RMSprop's update."""
from .. import device as _device
from .base import Optimizer, in_unit_interval, non_negative, take_alias, zeros_like


class RMSprop(Optimizer):
    """RMSprop, the update of torch.optim.RMSprop (with `alpha` = `rho`):
        v = rho * v + (1 - rho) * g**2
        centered:  a = rho * a + (1 - rho) * g;  denominator = sqrt(v - a**2) + epsilon
        otherwise: denominator = sqrt(v) + epsilon
        no momentum: p -= lr * g / denominator
        momentum:    b = momentum * b + lr * g / denominator;  p -= b

    torch keeps lr outside the momentum buffer (`b = momentum * b + g / denominator; p -= lr * b`); Keras keeps it
    inside, as here: the same for a constant rate. Keras 3 puts epsilon inside the square root
    (`g / sqrt(v + epsilon)`); torch's placement is used so that RMSprop and Adam treat epsilon alike. Defaults are
    Keras's (rho=0.9, epsilon=1e-7; torch: alpha=0.99, eps=1e-8).
    `weight_decay` is decoupled (Keras 3), see `Optimizer`. PyTorch spellings: `lr=`, `alpha=`, `eps=`.
    """

    def __init__(self, params=None, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        learning_rate = take_alias(kwargs, "lr", learning_rate)
        rho = take_alias(kwargs, "alpha", rho)
        epsilon = take_alias(kwargs, "eps", epsilon)
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.rho = in_unit_interval("rho", rho, closed=False)
        self.momentum = in_unit_interval("momentum", momentum)
        self.epsilon = non_negative("epsilon", epsilon)
        self.centered = bool(centered)

    def _init_state(self, param):
        state = {"v": zeros_like(param)}
        if self.centered:
            state["average_grad"] = zeros_like(param)
        if self.momentum:
            state["momentum"] = zeros_like(param)
        return state

    def _update(self, param, grad, state, lr):
        xp = _device.array_module(param)
        rho = self.rho
        v = state["v"]
        v *= rho
        v += (1.0 - rho) * (grad * grad)
        if self.centered:
            average = state["average_grad"]
            average *= rho
            average += (1.0 - rho) * grad
            denominator = xp.sqrt(v - average * average) + self.epsilon
        else:
            denominator = xp.sqrt(v) + self.epsilon
        increment = lr * grad / denominator
        if self.momentum:
            buffer = state["momentum"]
            buffer *= self.momentum
            buffer += increment
            increment = buffer
        param -= increment

    def get_config(self):
        return dict(super().get_config(), rho=self.rho, momentum=self.momentum, epsilon=self.epsilon,
                    centered=self.centered)
