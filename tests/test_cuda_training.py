"""ember on a GPU, layers and training: every layer (test_layers.py's table plus recurrent layers with masks and
dropout, wrappers, attention, augmentation) against the CPU, losses, metrics, optimizers and regularizers, CPU/GPU
parity over training steps (a CNN with batch norm, LeNet-5, LSTM/GRU/SimpleRNN), fit/evaluate/predict, dropout and
batch norm on the GPU, and what a training step copies between host and device. Runs on a real GPU and on the
simulated one, as tests/test_cuda.py.
"""
import numpy as np
import pytest

import ember
import simulated_gpu
from ember import layers
from simulated_gpu import gpu, real_gpu, simulated  # noqa: F401  (fixtures)


# -- every layer on the GPU --------------------------------------------------------------------------------------
def _ids(rng, shape):
    ids = rng.integers(1, 9, shape)
    ids[0, -2:] = 0  # padding ids: Embedding(mask_zero) masks them
    return ids


def _padded(rng, shape):
    x = rng.standard_normal(shape)
    x[1, :2] = 0.0  # Masking skips these steps
    return x


# (name, make layer, make inputs(rng), call kwargs): the layers of tests/test_layers.py's table plus the ones with
# state, masks, randomness or wrappers
_EXTRA_LAYERS = [
    ("lstm_masked_by_embedding", lambda: ember.Sequential([layers.Embedding(10, 4, mask_zero=True),
                                                           layers.LSTM(5, return_sequences=True)]),
     lambda rng: _ids(rng, (3, 6)), {}),
    ("gru_after_masking", lambda: ember.Sequential([layers.Masking(0.0), layers.GRU(4, reset_after=False)]),
     lambda rng: _padded(rng, (3, 5, 2)), {}),
    ("bidirectional_lstm", lambda: layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
     lambda rng: rng.standard_normal((2, 4, 3)), {}),
    ("simple_rnn_cell_loop", lambda: layers.SimpleRNN(4, activation="elu", go_backwards=True),
     lambda rng: rng.standard_normal((2, 5, 3)), {}),
    ("lstm_recurrent_dropout", lambda: layers.LSTM(4, dropout=0.3, recurrent_dropout=0.3, seed=1),
     lambda rng: rng.standard_normal((2, 5, 3)), {"training": True}),
    ("time_distributed_dense", lambda: layers.TimeDistributed(layers.Dense(3)),
     lambda rng: rng.standard_normal((2, 4, 5)), {}),
    ("multi_head_attention", lambda: _SelfAttention(layers.MultiHeadAttention(2, 3)),
     lambda rng: rng.standard_normal((2, 4, 6)), {}),
    ("attention", lambda: _SelfAttention(layers.Attention(use_scale=True)),
     lambda rng: rng.standard_normal((2, 4, 6)), {}),
    ("additive_attention", lambda: _SelfAttention(layers.AdditiveAttention()),
     lambda rng: rng.standard_normal((2, 4, 6)), {}),
    ("random_flip", lambda: layers.RandomFlip(seed=3), lambda rng: rng.standard_normal((2, 5, 5, 2)),
     {"training": True}),
    ("random_rotation", lambda: layers.RandomRotation(0.2, seed=3), lambda rng: rng.standard_normal((2, 5, 5, 2)),
     {"training": True}),
    ("random_zoom", lambda: layers.RandomZoom(0.2, seed=3), lambda rng: rng.standard_normal((2, 5, 5, 2)),
     {"training": True}),
    ("random_translation", lambda: layers.RandomTranslation(0.2, 0.2, seed=3),
     lambda rng: rng.standard_normal((2, 5, 5, 2)), {"training": True}),
    ("random_crop", lambda: layers.RandomCrop(3, 4, seed=3), lambda rng: rng.standard_normal((2, 5, 5, 2)),
     {"training": True}),
    ("gaussian_noise", lambda: layers.GaussianNoise(0.5, seed=3), lambda rng: rng.standard_normal((2, 5)),
     {"training": True}),
]


class _SelfAttention(layers.Layer):
    """query = value = key = the input: attention layers as one-input layers for the table."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x):
        if isinstance(self.inner, layers.MultiHeadAttention):
            return self.inner(x, x)
        return self.inner([x, x])


def _table_layers():
    from test_layers import CASES, IDS, _inputs, _make

    for (cls, kwargs, shape, _), name in zip(CASES, IDS):
        yield pytest.param(lambda cls=cls, kwargs=kwargs, shape=shape: _make(cls, kwargs, shape),
                           lambda rng, shape=shape: _inputs(shape, seed=int(rng.integers(100))),
                           {"training": True} if cls is layers.BatchNormalization else {}, id=name)
    for name, make, inputs, kwargs in _EXTRA_LAYERS:
        yield pytest.param(make, inputs, kwargs, id=name)


def _layer_run(make, inputs, kwargs, device):
    ember.manual_seed(11)
    layer = make().to(device)  # built on the CPU (the table's layers), or to be built on `device`
    x = inputs(np.random.default_rng(4))
    xs = x if isinstance(x, list) else [x]
    tensors = [ember.tensor(a, dtype=np.float32 if a.dtype.kind == "f" else None, device=device,
                            requires_grad=a.dtype.kind == "f") for a in xs]
    ember.manual_seed(12)
    out = layer(tensors if isinstance(x, list) else tensors[0], **kwargs)
    out = out[0] if isinstance(out, (list, tuple)) else out
    cotangent = np.random.default_rng(5).standard_normal(out.shape)
    (out * ember.tensor(cotangent, device=device)).sum().backward()
    grads = [t.grad.numpy() for t in tensors if t.grad is not None]
    grads += [w.grad.numpy() for w in layer.trainable_weights if w.grad is not None]
    return out, grads, layer


@pytest.mark.parametrize("make, inputs, kwargs", list(_table_layers()))
def test_every_layer_on_the_gpu_matches_the_cpu(gpu, make, inputs, kwargs):
    cpu_out, cpu_grads, _ = _layer_run(make, inputs, kwargs, "cpu")
    gpu_out, gpu_grads, layer = _layer_run(make, inputs, kwargs, "cuda")
    assert gpu_out.device == "cuda:0" and {w.device for w in layer.weights} <= {"cuda:0"}
    np.testing.assert_allclose(gpu_out.numpy(), cpu_out.numpy(), rtol=1e-4, atol=1e-5)
    assert len(gpu_grads) == len(cpu_grads)
    for g, c in zip(gpu_grads, cpu_grads):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)


# -- losses, metrics, optimizers, regularizers on the GPU ---------------------------------------------------------
def _probabilities(rng, shape):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


_LOSSES = [
    ("mse", lambda: ember.losses.MeanSquaredError(), lambda r: r.standard_normal((6, 3)),
     lambda r: r.standard_normal((6, 3))),
    ("mae", lambda: ember.losses.MeanAbsoluteError(reduction="sum"), lambda r: r.standard_normal((6, 3)),
     lambda r: r.standard_normal((6, 3))),
    ("bce_logits", lambda: ember.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     lambda r: (r.random((6, 1)) > 0.5) * 1.0, lambda r: r.standard_normal((6, 1))),
    ("bce", lambda: ember.losses.BinaryCrossentropy(), lambda r: (r.random((6, 2)) > 0.5) * 1.0,
     lambda r: r.random((6, 2)) * 0.98 + 0.01),
    ("cce", lambda: ember.losses.CategoricalCrossentropy(), lambda r: np.eye(4)[r.integers(0, 4, 6)],
     lambda r: _probabilities(r, (6, 4))),
    ("scce_logits", lambda: ember.losses.SparseCategoricalCrossentropy(from_logits=True),
     lambda r: r.integers(0, 4, 6), lambda r: r.standard_normal((6, 4))),
    ("scce_ignore_class", lambda: ember.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
     lambda r: r.integers(0, 4, (6, 1)), lambda r: r.standard_normal((6, 4))),
]


@pytest.mark.parametrize("make, y_true, y_pred", [case[1:] for case in _LOSSES], ids=[case[0] for case in _LOSSES])
@pytest.mark.parametrize("labels_on", ["host", "gpu"])
def test_losses_on_the_gpu_match_the_cpu(gpu, make, y_true, y_pred, labels_on):
    rng = np.random.default_rng(8)
    target, prediction, weight = y_true(rng), y_pred(rng), rng.random(6)
    values = {}
    for device in ("cpu", "cuda"):
        pred = ember.tensor(prediction, device=device, requires_grad=True)
        truth = target if device == "cpu" or labels_on == "host" else ember.tensor(target, device=device)
        loss = make()(truth, pred, sample_weight=weight)
        loss.backward()
        assert loss.device == device.replace("cuda", "cuda:0")
        values[device] = (loss.item(), pred.grad.numpy())
    np.testing.assert_allclose(values["cuda"][0], values["cpu"][0], rtol=1e-5)
    np.testing.assert_allclose(values["cuda"][1], values["cpu"][1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                                  "mae", "mse", "binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_metrics_on_the_gpu_match_the_cpu_and_copy_no_batch_to_the_host(gpu, name):
    rng = np.random.default_rng(9)
    probabilities = _probabilities(rng, (8, 3))
    sparse = rng.integers(0, 3, 8)
    y_true = {"accuracy": sparse, "sparse_categorical_accuracy": sparse, "sparse_categorical_crossentropy": sparse,
              "binary_accuracy": (rng.random((8, 3)) > 0.5) * 1.0}.get(name, np.eye(3)[sparse])
    y_pred = np.argmax(probabilities, axis=-1) if name == "accuracy" else probabilities
    results = {}
    for device in ("cpu", "cuda"):
        metric = ember.metrics.Accuracy() if name == "accuracy" else ember.metrics.get(name)  # not Keras' guess
        metric.update_state(ember.tensor(y_true, device=device), ember.tensor(y_pred, device=device),
                            sample_weight=np.linspace(0.5, 1.5, 8))
        metric.update_state(y_true, ember.tensor(y_pred, device=device))  # labels on the host
        results[device] = metric.result()
    assert isinstance(results["cuda"], float)
    np.testing.assert_allclose(results["cuda"], results["cpu"], rtol=1e-6)


_OPTIMIZERS = {
    "sgd_nesterov": lambda ps: ember.optimizers.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam_amsgrad_clipnorm": lambda ps: ember.optimizers.Adam(ps, lr=0.05, amsgrad=True, clipnorm=0.5),
    "adamw_global_clipnorm": lambda ps: ember.optimizers.AdamW(ps, lr=0.05, global_clipnorm=1.0),
    "rmsprop_centered_clipvalue": lambda ps: ember.optimizers.RMSprop(ps, lr=0.05, momentum=0.5, centered=True,
                                                                      clipvalue=0.3),
}


@pytest.mark.parametrize("name", list(_OPTIMIZERS))
def test_optimizer_updates_on_the_gpu_match_the_cpu(gpu, name):
    rng = np.random.default_rng(10)
    start, targets = rng.standard_normal((3, 4)), rng.standard_normal((5, 3, 4))
    finals = {}
    for device in ("cpu", "cuda"):
        w = ember.tensor(start, device=device, requires_grad=True)
        optimizer = _OPTIMIZERS[name]([w])
        for target in targets:
            optimizer.zero_grad()
            ((w - ember.tensor(target, device=device)) ** 2).sum().backward()
            optimizer.step()
        assert w.device == device.replace("cuda", "cuda:0")
        finals[device] = w.numpy()
    np.testing.assert_allclose(finals["cuda"], finals["cpu"], rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_and_regularizers_on_the_gpu(gpu):
    ember.manual_seed(0)
    dense = layers.Dense(3, kernel_regularizer=ember.regularizers.L1L2(0.01, 0.02), bias_regularizer="l2")
    dense.to("cuda")
    out = dense(np.ones((2, 4), np.float32))
    loss = out.sum() + sum(dense.losses)
    assert all(penalty.device == "cuda:0" for penalty in dense.losses)
    loss.backward()
    total = ember.optimizers.clip_grad_norm(dense.trainable_weights, 0.1)
    assert total.device == "cuda:0" and float(total) > 0.1
    norm = np.sqrt(sum((w.grad.numpy() ** 2).sum() for w in dense.trainable_weights))
    np.testing.assert_allclose(norm, 0.1, rtol=1e-4)


# -- layers: CPU/GPU parity over training steps -----------------------------------------------------------------
def _cnn():
    return ember.Sequential([
        layers.Conv2D(6, 3, padding="same", activation="relu", input_shape=(12, 12, 2)),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.DepthwiseConv2D(3, padding="same", activation="elu"),
        layers.Conv2D(8, 3, strides=2, activation="leaky_relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(5, activation="softmax"),
    ])


def _lenet():
    return ember.Sequential([
        layers.Conv2D(6, 5, activation="tanh", input_shape=(32, 32, 1)),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(10),
    ])


def _recurrent():
    return ember.Sequential([
        layers.LSTM(8, return_sequences=True, input_shape=(6, 3)),
        layers.GRU(6, return_sequences=True),
        layers.SimpleRNN(5),
        layers.Dense(1),
    ])


_MODELS = {
    "cnn": (_cnn, (8, 12, 12, 2), lambda rng, n: rng.integers(0, 5, n), "sparse_categorical_crossentropy",
            lambda: ember.optimizers.Adam(1e-2)),
    "lenet": (_lenet, (8, 32, 32, 1), lambda rng, n: np.eye(10)[rng.integers(0, 10, n)],
              ("categorical_crossentropy", True), lambda: ember.optimizers.SGD(0.05, momentum=0.9)),
    "recurrent": (_recurrent, (8, 6, 3), lambda rng, n: rng.standard_normal((n, 1)), "mse",
                  lambda: ember.optimizers.RMSprop(1e-2)),
}


def _compiled(name, device):
    build, _, _, loss, optimizer = _MODELS[name]
    ember.manual_seed(7)
    model = build()
    if device != "cpu":
        model.to(device)
    if isinstance(loss, tuple):
        loss = ember.losses.CategoricalCrossentropy(from_logits=loss[1])
    model.compile(optimizer(), loss, metrics=["accuracy"] if name != "recurrent" else ["mae"])
    return model


@pytest.mark.parametrize("name", list(_MODELS))
def test_training_steps_on_the_gpu_match_the_cpu(gpu, name):
    _, shape, targets, _, _ = _MODELS[name]
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal(shape).astype(np.float32), targets(rng, shape[0])) for _ in range(4)]
    cpu, cuda = _compiled(name, "cpu"), _compiled(name, "cuda")
    for x, y in batches:
        loss_cpu, loss_gpu = cpu.train_on_batch(x, y), cuda.train_on_batch(x, y)
        assert isinstance(loss_gpu, list) and all(isinstance(v, float) for v in loss_gpu)
        np.testing.assert_allclose(loss_gpu, loss_cpu, rtol=2e-4, atol=1e-5)
    assert {w.device for w in cuda.weights} == {"cuda:0"}
    for w_gpu, w_cpu in zip(cuda.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(w_gpu, w_cpu, rtol=2e-3, atol=2e-4)  # float32 over 4 steps
    x = batches[0][0]
    np.testing.assert_allclose(cuda.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=2e-3, atol=2e-4)


def test_fit_evaluate_and_predict_on_the_gpu(gpu):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12, 12, 2)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype(np.int64) + 2 * (x[..., 0].mean(axis=(1, 2)) > 0)
    model = _compiled("cnn", "cuda")
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25)
    losses = history.history["loss"]
    assert all(isinstance(v, float) for k in history.history for v in history.history[k])
    assert losses[-1] < losses[0]
    assert {w.device for w in model.weights} == {"cuda:0"}
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float) and isinstance(accuracy, float) and 0.0 <= accuracy <= 1.0
    predictions = model.predict(x, batch_size=16)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (64, 5)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_fit_after_set_device_builds_the_model_on_the_gpu(gpu):
    ember.set_device("cuda")
    try:
        ember.manual_seed(0)
        model = ember.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
        model.compile("adam", "mse")
        x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
        model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, batch_size=8, verbose=0)
    finally:
        ember.set_device("cpu")
    assert {w.device for w in model.weights} == {"cuda:0"}
    assert model.device == "cuda:0"


def test_fit_takes_data_that_already_lives_on_the_gpu(gpu):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((32, 4)), device="cuda")
    y = ember.tensor(rng.standard_normal((32, 1)), device="cuda")
    ember.manual_seed(0)
    model = ember.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(1)]).to("cuda")
    model.compile("sgd", "mse")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict(x).shape == (32, 1)


def test_the_optimizer_state_follows_a_model_moved_between_steps(gpu):
    ember.manual_seed(0)
    model = ember.Sequential([layers.Dense(3), layers.Dense(1)])
    model.compile(ember.optimizers.Adam(1e-2), "mse")
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    model.train_on_batch(x, y)  # Adam's slots made on the CPU
    model.to("cuda")
    model.train_on_batch(x, y)
    slots = [v for p in model.trainable_weights for v in model.optimizer._state[id(p)][1].values()
             if hasattr(v, "shape")]
    assert slots and all(ember.device.of_array(v) == "cuda:0" for v in slots)
    model.to("cpu")
    model.train_on_batch(x, y)
    assert all(w.device == "cpu" for w in model.weights)


def test_model_to_moves_weights_in_place_so_a_torch_style_optimizer_keeps_them(gpu):
    ember.manual_seed(0)
    model = ember.Sequential([layers.Dense(2, input_shape=(3,))])
    weights = model.trainable_weights
    optimizer = ember.optimizers.SGD(model.parameters(), lr=0.1)
    assert model.to("cuda") is model
    assert [id(w) for w in model.trainable_weights] == [id(w) for w in weights]
    loss = (model(np.ones((2, 3), np.float32)) ** 2).mean()
    loss.backward()
    optimizer.step()
    assert all(w.device == "cuda:0" and w.grad.device == "cuda:0" for w in weights)


def test_dropout_on_the_gpu_repeats_with_the_seed_and_scales_the_kept(gpu):
    x = ember.ones(1000, device="cuda")
    ember.manual_seed(5)
    first = ember.ops.dropout(x, 0.25).numpy()
    ember.manual_seed(5)
    second = ember.ops.dropout(x, 0.25).numpy()
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.15 < np.mean(first == 0) < 0.35
    ember.manual_seed(6)
    assert not np.array_equal(ember.ops.dropout(x, 0.25).numpy(), first)


def test_dropouts_gradient_on_the_gpu_is_its_mask(gpu):
    x = ember.tensor(np.arange(1.0, 101.0), device="cuda", requires_grad=True)
    out = ember.ops.dropout(x, 0.5)
    out.sum().backward()
    assert x.grad.device == "cuda:0"
    np.testing.assert_allclose(x.grad.numpy(), out.numpy() / x.numpy(), rtol=1e-6)
    assert ember.ops.dropout(x, 0.5, training=False) is x


def test_batch_norm_training_on_the_gpu_matches_the_cpu(gpu):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4, 4, 3)).astype(np.float32) * 3 + 1
    outs = {}
    for device in ("cpu", "cuda"):
        ember.manual_seed(0)
        bn = layers.BatchNormalization()
        bn.to(device)
        xt = ember.tensor(x, device=device, requires_grad=True)
        out = bn(xt, training=True)
        (out * ember.tensor(np.arange(out.size, dtype=np.float32).reshape(out.shape), device=device)).sum().backward()
        outs[device] = (out.numpy(), xt.grad.numpy(), [w.numpy() for w in bn.weights])
    for gpu_value, cpu_value in zip(outs["cuda"][:2], outs["cpu"][:2]):
        np.testing.assert_allclose(gpu_value, cpu_value, rtol=1e-4, atol=1e-4)
    for gpu_weight, cpu_weight in zip(outs["cuda"][2], outs["cpu"][2]):  # moving statistics too
        np.testing.assert_allclose(gpu_weight, cpu_weight, rtol=1e-5, atol=1e-6)


# -- the simulated GPU only: copies and launches ----------------------------------------------------------------
def test_training_steps_copy_nothing_but_scalars_to_the_host(simulated):
    model = _compiled("cnn", "cuda")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 12, 12, 2)).astype(np.float32), rng.integers(0, 5, 32)
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)  # warm up: build, optimizer slots
    with simulated_gpu.transfers_counted() as moved:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert moved["to_host"] == 0, moved  # no batch, prediction or gradient came back
    assert moved["to_device"] == 2 * 4, moved  # x and y of each batch, once


def test_gpu_ops_launch_the_cuda_kernels_not_numpy(simulated):
    simulated_gpu.LAUNCHES.clear()
    model = _compiled("cnn", "cuda")
    model.train_on_batch(np.ones((2, 12, 12, 2), np.float32), np.array([0, 1]))
    launched = {name for name, _ in simulated_gpu.LAUNCHES}
    assert {"conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "max_pool2d_forward",
            "max_pool2d_backward", "activation_forward", "activation_backward", "gemm", "softmax_forward",
            "batch_norm_statistics"} <= launched, launched


def test_lenet5_learns_the_digits_on_the_gpu_as_on_the_cpu(real_gpu, capsys):
    # the CPU run of the same program is tests/test_examples.py's: 98% held out (the simulated GPU would take
    # minutes: its kernels are emulated)
    pytest.importorskip("sklearn")
    from ember import demo

    try:
        accuracy = demo.main(["--verbose", "0", "--device", "cuda"])
    finally:
        ember.set_device("cpu")
    assert "device cuda:0" in capsys.readouterr().out
    assert accuracy >= 0.98
