"""ember.metrics: running results across batches, reset, sample weights, names and Keras' accuracy resolution."""
import numpy as np
import pytest

import ember
from ember import losses, metrics


def _batches(y_true, y_pred, sizes=(3, 5, 4)):
    start = 0
    for n in sizes:
        yield y_true[start:start + n], y_pred[start:start + n]
        start += n


def _data(rng, kind, n=12, c=4):
    if kind == "binary":
        return rng.integers(0, 2, (n, 1)).astype(np.float32), rng.uniform(0, 1, (n, 1))
    if kind == "categorical":
        return np.eye(c)[rng.integers(0, c, n)], rng.standard_normal((n, c))
    if kind == "sparse":
        return rng.integers(0, c, n), rng.standard_normal((n, c))
    if kind == "exact":
        y = rng.integers(0, 3, (n, 2))
        return y, np.where(rng.random((n, 2)) < 0.6, y, 5)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 3))


# metric, kind of data, NumPy value of the whole data set
CASES = [
    (metrics.Accuracy, "exact", lambda y, p: np.mean(y == p)),
    (metrics.BinaryAccuracy, "binary", lambda y, p: np.mean(y == (p > 0.5))),
    (metrics.CategoricalAccuracy, "categorical", lambda y, p: np.mean(y.argmax(-1) == p.argmax(-1))),
    (metrics.SparseCategoricalAccuracy, "sparse", lambda y, p: np.mean(y == p.argmax(-1))),
    (metrics.MeanAbsoluteError, "regression", lambda y, p: np.mean(np.abs(y - p))),
    (metrics.MeanSquaredError, "regression", lambda y, p: np.mean((y - p) ** 2)),
]


@pytest.mark.parametrize("cls, kind, reference", CASES, ids=[c[0].__name__ for c in CASES])
def test_accumulating_batches_equals_the_metric_on_all_data(cls, kind, reference):
    y_true, y_pred = _data(np.random.default_rng(0), kind)
    metric = cls()
    for yt, yp in _batches(y_true, y_pred):
        metric.update_state(yt, ember.tensor(yp))
    assert isinstance(metric.result(), float)
    assert metric.result() == pytest.approx(reference(y_true, y_pred), rel=1e-6)
    whole = cls()
    whole.update_state(y_true, y_pred)
    assert whole.result() == pytest.approx(metric.result(), rel=1e-6)


@pytest.mark.parametrize("cls, kind, reference", CASES, ids=[c[0].__name__ for c in CASES])
def test_sample_weights_weigh_samples(cls, kind, reference):
    rng = np.random.default_rng(1)
    y_true, y_pred = _data(rng, kind)
    weight = rng.uniform(0, 2, len(y_true))
    metric = cls()
    for (yt, yp), w in zip(_batches(y_true, y_pred), np.split(weight, [3, 8])):
        metric.update_state(yt, yp, sample_weight=w)
    per_sample = [reference(y_true[i:i + 1], y_pred[i:i + 1]) for i in range(len(y_true))]
    assert metric.result() == pytest.approx(np.sum(np.multiply(per_sample, weight)) / weight.sum(), rel=1e-6)


def test_reset_state_starts_over():
    metric = metrics.BinaryAccuracy()
    metric.update_state(np.array([[1.0], [0.0]]), np.array([[0.9], [0.8]]))
    assert metric.result() == 0.5
    metric.reset_state()
    assert metric.result() == 0.0  # nothing counted: 0, as Keras' divide_no_nan
    metric.update_state(np.array([[1.0]]), np.array([[0.9]]))
    assert metric.result() == 1.0


def test_binary_accuracy_threshold():
    metric = metrics.BinaryAccuracy(threshold=0.0)
    metric.update_state(np.array([[1.0], [0.0], [1.0]]), np.array([[0.3], [-2.0], [-0.1]]))
    assert metric.result() == pytest.approx(2 / 3)


def test_sparse_accuracy_takes_ids_of_shape_batch_or_batch_by_one():
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    for ids in (np.array([1, 0, 0]), np.array([[1], [0], [0]])):
        metric = metrics.SparseCategoricalAccuracy()
        metric.update_state(ids, y_pred)
        assert metric.result() == pytest.approx(2 / 3)


def test_mean_weighs_values():
    mean = metrics.Mean()
    mean.update_state(np.array([1.0, 2.0, 3.0]))
    mean.update_state(ember.tensor([10.0]), sample_weight=np.array([3.0]))
    assert mean.result() == pytest.approx((1 + 2 + 3 + 30) / 6)
    assert mean.name == "mean"


def test_calling_a_metric_updates_and_returns_the_result():
    metric = metrics.MeanAbsoluteError()
    assert metric(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])) == pytest.approx(1.5)
    assert metric(np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]])) == pytest.approx(0.75)


def test_crossentropy_metrics_equal_the_losses():
    rng = np.random.default_rng(2)
    ids, logits = rng.integers(0, 3, 8), rng.standard_normal((8, 3))
    metric = metrics.SparseCategoricalCrossentropy(from_logits=True)
    metric.update_state(ids[:5], logits[:5])
    metric.update_state(ids[5:], logits[5:])
    expected = losses.SparseCategoricalCrossentropy(from_logits=True)(ids, ember.tensor(logits)).item()
    assert metric.result() == pytest.approx(expected, rel=1e-5)


def test_default_names_are_keras():
    assert [cls().name for cls, _, _ in CASES] == ["accuracy", "binary_accuracy", "categorical_accuracy",
                                                   "sparse_categorical_accuracy", "mean_absolute_error",
                                                   "mean_squared_error"]


# -- get ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss, output_shape, cls", [
    ("binary_crossentropy", None, metrics.BinaryAccuracy),
    (losses.BinaryCrossentropy(from_logits=True), (None, 3), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", (None, 10), metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), None, metrics.SparseCategoricalAccuracy),
    (losses.sparse_categorical_crossentropy, None, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 1), metrics.CategoricalAccuracy),
    ("mse", (None, 1), metrics.BinaryAccuracy),
    ("mse", (None, 5), metrics.CategoricalAccuracy),
    (None, (32, 1), metrics.BinaryAccuracy),
    (None, None, metrics.CategoricalAccuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolves_like_keras_and_keeps_its_name(name, loss, output_shape, cls):
    metric = metrics.get(name, loss=loss, output_shape=output_shape)
    assert type(metric) is cls
    assert metric.name == name


@pytest.mark.parametrize("identifier, cls, name", [
    ("mae", metrics.MeanAbsoluteError, "mae"), ("mse", metrics.MeanSquaredError, "mse"),
    ("mean_absolute_error", metrics.MeanAbsoluteError, "mean_absolute_error"),
    ("binary_accuracy", metrics.BinaryAccuracy, "binary_accuracy"),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
    ("binary_crossentropy", metrics.BinaryCrossentropy, "binary_crossentropy"),
    ("CategoricalAccuracy", metrics.CategoricalAccuracy, "categorical_accuracy"),
    (metrics.MeanSquaredError, metrics.MeanSquaredError, "mean_squared_error"),
])
def test_get_by_name_keeps_the_given_spelling(identifier, cls, name):
    metric = metrics.get(identifier)
    assert type(metric) is cls and metric.name == name


def test_get_passes_instances_through_and_wraps_functions():
    metric = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(metric) is metric

    def max_error(y_true, y_pred):
        return np.max(np.abs(y_true - y_pred), axis=-1)

    wrapped = metrics.get(max_error)
    assert wrapped.name == "max_error"
    wrapped.update_state(np.zeros((2, 2)), np.array([[1.0, 3.0], [0.0, 1.0]]))
    assert wrapped.result() == pytest.approx(2.0)


def test_unknown_metric_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Known metrics: .*'accuracy'.*'mae'"):
        metrics.get("acuracy")


def test_mismatched_shapes_are_a_clear_error():
    with pytest.raises(ValueError, match=r"mean_squared_error: .*y_true.shape=\(4, 3\), y_pred.shape=\(4, 2\)"):
        metrics.MeanSquaredError().update_state(np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"categorical_accuracy: .*\(4, 3\).*\(4, 2\)"):
        metrics.CategoricalAccuracy().update_state(np.ones((4, 3)), np.ones((4, 2)))


def test_config_round_trips():
    metric = metrics.BinaryAccuracy(name="acc", threshold=0.2)
    again = metrics.BinaryAccuracy.from_config(metric.get_config())
    assert again.get_config() == {"name": "acc", "dtype": "float32", "threshold": 0.2}
