"""column_sums, the backend helper that sums a bias gradient over its rows: the native strip-summing kernel against
NumPy at widths around its strip rule (lcm(cols, 16) below 256 columns, one row above), and the same bits whatever
the thread count."""
import numpy as np
import pytest

import ember
from ember import _C
from ember.backend import cpu, reference


@pytest.mark.parametrize("shape", [(36864, 6), (64, 1), (100, 37), (63, 5), (1000, 130), (0, 4), (1, 1), (9000, 16),
                                   (4097, 255), (17, 256), (5, 1000), (8193, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_match_numpy(shape, dtype):
    a = np.random.default_rng(shape[0]).standard_normal(shape).astype(dtype)
    got = cpu.column_sums(a)
    assert got.shape == (shape[1],) and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, reference.column_sums(a.astype(np.float64)), rtol=tol, atol=tol * np.sqrt(shape[0]))


def test_column_sums_do_not_depend_on_the_thread_count():
    a = np.random.default_rng(0).standard_normal((50000, 24)).astype(np.float32)
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


def test_the_kernel_names_itself_and_both_shapes_on_a_mismatch():
    with pytest.raises(ValueError, match=r"column_sums: a \(4, 3\), out \(4,\): expected a \(M, N\) and out \(N,\)"):
        _C.column_sums(np.zeros((4, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="column_sums"):
        _C.column_sums(np.zeros((4, 3), np.float32), np.zeros(3, np.float64))


# The fused backward of a layer's bias and activation: grad_x as activation_backward gives it (y standing for x) and
# grad_bias as column_sums of it, the same bits as the two kernels apart, across blocks (4096 rows), ragged last
# strips and wide rows; the thread count changes nothing.
@pytest.mark.parametrize("shape", [(123008, 16), (50176, 6), (4097, 3), (7, 5), (1, 1), (3, 300), (0, 4), (9000, 37)])
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", None])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_bias_activation_backward_equals_the_two_kernels_apart(shape, name, dtype):
    rng = np.random.default_rng(shape[0] + shape[1])
    y, gy = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    gx, gb = cpu.bias_activation_backward(name, y, gy, 0.1, True)
    apart = cpu.activation_backward(name, y, y, gy, 0.1) if name else gy.copy()
    np.testing.assert_array_equal(gx, apart)
    np.testing.assert_array_equal(gb, cpu.column_sums(apart.reshape(-1, shape[1])))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(gb, apart.astype(np.float64).sum(axis=0), rtol=tol, atol=tol * np.sqrt(shape[0]))


def test_the_fused_bias_activation_backward_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(3)
    y, gy = rng.standard_normal((50000, 24)).astype(np.float32), rng.standard_normal((50000, 24)).astype(np.float32)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        one = cpu.bias_activation_backward("relu", y, gy)
        _C.set_num_threads(3)
        three = cpu.bias_activation_backward("relu", y, gy)
    finally:
        _C.set_num_threads(before)
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)


def test_the_fused_bias_activation_backward_names_itself_and_the_shapes():
    y = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"bias_activation_backward: y \(4, 3\), grad_bias \(4,\): expected grad_bias "
                                         r"\(3,\)"):
        _C.bias_activation_backward("relu", y, y, np.zeros_like(y), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="bias_activation_backward"):
        _C.bias_activation_backward("relu", y, y, np.zeros_like(y), np.zeros(3, np.float64))
