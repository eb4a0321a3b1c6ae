"""ops.sparse_crossentropy (the one-node loss behind SparseCategoricalCrossentropy): forward against a NumPy
reference and its gradient against float64 finite differences and the composite of ops it replaced, on random
shapes, class axes and both inputs (probabilities, renormalized and clipped as Keras; logits), and its errors."""
import numpy as np
import pytest

import ember
from ember import ops
from ember.testing import gradcheck
from ember.testing.op_table_nn import _crossentropy_reference as reference

EPS = 1e-7


def composite(y_pred, labels, from_logits, axis):
    """What the loss computed before: log probabilities times a one-hot, summed over the classes (seven nodes)."""
    if from_logits:
        log_p = ops.log_softmax(y_pred, axis=axis)
    else:
        log_p = ops.log(ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), EPS, 1.0 - EPS))
    one_hot = np.moveaxis(labels[..., None] == np.arange(y_pred.shape[axis]), -1, axis).astype(y_pred.dtype)
    return -ops.sum(log_p * one_hot, axis=axis)


def cases(seed):
    rng = np.random.default_rng(seed)
    for shape, axis in [((5, 4), -1), ((1, 1), -1), ((3, 6), 0), ((2, 3, 7), 1), ((4, 2, 3), -1), ((1, 9), 1)]:
        classes = shape[axis]
        labels = rng.integers(0, classes, shape[:axis % len(shape)] + shape[axis % len(shape) + 1:])
        for from_logits in (False, True):
            x = rng.standard_normal(shape) * 3 if from_logits else rng.uniform(0.05, 1.0, shape)
            yield x, labels, from_logits, axis


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_the_reference(dtype):
    for x, labels, from_logits, axis in cases(1):
        got = ops.sparse_crossentropy(x.astype(dtype), labels, from_logits, axis)
        assert got.dtype == dtype and got.shape == labels.shape
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got.numpy(), reference(x.astype(dtype).astype(np.float64), labels, from_logits, axis), rtol=tol,
                                   atol=tol)


def test_gradients_match_finite_differences_in_float64():
    for x, labels, from_logits, axis in cases(2):
        gradcheck(lambda t: ops.sparse_crossentropy(t, labels, from_logits, axis), [x])


def test_gradients_match_the_composite_it_replaced():
    for x, labels, from_logits, axis in cases(3):
        grads = []
        for fn in (ops.sparse_crossentropy, composite):
            t = ember.tensor(x, dtype=np.float64, requires_grad=True)
            (fn(t, labels, from_logits, axis) * np.linspace(0.5, 2.0, labels.size).reshape(labels.shape)).sum() \
                .backward()
            grads.append(t.grad.numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_clipped_probabilities_give_a_finite_loss_and_no_gradient():
    p = ember.tensor(np.array([[0.0, 1.0, 0.0], [1.0, 1e-12, 0.0]]), requires_grad=True)
    loss = ops.sparse_crossentropy(p, np.array([0, 1]))
    np.testing.assert_allclose(loss.numpy(), [-np.log(EPS)] * 2)
    loss.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros((2, 3)))


def test_an_empty_batch_gives_an_empty_loss():
    t = ember.tensor(np.ones((0, 4)), requires_grad=True)
    loss = ops.sparse_crossentropy(t, np.zeros(0, np.int64))
    assert loss.shape == (0,)
    loss.sum().backward()
    assert t.grad.shape == (0, 4)


@pytest.mark.parametrize("labels, error, match", [
    (np.zeros(3, np.int64), ValueError, r"sparse_crossentropy: expected labels of shape \(2,\) \(y_pred \(2, 4\) "
                                        r"without axis 1\), got shape \(3,\)"),
    (np.zeros(2), TypeError, r"sparse_crossentropy: expected integer class labels, got dtype float64"),
    (np.array([0, 4]), ValueError, r"sparse_crossentropy: expected labels in \[0, 4\) for y_pred of shape \(2, 4\), "
                                   r"got labels from 0 to 4"),
    (np.array([-1, 0]), ValueError, r"got labels from -1 to 0"),
])
def test_bad_labels_raise_a_clear_error(labels, error, match):
    with pytest.raises(error, match=match):
        ops.sparse_crossentropy(np.full((2, 4), 0.25), labels)


def test_integer_predictions_are_refused():
    with pytest.raises(TypeError, match="sparse_crossentropy"):
        ops.sparse_crossentropy(np.ones((2, 4), np.int64), np.zeros(2, np.int64))
