"""64-bit index arithmetic in the native kernels (ember._C).

Sizes and offsets in csrc/ are int64_t throughout, so a tensor past 2**31 elements must not wrap. The default run
proves it where it costs no memory: empty arrays whose other dimensions pass 2**31 go through the shape math,
giant windows and broadcast operands whose products pass 2**63 go through the overflow-checked geometry and the
saturating work estimates (with the EMBER_SANITIZE build of .ci/sanitize, a wrapped product is a UBSan error).
The tests over 2**31 real elements need ~9 GiB each and run with EMBER_BIGMEM=1.
"""
import os

import numpy as np
import pytest

from ember import _C

BIG = 3_000_000_000  # past 2**31 (and 2**31 - 1, the int32 maximum)
POOL_ARGS = dict(ph=2, pw=1, sh=1, sw=1, pt=0, pb=0, pl=0, pr=0)


def conv_args(**kw):
    args = dict(sh=1, sw=1, pt=0, pb=0, pl=0, pr=0, dh=1, dw=1, groups=1)
    args.update(kw)
    return args


@pytest.fixture
def two_threads():
    previous = _C.get_num_threads()
    _C.set_num_threads(2)
    yield
    _C.set_num_threads(previous)


# -- shape math past 2**31, on empty arrays ------------------------------------------------------------------------
def test_conv2d_output_height_past_2_31_is_computed_exactly():
    x = np.zeros((0, BIG, 1, 1), np.float32)
    w = np.zeros((3, 1, 1, 1), np.float32)
    _C.conv2d_forward(x, w, np.zeros((0, BIG - 2, 1, 1), np.float32), **conv_args())
    with pytest.raises(ValueError, match=rf"expected \(0, {BIG - 2}, 1, 1\)"):
        _C.conv2d_forward(x, w, np.zeros((0, BIG - 3, 1, 1), np.float32), **conv_args())


def test_pool_output_height_past_2_31_is_computed_exactly():
    x = np.zeros((0, BIG, 1, 1), np.float32)
    _C.max_pool2d_forward(x, np.zeros((0, BIG - 1, 1, 1), np.float32), **POOL_ARGS)
    with pytest.raises(ValueError, match=rf"expected \(0, {BIG - 1}, 1, 1\)"):
        _C.avg_pool2d_forward(x, np.zeros((0, BIG, 1, 1), np.float32), **POOL_ARGS)


def test_padding_past_2_31_is_computed_exactly():
    x = np.zeros((0, 1, 1, 1), np.float32)
    out = np.zeros((0, 1 + 2 * BIG - 1, 1, 1), np.float32)
    _C.max_pool2d_forward(x, out, **dict(POOL_ARGS, pt=BIG, pb=BIG))


# -- products past 2**63 are refused, not wrapped -------------------------------------------------------------------
@pytest.mark.parametrize("field", ["pt", "pb"])
def test_pool_padding_that_overflows_int64_raises(field):
    x = np.zeros((1, 2, 2, 1), np.float32)
    args = dict(POOL_ARGS, pt=2 ** 62, pb=2 ** 62)
    args[field] = 2 ** 63 - 1
    with pytest.raises(ValueError, match="max_pool2d_forward.*overflows 64-bit sizes"):
        _C.max_pool2d_forward(x, np.zeros((1, 1, 1, 1), np.float32), **args)


def test_conv2d_dilation_that_overflows_int64_raises():
    x = np.zeros((1, 4, 4, 1), np.float32)
    w = np.zeros((3, 3, 1, 1), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: input \(1, 4, 4, 1\) and kernel \(3, 3, 1, 1\).*overflows"):
        _C.conv2d_forward(x, w, np.zeros((1, 1, 1, 1), np.float32), **conv_args(dh=2 ** 62))


def test_conv2d_padding_that_overflows_int64_raises():
    x = np.zeros((1, 4, 4, 1), np.float32)
    w = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="conv2d_backward_input.*overflows 64-bit sizes"):
        _C.conv2d_backward_input(np.zeros((1, 4, 4, 1), np.float32), w, x, **conv_args(pl=2 ** 63 - 2, pr=2))


# -- window x output products past 2**63, computed (the work estimates saturate) ------------------------------------
@pytest.mark.parametrize("op", ["max", "avg"])
def test_a_window_of_2_80_cells_mostly_padding_pools_its_one_real_cell(op, two_threads):
    # pool 2**40 x 2**40, padded so that the one window holds the single real cell: n*ho*wo*c*ph*pw = 2**80
    x = np.full((1, 1, 1, 1), 7.0, np.float32)
    out = np.zeros((1, 1, 1, 1), np.float32)
    args = dict(ph=2 ** 40, pw=2 ** 40, sh=2 ** 41, sw=2 ** 41, pt=2 ** 40 - 1, pb=0, pl=2 ** 40 - 1, pr=0)
    getattr(_C, f"{op}_pool2d_forward")(x, out, **args)
    assert out[0, 0, 0, 0] == 7.0
    grad_x = np.zeros_like(x)
    if op == "max":
        _C.max_pool2d_backward(np.ones_like(out), x, grad_x, **args)
    else:
        _C.avg_pool2d_backward(np.ones_like(out), grad_x, **args)
    assert grad_x[0, 0, 0, 0] == 1.0


def test_batched_gemm_with_m_n_k_past_2_63_runs(two_threads):
    # alpha = 0 skips the 2**48-long reduction; the batch scheduler still weighs m * n * k = 2**64
    a = np.broadcast_to(np.ones((1, 1, 1), np.float32), (1, 256, 2 ** 48))
    b = np.broadcast_to(np.ones((1, 1, 1), np.float32), (1, 2 ** 48, 256))
    out = np.full((2, 256, 256), 5.0, np.float32)
    _C.gemm(a, b, out, alpha=0.0, beta=0.5)
    assert np.all(out == 2.5)


# -- over 2**31 real elements (EMBER_BIGMEM=1; ~9 GiB each) ---------------------------------------------------------
bigmem = pytest.mark.skipif(os.environ.get("EMBER_BIGMEM") != "1",
                            reason="allocates ~9 GiB (a tensor past 2**31 elements): run with EMBER_BIGMEM=1")
N_BIG = 2 ** 31 + 64


@bigmem
def test_bigmem_relu_in_place_reaches_the_elements_past_2_31():
    x = np.ones(N_BIG, np.float32)
    x[[0, 2 ** 31 - 1, 2 ** 31, N_BIG - 1]] = [-1.0, -2.0, -3.0, -4.0]
    _C.activation_forward("relu", x, x)
    assert x[[0, 2 ** 31 - 1, 2 ** 31, N_BIG - 1]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert x[2 ** 31 + 1] == 1.0 and x[N_BIG - 2] == 1.0


@bigmem
def test_bigmem_softmax_over_a_row_of_2_31_elements():
    x = np.zeros((1, N_BIG), np.float32)
    x[0, N_BIG - 1] = 200.0  # the last element dominates: the max must see it, past 2**31
    _C.softmax_forward(x, x)
    assert x[0, N_BIG - 1] == 1.0 and x[0, 0] == 0.0


@bigmem
def test_bigmem_gemm_rows_past_2_31_elements_of_a():
    k = 1024
    m = N_BIG // k + 1
    a = np.zeros((1, m, k), np.float32)
    a[0, -1, :] = 1.0  # the last row starts past element 2**31
    a[0, 0, 0] = 3.0
    b = np.ones((1, k, 1), np.float32)
    out = np.zeros((1, m, 1), np.float32)
    _C.gemm(a, b, out)
    assert out[0, -1, 0] == k and out[0, 0, 0] == 3.0 and out[0, m // 2, 0] == 0.0


@bigmem
def test_bigmem_max_pool_over_an_input_past_2_31_elements():
    h, w = 2 ** 16 + 2, 2 ** 15
    x = np.zeros((1, h, w, 1), np.float32)
    x[0, -1, -1, 0] = 9.0  # element h * w - 1 > 2**31
    out = np.zeros((1, h // 2, w // 2, 1), np.float32)
    _C.max_pool2d_forward(x, out, ph=2, pw=2, sh=2, sw=2, pt=0, pb=0, pl=0, pr=0)
    assert out[0, -1, -1, 0] == 9.0 and out.sum() == 9.0
