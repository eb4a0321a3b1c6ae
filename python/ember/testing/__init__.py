"""Testing helpers: the op table (one entry per op) and finite-difference gradient checks."""
from .gradcheck import gradcheck, numerical_gradients
from .op_table import MATH_OPS, ErrorCase, OpInfo, Sample
from .op_table_errors import KINDS, ForeignDeviceArray
from .op_table_nn import NN_OPS
from .op_table_rnn import RNN_OPS
from .op_table_shape import SHAPE_OPS

OPS = MATH_OPS + SHAPE_OPS + NN_OPS + RNN_OPS
OPS_BY_NAME = {info.name: info for info in OPS}
