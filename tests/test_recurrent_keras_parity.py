"""Keras 3 (torch backend) as an optional oracle for the recurrent layers: the same layer built in both libraries,
Keras' weights copied with set_weights, the same outputs (and states) on the cell loop and on the fused ops."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Keras parity runs on Keras' torch backend", allow_module_level=True)

import contextlib  # noqa: E402

import ember  # noqa: E402

# the cell loop, and the fused ops on each backend that has their kernels
FUSED_BACKENDS = [b for b in ("reference", "cpu")
                  if all(hasattr(ember.backend.get(b), f"{op}_forward") for op in ("simple_rnn", "lstm", "gru"))]
PATHS = [None] + FUSED_BACKENDS


def _path(backend):
    return contextlib.nullcontext() if backend is None else ember.use_backend(backend)

LAYERS = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {}),
    ("LSTM", {"activation": "relu", "recurrent_activation": "tanh"}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(LAYERS)]
OPTIONS = [
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"go_backwards": True},
]


def _pair(name, kwargs, units=4, features=3):
    keras.utils.set_random_seed(0)
    theirs = getattr(keras.layers, name)(units, **kwargs)
    theirs(np.zeros((1, 2, features), np.float32))
    ours = getattr(ember.layers, name)(units, **kwargs)
    ours(np.zeros((1, 2, features), np.float32))
    rng = np.random.default_rng(3)
    weights = [w + rng.standard_normal(w.shape).astype(np.float32) * 0.3 for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return theirs, ours


def _outputs(out):
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o.detach().cpu().numpy() if hasattr(o, "detach") else o.numpy()) for o in outs]


def _assert_same(theirs, ours):
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("fused", PATHS, ids=lambda b: f"fused-{b}" if b else "cells")
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(o))
@pytest.mark.parametrize("name, kwargs", LAYERS, ids=IDS)
def test_same_outputs_as_keras(name, kwargs, options, fused):
    theirs, ours = _pair(name, {**kwargs, **options})
    ours._use_fused = fused is not None
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    with _path(fused):
        _assert_same(_outputs(theirs(x)), _outputs(ours(x)))


@pytest.mark.parametrize("fused", PATHS, ids=lambda b: f"fused-{b}" if b else "cells")
@pytest.mark.parametrize("name, kwargs", LAYERS, ids=IDS)
def test_same_outputs_as_keras_with_initial_state(name, kwargs, fused):
    theirs, ours = _pair(name, {**kwargs, "return_sequences": True, "return_state": True})
    ours._use_fused = fused is not None
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    states = [np.random.default_rng(5 + i).standard_normal((2, 4)).astype(np.float32)
              for i in range(2 if name == "LSTM" else 1)]
    with _path(fused):
        _assert_same(_outputs(theirs(x, initial_state=states)), _outputs(ours(x, initial_state=states)))


def _embedding_model(lib, name, kwargs, bidirectional=None):
    layers = lib.layers
    inputs = lib.Input((6,), dtype="int32")
    x = layers.Embedding(7, 3, mask_zero=True)(inputs)
    recurrent = getattr(layers, name)(4, return_sequences=True, **kwargs)
    if bidirectional is not False:
        recurrent = layers.Bidirectional(recurrent, merge_mode=bidirectional) if bidirectional else recurrent
    x = recurrent(x)
    x = layers.TimeDistributed(layers.Dense(2))(x)
    outputs = getattr(layers, name)(3, go_backwards=True, **kwargs)(x)
    return lib.Model(inputs, outputs)


PADDED = np.array([[3, 1, 4, 0, 0, 0], [2, 5, 6, 1, 2, 3], [0, 0, 6, 6, 0, 1], [1, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize("fused", PATHS, ids=lambda b: f"fused-{b}" if b else "cells")
@pytest.mark.parametrize("bidirectional", [None, "concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("name, kwargs", [LAYERS[0], LAYERS[2], LAYERS[4], LAYERS[5]], ids=lambda v: str(v))
def test_padded_sequences_with_embedding_masks_match_keras(name, kwargs, bidirectional, fused):
    keras.utils.set_random_seed(0)
    theirs = _embedding_model(keras, name, kwargs, bidirectional)
    ours = _embedding_model(ember, name, kwargs, bidirectional)
    ours.set_weights(theirs.get_weights())
    for layer in ours.layers:
        for sub in [layer] + list(getattr(layer, "_layers", [])):
            if hasattr(sub, "_use_fused"):
                sub._use_fused = fused is not None
    with _path(fused):
        _assert_same([theirs.predict(PADDED, verbose=0)], [ours.predict(PADDED, verbose=0)])


def test_bidirectional_without_merge_and_with_states_matches_keras():
    keras.utils.set_random_seed(0)
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True, return_state=True),
                                        merge_mode=None)
    ours = ember.layers.Bidirectional(ember.layers.LSTM(3, return_sequences=True, return_state=True),
                                      merge_mode=None)
    x = np.random.default_rng(1).standard_normal((2, 4, 2)).astype(np.float32)
    theirs(x), ours(x)
    ours.set_weights(theirs.get_weights())
    _assert_same(_outputs(theirs(x)), _outputs(ours(x)))


def test_masking_layer_matches_keras():
    x = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0
    x[2, :2] = 0.0

    def model(lib):
        return lib.Sequential([lib.Input((5, 2)), lib.layers.Masking(), lib.layers.GRU(3, return_sequences=True)])

    keras.utils.set_random_seed(0)
    theirs, ours = model(keras), model(ember)
    ours.set_weights(theirs.get_weights())
    _assert_same([theirs.predict(x, verbose=0)], [ours.predict(x, verbose=0)])
