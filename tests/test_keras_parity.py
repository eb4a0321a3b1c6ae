"""Keras itself as an optional oracle (Keras 3 on its torch backend; skipped when either is absent).

The same model-building code runs on both libraries, as a Keras user's program would with only its imports
changed; weights copied from Keras with set_weights must give the same predictions, losses and SGD steps.
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip("Keras parity runs on Keras' torch backend", allow_module_level=True)

import ember  # noqa: E402


def cnn(lib, dropout=0.5):
    layers = lib.layers
    inputs = lib.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    branch = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = layers.Concatenate()([layers.SeparableConv2D(16, 3, padding="same")(x), branch])
    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="elu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def generator(lib):
    layers = lib.layers
    return lib.Sequential([
        lib.Input((6,)),
        layers.Dense(4 * 4 * 8),
        layers.LeakyReLU(0.2),
        layers.Reshape((4, 4, 8)),
        layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
        layers.UpSampling2D(2),
        layers.ZeroPadding2D(1),
        layers.Conv2D(3, 3, activation="tanh"),
        layers.AveragePooling2D(2, padding="same"),
        layers.Flatten(),
    ])


def residual(lib):
    layers = lib.layers
    inputs = lib.Input((10,))
    hidden = layers.Dense(10, activation="tanh")(inputs)
    added = layers.Add()([inputs, hidden])
    return lib.Model(inputs, layers.Dense(3)(layers.ReLU()(added)))


MODELS = {"cnn": (cnn, (4, 12, 12, 3)), "generator": (generator, (3, 6)), "residual": (residual, (5, 10))}


def pair(name, **options):
    build, shape = MODELS[name]
    keras.utils.set_random_seed(0)
    theirs = build(keras, **options)
    ours = build(ember, **options)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    return theirs, ours, x


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_weights_give_the_same_predictions(name):
    theirs, ours, x = pair(name)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_sgd_step_matches_keras(name):
    theirs, ours, x = pair(name, **({"dropout": 0.0} if name == "cnn" else {}))  # dropout masks differ
    y = np.random.default_rng(2).standard_normal((x.shape[0],) + theirs.output_shape[1:]).astype("float32")
    for model, lib in ((theirs, keras), (ours, ember)):
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.1), loss="mse")
    loss_theirs = float(theirs.train_on_batch(x, y))
    loss_ours = ours.train_on_batch(x, y)
    assert loss_ours == pytest.approx(loss_theirs, rel=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss, y_true, y_pred", [
    ("binary_crossentropy", [[0.0], [1.0], [1.0]], [[0.2], [0.7], [0.999]]),
    ("categorical_crossentropy", [[0, 1, 0], [1, 0, 0]], [[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]),
    ("sparse_categorical_crossentropy", [1, 0], [[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]),
    ("mean_squared_error", [[1.0, 2.0]], [[0.5, 2.5]]),
    ("mean_absolute_error", [[1.0, 2.0]], [[0.5, 3.5]]),
])
def test_losses_match_keras(loss, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true, "float32"), np.asarray(y_pred, "float32")
    theirs = float(keras.ops.convert_to_numpy(keras.losses.get(loss)(y_true, y_pred)).mean())
    ours = ember.losses.get(loss)(y_true, ember.tensor(y_pred)).item()
    assert ours == pytest.approx(theirs, rel=1e-5)
