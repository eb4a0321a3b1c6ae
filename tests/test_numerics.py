"""Numerics: TerminateOnNaN stops fit at the first non-finite batch loss; clip_grad_norm with
error_if_nonfinite raises on inf and NaN gradients; softmax, log-softmax and the crossentropies stay finite
and exact (values and gradients) on logits of +-1e4, on every backend and in float32 and float64."""
import math

import numpy as np
import pytest

import ember
from ember import layers, losses, ops
from ember.callbacks import Callback, TerminateOnNaN
from ember.optimizers import clip_grad_norm

BACKENDS = ("reference", "cpu")
DTYPES = ("float32", "float64")

# rows of huge logits: a clear winner, a tie of two, a tie of three, and a mix with ordinary values
HUGE = np.array([[1e4, -1e4, 0.0],
                 [-1e4, -1e4, 1e4],
                 [1e4, 1e4, -1e4],
                 [-1e4, 0.0, 3.0],
                 [1e4, 1e4, 1e4]])
TARGETS = np.array([1, 0, 2, 1, 0])


# -- TerminateOnNaN ---------------------------------------------------------------------------------------------
class BatchLosses(Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def _regression(learning_rate=0.01):
    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=ember.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    rng = np.random.default_rng(0)
    return model, rng.standard_normal((64, 4)).astype("float32"), rng.standard_normal((64, 1)).astype("float32")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf is the point
def test_terminate_on_nan_stops_fit_at_the_batch_with_nan_data():
    model, x, y = _regression()
    x[2 * 8 + 3, 1] = np.nan  # a sample of the third batch (batch_size 8, no shuffle)
    record = BatchLosses()
    history = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(), record])
    assert len(record.losses) == 3 and all(np.isfinite(record.losses[:2])) and np.isnan(record.losses[2])
    assert model.stop_training and len(history.history["loss"]) == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf is the point
def test_terminate_on_nan_stops_a_fit_diverging_under_a_huge_learning_rate():
    model, x, y = _regression(learning_rate=1e6)
    record = BatchLosses()
    model.fit(x, y, batch_size=8, epochs=50, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(), record])
    assert not np.isfinite(record.losses[-1]), "stopped before the loss was non-finite"
    assert all(np.isfinite(record.losses[:-1])), "went on after a non-finite loss"
    assert len(record.losses) < 50 * 8


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_terminate_on_nan_the_diverging_fit_runs_every_batch():
    # the control: it is the callback that stops the runs above
    model, x, y = _regression(learning_rate=1e6)
    record = BatchLosses()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[record])
    assert len(record.losses) == 3 * 8 and not np.isfinite(record.losses[-1])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf is the point
def test_terminate_on_nan_also_stops_on_an_infinite_loss():
    model, x, y = _regression()
    y[5, 0] = 1e30  # float32 squares it to inf: the first batch's loss is infinite, not NaN
    record = BatchLosses()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(), record])
    assert record.losses == [math.inf]


# -- clip_grad_norm(error_if_nonfinite=True) ---------------------------------------------------------------
def _params_with_grads(*grads):
    params = []
    for g in grads:
        p = ember.tensor(np.zeros(len(g)), requires_grad=True)
        p.grad = ember.tensor(np.asarray(g, dtype=np.float32))
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("where", ["first", "last"])
def test_clip_grad_norm_raises_on_a_non_finite_gradient(norm_type, bad, where):
    good, poisoned = [1.0, -2.0], [0.5, bad, 0.25]
    params = _params_with_grads(*((poisoned, good) if where == "first" else (good, poisoned)))
    before = [p.grad.numpy().copy() for p in params]
    with pytest.raises(RuntimeError, match=f"total norm of order {norm_type} .* is non-finite"):
        clip_grad_norm(params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), g)  # nothing was scaled


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_without_the_flag_returns_the_non_finite_norm_as_torch(norm_type):
    params = _params_with_grads([1.0, -2.0], [0.5, math.nan])
    total = clip_grad_norm(params, 1.0, norm_type=norm_type)
    assert math.isnan(float(total))
    assert np.isnan(params[0].grad.numpy()).all()  # scaled by the NaN norm: the failure shows downstream


def test_clip_grad_norm_with_the_flag_clips_finite_gradients_as_usual():
    params = _params_with_grads([3.0, 0.0], [0.0, 4.0])
    total = clip_grad_norm(params, 1.0, error_if_nonfinite=True)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(params[0].grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(params[1].grad.numpy(), [0.0, 0.8], rtol=1e-5)


# -- softmax, log-softmax and crossentropies on logits of +-1e4 ------------------------------------------------
def _log_softmax64(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax64(z):
    return np.exp(_log_softmax64(z))


def _logits(dtype):
    return ember.tensor(HUGE, dtype=dtype, requires_grad=True)


def _tolerance(dtype):
    # float32 holds 1e4 to about 1e-3 absolute; float64 to 1e-12
    return {"rtol": 1e-6, "atol": 2e-3} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-9}


def _weights(shape):
    return np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)


@pytest.fixture(params=BACKENDS)
def backend(request):
    with ember.use_backend(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_and_its_gradient_are_exact_on_huge_logits(backend, dtype):
    z = _logits(dtype)
    w = _weights(HUGE.shape)
    out = ops.log_softmax(z)
    (out * ember.tensor(w, dtype=dtype)).sum().backward()
    np.testing.assert_allclose(out.numpy(), _log_softmax64(HUGE), **_tolerance(dtype))
    expected_grad = w - _softmax64(HUGE) * w.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), expected_grad, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_its_gradient_are_exact_on_huge_logits(backend, dtype):
    z = _logits(dtype)
    w = _weights(HUGE.shape)
    out = ops.softmax(z)
    (out * ember.tensor(w, dtype=dtype)).sum().backward()
    p = _softmax64(HUGE)
    np.testing.assert_allclose(out.numpy(), p, **_tolerance(dtype))
    np.testing.assert_allclose(z.grad.numpy(), p * (w - (p * w).sum(axis=-1, keepdims=True)), **_tolerance(dtype))


def _categorical_expected():
    one_hot = np.eye(3)[TARGETS]
    loss = -(one_hot * _log_softmax64(HUGE)).sum(axis=-1).mean()
    return loss, (_softmax64(HUGE) - one_hot) / len(HUGE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True], ids=["categorical", "sparse_categorical"])
def test_crossentropy_from_huge_logits_is_exact_with_its_gradient(backend, dtype, sparse):
    z = _logits(dtype)
    if sparse:
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)(TARGETS, z)
    else:
        loss = losses.CategoricalCrossentropy(from_logits=True)(np.eye(3)[TARGETS], z)
    loss.backward()
    expected_loss, expected_grad = _categorical_expected()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), expected_grad, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_crossentropy_from_huge_logits_is_exact_with_its_gradient(backend, dtype):
    y = (np.arange(HUGE.size).reshape(HUGE.shape) % 2).astype(np.float64)
    z = _logits(dtype)
    loss = losses.BinaryCrossentropy(from_logits=True)(y, z)
    loss.backward()
    per_element = np.maximum(HUGE, 0) - HUGE * y + np.log1p(np.exp(-np.abs(HUGE)))
    sigmoid = 0.5 * (1 + np.tanh(HUGE / 2))
    assert loss.item() == pytest.approx(per_element.mean(), rel=1e-6)
    np.testing.assert_allclose(z.grad.numpy(), (sigmoid - y) / HUGE.size, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["categorical", "binary"])
def test_crossentropy_from_saturated_probabilities_is_clipped_finite(backend, dtype, kind):
    # softmax / sigmoid of huge logits give exact 0s and 1s: Keras' clip to [1e-7, 1 - 1e-7] keeps log finite
    z = _logits(dtype)
    if kind == "categorical":
        loss = losses.CategoricalCrossentropy()(np.eye(3)[TARGETS], ops.softmax(z))
    else:
        loss = losses.BinaryCrossentropy()((HUGE < 0).astype(np.float64), ops.sigmoid(z))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() <= -math.log(1e-7) + 1e-3
    assert np.isfinite(z.grad.numpy()).all()


@pytest.mark.parametrize("from_logits", [True, False])
def test_a_nan_logit_gives_a_nan_loss_not_a_clipped_one(backend, from_logits):
    # a NaN must reach the loss (and TerminateOnNaN), not be hidden by the max-shift or the probability clip
    z = HUGE.copy()
    z[1, 2] = np.nan
    prediction = ember.tensor(z) if from_logits else ops.softmax(ember.tensor(z))
    loss = losses.CategoricalCrossentropy(from_logits=from_logits)(np.eye(3)[TARGETS], prediction)
    assert np.isnan(loss.item())
