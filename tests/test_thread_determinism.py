"""Native kernels give bit-identical results whatever the thread count (fixed reduction order)."""
import numpy as np
import pytest

import ember
from ember.testing import OPS_BY_NAME

# kernel ops whose work is split across threads, with samples big enough to be split
CASES = {
    "matmul": lambda rng: ((rng.standard_normal((130, 257)), rng.standard_normal((257, 190))), {}),
    "conv2d": lambda rng: ((rng.standard_normal((4, 17, 19, 8)), rng.standard_normal((3, 3, 8, 12))),
                           {"padding": "same"}),
    "max_pool2d": lambda rng: ((rng.standard_normal((4, 16, 16, 8)),), {"pool_size": 3, "strides": 2}),
    "softmax": lambda rng: ((rng.standard_normal((64, 300)),), {}),
    "tanh": lambda rng: ((rng.standard_normal((64, 1000)),), {}),
    "lstm": lambda rng: ((rng.standard_normal((6, 7, 9)), rng.standard_normal((6, 40)), rng.standard_normal((6, 40)),
                          0.3 * rng.standard_normal((9, 160)), 0.3 * rng.standard_normal((40, 160)),
                          rng.standard_normal(160)), {}),
    "gru": lambda rng: ((rng.standard_normal((6, 7, 9)), rng.standard_normal((6, 40)),
                         0.3 * rng.standard_normal((9, 120)), 0.3 * rng.standard_normal((40, 120)),
                         rng.standard_normal((2, 120))), {"reset_after": True}),
}


def _run(name, args, kwargs, threads, dtype):
    info = OPS_BY_NAME[name]
    ember.set_num_threads(threads)
    inputs = [ember.tensor(a, dtype=dtype, requires_grad=True) for a in args]
    with ember.use_backend("cpu"):
        out = info.op(*inputs, **kwargs)
        (out * ember.tensor(np.linspace(-1, 1, out.size).reshape(out.shape), dtype=dtype)).sum().backward()
    return [out.numpy()] + [t.grad.numpy() for t in inputs]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_one_and_two_threads_agree_bit_for_bit(name, dtype):
    args, kwargs = CASES[name](np.random.default_rng(0))
    previous = ember.get_num_threads()
    try:
        one = _run(name, args, kwargs, 1, dtype)
        two = _run(name, args, kwargs, 2, dtype)
    finally:
        ember.set_num_threads(previous)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
