"""Matrix product with NumPy's matmul semantics (1-D promotion, broadcast batch dims), on the GEMM kernels."""
import numpy as np

from ._util import check_broadcast, check_inputs, kernels, record, tensor_of, unbroadcast, wrap


def matmul(a, b):
    a, b = tensor_of("matmul", a), tensor_of("matmul", b)
    check_inputs("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: expected the last dimension "
                         f"of the first ({k_a}) to equal the {'only' if b.ndim == 1 else 'second-to-last'} "
                         f"dimension of the second ({k_b})")
    check_broadcast("matmul", a.shape[:-2], b.shape[:-2])
    if a.dtype != b.dtype:
        common = np.result_type(a.dtype, b.dtype)
        a, b = a.astype(common), b.astype(common)
    # 1-D operands become matrices and the added axis is dropped again, as in NumPy
    a2 = a.reshape(1, k_a) if a.ndim == 1 else a
    b2 = b.reshape(k_b, 1) if b.ndim == 1 else b
    out = _matmul_nd(a2, b2)
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    if a.ndim == 1:
        row_axis = out.ndim - (2 if b.ndim > 1 else 1)
        out = out.reshape(out.shape[:row_axis] + out.shape[row_axis + 1:])
    return out


def _matmul_nd(a, b):
    backend = kernels(a)
    da, db = a._data, b._data
    out = wrap(backend.matmul(da, db))

    def backward(g):
        ga = unbroadcast(backend.matmul(g, db.swapaxes(-1, -2)), da.shape) if a.requires_grad else None
        gb = unbroadcast(backend.matmul(da.swapaxes(-1, -2), g), db.shape) if b.requires_grad else None
        return [ga, gb]

    return record("matmul", out, [a, b], backward)
