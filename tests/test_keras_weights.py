"""Keras 3 `.weights.h5` files (keras_model.save_weights) loaded into the same architecture built in ember: the
predictions then match Keras' (within 1e-5); a mismatched architecture raises, naming the layer and both shapes,
and leaves the model unchanged.

Two kinds of test: against files Keras 3.15 wrote (tests/data/keras3/: a .weights.h5 and a full-model .h5 in the
older layout, with Keras' predictions beside them; they need only h5py, so CI runs them), and against Keras itself,
live (Keras 3 on its torch backend; skipped without it).
`python tests/test_keras_weights.py` rewrites the data files with the Keras installed.
"""
import os
import pathlib
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("h5py", reason="Keras weights files are HDF5: reading them needs h5py")

import ember  # noqa: E402
from ember.saving_keras import KerasWeightsError, load_keras_weights  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parent / "data" / "keras3"
FIXTURE, EXPECTED = DATA / "mixed.weights.h5", DATA / "mixed_expected.npz"
LEGACY, LEGACY_EXPECTED = DATA / "legacy_model.h5", DATA / "legacy_expected.npz"
TOLERANCE = 1e-5


def import_keras():
    pytest.importorskip("torch", reason="the live Keras oracle runs on Keras' torch backend")
    keras = pytest.importorskip("keras", reason="the live oracle is Keras 3")
    if keras.backend.backend() != "torch":
        pytest.skip("the live Keras oracle runs on Keras' torch backend")
    return keras


@pytest.fixture
def keras():
    return import_keras()


# -- architectures, written once for both libraries -----------------------------------------------------------------
def mixed(lib):
    """Every layer kind the loader maps, in one functional model with three inputs (the data file's model)."""
    layers = lib.layers
    image = lib.Input((8, 8, 3), name="image")
    ids = lib.Input((6,), dtype="int32", name="ids")
    series = lib.Input((5, 4), name="series")
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(image)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2)(x)
    x = layers.SeparableConv2D(5, 3, padding="same")(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(layers.MaxPooling2D(2)(x))
    words = layers.LSTM(5, return_sequences=True)(layers.Embedding(12, 4)(ids))
    words = layers.GRU(3)(layers.GRU(4, reset_after=False, return_sequences=True)(words))
    series_features = layers.Bidirectional(layers.SimpleRNN(3))(series)
    both = layers.Concatenate()([x, words, series_features])
    head = lib.Sequential([lib.Input((13,)), layers.Dense(8, activation="tanh"), layers.BatchNormalization()])
    return lib.Model([image, ids, series], layers.Dense(3)(head(both)))


def mixed_inputs():
    rng = np.random.default_rng(7)
    return [rng.normal(size=(3, 8, 8, 3)).astype(np.float32), rng.integers(0, 12, size=(3, 6)).astype(np.int32),
            rng.normal(size=(3, 5, 4)).astype(np.float32)]


def legacy(lib):
    """For the older .h5 layout: a nested model there is one layer whose trainable weights come first."""
    layers = lib.layers
    inputs = lib.Input((6, 4))
    x = layers.BatchNormalization()(layers.LSTM(3, return_sequences=True)(inputs))
    inner = lib.Sequential([lib.Input((6, 3)), layers.GRU(2), layers.BatchNormalization(), layers.Dense(2)])
    return lib.Model(inputs, inner(x))


def legacy_inputs():
    return [np.random.default_rng(8).normal(size=(3, 6, 4)).astype(np.float32)]


def mlp(lib, hidden=16):
    layers = lib.layers
    return lib.Sequential([lib.Input((8,)), layers.Dense(hidden, activation="relu"), layers.BatchNormalization(),
                           layers.Dense(4, activation="softmax")])


def cnn(lib, filters=6):
    layers = lib.layers
    return lib.Sequential([lib.Input((10, 10, 3)), layers.Conv2D(filters, 3, padding="same"),
                           layers.BatchNormalization(), layers.Flatten(), layers.Dense(3)])


def recurrent(lib):
    layers = lib.layers
    return lib.Sequential([lib.Input((7, 5)), layers.LSTM(6, return_sequences=True), layers.GRU(5),
                           layers.Dense(2)])


def branches_of_unequal_depth(lib):
    """Keras orders these Dense layers x1, x2, y1, x3 (by depth from the output, then by a walk from it), which is
    neither their creation order nor ember's graph order."""
    layers = lib.layers
    inputs = lib.Input((5,))
    x = layers.Dense(3)(layers.Dense(6)(layers.Dense(4)(inputs)))
    y = layers.Dense(3)(inputs)
    return lib.Model(inputs, layers.Add()([y, x]))


# -- helpers ----------------------------------------------------------------------------------------------------------
def randomize_keras(model, seed=0):
    """Random values for every Keras weight (moving variances positive), so that nothing matches by accident."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.normal(0.0, 0.3, size=tuple(w.shape))
        if "variance" in w.path:
            value = rng.uniform(0.5, 1.5, size=tuple(w.shape))
        w.assign(value.astype("float32"))
    return model


def keras_predict(keras, model, inputs):
    out = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def ember_predict(model, inputs):
    out = model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
    return out if isinstance(out, list) else [out]


def rename(model, prefix="ember_"):
    """Give every layer a name Keras' layers do not have: both libraries count auto names alike, so a model built
    in each would otherwise match by name even where the loader's structural matching were wrong."""
    for layer in model.layers:
        layer.name = prefix + layer.name
        if isinstance(layer, ember.Model):
            rename(layer, prefix)


def assert_close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=TOLERANCE, atol=TOLERANCE)


def transfer(keras, build, inputs, tmp_path, by_name=False):
    """Build with Keras, save its weights, build with ember, load, compare predictions; returns the ember model."""
    kmodel = randomize_keras(build(keras))
    path = tmp_path / "model.weights.h5"
    kmodel.save_weights(str(path))
    model = build(ember)
    if not by_name:
        rename(model)
    model.load_weights(path)
    assert_close(ember_predict(model, inputs), keras_predict(keras, kmodel, inputs))
    return model


def write_data_files(keras):
    """The data files: `mixed` with random weights as Keras saves them, and Keras' predictions."""
    DATA.mkdir(parents=True, exist_ok=True)
    kmodel = randomize_keras(mixed(keras), seed=3)
    kmodel.save_weights(str(FIXTURE))
    expected, = keras_predict(keras, kmodel, mixed_inputs())
    np.savez(EXPECTED, expected=expected, keras_version=np.array(keras.__version__))
    kmodel = randomize_keras(legacy(keras), seed=4)
    kmodel.save(str(LEGACY))  # the older HDF5 layout, weights under model_weights
    expected, = keras_predict(keras, kmodel, legacy_inputs())
    np.savez(LEGACY_EXPECTED, expected=expected, keras_version=np.array(keras.__version__))


# -- a file Keras wrote (h5py only) ----------------------------------------------------------------------------------
def test_file_written_by_keras_gives_keras_predictions():
    model = mixed(ember)
    rename(model)
    model.load_weights(FIXTURE)
    assert_close(ember_predict(model, mixed_inputs()), [np.load(EXPECTED)["expected"]])


def test_load_keras_weights_function_does_the_same():
    model = mixed(ember)
    load_keras_weights(model, FIXTURE)
    assert_close(ember_predict(model, mixed_inputs()), [np.load(EXPECTED)["expected"]])


def test_older_h5_layout_gives_keras_predictions():
    model = legacy(ember)
    rename(model)
    model.load_weights(LEGACY)
    assert_close(ember_predict(model, legacy_inputs()), [np.load(LEGACY_EXPECTED)["expected"]])


def test_older_h5_layout_mismatch_raises():
    inputs = ember.Input((6, 4))
    model = ember.Model(inputs, ember.layers.LSTM(3)(inputs))
    with pytest.raises(KerasWeightsError, match=r"the file holds weights for 3 layers \['lstm\w*', "
                                                r"'batch_normalization\w*', 'sequential\w*'\], but model '\w+' has 1 "):
        model.load_weights(LEGACY)
    inputs = ember.Input((6, 4))
    x = ember.layers.BatchNormalization()(ember.layers.LSTM(4, return_sequences=True)(inputs))
    inner = ember.Sequential([ember.Input((6, 4)), ember.layers.GRU(2), ember.layers.BatchNormalization(),
                              ember.layers.Dense(2)])
    with pytest.raises(KerasWeightsError, match=r"\(LSTM\): weight '[\w/]+kernel' has shape \(4, 16\), but the "
                                                r"file's '[\w/]+kernel' has shape \(4, 12\)"):
        ember.Model(inputs, inner(x)).load_weights(LEGACY)


def build_mixed_with(**changes):
    """`mixed` in ember with a layer changed: `changes` maps a layer class to the keyword arguments it gets
    instead, or to the value of its first argument (units, filters)."""
    layers = ember.layers

    class Lib:
        Input, Model, Sequential = ember.Input, ember.Model, ember.Sequential

    def changed(cls, change):
        if isinstance(change, dict):
            return lambda *args, **kwargs: cls(*args, **{**kwargs, **change})
        return lambda first, *args, **kwargs: cls(change, *args, **kwargs)

    class Changed:
        def __getattr__(self, name):
            cls = getattr(layers, name)
            return changed(cls, changes[name]) if name in changes else cls

    Lib.layers = Changed()
    return mixed(Lib)


def test_shape_mismatch_names_layer_and_both_shapes_and_loads_nothing():
    model = build_mixed_with(SeparableConv2D=9)
    before = model.get_weights()
    with pytest.raises(KerasWeightsError, match=r"layer '\w+' \(SeparableConv2D\): weight '[\w/]+pointwise_kernel' "
                                                r"has shape \(1, 1, 12, 9\), but the file's "
                                                r"'/layers/separable_conv2d/vars/1' has shape \(1, 1, 12, 5\)"):
        model.load_weights(FIXTURE)
    for a, b in zip(before, model.get_weights()):  # not even the layers matched before the mismatch changed
        np.testing.assert_array_equal(a, b)


def test_recurrent_mismatch_names_the_recurrent_layer():
    model = build_mixed_with(LSTM=6)
    with pytest.raises(KerasWeightsError, match=r"\(LSTM\): weight '[\w/]+kernel' has shape \(4, 24\), but the "
                                                r"file's '/layers/lstm/cell/vars/0' has shape \(4, 20\)"):
        model.load_weights(FIXTURE)


def test_weight_count_mismatch_raises():
    model = build_mixed_with(Conv2DTranspose={"use_bias": False})
    with pytest.raises(KerasWeightsError, match=r"\(Conv2DTranspose\) has 1 weights \[\(3, 3, 4, 5\)\], but the "
                                                r"file's '/layers/conv2d_transpose' holds 2"):
        model.load_weights(FIXTURE)


def test_missing_and_extra_layers_raise():
    layers = ember.layers
    longer = ember.Sequential([ember.Input((8, 8, 3)), layers.Conv2D(6, 3, padding="same"),
                               layers.BatchNormalization(), layers.Conv2D(2, 1)])
    with pytest.raises(KerasWeightsError, match=r"layer '\w+' \(Conv2D\): the file has no group '/layers/conv2d_1' "
                                                r"where Keras keeps the weights of this model's second conv2d layer"):
        longer.load_weights(FIXTURE)
    inputs = ember.Input((8, 8, 3))
    only_conv = ember.Model(inputs, ember.layers.Conv2D(6, 3, padding="same")(inputs))
    with pytest.raises(KerasWeightsError, match="match no weight of the model"):
        only_conv.load_weights(FIXTURE)


def test_not_a_keras_weights_file(tmp_path):
    import h5py

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(KerasWeightsError, match="not a Keras weights file"):
        mlp(ember).load_weights(path)
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(KerasWeightsError, match="cannot be opened as an HDF5 file"):
        mlp(ember).load_weights(broken)


def test_unbuilt_and_subclassed_models_raise():
    with pytest.raises(KerasWeightsError, match="not built"):
        ember.Sequential([ember.layers.Dense(2)]).load_weights(FIXTURE)

    class Custom(ember.Model):
        def call(self, inputs):
            return inputs

    custom = Custom()
    custom.built = True
    with pytest.raises(KerasWeightsError, match="subclassed Model"):
        custom.load_weights(FIXTURE)


def test_ember_files_still_load_whatever_their_suffix(tmp_path):
    model = mlp(ember)
    model.save_weights(tmp_path / "ember.weights.h5")  # safetensors inside: load_weights goes by the content
    other = mlp(ember)
    other.load_weights(tmp_path / "ember.weights.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_missing_h5py_raises_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        mlp(ember).load_weights(FIXTURE)


# -- Keras itself, live ------------------------------------------------------------------------------------------------
def test_data_file_is_what_this_keras_writes(keras, tmp_path):
    """The data file's layout is the installed Keras' (same groups, same shapes)."""
    import h5py

    path = tmp_path / "again.weights.h5"
    mixed(keras).save_weights(str(path))

    def layout(p):
        shapes = {}
        with h5py.File(p, "r") as f:
            f.visititems(lambda name, obj: shapes.setdefault(name, getattr(obj, "shape", None)))
        return shapes

    assert layout(path) == layout(FIXTURE)


def test_dense_and_batchnorm(keras, tmp_path):
    transfer(keras, mlp, [np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)], tmp_path)


def test_convolutions(keras, tmp_path):
    transfer(keras, cnn, [np.random.default_rng(1).normal(size=(3, 10, 10, 3)).astype(np.float32)], tmp_path)


def test_recurrent_layers(keras, tmp_path):
    transfer(keras, recurrent, [np.random.default_rng(1).normal(size=(3, 7, 5)).astype(np.float32)], tmp_path)


def test_mixed_model_live(keras, tmp_path):
    transfer(keras, mixed, mixed_inputs(), tmp_path)


def test_functional_layers_are_found_in_keras_order(keras, tmp_path):
    transfer(keras, branches_of_unequal_depth, [np.ones((2, 5), np.float32)], tmp_path)


def test_layers_of_another_class_match_by_name(keras, tmp_path):
    """An ember subclass is not the Keras class the file is keyed by; the layers' names still match."""
    class WideDense(ember.layers.Dense):
        pass

    def build(lib):
        dense = WideDense if lib is ember else keras.layers.Dense
        return lib.Sequential([lib.Input((4,)), dense(3, name="first"), lib.layers.Dense(2, name="second")])

    transfer(keras, build, [np.ones((2, 4), np.float32)], tmp_path, by_name=True)


if __name__ == "__main__":
    write_data_files(import_keras())
    print(f"wrote {', '.join(str(p) for p in (FIXTURE, EXPECTED, LEGACY, LEGACY_EXPECTED))}")
