"""Acceptance: a 2-layer dense net, written with tensors and trained by plain SGD through loss.backward(),
fits a small synthetic task (XOR of the signs of two coordinates: not linearly separable)."""
import numpy as np
import pytest

import ember

BACKENDS = ["default", "reference"]  # "default" is the native "cpu" backend when ember._C is built


def xor_data(n=256, margin=0.1, seed=0):
    """Points in [-1, 1]^2 labelled by whether their coordinates share a sign; a margin around the axes."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1.0, 1.0, size=(4 * n, 2))
    points = points[np.abs(points).min(axis=1) > margin][:n]
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    return points, labels


def init_params(hidden=16, classes=2):
    ember.manual_seed(0)
    return {
        "w1": ember.randn(2, hidden, requires_grad=True),
        "b1": ember.zeros(hidden, requires_grad=True),
        "w2": (ember.randn(hidden, classes) / float(np.sqrt(hidden))).requires_grad_(),
        "b2": ember.zeros(classes, requires_grad=True),
    }


def logits_of(params, x):
    hidden = (x @ params["w1"] + params["b1"]).tanh()
    return hidden @ params["w2"] + params["b2"]


def cross_entropy(logits, one_hot):
    return -(logits.log_softmax(axis=-1) * one_hot).sum(axis=-1).mean()


def sgd_step(params, lr):
    with ember.no_grad():
        for p in params.values():
            p.data = p.data - lr * p.grad
            p.grad = None


def train(steps=400, lr=0.5):
    points, labels = xor_data()
    x = ember.tensor(points)
    one_hot = ember.tensor(np.eye(2)[labels])
    params = init_params()
    losses = []
    for _ in range(steps):
        loss = cross_entropy(logits_of(params, x), one_hot)
        loss.backward()
        sgd_step(params, lr)
        losses.append(loss.item())
    with ember.no_grad():
        predicted = logits_of(params, x).argmax(axis=-1).numpy()
    return losses, float((predicted == labels).mean()), params


@pytest.fixture(params=BACKENDS)
def on_backend(request):
    if request.param == "default":
        yield request.param
        return
    with ember.use_backend(request.param):
        yield request.param


def test_two_layer_net_fits_xor_with_sgd(on_backend):
    losses, accuracy, params = train()
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] / 10, f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"
    assert accuracy >= 0.95
    for p in params.values():
        assert p.dtype == np.float32 and p.is_leaf and p.requires_grad


def test_sgd_step_leaves_no_graph_behind(on_backend):
    params = init_params()
    x = ember.tensor(xor_data(n=8)[0])
    logits_of(params, x).sum().backward()
    sgd_step(params, 0.1)
    assert all(p.is_leaf and p.grad is None for p in params.values())
    with ember.no_grad():
        out = logits_of(params, x)
    assert out.requires_grad is False
