"""ember on a GPU: the op table on the CUDA backend against the NumPy reference and the CPU backend (values and
gradients), layer-level CPU/GPU parity over several training steps (a CNN with batch norm, LeNet-5, LSTM/GRU/
SimpleRNN), fit/evaluate/predict on the GPU, device-mixing errors, and zero-copy exchange with CuPy and PyTorch.

Each test runs on two GPUs: a real one ("cuda": skipped, with `ember.cuda.why_unavailable()` as the reason, where
there is none, as on CI) and the simulated one ("simulated": tests/simulated_gpu.py, CuPy and ember._cuda stand-ins
over NumPy and ember._C), which checks ember's GPU plumbing everywhere: that every op, layer, loss, metric and
optimizer computes on device arrays, that the kernels get contiguous device arrays and CuPy's stream, and that
nothing is copied to the host behind the user's back. Tests that need real device memory (DLPack, CuPy/PyTorch
interop, the memory pool) run on the real GPU only.
"""
import zlib

import numpy as np
import pytest

import ember
import simulated_gpu
from ember import layers
from ember.testing import OPS

_REASON = ember.cuda.why_unavailable()
_REAL = pytest.param("cuda", id="cuda",
                     marks=pytest.mark.skipif(_REASON is not None, reason=f"needs a GPU: {_REASON}"))


@pytest.fixture(params=[_REAL, pytest.param("simulated", id="simulated")])
def gpu(request, monkeypatch):
    """Which GPU the test runs on: "cuda" (a real one) or "simulated"."""
    if request.param == "simulated":
        simulated_gpu.install(monkeypatch)
    else:
        monkeypatch.setattr(ember.device, "_default", "cpu")
    yield request.param
    simulated_gpu.uninstall_leftovers()


@pytest.fixture
def real_gpu():
    if _REASON is not None:
        pytest.skip(f"needs a GPU: {_REASON}")


# -- the op table on the GPU ------------------------------------------------------------------------------------
def _samples(info):
    return info.samples(np.random.default_rng(zlib.crc32(info.name.encode())))


# dropout's mask comes from the GPU's own generator (Philox), not the host's: its values cannot match the
# reference's, so it has its own tests below
_GPU_RANDOM = {"dropout"}


def _op_cases(select=lambda info: True):
    for info in OPS:
        if select(info) and info.name not in _GPU_RANDOM:
            for i, sample in enumerate(_samples(info)):
                yield pytest.param(info, sample, id=f"{info.name}-{i}")


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _on(device, value, dtype, requires_grad=False):
    """A sample argument as the op takes it on `device`: arrays as tensors there (floats as `dtype`)."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "f":
        return ember.tensor(value, dtype=dtype, device=device, requires_grad=requires_grad)
    return ember.tensor(value, device=device)


def _run(info, sample, device, dtype, requires_grad=False):
    args = [_on(device, a, dtype, requires_grad) for a in sample.args]
    kwargs = {k: _on(device, v, dtype) for k, v in sample.kwargs.items()}
    out = info.op(*args, **kwargs)
    return args, (list(out) if isinstance(out, (list, tuple)) else [out])


def _assert_close(actual, expected, rtol, atol, what):
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


@pytest.mark.parametrize("info, sample", list(_op_cases()))
def test_op_forward_on_the_gpu_matches_the_reference(gpu, info, sample):
    rounded = [a.astype(np.float32).astype(np.float64) if _is_float_array(a) else a for a in sample.args]
    expected = info.reference(*rounded, **sample.kwargs)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    _, outs = _run(info, sample, "cuda", np.float32)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected):
        assert out.device == "cuda:0", f"{info.name}: result on {out.device}"
        if np.asarray(ref).dtype.kind == "f":
            assert out.dtype == np.float32, f"{info.name}: computed in {out.dtype}"
        _assert_close(out.numpy(), ref, info.rtol, info.atol, info.name)


def _gradients(info, sample, device, dtype, cotangents):
    args, outs = _run(info, sample, device, dtype, requires_grad=True)
    total = None
    for out, cotangent in zip(outs, cotangents):
        if out.requires_grad:
            term = (out * ember.tensor(cotangent, dtype=out.dtype, device=device)).sum()
            total = term if total is None else total + term
    total.backward()
    return [a.grad.numpy() if isinstance(a, ember.Tensor) and a.grad is not None else None for a in args
            if isinstance(a, ember.Tensor) and a.requires_grad]


@pytest.mark.parametrize("info, sample", list(_op_cases(lambda info: info.differentiable)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_op_gradients_on_the_gpu_match_the_cpu_backend(gpu, info, sample, dtype):
    # the CPU backend's gradients are the ones test_ops checks against finite differences (float64)
    with ember.no_grad():
        _, outs = _run(info, sample, "cpu", dtype)
    rng = np.random.default_rng(1)
    cotangents = [rng.standard_normal(o.shape) for o in outs]
    with ember.use_backend("cpu"):
        expected = _gradients(info, sample, "cpu", dtype, cotangents)
    actual = _gradients(info, sample, "cuda", dtype, cotangents)
    rtol, atol = (max(info.rtol, 1e-4), max(info.atol, 1e-5)) if dtype == np.float32 else (1e-9, 1e-10)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert (a is None) == (e is None), f"{info.name}: input {i} got a gradient on one device only"
        if a is not None:
            _assert_close(a, e, rtol, atol, f"{info.name}: gradient of input {i}")


@pytest.mark.parametrize("call, shape", [
    (lambda t: ember.ops.relu(t(0, 3)), (0, 3)),
    (lambda t: ember.ops.sigmoid(t(2, 0)), (2, 0)),
    (lambda t: ember.ops.matmul(t(2, 0), t(0, 3)), (2, 3)),
    (lambda t: ember.ops.matmul(t(0, 4), t(4, 2)), (0, 2)),
    (lambda t: ember.ops.softmax(t(0, 3)), (0, 3)),
    (lambda t: ember.ops.sum(t(0, 3), axis=0), (3,)),
    (lambda t: ember.ops.conv2d(t(0, 4, 4, 2), t(3, 3, 2, 5)), (0, 2, 2, 5)),
    (lambda t: ember.ops.max_pool2d(t(0, 4, 4, 2)), (0, 2, 2, 2)),
    (lambda t: ember.ops.lstm(t(0, 3, 2), None, None, t(2, 8), t(2, 8))[0], (0, 3, 2)),
], ids=["relu", "sigmoid", "matmul_k0", "matmul_m0", "softmax", "sum", "conv2d", "max_pool2d", "lstm"])
def test_empty_tensors_on_the_gpu(gpu, call, shape):
    # no kernel is launched on nothing (a grid of 0 blocks is a CUDA error); a product over k = 0 is zeros
    def t(*dims):
        return ember.ones(*dims, device="cuda", requires_grad=True)

    out = call(t)
    assert out.shape == shape and out.device == "cuda:0"
    np.testing.assert_array_equal(out.numpy(), np.zeros(shape))
    out.sum().backward()


# -- devices: moves, mixing, defaults ---------------------------------------------------------------------------
def test_a_tensor_moves_to_the_gpu_and_back(gpu):
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    g = t.to("cuda")
    assert g.device == "cuda:0" and g.is_cuda and not t.is_cuda
    assert g.cuda() is g and t.cpu() is t
    back = g.cpu()
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    assert hasattr(g, "__cuda_array_interface__") and not hasattr(t, "__cuda_array_interface__")
    assert g.__cuda_array_interface__["shape"] == (2, 2)


def test_gradients_flow_back_across_a_device_move(gpu):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("cuda") * ember.tensor([2.0, 3.0, 4.0], device="cuda")).sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


@pytest.mark.parametrize("call", [
    lambda c, g: c + g,
    lambda c, g: ember.ops.matmul(g.reshape(3, 1), c.reshape(1, 3)),
    lambda c, g: ember.ops.concatenate([g, c]),
    lambda c, g: ember.ops.where(g > 0, g, c),
], ids=["add", "matmul", "concatenate", "where"])
def test_an_op_on_tensors_of_two_devices_names_both(gpu, call):
    c, g = ember.tensor([1.0, 2.0, 3.0]), ember.tensor([1.0, 2.0, 3.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"expected all tensors on one device, got (cpu|cuda:0) \(shape .*\) "
                                           r"and (cuda:0|cpu) \(shape"):
        call(c, g)


def test_a_layer_on_the_gpu_called_with_a_cpu_tensor_names_both_devices(gpu):
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    dense.to("cuda")
    with pytest.raises(RuntimeError, match=r"cpu \(shape \(1, 3\)\) and cuda:0"):
        dense(ember.tensor(np.ones((1, 3), np.float32)))


def test_a_new_layer_called_on_a_gpu_tensor_builds_its_weights_there(gpu):
    model = ember.Sequential([layers.Dense(3, activation="relu"), layers.Dense(1)])
    out = model(ember.ones(2, 4, device="cuda"))
    assert out.device == "cuda:0" and {w.device for w in model.weights} == {"cuda:0"}
    assert model.device == "cuda:0"


def test_numpy_input_goes_to_the_layers_device(gpu):
    dense = layers.Dense(2).to("cuda")
    out = dense(np.ones((4, 3), np.float32))
    assert out.device == "cuda:0" and all(w.device == "cuda:0" for w in dense.weights)


def test_creation_functions_take_a_device_and_the_default(gpu):
    ember.manual_seed(3)
    on_cpu = ember.randn(2, 3)
    ember.manual_seed(3)
    on_gpu = ember.randn(2, 3, device="cuda")
    assert on_gpu.device == "cuda:0"
    np.testing.assert_array_equal(on_gpu.numpy(), on_cpu.numpy())  # one generator: the same values anywhere
    for t in (ember.zeros(2, 3, device="cuda"), ember.ones(2, device="cuda"), ember.full((2,), 1.5, device="cuda"),
              ember.arange(3, device="cuda"), ember.tensor([1, 2], device="cuda"), ember.zeros_like(on_gpu),
              ember.randint(0, 4, size=(2,), device="cuda")):
        assert t.device == "cuda:0"
    assert ember.full((2,), 1.5, device="cuda").dtype == np.float32
    ember.set_device("cuda")
    try:
        assert ember.get_device() == "cuda:0"
        assert ember.zeros(2).device == "cuda:0" and ember.tensor([1.0]).device == "cuda:0"
        assert ember.zeros(2, device="cpu").device == "cpu"
        model = ember.Sequential([layers.Dense(3), layers.Dense(1)])
        model(np.ones((2, 4), np.float32))
        assert {w.device for w in model.weights} == {"cuda:0"}
    finally:
        ember.set_device("cpu")
    assert ember.zeros(2).device == "cpu"


def test_a_tensors_data_assigned_from_the_host_stays_on_its_device(gpu):
    t = ember.zeros(3, device="cuda")
    t.data = np.ones(3)
    assert t.device == "cuda:0"
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


def test_set_weights_keeps_weights_on_their_device(gpu):
    dense = layers.Dense(2).to("cuda")
    dense(np.ones((1, 3), np.float32))
    dense.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert all(w.device == "cuda:0" for w in dense.weights)
    np.testing.assert_array_equal(dense.get_weights()[0], np.ones((3, 2)))


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


# -- the simulated GPU only: what the stand-ins can observe -----------------------------------------------------
@pytest.fixture
def simulated(monkeypatch):
    simulated_gpu.install(monkeypatch)
    yield
    simulated_gpu.uninstall_leftovers()


def test_kernels_run_on_cupys_current_stream(simulated):
    import cupy

    x = ember.randn(2, 3, device="cuda")
    w = ember.randn(3, 4, device="cuda")
    simulated_gpu.LAUNCHES.clear()
    ember.ops.matmul(x, w)
    with cupy.cuda.Stream() as stream:
        ember.ops.relu(x)
    assert simulated_gpu.LAUNCHES == [("gemm", 0), ("activation_forward", stream.ptr)]


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


def test_to_device_batches_yields_every_batch_on_the_device_in_order(simulated):
    batches = [(np.full((2, 3), i, np.float64), np.array([i, i])) for i in range(3)]
    out = list(ember.cuda.to_device_batches(iter(batches), "cuda", dtype=np.float32))
    assert len(out) == 3
    for i, (x, y) in enumerate(out):
        assert x.device == y.device == "cuda:0" and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x.numpy(), np.full((2, 3), i))


def test_why_unavailable_is_none_when_everything_is_there(simulated):
    assert ember.cuda.why_unavailable() is None and ember.cuda.is_available()
    assert ember.cuda.device_count() == 1
    assert ember.cuda.get_device_name(0) == "Simulated GPU 0" and ember.cuda.current_device() == 0
    info = ember.cuda.info()
    assert info["available"] and info["devices"] == ["Simulated GPU 0"] and "sm_90" in info["compiled_architectures"]
    ember.cuda.synchronize()


def test_a_second_gpu_is_checked_against_the_device_count(simulated):
    with pytest.raises(RuntimeError, match=r"cannot use cuda:1: this machine has 1 CUDA device\(s\)"):
        ember.tensor([1.0]).to("cuda:1")


# -- a real GPU only: memory shared with CuPy and PyTorch -------------------------------------------------------
def test_zero_copy_with_cupy(real_gpu):
    import cupy

    t = ember.randn(3, 4, device="cuda")
    c = cupy.asarray(t)  # through __cuda_array_interface__
    assert c.data.ptr == t.__cuda_array_interface__["data"][0]
    c[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0
    back = ember.from_dlpack(c)
    assert back.__cuda_array_interface__["data"][0] == c.data.ptr and back.device == "cuda:0"
    shared = ember.Tensor(c)
    assert shared.__cuda_array_interface__["data"][0] == c.data.ptr
    via_dlpack = cupy.from_dlpack(t)
    assert via_dlpack.data.ptr == c.data.ptr


def test_zero_copy_with_torch(real_gpu):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    t = ember.randn(3, 4, device="cuda")
    pointer = t.__cuda_array_interface__["data"][0]
    as_torch = torch.from_dlpack(t)
    assert as_torch.is_cuda and as_torch.data_ptr() == pointer
    assert torch.as_tensor(t, device="cuda").data_ptr() == pointer  # through __cuda_array_interface__
    from_torch = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    e = ember.from_dlpack(from_torch)
    assert e.device == "cuda:0" and e.__cuda_array_interface__["data"][0] == from_torch.data_ptr()
    from_torch[0, 0] = 7.0
    torch.cuda.synchronize()
    assert e.numpy()[0, 0] == 7.0


def test_memory_pool_and_synchronize(real_gpu):
    before = ember.cuda.memory_allocated()
    t = ember.zeros(1 << 20, device="cuda")
    ember.cuda.synchronize()
    assert ember.cuda.memory_allocated() >= before + t.size * 4
    del t
    ember.cuda.empty_cache()
    assert ember.cuda.get_device_name()


def test_deterministic_mode_refuses_the_gpus_scatter_add_gradient(gpu):
    x = ember.tensor(np.arange(6.0), device="cuda", requires_grad=True)
    with ember.use_deterministic(True):
        x[1:4].sum().backward()  # basic slicing: a plain copy, deterministic
        with pytest.raises(RuntimeError, match=r"getitem: there is no deterministic implementation of this op on "
                                               r"cuda \(the gradient of indexing with integer arrays"):
            x[[0, 2, 2]].sum().backward()
        on_cpu = ember.tensor(np.arange(6.0), requires_grad=True)
        on_cpu[[0, 2, 2]].sum().backward()
    np.testing.assert_array_equal(on_cpu.grad.numpy(), [1, 0, 2, 0, 0, 0])


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
