"""ember.losses against independent NumPy formulas (and torch when installed): forward for every reduction
and sample weight, float64 gradients, stability at huge logits, label smoothing, lookup and bad input."""
import numpy as np
import pytest

import ember
from ember import losses
from ember.testing import gradcheck

EPS = 1e-7
B, C = 6, 4


# -- independent NumPy references (per sample) ----------------------------------------------------------------------
def np_mse(y, p):
    return np.mean((y - p) ** 2, axis=-1)


def np_mae(y, p):
    return np.mean(np.abs(y - p), axis=-1)


def np_bce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = 1 / (1 + np.exp(-p))
    p = np.clip(p, EPS, 1 - EPS)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)


def np_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_cce(y, p, from_logits=False, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        logp = np_log_softmax(p)
    else:
        logp = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS))
    return -np.sum(y * logp, axis=-1)


def np_scce(ids, p, from_logits=False):
    return np_cce(np.eye(p.shape[-1])[np.reshape(ids, p.shape[:-1])], p, from_logits)


def probabilities(rng, *shape):
    return rng.uniform(0.05, 0.95, size=shape)


def distributions(rng, *shape):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(rng, n=B, c=C):
    return np.eye(c)[rng.integers(0, c, size=n)]


# name -> (loss class, kwargs, NumPy reference of (y_true, y_pred), maker of (y_true, y_pred))
CASES = {
    "mse": (losses.MeanSquaredError, {}, np_mse, lambda r: (r.standard_normal((B, 3)), r.standard_normal((B, 3)))),
    "mae": (losses.MeanAbsoluteError, {}, np_mae, lambda r: (r.standard_normal((B, 3)), r.standard_normal((B, 3)))),
    "bce": (losses.BinaryCrossentropy, {}, np_bce, lambda r: (r.integers(0, 2, (B, 3)) * 1.0, probabilities(r, B, 3))),
    "bce_logits": (losses.BinaryCrossentropy, {"from_logits": True}, lambda y, p: np_bce(y, p, True),
                   lambda r: (r.integers(0, 2, (B, 3)) * 1.0, 3 * r.standard_normal((B, 3)))),
    "bce_smoothed": (losses.BinaryCrossentropy, {"label_smoothing": 0.2}, lambda y, p: np_bce(y, p, False, 0.2),
                     lambda r: (r.integers(0, 2, (B, 1)) * 1.0, probabilities(r, B, 1))),
    "cce": (losses.CategoricalCrossentropy, {}, np_cce, lambda r: (one_hot(r), distributions(r, B, C))),
    "cce_logits": (losses.CategoricalCrossentropy, {"from_logits": True}, lambda y, p: np_cce(y, p, True),
                   lambda r: (one_hot(r), 3 * r.standard_normal((B, C)))),
    "cce_smoothed": (losses.CategoricalCrossentropy, {"from_logits": True, "label_smoothing": 0.1},
                     lambda y, p: np_cce(y, p, True, 0.1), lambda r: (one_hot(r), r.standard_normal((B, C)))),
    "scce": (losses.SparseCategoricalCrossentropy, {}, np_scce,
             lambda r: (r.integers(0, C, B), distributions(r, B, C))),
    "scce_logits": (losses.SparseCategoricalCrossentropy, {"from_logits": True}, lambda y, p: np_scce(y, p, True),
                    lambda r: (r.integers(0, C, (B, 1)), 3 * r.standard_normal((B, C)))),
}
WEIGHTS = {"none": None, "per_sample": "per_sample", "column": "column", "scalar": 2.5}


def _data(name, seed=0):
    return CASES[name][3](np.random.default_rng(seed))


def _weights(kind, rng):
    if kind == "per_sample":
        return rng.uniform(0, 2, B)
    if kind == "column":
        return rng.uniform(0, 2, (B, 1))
    return kind


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"])
@pytest.mark.parametrize("weighting", list(WEIGHTS))
@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_numpy(name, weighting, reduction):
    cls, kwargs, reference, _ = CASES[name]
    y_true, y_pred = _data(name)
    weight = _weights(WEIGHTS[weighting], np.random.default_rng(1))
    out = cls(reduction=reduction, **kwargs)(y_true, ember.tensor(y_pred), sample_weight=weight).numpy()
    values = reference(y_true, y_pred)
    w = np.ones(B) if weight is None else np.broadcast_to(np.reshape(weight, (-1,)), (B,))
    expected = {"none": values * w, "sum": np.sum(values * w), "sum_over_batch_size": np.sum(values * w) / B,
                "mean_with_sample_weight": np.sum(values * w) / np.sum(w)}[reduction]
    assert out.dtype == np.float32 and out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)


FUNCTIONS = {"mse": losses.mean_squared_error, "mae": losses.mean_absolute_error, "bce": losses.binary_crossentropy,
             "cce": losses.categorical_crossentropy, "scce": losses.sparse_categorical_crossentropy}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_give_one_value_per_sample(name):
    y_true, y_pred = _data(name)
    out = FUNCTIONS[name](y_true, ember.tensor(y_pred))
    assert out.shape == (B,)
    np.testing.assert_allclose(out.numpy(), CASES[name][2](y_true, y_pred), rtol=2e-5, atol=1e-6)


def test_batch_dimensions_are_kept():
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    assert losses.mse(y, ember.tensor(p)).shape == (2, 3)
    logits = rng.standard_normal((2, 3, 5))
    assert losses.sparse_categorical_crossentropy(rng.integers(0, 5, (2, 3)), ember.tensor(logits), True).shape == (2, 3)


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_wrt_prediction_matches_finite_differences(name):
    cls, kwargs, _, _ = CASES[name]
    y_true, y_pred = _data(name, seed=2)
    loss = cls(**kwargs)
    weight = np.random.default_rng(3).uniform(0.5, 2, B)
    gradcheck(lambda t, p: loss(t, p, sample_weight=weight), [y_true, y_pred.astype(np.float64)], wrt=[1])


@pytest.mark.parametrize("name", ["mse", "mae", "bce_logits", "cce_logits"])
def test_gradient_wrt_a_tensor_target_matches_finite_differences(name):
    cls, kwargs, _, _ = CASES[name]
    y_true, y_pred = _data(name, seed=4)
    gradcheck(cls(**kwargs), [y_true.astype(np.float64) + 0.1, y_pred], wrt=[0, 1])


def test_float64_predictions_stay_float64():
    y_true, y_pred = _data("cce_logits")
    out = losses.CategoricalCrossentropy(from_logits=True)(y_true, ember.tensor(y_pred, dtype="float64"))
    assert out.dtype == np.float64


# -- stability ------------------------------------------------------------------------------------------------------
HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])


@pytest.mark.parametrize("loss, y_true", [
    (losses.BinaryCrossentropy(from_logits=True), np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])),
    (losses.BinaryCrossentropy(from_logits=True), np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])),
    (losses.CategoricalCrossentropy(from_logits=True), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])),
    (losses.SparseCategoricalCrossentropy(from_logits=True), np.array([1, 0])),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), np.array([[1.0, 0, 0], [0, 1.0, 0]])),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_logits_give_finite_loss_and_gradient(loss, y_true, dtype):
    logits = ember.tensor(HUGE, dtype=dtype, requires_grad=True)
    out = loss(y_true, logits)
    out.backward()
    assert np.isfinite(out.item()) and out.item() > 100  # wrong answers cost ~1e3-1e4, not inf
    assert np.all(np.isfinite(logits.grad.numpy()))


def test_confident_right_logits_cost_nothing():
    logits = ember.tensor(HUGE, requires_grad=True)
    out = losses.BinaryCrossentropy(from_logits=True)(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), logits)
    out.backward()
    np.testing.assert_allclose(out.item(), np.mean([0, 0, np.log(2), 0, 0, np.log1p(np.exp(-5.0))]) * 3 / 3,
                               rtol=1e-5)


def test_probabilities_at_zero_and_one_are_clipped_like_keras():
    p = ember.tensor(np.array([[0.0, 1.0]]), requires_grad=True)
    out = losses.binary_crossentropy(np.array([[1.0, 0.0]]), p)
    upper = np.float32(1 - EPS)  # 1 - 1e-7 as float32 holds it, as in Keras
    expected = -(np.log(np.float32(EPS)) + np.log(np.float32(1) - upper)) / 2
    np.testing.assert_allclose(out.numpy(), [expected], rtol=1e-5)
    out.backward()
    assert np.all(np.isfinite(p.grad.numpy()))


def test_from_logits_equals_from_probabilities_for_moderate_values():
    rng = np.random.default_rng(5)
    logits = rng.uniform(-4, 4, (B, C))
    y_bin, y_cat = rng.integers(0, 2, (B, C)) * 1.0, one_hot(rng)
    sigmoid, softmax = ember.ops.sigmoid(ember.tensor(logits)), ember.ops.softmax(ember.tensor(logits))
    np.testing.assert_allclose(losses.binary_crossentropy(y_bin, ember.tensor(logits), from_logits=True).numpy(),
                               losses.binary_crossentropy(y_bin, sigmoid).numpy(), rtol=1e-5)
    np.testing.assert_allclose(losses.categorical_crossentropy(y_cat, ember.tensor(logits), from_logits=True).numpy(),
                               losses.categorical_crossentropy(y_cat, softmax).numpy(), rtol=1e-5)


def test_label_smoothing_follows_keras_formula():
    y = np.array([[1.0, 0.0, 0.0, 0.0]])
    logits = np.array([[2.0, 0.5, -1.0, 0.0]])
    smoothed = losses.categorical_crossentropy(y, ember.tensor(logits), from_logits=True, label_smoothing=0.2)
    manual = losses.categorical_crossentropy(y * 0.8 + 0.05, ember.tensor(logits), from_logits=True)
    np.testing.assert_allclose(smoothed.numpy(), manual.numpy(), rtol=1e-6)
    smoothed = losses.binary_crossentropy(np.array([[1.0, 0.0]]), ember.tensor([[0.7, 0.2]]), label_smoothing=0.2)
    manual = losses.binary_crossentropy(np.array([[0.9, 0.1]]), ember.tensor([[0.7, 0.2]]))
    np.testing.assert_allclose(smoothed.numpy(), manual.numpy(), rtol=1e-6)


def test_sparse_equals_categorical_on_one_hot_targets():
    rng = np.random.default_rng(6)
    ids, logits = rng.integers(0, C, B), ember.tensor(rng.standard_normal((B, C)))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(ids, logits, from_logits=True).numpy(),
                               losses.categorical_crossentropy(np.eye(C)[ids], logits, from_logits=True).numpy(),
                               rtol=1e-6)


def test_sparse_class_axis_may_be_first():
    rng = np.random.default_rng(7)
    ids, logits = rng.integers(0, C, B), rng.standard_normal((B, C))
    out = losses.sparse_categorical_crossentropy(ids, ember.tensor(logits.T.copy()), from_logits=True, axis=0)
    np.testing.assert_allclose(out.numpy(), np_scce(ids, logits, True), rtol=1e-5)


def test_ignore_class_leaves_those_samples_out_of_the_mean():
    rng = np.random.default_rng(8)
    ids, logits = np.array([0, 1, 2, 1]), rng.standard_normal((4, 3))
    out = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1)(ids, ember.tensor(logits))
    kept = np_scce(ids, logits, True)[[0, 2]]
    np.testing.assert_allclose(out.item(), kept.mean(), rtol=1e-5)


@pytest.mark.parametrize("y_shape, p_shape", [((B,), (B, 1)), ((B, 1), (B,))])
def test_a_trailing_axis_of_one_is_matched_like_keras(y_shape, p_shape):
    rng = np.random.default_rng(9)
    y, p = rng.standard_normal(y_shape), rng.standard_normal(p_shape)
    out = losses.MeanSquaredError()(y, ember.tensor(p))
    np.testing.assert_allclose(out.item(), np.mean((y.reshape(-1) - p.reshape(-1)) ** 2), rtol=1e-5)


def test_tensor_targets_are_cast_to_the_prediction_dtype():
    y = ember.tensor(np.array([[1, 0], [0, 1]]), dtype="int64")
    out = losses.BinaryCrossentropy()(y, ember.tensor([[0.9, 0.2], [0.3, 0.6]]))
    expected = np_bce(np.array([[1.0, 0], [0, 1]]), np.array([[0.9, 0.2], [0.3, 0.6]])).mean()
    np.testing.assert_allclose(out.item(), expected, rtol=1e-6)


# -- torch as an oracle (float64, values and gradients) ---------------------------------------------------------------
@pytest.fixture
def torch_f():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def _ember_and_grad(loss, y_true, y_pred):
    p = ember.tensor(y_pred, dtype="float64", requires_grad=True)
    out = loss(y_true, p)
    out.backward()
    return out.item(), p.grad.numpy()


def _torch_and_grad(torch, fn, y_pred, *args, **kwargs):
    p = torch.tensor(y_pred, requires_grad=True)
    out = fn(p, *args, **kwargs)
    out.backward()
    return out.item(), p.grad.numpy()


def _close(ours, theirs):
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)


def test_bce_with_logits_matches_torch(torch_f):
    torch, F = torch_f
    rng = np.random.default_rng(10)
    y, x = rng.uniform(0, 1, (B, 3)), 20 * rng.standard_normal((B, 3))
    _close(_ember_and_grad(losses.BinaryCrossentropy(from_logits=True), y, x),
           _torch_and_grad(torch, F.binary_cross_entropy_with_logits, x, torch.tensor(y)))


def test_sparse_crossentropy_matches_torch_cross_entropy(torch_f):
    torch, F = torch_f
    rng = np.random.default_rng(11)
    ids, x = rng.integers(0, C, B), 5 * rng.standard_normal((B, C))
    _close(_ember_and_grad(losses.SparseCategoricalCrossentropy(from_logits=True), ids, x),
           _torch_and_grad(torch, F.cross_entropy, x, torch.tensor(ids)))


def test_smoothed_categorical_crossentropy_matches_torch(torch_f):
    torch, F = torch_f
    rng = np.random.default_rng(12)
    ids, x = rng.integers(0, C, B), 5 * rng.standard_normal((B, C))
    _close(_ember_and_grad(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3), np.eye(C)[ids], x),
           _torch_and_grad(torch, F.cross_entropy, x, torch.tensor(ids), label_smoothing=0.3))


@pytest.mark.parametrize("ours, theirs", [("MeanSquaredError", "mse_loss"), ("MeanAbsoluteError", "l1_loss")])
def test_regression_losses_match_torch(torch_f, ours, theirs):
    torch, F = torch_f
    rng = np.random.default_rng(13)
    y, p = rng.standard_normal((B, 3)), rng.standard_normal((B, 3))
    _close(_ember_and_grad(getattr(losses, ours)(), y, p),
           _torch_and_grad(torch, getattr(F, theirs), p, torch.tensor(y)))


# -- lookup, config -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("identifier, cls", [
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError), ("MSE", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
    ("binary_crossentropy", losses.BinaryCrossentropy), ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("BinaryCrossentropy", losses.BinaryCrossentropy), (losses.mean_squared_error, losses.MeanSquaredError),
    (losses.CategoricalCrossentropy, losses.CategoricalCrossentropy),
])
def test_get_gives_a_loss_instance(identifier, cls):
    assert type(losses.get(identifier)) is cls


def test_get_passes_instances_through_and_wraps_callables():
    loss = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(loss) is loss
    custom = losses.get(lambda y, p: ember.ops.mean(ember.ops.square(y - p), axis=-1))
    assert isinstance(custom, losses.Loss)
    assert custom(np.zeros((2, 2)), ember.tensor(np.ones((2, 2)))).item() == pytest.approx(1.0)


def test_unknown_loss_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown loss 'msq'\. Known losses: .*'mse'.*'sparse_categorical"):
        losses.get("msq")


@pytest.mark.parametrize("loss", [losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum"),
                                  losses.CategoricalCrossentropy(axis=-1, name="cce"),
                                  losses.SparseCategoricalCrossentropy(ignore_class=3), losses.MeanSquaredError()])
def test_config_round_trips(loss):
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config
    assert losses.get(losses.serialize(loss)).get_config() == config


def test_default_names_and_reduction_are_keras():
    assert losses.BinaryCrossentropy().name == "binary_crossentropy"
    assert losses.MeanSquaredError().reduction == "sum_over_batch_size"
    assert losses.SparseCategoricalCrossentropy().get_config()["from_logits"] is False


# -- bad input ------------------------------------------------------------------------------------------------------
def test_invalid_reduction_is_a_keras_style_error():
    with pytest.raises(ValueError, match=r"Invalid value for argument `reduction`\. Expected one of \[.*'sum'.*\]\. "
                                         r"Received: reduction='foo'"):
        losses.MeanSquaredError(reduction="foo")


@pytest.mark.parametrize("loss, y_true, y_pred, match", [
    (losses.MeanSquaredError(), np.ones((4, 3)), np.ones((4, 2)),
     r"mean_squared_error: .*y_true.shape=\(4, 3\), y_pred.shape=\(4, 2\)"),
    (losses.BinaryCrossentropy(), np.ones((4,)), np.ones((5, 1)), r"binary_crossentropy: .*\(4,\).*\(5, 1\)"),
    (losses.CategoricalCrossentropy(), np.ones((4, 3)), np.ones((4, 4)), r"categorical_crossentropy: .*\(4, 3\).*\(4, 4\)"),
    (losses.SparseCategoricalCrossentropy(), np.ones((4, 3), dtype=int), np.ones((4, 3)),
     r"sparse_categorical_crossentropy: y_true must hold one integer class id per sample, of shape \(4,\)"),
    (losses.SparseCategoricalCrossentropy(), np.array([0, 3]), np.ones((2, 3)), r"class ids must lie in \[0, 3\)"),
    (losses.MeanSquaredError(), np.ones((4, 3)), np.ones((4, 3)), None),
])
def test_mismatched_shapes_name_the_loss_and_both_shapes(loss, y_true, y_pred, match):
    if match is None:  # the well-formed control
        loss(y_true, ember.tensor(y_pred))
        return
    with pytest.raises(ValueError, match=match):
        loss(y_true, ember.tensor(y_pred))


def test_mismatched_sample_weight_is_a_clear_error():
    with pytest.raises(ValueError, match=r"mean_squared_error: sample_weight of shape \(3,\) does not broadcast"):
        losses.MeanSquaredError()(np.ones((4, 2)), ember.tensor(np.ones((4, 2))), sample_weight=np.ones(3))


def test_invalid_label_smoothing_is_rejected():
    with pytest.raises(ValueError, match=r"Invalid value for argument `label_smoothing`|invalid value for argument"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
