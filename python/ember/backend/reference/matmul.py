"""matmul: np.matmul semantics for ndim >= 2, batch dimensions broadcast.

Its gradient (grad_a = grad_c @ b^T, grad_b = a^T @ grad_c, summed over broadcast dims) is
built by ember.ops from matmul itself, so there is no matmul_backward kernel.
"""
import numpy as np


def matmul(a, b):
    """a (..., M, K) @ b (..., K, N) -> (..., M, N), in the inputs' dtype."""
    return np.matmul(a, b)


def column_sums(a):
    """a (M, N) -> (N,): the sum of each column (a bias gradient: the gradient summed over every row)."""
    return a.sum(axis=0)
