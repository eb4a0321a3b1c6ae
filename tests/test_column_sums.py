"""column_sums, the backend helper that sums a bias gradient over its rows: the GEMM-based native version against
NumPy, and the same bits whatever the thread count."""
import numpy as np
import pytest

import ember
from ember import _C
from ember.backend import cpu, reference


@pytest.mark.parametrize("shape", [(36864, 6), (64, 1), (100, 37), (63, 5), (1000, 130)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_match_numpy(shape, dtype):
    a = np.random.default_rng(shape[0]).standard_normal(shape).astype(dtype)
    got = cpu.column_sums(a)
    assert got.shape == (shape[1],) and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, reference.column_sums(a.astype(np.float64)), rtol=tol, atol=tol * np.sqrt(shape[0]))


def test_column_sums_do_not_depend_on_the_thread_count():
    a = np.random.default_rng(0).standard_normal((5000, 24)).astype(np.float32)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = cpu.column_sums(a)
        _C.set_num_threads(2)
        two = cpu.column_sums(a)
    finally:
        _C.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_a_bias_gradient_through_broadcasting_equals_the_sum_over_rows():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((8, 5, 5, 3)).astype(np.float32))
    b = ember.tensor(np.zeros(3, np.float32), requires_grad=True)
    g = rng.standard_normal((8, 5, 5, 3)).astype(np.float32)
    (x + b).backward(ember.tensor(g))
    np.testing.assert_allclose(b.grad.numpy(), g.reshape(-1, 3).sum(axis=0), rtol=1e-5, atol=1e-5)
