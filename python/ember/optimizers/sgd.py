"""Stochastic gradient descent, with momentum and Nesterov momentum (Keras 3's `SGD`)."""
from .base import Optimizer, in_unit_interval, take_alias, zeros_like


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; the update of Keras 3's `SGD`.

    Without momentum: `p -= lr * g`.
    With momentum: `v = momentum * v - lr * g`, then `p += v`, or with `nesterov=True` `p += momentum * v - lr * g`.

    For a constant learning rate this equals torch.optim.SGD (dampening 0), whose buffer is `b = momentum * b + g`
    with `p -= lr * b` (Nesterov: `p -= lr * (g + momentum * b)`), since `v = -lr * b`. Keras's form keeps the
    rate inside the velocity, so under a schedule past steps keep the rates they were taken with.
    `weight_decay` is decoupled (`p -= lr * weight_decay * p` before the step), as in Keras 3; torch's SGD adds
    `weight_decay * p` to the gradient instead (the same without momentum).
    PyTorch spelling: `lr=`.
    """

    def __init__(self, params=None, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        learning_rate = take_alias(kwargs, "lr", learning_rate)
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.momentum = in_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)

    def _init_state(self, param):
        return {"velocity": zeros_like(param)} if self.momentum else {}

    def _update(self, param, grad, state, lr):
        if not self.momentum:
            param -= lr * grad
            return
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity -= lr * grad
        if self.nesterov:
            param += self.momentum * velocity - lr * grad
        else:
            param += velocity

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)
