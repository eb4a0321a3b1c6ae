"""ember.saving: safetensors files (writer, validated reader), weights and whole models, atomic writes."""
import json
import struct

import numpy as np
import pytest

import ember
from ember import saving
from ember.layers import Layer
from ember.saving import CheckpointError


# -- small layers of our own, so these tests do not wait on the layer zoo (names chosen not to shadow it) ----------
class SaveTestDense(Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.bias = self.add_weight("bias", (self.units,), initializer="glorot_uniform")

    def call(self, inputs):
        return ember.matmul(inputs, self.kernel) + self.bias

    def get_config(self):
        return dict(super().get_config(), units=self.units)


class SaveTestAdd(Layer):
    def call(self, inputs):
        return inputs[0] + inputs[1]


def sequential():
    ember.manual_seed(1)
    return ember.Sequential([ember.Input((4,)), SaveTestDense(8), SaveTestDense(3)])


def functional():
    ember.manual_seed(2)
    inputs = ember.Input((4,))
    a = SaveTestDense(5)(inputs)
    b = SaveTestDense(5)(inputs)
    outputs = SaveTestDense(2)(SaveTestAdd()([a, b]))
    return ember.Model(inputs, outputs)


def predict(model, x):
    with ember.no_grad():
        return np.asarray(model(x))


def sample_file(tmp_path):
    path = tmp_path / "t.safetensors"
    saving.save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.arange(4, dtype=np.int64)},
                     path, {"note": "hi"})
    return path


def rewrite_header(path, edit):
    """Re-write the file with `edit(header dict)` applied, keeping the data buffer as it is."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])


# -- the file format ------------------------------------------------------------------------------------------------
def test_file_round_trip_keeps_names_dtypes_shapes_values_and_metadata(tmp_path):
    tensors = {"f32": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
               "f64": np.linspace(0, 1, 5), "f16": np.ones(2, np.float16), "i64": np.arange(3, dtype=np.int64),
               "i32": np.arange(3, dtype=np.int32), "u8": np.arange(7, dtype=np.uint8), "bool": np.array([True, False]),
               "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 3), np.float32)}
    saving.save_file(tensors, tmp_path / "x.safetensors", {"k": "v"})
    loaded, metadata = saving.load_file(tmp_path / "x.safetensors")
    assert metadata == {"k": "v"}
    assert list(loaded) == list(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)


def test_file_layout_follows_the_spec(tmp_path):
    path = sample_file(tmp_path)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0  # data aligned
    assert header["a"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["b"] == {"dtype": "I64", "shape": [4], "data_offsets": [24, 56]}
    assert header["__metadata__"] == {"note": "hi"}
    assert len(data) == 8 + n + 56


def test_big_endian_arrays_are_stored_little_endian(tmp_path):
    saving.save_file({"x": np.arange(3, dtype=">i4")}, tmp_path / "x.safetensors")
    loaded, _ = saving.load_file(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(loaded["x"], [0, 1, 2])


def test_loaded_arrays_are_writable_copies(tmp_path):
    loaded, _ = saving.load_file(sample_file(tmp_path))
    loaded["a"][0, 0] = 42.0


def test_bf16_is_read_as_float32(tmp_path):
    bits = (np.array([1.5, -2.0], np.float32).view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    loaded, _ = saving.load_file(path)
    np.testing.assert_array_equal(loaded["w"], np.array([1.5, -2.0], np.float32))


def test_save_file_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        saving.save_file({"s": np.array(["text"])}, tmp_path / "x")
    with pytest.raises(TypeError, match="metadata"):
        saving.save_file({"a": np.ones(2)}, tmp_path / "x", {"k": 1})
    with pytest.raises(ValueError, match="__metadata__"):
        saving.save_file({"__metadata__": np.ones(2)}, tmp_path / "x")


# -- the reader refuses bad files, saying what and where --------------------------------------------------------
def corrupt(case, path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated data":
        path.write_bytes(data[:-5])
    elif case == "truncated header":
        path.write_bytes(data[:8 + n // 2])
    elif case == "trailing bytes":
        path.write_bytes(data + b"\0" * 8)
    elif case == "huge header length":
        path.write_bytes(struct.pack("<Q", 2 ** 40) + data[8:])
    elif case == "flipped header byte":
        path.write_bytes(data[:9] + bytes([data[9] ^ 0xFF]) + data[10:])
    elif case == "not json":
        text = b"{not json" + b" " * (n - 9)
        path.write_bytes(data[:8] + text + data[8 + n:])
    elif case == "json list":
        text = b"[1, 2]" + b" " * (n - 6)
        path.write_bytes(data[:8] + text + data[8 + n:])
    elif case == "duplicate key":
        text = data[8:8 + n].decode().rstrip()
        entry = json.dumps(json.loads(text)["a"])
        text = text[:-1] + ',"a":' + entry + "}"
        path.write_bytes(struct.pack("<Q", len(text)) + text.encode() + data[8 + n:])
    else:
        edits = {
            "unknown dtype": lambda h: h["a"].update(dtype="F128"),
            "negative shape": lambda h: h["a"].update(shape=[-2, -3]),
            "overflowing shape": lambda h: h["a"].update(shape=[2 ** 40, 2 ** 40]),
            "float shape": lambda h: h["a"].update(shape=[2.0, 3]),
            "offsets out of range": lambda h: h["b"].update(shape=[5], data_offsets=[24, 64]),
            "overlapping offsets": lambda h: (h["a"].update(data_offsets=[0, 24]),
                                              h["b"].update(dtype="I32", shape=[10], data_offsets=[16, 56])),
            "gap in offsets": lambda h: (h["a"].update(shape=[2, 2], data_offsets=[0, 16]),),
            "size mismatch": lambda h: h["a"].update(shape=[2, 2]),
            "reversed offsets": lambda h: h["a"].update(data_offsets=[24, 0]),
            "missing key": lambda h: h["a"].pop("dtype"),
            "bad metadata": lambda h: h.update(__metadata__={"k": 1}),
        }
        rewrite_header(path, edits[case])


BAD_FILES = {
    "empty": "too short", "truncated data": "truncated", "truncated header": "runs past the end",
    "trailing bytes": "trailing", "huge header length": "exceeds", "flipped header byte": "header",
    "not json": "not valid JSON", "json list": "not a JSON object", "duplicate key": "twice",
    "unknown dtype": "dtype 'F128'", "negative shape": "negative", "overflowing shape": "overflows",
    "float shape": "list of integers", "offsets out of range": "truncated", "overlapping offsets": "overlaps",
    "gap in offsets": "gap", "size mismatch": "needs", "reversed offsets": "begin <= end",
    "missing key": "exactly the keys", "bad metadata": "__metadata__",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_checkpoint_error_naming_problem_and_path(case, tmp_path):
    path = sample_file(tmp_path)
    corrupt(case, path)
    with pytest.raises(CheckpointError, match=BAD_FILES[case]) as info:
        saving.load_file(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_committed_corpus_of_bad_files_is_rejected():
    import pathlib

    corpus = sorted((pathlib.Path(__file__).parent / "data" / "bad_safetensors").glob("*.safetensors"))
    assert corpus
    for path in corpus:
        with pytest.raises(CheckpointError):
            saving.load_file(path)


# -- weights --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [sequential, functional])
def test_save_and_load_weights_round_trip(make, tmp_path):
    model, other = make(), make()
    ember.manual_seed(99)
    other.set_weights([w * 0 + 7 for w in other.get_weights()])
    saving.save_weights(model, tmp_path / "w.safetensors")
    saving.load_weights(other, tmp_path / "w.safetensors")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(predict(other, x), predict(model, x))


def test_weights_are_keyed_by_name_in_model_order(tmp_path):
    model = sequential()
    saving.save_weights(model, tmp_path / "w.safetensors")
    tensors, metadata = saving.load_file(tmp_path / "w.safetensors")
    names = [w.name for w in model.weights]
    assert json.loads(metadata["weight_order"]) == names
    assert sorted(tensors) == sorted(names)


def test_duplicate_weight_names_get_index_prefixes():
    a, b, c = ember.Tensor([1.0], name="w"), ember.Tensor([2.0], name="w"), ember.Tensor([3.0], name="v")
    assert saving.weight_keys([a, b, c]) == ["0/w", "1/w", "v"]
    assert saving.weight_keys([ember.Tensor([1.0])]) == ["weight_0"]


def test_load_weights_wrong_shape_names_the_weight_and_both_shapes(tmp_path):
    saving.save_weights(sequential(), tmp_path / "w.safetensors")
    ember.manual_seed(0)
    wider = ember.Sequential([ember.Input((4,)), SaveTestDense(9), SaveTestDense(3)])
    with pytest.raises(CheckpointError, match=r"kernel.*\(4, 9\).*\(4, 8\)"):
        saving.load_weights(wider, tmp_path / "w.safetensors")


def test_load_weights_count_mismatch_is_an_error(tmp_path):
    saving.save_weights(sequential(), tmp_path / "w.safetensors")
    deeper = ember.Sequential([ember.Input((4,)), SaveTestDense(8), SaveTestDense(3), SaveTestDense(3)])
    with pytest.raises(CheckpointError, match="holds 4 weights but model .* has 6"):
        saving.load_weights(deeper, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="is the model built"):
        saving.load_weights(ember.Sequential([SaveTestDense(8), SaveTestDense(3)]), tmp_path / "w.safetensors")


def test_load_weights_matches_by_name_when_the_file_has_no_order(tmp_path):
    def named(seed):
        ember.manual_seed(seed)
        return ember.Sequential([ember.Input((4,)), SaveTestDense(8, name="d0"), SaveTestDense(3, name="d1")])

    model, other = named(0), named(1)
    other.set_weights([w + 1 for w in other.get_weights()])
    tensors = dict(zip([w.name for w in model.weights][::-1], model.get_weights()[::-1]))
    saving.save_file(tensors, tmp_path / "w.safetensors")
    saving.load_weights(other, tmp_path / "w.safetensors")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- atomic writes --------------------------------------------------------------------------------------------------
def test_a_write_failing_halfway_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    model = sequential()
    saving.save_weights(model, path)
    before = path.read_bytes()
    calls = []

    def failing_write(f, array):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"\0" * 3)
            raise OSError("disk full (simulated)")
        f.write(array.tobytes())

    monkeypatch.setattr(saving, "_write_array", failing_write)
    changed = sequential()
    changed.set_weights([w + 1 for w in changed.get_weights()])
    with pytest.raises(OSError, match="simulated"):
        saving.save_weights(changed, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left behind
    saving.load_weights(sequential(), path)


def test_a_process_killed_mid_save_leaves_the_old_file_intact(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "w.safetensors"
    saving.save_file({"x": np.zeros(4, np.float32)}, path)
    before = path.read_bytes()
    script = f"""
import os, numpy as np
from ember import saving
def die(f, array):
    f.write(array.tobytes()[:100])
    f.flush()
    os._exit(9)  # no cleanup, as a crash or a kill -9
saving._write_array = die
saving.save_file({{"x": np.ones(1000, np.float32)}}, {str(path)!r})
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(ember.__file__))] + sys.path))
    result = subprocess.run([sys.executable, "-c", script], env=env)
    assert result.returncode == 9
    assert path.read_bytes() == before
    np.testing.assert_array_equal(saving.load_file(path)[0]["x"], np.zeros(4, np.float32))


# -- whole models ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [sequential, functional])
def test_save_and_load_model_round_trip_gives_identical_predictions(make, tmp_path):
    model = make()
    saving.save_model(model, tmp_path / "m.safetensors")
    loaded = saving.load_model(tmp_path / "m.safetensors")
    assert type(loaded) is type(model)
    x = np.random.default_rng(3).standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]


def test_model_file_metadata(tmp_path):
    model = sequential()
    saving.save_model(model, tmp_path / "m.safetensors")
    _, metadata = saving.load_file(tmp_path / "m.safetensors")
    assert metadata["format"] == "ember" and metadata["version"] == "1"
    assert metadata["class_name"] == "Sequential"
    assert json.loads(metadata["config"]) == model.get_config()


def test_load_model_needs_unknown_classes_in_custom_objects(tmp_path):
    class Unregistered(SaveTestDense):
        pass

    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((4,)), SaveTestDense(2)])
    saving.save_model(model, tmp_path / "m.safetensors")
    _, metadata = saving.load_file(tmp_path / "m.safetensors")
    metadata["class_name"] = "NoSuchModel"
    saving.save_file(saving.load_file(tmp_path / "m.safetensors")[0], tmp_path / "bad.safetensors", metadata)
    with pytest.raises(ValueError, match="custom_objects"):
        saving.load_model(tmp_path / "bad.safetensors")
    loaded = saving.load_model(tmp_path / "bad.safetensors", custom_objects={"NoSuchModel": ember.Sequential})
    assert len(loaded.weights) == 2


def test_load_model_refuses_a_weights_only_file(tmp_path):
    saving.save_weights(sequential(), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="not an ember model file"):
        saving.load_model(tmp_path / "w.safetensors")


def test_load_model_refuses_another_version(tmp_path):
    saving.save_model(sequential(), tmp_path / "m.safetensors")
    tensors, metadata = saving.load_file(tmp_path / "m.safetensors")
    saving.save_file(tensors, tmp_path / "m.safetensors", dict(metadata, version="2"))
    with pytest.raises(CheckpointError, match="version '2'"):
        saving.load_model(tmp_path / "m.safetensors")


@pytest.mark.parametrize("case", ["truncated data", "flipped header byte", "offsets out of range"])
def test_load_model_on_a_tampered_file_raises_the_clear_error(case, tmp_path):
    path = tmp_path / "t.safetensors"
    saving.save_model(sequential(), path)
    if case == "offsets out of range":
        def edit(h):
            name = next(k for k in h if k != "__metadata__")
            h[name]["data_offsets"][1] += 4
        rewrite_header(path, edit)
    else:
        corrupt(case, path)
    with pytest.raises(CheckpointError):
        saving.load_model(path)


# -- interop with the reference implementation, when installed ------------------------------------------------------
def test_files_we_write_load_in_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
               "c": np.ones((2, 2), np.float16)}
    saving.save_file(tensors, tmp_path / "x.safetensors", {"k": "v"})
    loaded = st.load_file(str(tmp_path / "x.safetensors"))
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype


def test_files_safetensors_writes_load_here(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"z": np.arange(12, dtype=np.float64).reshape(3, 4), "y": np.array([True, False]),
               "x": np.arange(5, dtype=np.int32)}
    st.save_file(tensors, str(tmp_path / "x.safetensors"), metadata={"q": "r"})
    loaded, metadata = saving.load_file(tmp_path / "x.safetensors")
    assert metadata == {"q": "r"}
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype


def test_round_trip_with_the_layer_zoo_keeps_predictions_and_moving_statistics(tmp_path):
    layers = ember.layers
    if not all(hasattr(layers, n) for n in ("Conv2D", "BatchNormalization", "Dense", "Flatten", "Concatenate")):
        pytest.skip("the layer zoo is not in this build")
    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.BatchNormalization(), layers.Flatten(), layers.Dense(3)])
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    model(x, training=True)  # moves the batch-norm statistics away from their initial values
    saving.save_model(model, tmp_path / "cnn.safetensors")
    loaded = saving.load_model(tmp_path / "cnn.safetensors")
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)

    inputs = ember.Input((4,))
    merged = layers.Concatenate()([layers.Dense(3)(inputs), layers.Dense(3)(inputs)])
    branchy = ember.Model(inputs, layers.Dense(2)(merged))
    saving.save_model(branchy, tmp_path / "branchy.safetensors")
    x = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(predict(saving.load_model(tmp_path / "branchy.safetensors"), x), predict(branchy, x))
