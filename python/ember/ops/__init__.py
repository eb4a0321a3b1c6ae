"""ember.ops: every op as a function with NumPy/Keras names and keywords. Tensor methods wrap these."""
from .activation import bias_activation, elu, erf, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d, conv2d_bias_activation, conv2d_transpose
from .crossentropy import sparse_crossentropy
from .dropout import dropout
from .elementwise import (abs, add, cast, clip, copy, divide, equal, exp, floor_divide, greater, greater_equal,
                          isfinite, isnan, less, less_equal, log, log1p, logical_and, logical_not, logical_or,
                          maximum, minimum, mod, multiply, negative, not_equal, power, sign, softplus, sqrt, square,
                          subtract, to_device, where)
from .indexing import getitem, setitem
from .matmul import dense, matmul
from .normalization import batch_norm
from .pool import avg_pool2d, max_pool2d
from .recurrent import gru, lstm, simple_rnn
from .reduction import all, any, argmax, argmin, max, mean, min, std, sum, var
from .shape import (broadcast_to, concat, concatenate, expand, expand_dims, flatten, pad, permute, reshape,
                    split, squeeze, stack, swapaxes, transpose, unsqueeze)

clamp = clip
