"""ember: deep learning with its own CPU/CUDA kernels, a Keras-style API and a PyTorch-style tensor API."""
import numpy as np

from . import backend, ops
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import set_backend, use_backend
from .backend import current as get_backend
from .creation import (arange, from_dlpack, from_numpy, full, full_like, ones, ones_like, rand, rand_like, randint,
                       randn, randn_like, tensor, zeros, zeros_like)
from .ops import (abs, argmax, argmin, clip, concatenate, exp, expand_dims, log, matmul, maximum, mean, minimum,
                  pad, power, reshape, split, sqrt, square, squeeze, stack, sum, transpose, where)
from .random import manual_seed
from .determinism import are_deterministic_algorithms_enabled, use_deterministic
from .tensor import Tensor
from .device import get_device, set_device
from . import cuda  # noqa: E402  (after Tensor: its batch prefetcher makes tensors)
from . import activations, initializers, layers, regularizers  # noqa: E402  (after the core they build on)
from . import callbacks, data, datasets, losses, metrics, optimizers, saving, schedules, utils  # noqa: E402
from .saving import load_model  # noqa: E402
from .models import Input, Model, Sequential  # noqa: E402
from .models import GAN  # noqa: E402
from . import applications, onnx  # noqa: E402  (onnx imports the onnx package only when exporting)
from . import distributed  # noqa: E402  (needs models: fit(distributed=True) hooks into the Trainer)

__version__ = "0.1.0"

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int32, int64, uint8, bool_ = np.int8, np.int32, np.int64, np.uint8, np.bool_


def set_num_threads(n):
    """Threads the native kernels use (OpenMP); results do not depend on it."""
    from . import _C

    _C.set_num_threads(int(n))


def get_num_threads():
    from . import _C

    return _C.get_num_threads()
