"""Recurrent layers (SimpleRNN, LSTM, GRU, their cells, RNN), Bidirectional, TimeDistributed, Embedding, Masking:
shapes, configs, weights, float64 gradients on the cell loop and on the fused ops, masks, states, errors."""
import numpy as np
import pytest

import ember
from ember import layers as L
from ember.layers.base import LAYER_CLASSES
from ember.testing import gradcheck

RECURRENT = [
    (L.SimpleRNN, {}),
    (L.SimpleRNN, {"activation": "relu", "use_bias": False}),
    (L.LSTM, {}),
    (L.LSTM, {"use_bias": False, "unit_forget_bias": False}),
    (L.GRU, {}),
    (L.GRU, {"reset_after": False}),
]
RECURRENT_IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(RECURRENT)]
NUMBER_OF_STATES = {L.SimpleRNN: 1, L.LSTM: 2, L.GRU: 1}


def _fused_backends():
    """Backends whose fused sequence kernels exist (the cpu ones land after the reference)."""
    names = []
    for name in ("reference", "cpu"):
        try:
            module = ember.backend.get(name)
        except ImportError:
            continue
        if all(hasattr(module, f"{op}_forward") for op in ("simple_rnn", "lstm", "gru")):
            names.append(name)
    return names


FUSED_BACKENDS = _fused_backends()
PATHS = [("cells", "reference")] + [("fused", b) for b in FUSED_BACKENDS]
PATH_IDS = [f"{path}-{backend}" for path, backend in PATHS]


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _randomize(layer, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * scale for w in layer.weights])


def _layer(cls, kwargs, units=3, features=2, dtype="float32", fused=True, **options):
    layer = cls(units, dtype=dtype, **kwargs, **options)
    layer(np.zeros((1, 2, features), dtype))
    _randomize(layer)
    layer._use_fused = fused
    return layer


# -- shapes, weights, configs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_output_shapes_for_return_sequences_and_return_state(cls, kwargs, return_sequences, return_state):
    layer = cls(5, return_sequences=return_sequences, return_state=return_state, **kwargs)
    out = layer(_x((2, 4, 3)))
    output_shape = (2, 4, 5) if return_sequences else (2, 5)
    if return_state:
        assert [tuple(o.shape) for o in out] == [output_shape] + [(2, 5)] * NUMBER_OF_STATES[cls]
    else:
        assert tuple(out.shape) == output_shape
    batchless = layer.compute_output_shape((None, 4, 3))
    assert (batchless[0] if return_state else batchless) == (None,) + output_shape[1:]


@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_functional_api_with_return_state_and_initial_state(cls, kwargs):
    inputs = ember.Input((None, 3))
    encoded = cls(4, return_state=True, **kwargs)(inputs)
    decoded = cls(4, return_sequences=True, **kwargs)(inputs, initial_state=encoded[1:])
    model = ember.Model(inputs, [encoded[0], decoded])
    last, sequence = model.predict(_x((2, 5, 3)), verbose=0)
    assert last.shape == (2, 4) and sequence.shape == (2, 5, 4)


WEIGHT_SHAPES = [
    (L.SimpleRNN, {}, [(3, 4), (4, 4), (4,)]),
    (L.LSTM, {}, [(3, 16), (4, 16), (16,)]),
    (L.GRU, {}, [(3, 12), (4, 12), (2, 12)]),
    (L.GRU, {"reset_after": False}, [(3, 12), (4, 12), (12,)]),
    (L.LSTM, {"use_bias": False}, [(3, 16), (4, 16)]),
]


@pytest.mark.parametrize("cls, kwargs, shapes", WEIGHT_SHAPES)
def test_weights_come_in_keras_order_and_shapes(cls, kwargs, shapes):
    layer = cls(4, **kwargs)
    layer(_x((2, 5, 3)))
    names = ["kernel", "recurrent_kernel", "bias"][:len(shapes)]
    assert [w.name.split("/")[-1] for w in layer.weights] == names
    assert [w.shape for w in layer.get_weights()] == shapes
    assert layer.kernel is layer.cell.kernel and layer.units == 4


def test_lstm_forget_gate_bias_starts_at_one():
    layer = L.LSTM(3)
    layer(_x((1, 2, 2)))
    np.testing.assert_array_equal(layer.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


CONFIGS = RECURRENT + [
    (L.LSTM, {"return_sequences": True, "go_backwards": True, "dropout": 0.2, "recurrent_activation": "tanh"}),
    (L.GRU, {"return_state": True, "stateful": True, "kernel_regularizer": "l2"}),
]


@pytest.mark.parametrize("cls, kwargs", CONFIGS, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(CONFIGS)])
def test_config_round_trip_gives_the_same_config_and_outputs(cls, kwargs):
    layer = _layer(cls, kwargs)
    config = layer.get_config()
    clone = LAYER_CLASSES[cls.__name__].from_config(config)
    assert clone.get_config() == config
    x = _x((2, 4, 2), seed=3)
    clone(x)
    clone.set_weights(layer.get_weights())
    layer.reset_states(), clone.reset_states()
    for a, b in zip(np.atleast_1d(layer(x)), np.atleast_1d(clone(x))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_generic_rnn_with_a_cell_round_trips_and_matches_the_layer():
    rnn = L.RNN(L.LSTMCell(3), return_sequences=True)
    lstm = L.LSTM(3, return_sequences=True)
    x = _x((2, 4, 2))
    rnn(x), lstm(x)
    _randomize(rnn)
    lstm.set_weights(rnn.get_weights())
    np.testing.assert_allclose(rnn(x).numpy(), lstm(x).numpy(), rtol=1e-5, atol=1e-6)
    clone = L.RNN.from_config(rnn.get_config())
    clone(x)
    clone.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), rnn(x).numpy())


@pytest.mark.parametrize("cell", [L.SimpleRNNCell(3), L.LSTMCell(3), L.GRUCell(3), L.GRUCell(3, reset_after=False)])
def test_cell_steps_once(cell):
    x = _x((2, 4))
    states = [np.zeros((2, 3), np.float32) for _ in np.atleast_1d(cell.state_size)]
    out, new_states = cell(x, states)
    assert tuple(out.shape) == (2, 3) and len(new_states) == len(states)
    np.testing.assert_array_equal(out.numpy(), new_states[0].numpy())


# -- gradients: the cell loop and the fused ops, float64 ------------------------------------------------------------
@pytest.mark.parametrize("path, backend", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_gradients_match_finite_differences_in_float64(cls, kwargs, go_backwards, path, backend):
    with ember.use_backend(backend):
        layer = _layer(cls, kwargs, dtype="float64", fused=path == "fused", return_sequences=True,
                       return_state=True, go_backwards=go_backwards)
        cell = layer.cell
        names = ["kernel", "recurrent_kernel", "bias"][:len(layer.weights)]
        mask = np.array([[True, True, False], [False, True, True]])
        states = [_x((2, 3), seed=5 + i, dtype=np.float64) for i in range(NUMBER_OF_STATES[cls])]

        def forward(x, *arrays):
            weights, h0 = arrays[:len(names)], list(arrays[len(names):])
            for name, weight in zip(names, weights):
                setattr(cell, name, weight)
            out = layer(x, initial_state=h0, mask=mask)
            return ember.ops.concatenate([ember.ops.reshape(out[0], (2, -1))] + out[1:], axis=1)

        arrays = [_x((2, 3, 2), seed=4, dtype=np.float64)] + [w.numpy().copy() for w in layer.weights] + states
        gradcheck(forward, arrays, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_fused_ops_and_cell_loop_agree(cls, kwargs, go_backwards, backend):
    with ember.use_backend(backend):
        layer = _layer(cls, kwargs, units=4, features=3, return_sequences=True, return_state=True,
                       go_backwards=go_backwards)
        x = _x((3, 6, 3), seed=2)
        mask = np.ones((3, 6), bool)
        mask[0, 4:] = mask[1, :2] = mask[2, 2] = False
        h0 = [_x((3, 4), seed=7 + i) for i in range(NUMBER_OF_STATES[cls])]
        fused = layer(x, mask=mask, initial_state=h0)
        layer._use_fused = False
        loop = layer(x, mask=mask, initial_state=h0)
        for a, b in zip(fused, loop):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_path_is_taken_when_settings_allow(monkeypatch):
    calls = []
    real = ember.ops.lstm if hasattr(ember.ops, "lstm") else None
    if real is None:
        pytest.skip("ops.lstm not available")
    monkeypatch.setattr(ember.ops, "lstm", lambda *a, **k: calls.append(1) or real(*a, **k))
    with ember.use_backend(FUSED_BACKENDS[0] if FUSED_BACKENDS else "reference"):
        L.LSTM(2)(_x((1, 3, 2)))
        L.LSTM(2, recurrent_activation="tanh")(_x((1, 3, 2)))
        L.LSTM(2, recurrent_dropout=0.5)(_x((1, 3, 2)), training=True)
    assert len(calls) == 1


# -- masks -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_masked_padding_changes_nothing(cls, kwargs, fused):
    with ember.use_backend("reference"):
        layer = _layer(cls, kwargs, fused=fused, return_state=True)
        x = _x((2, 4, 2), seed=3)
        padded = np.concatenate([np.zeros((2, 2, 2), np.float32), x[:, :2], np.zeros((2, 1, 2), np.float32),
                                 x[:, 2:], np.zeros((2, 3, 2), np.float32)], axis=1)
        mask = np.zeros(padded.shape[:2], bool)
        mask[:, [2, 3, 5, 6]] = True
        for a, b in zip(layer(x), layer(padded, mask=mask)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_masked_steps_repeat_the_previous_output_as_keras():
    layer = _layer(L.SimpleRNN, {}, return_sequences=True)
    mask = np.array([[False, True, False, True]])
    out = layer(_x((1, 4, 2)), mask=mask, initial_state=[np.ones((1, 3), np.float32)]).numpy()
    np.testing.assert_array_equal(out[0, 0], 0.0)  # nothing seen yet: zeros (not the initial state)
    np.testing.assert_array_equal(out[0, 2], out[0, 1])


def test_embedding_mask_reaches_the_recurrent_layer_and_return_sequences_passes_it_on():
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    embedding = L.Embedding(5, 2, mask_zero=True)
    seq = L.GRU(3, return_sequences=True)(embedding(ids))
    np.testing.assert_array_equal(seq._keras_mask, ids != 0)
    last = L.LSTM(2)(seq)
    assert last._keras_mask is None


def test_masking_layer_masks_all_equal_steps():
    x = _x((2, 3, 2))
    x[0, 1] = -1.0
    out = L.Masking(-1.0)(x)
    np.testing.assert_array_equal(out._keras_mask, [[True, False, True], [True, True, True]])
    np.testing.assert_array_equal(out.numpy()[0, 1], 0.0)


# -- states ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", RECURRENT, ids=RECURRENT_IDS)
def test_stateful_carries_states_across_batches_and_reset_restores_zeros(cls, kwargs):
    x = _x((2, 6, 2), seed=3)
    whole = _layer(cls, kwargs)
    stateful = _layer(cls, kwargs, stateful=True)
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    stateful(x[:, :3])
    np.testing.assert_allclose(stateful(x[:, 3:]).numpy(), whole(x).numpy(), rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    assert all(not np.any(s.numpy()) for s in stateful.states)
    np.testing.assert_allclose(stateful(x[:, 3:]).numpy(), whole(x[:, 3:]).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch size"):
        stateful(x[:1])


def test_stateful_needs_a_static_batch_size_in_the_functional_api():
    with pytest.raises(ValueError, match="batch size must be static"):
        L.LSTM(2, stateful=True)(ember.Input((3, 2)))
    out = L.LSTM(2, stateful=True)(ember.Input((3, 2), batch_size=4))
    assert out.shape == (4, 2)


@pytest.mark.parametrize("seed", range(6))
def test_random_sizes_agree_between_paths(seed):
    rng = np.random.default_rng(seed)
    batch, steps, features, units = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 4)),
                                     int(rng.integers(1, 4)))
    if seed == 0:
        batch, steps, units = 1, 1, 1
    cls, kwargs = RECURRENT[seed % len(RECURRENT)]
    with ember.use_backend("reference"):
        layer = _layer(cls, kwargs, units=units, features=features, return_sequences=True)
        x = _x((batch, steps, features), seed=seed)
        mask = rng.random((batch, steps)) > 0.3
        fused = layer(x, mask=mask).numpy()
        layer._use_fused = False
        np.testing.assert_allclose(fused, layer(x, mask=mask).numpy(), rtol=1e-5, atol=1e-6)
        assert fused.shape == (batch, steps, units)


# -- dropout ---------------------------------------------------------------------------------------------------------
def test_dropout_is_off_at_inference_and_uses_one_mask_per_sequence():
    layer = _layer(L.SimpleRNN, {"dropout": 0.5}, return_sequences=True, fused=False)
    x = np.ones((4, 5, 2), np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), layer(x, training=False).numpy())
    ember.manual_seed(0)
    trained = layer(x, training=True).numpy()
    assert not np.allclose(trained, layer(x).numpy())
    recurrent = _layer(L.LSTM, {"recurrent_dropout": 0.3, "dropout": 0.2}, fused=False)
    assert recurrent(x, training=True).shape == (4, 3)


# -- errors ----------------------------------------------------------------------------------------------------------
def test_rank_2_input_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'lstm_rank'.*expected ndim=3 \(batch, time, features\).*\(4, 5\)"):
        L.LSTM(2, name="lstm_rank")(np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("make, argument", [
    (lambda: L.LSTM(0), "units"),
    (lambda: L.GRU(2, dropout=1.5), "dropout"),
    (lambda: L.SimpleRNN(2, recurrent_dropout=-0.1), "recurrent_dropout"),
    (lambda: L.Embedding(0, 2), "input_dim"),
    (lambda: L.Masking("x"), "mask_value"),
])
def test_bad_arguments_raise_keras_style_errors(make, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        make()


def test_wrong_initial_state_shape_is_reported():
    with pytest.raises(ValueError, match=r"initial_state\[1\]"):
        L.LSTM(3)(_x((2, 4, 2)), initial_state=[np.zeros((2, 3)), np.zeros((2, 4))])


# -- Embedding -------------------------------------------------------------------------------------------------------
def test_embedding_looks_up_rows_and_sums_gradients_of_repeated_ids():
    layer = L.Embedding(4, 3)
    ids = np.array([[1, 1, 3]])
    out = layer(ids)
    np.testing.assert_array_equal(out.numpy()[0], layer.get_weights()[0][[1, 1, 3]])
    out.sum().backward()
    np.testing.assert_array_equal(layer.embeddings.grad.numpy()[:, 0], [0, 2, 0, 1])


@pytest.mark.parametrize("ids", [[[0, 4]], [[-1, 2]]])
def test_embedding_rejects_out_of_range_ids(ids):
    with pytest.raises(ValueError, match=r"out of range.*\[0, 4\)"):
        L.Embedding(4, 2)(np.array(ids))


def test_embedding_config_round_trip_and_float_ids():
    layer = L.Embedding(6, 2, mask_zero=True)
    clone = L.Embedding.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    out = layer(np.array([[2.0, 0.0]], np.float32))
    np.testing.assert_array_equal(out._keras_mask, [[True, False]])


# -- Bidirectional, TimeDistributed ----------------------------------------------------------------------------------
@pytest.mark.parametrize("merge_mode, shape", [("concat", (2, 4, 6)), ("sum", (2, 4, 3)), ("ave", (2, 4, 3)),
                                               ("mul", (2, 4, 3)), (None, (2, 4, 3))])
def test_bidirectional_merges_forward_and_re_reversed_backward(merge_mode, shape):
    layer = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode=merge_mode)
    x = _x((2, 4, 2))
    out = layer(x)
    outs = out if merge_mode is None else [out]
    assert all(tuple(o.shape) == shape for o in outs)
    forward, backward = L.SimpleRNN(3, return_sequences=True), L.SimpleRNN(3, return_sequences=True)
    forward(x), backward(x)
    forward.set_weights(layer.get_weights()[:3])
    backward.set_weights(layer.get_weights()[3:])
    y, y_rev = forward(x).numpy(), backward(x[:, ::-1]).numpy()[:, ::-1]
    expected = {"concat": np.concatenate([y, y_rev], -1), "sum": y + y_rev, "ave": (y + y_rev) / 2,
                "mul": y * y_rev, None: y}[merge_mode]
    np.testing.assert_allclose(outs[0].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bidirectional_states_config_and_errors():
    layer = L.Bidirectional(L.LSTM(2, return_state=True))
    out = layer(_x((3, 4, 2)), initial_state=[np.zeros((3, 2), np.float32)] * 4)
    assert [tuple(o.shape) for o in out] == [(3, 4)] + [(3, 2)] * 4
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"] * 2
    clone = L.Bidirectional.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="Invalid value for argument `merge_mode`"):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))


def test_time_distributed_applies_the_layer_to_every_step():
    layer = L.TimeDistributed(L.Dense(3))
    x = _x((2, 4, 5))
    out = layer(x)
    assert tuple(out.shape) == (2, 4, 3)
    dense = layer.layer
    np.testing.assert_allclose(out.numpy()[:, 1], dense(x[:, 1]).numpy(), rtol=1e-6)
    conv = L.TimeDistributed(L.Conv2D(2, 3))
    assert tuple(conv(_x((2, 3, 5, 5, 1))).shape) == (2, 3, 3, 3, 2)
    assert L.TimeDistributed.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        L.TimeDistributed(L.Dense(2))(_x((2, 3)))


def test_time_distributed_gradients_in_float64():
    layer = L.TimeDistributed(L.Dense(2, dtype="float64"), dtype="float64")
    layer(np.zeros((1, 1, 3)))

    def forward(x, kernel, bias):
        layer.layer.kernel, layer.layer.bias = kernel, bias
        return layer(x)

    gradcheck(forward, [_x((2, 3, 3), dtype=np.float64)] + [w.numpy().copy() for w in layer.weights])


def test_embedding_lstm_model_trains_and_saves(tmp_path):
    model = ember.Sequential([ember.Input((5,), dtype="int64"), L.Embedding(7, 4, mask_zero=True),
                              L.Bidirectional(L.LSTM(3, return_sequences=True)), L.TimeDistributed(L.Dense(2)),
                              L.GRU(3), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    ids = np.random.default_rng(0).integers(0, 7, (8, 5))
    history = model.fit(ids, np.zeros((8, 1), np.float32), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "rnn.ember"
    model.save(str(path))
    again = ember.models.load_model(str(path)) if hasattr(ember.models, "load_model") else ember.load_model(str(path))
    np.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-5)
