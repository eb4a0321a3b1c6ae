"""The ops' argument checks run once per call signature (ops._util.checked_once): what they remember must never let
a bad call through, and the shortcuts taken on the training step's path must compute what the long way does."""
import numpy as np
import pytest

import ember
from ember import ops
from ember.ops import _util
from ember.testing import ForeignDeviceArray


def _conv_operands(h=6, c=2, o=3):
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, h, h, c)).astype(np.float32), rng.standard_normal((3, 3, c, o)).astype(np.float32)


def test_a_remembered_signature_does_not_let_a_bad_call_through():
    x, w = _conv_operands()
    ops.conv2d(x, w, padding="same")  # remembered
    with pytest.raises(ValueError, match="expected kernel input channels"):
        ops.conv2d(x, w[:, :, :1], padding="same")
    with pytest.raises(TypeError, match="float32 or float64"):
        ops.conv2d(x.astype(np.int32), w, padding="same")
    with pytest.raises(TypeError, match="share one dtype"):
        ops.conv2d(x.astype(np.float64), w, padding="same")
    with pytest.raises(ValueError, match="padding"):
        ops.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="bias"):
        ops.conv2d_bias_activation(x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="pool size"):
        ops.max_pool2d(x, 2, padding=((2, 0), (0, 0)))


def test_a_failed_check_is_not_remembered():
    x, w = _conv_operands(h=2)
    for _ in range(2):
        with pytest.raises(ValueError, match="larger than the padded input"):
            ops.conv2d(x, w)
    for _ in range(2):
        with pytest.raises(ValueError, match="strides"):
            ops.max_pool2d(x, 2, strides=0)


def test_unhashable_arguments_are_checked_every_call_and_give_the_same_result():
    x, w = _conv_operands()
    listed = ops.conv2d(x, w, padding=[[1, 1], [1, 1]]).numpy()
    np.testing.assert_array_equal(listed, ops.conv2d(x, w, padding=((1, 1), (1, 1))).numpy())
    np.testing.assert_array_equal(ops.max_pool2d(x, [2, 2]).numpy(), ops.max_pool2d(x, (2, 2)).numpy())


def test_the_remembered_checks_stay_bounded():
    for i in range(5000):
        _util.checked_once(lambda v: v, ("bounded", i), i)
    assert len(_util._CHECKED) <= 4096


def test_device_arrays_have_no_signature():
    assert _util.host_signature((ember.Tensor._wrap(ForeignDeviceArray((2, 2))),), "op") is None
    assert _util.host_signature((None, ember.tensor(np.ones(2))), "op") == (None, ((2,), np.dtype(np.float32)), "op",
                                                                              (str,), ())


def test_a_float_equal_to_a_remembered_int_is_still_refused():
    x, w = _conv_operands()
    ops.conv2d(x, w, strides=(1, 1), groups=1)
    ops.max_pool2d(x, (2, 2))
    with pytest.raises(ValueError, match="groups"):
        ops.conv2d(x, w, strides=(1, 1), groups=1.0)
    with pytest.raises(ValueError, match="strides"):
        ops.conv2d(x, w, strides=(1.0, 1.0), groups=1)
    with pytest.raises(ValueError, match="pool_size"):
        ops.max_pool2d(x, (2.0, 2.0))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
@pytest.mark.parametrize("shape, axis", [((64,), None), ((7, 13), 1), ((3, 4, 5), (0, 2)), ((1000,), 0)])
def test_mean_is_numpys_to_the_bit(dtype, shape, axis):
    a = (np.random.default_rng(1).standard_normal(shape) * 10).astype(dtype)
    out = ops.mean(ember.tensor(a, dtype=dtype), axis=axis).numpy()
    expected = np.mean(a, axis=axis)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def test_a_full_mean_backward_fills_the_input_shape():
    x = ember.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    ops.mean(x).backward()
    assert x.grad.shape == (3, 4) and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 1 / 12, np.float32))
