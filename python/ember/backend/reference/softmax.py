"""softmax and log_softmax along `axis`; the backwards take the forward's output y.

Both subtract the maximum along the axis first, so logits of +-1e4 stay finite.
    softmax:      grad_x = y * (g - sum(g * y))
    log_softmax:  grad_x = g - exp(y) * sum(g)
"""
import numpy as np


def softmax_forward(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(y, grad_y, axis=-1):
    return y * (grad_y - np.sum(grad_y * y, axis=axis, keepdims=True))


def log_softmax_forward(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def log_softmax_backward(y, grad_y, axis=-1):
    return grad_y - np.exp(y) * np.sum(grad_y, axis=axis, keepdims=True)
