"""The NumPy reference backend: the spec every other backend is tested against.

Plain NumPy, no other engine. Each file holds one op family, forward and backward side by side.
The signatures are those listed in ember.backend's docstring.
"""
from .activation import activation_backward, activation_forward, bias_activation_backward, bias_activation_forward
from .conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .matmul import column_sums, matmul
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .recurrent import (gru_backward, gru_forward, lstm_backward, lstm_forward, simple_rnn_backward,
                        simple_rnn_forward)
from .softmax import log_softmax_backward, log_softmax_forward, softmax_backward, softmax_forward

__all__ = [
    "matmul",
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "activation_forward", "activation_backward", "bias_activation_forward", "bias_activation_backward",
    "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
    "simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
]
