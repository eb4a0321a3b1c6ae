"""ONNX export (ember.onnx): every exportable layer kind, random weights, run in onnxruntime against ember's own
output (float32, within 1e-4), a batch size other than the exported stand-in's, names, functional graphs with
several inputs and outputs, the errors, and every model of ember.applications at a small size."""
import inspect

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package (pip install ember[onnx])")
ort = pytest.importorskip("onnxruntime", reason="running exported models needs onnxruntime (ember[onnx])")

import ember  # noqa: E402
import ember.onnx  # noqa: E402
from ember import layers as L  # noqa: E402

TOLERANCE = 1e-4


def randomize(model, seed=0, scale=0.4):
    """Random weights everywhere; moving variances positive, so batch norm's inference path is exercised."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.normal(0.0, scale, size=w.shape)
        if w.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, size=w.shape)
        w._data = value.astype(w.dtype)
    return model


def run_onnx(proto, inputs):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def ember_outputs(model, inputs):
    out = model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0])
    return out if isinstance(out, list) else [out]


def check_export(model, inputs, tmp_path=None):
    """Export, check, run in onnxruntime at this batch size, compare every output with ember's; returns the proto."""
    proto = ember.onnx.to_onnx(model) if tmp_path is None else model.export(tmp_path / "model.onnx")
    onnx.checker.check_model(proto, full_check=True)
    got = run_onnx(proto, inputs)
    expected = ember_outputs(model, inputs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=TOLERANCE, atol=TOLERANCE)
    return proto


def images(shape, batch=3, seed=1):
    return np.random.default_rng(seed).normal(size=(batch,) + shape).astype(np.float32)


def sequential(input_shape, *layers):
    return randomize(ember.Sequential([ember.Input(input_shape)] + list(layers)))


# -- one model per layer kind (Sequential, one input) ---------------------------------------------------------------
ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "gelu", "leaky_relu", "silu", "swish",
               "log_softmax"]
IMAGE = (9, 10, 4)  # odd and unequal sizes: "same" padding puts its odd pixel after, strided windows miss edges
CASES = {
    **{f"dense_{a}": lambda a=a: sequential((6,), L.Dense(5, activation=a)) for a in ACTIVATIONS},
    **{f"activation_{a}": lambda a=a: sequential(IMAGE, L.Conv2D(3, 1), L.Activation(a)) for a in ACTIVATIONS},
    "dense_no_bias": lambda: sequential((6,), L.Dense(4, use_bias=False)),
    "dense_rank3": lambda: sequential((5, 6), L.Dense(4, activation="relu")),
    "conv_valid": lambda: sequential(IMAGE, L.Conv2D(5, 3)),
    "conv_same_stride2": lambda: sequential(IMAGE, L.Conv2D(5, 3, strides=2, padding="same")),
    "conv_same_even_kernel": lambda: sequential(IMAGE, L.Conv2D(5, (2, 4), strides=(1, 3), padding="same")),
    "conv_dilated": lambda: sequential(IMAGE, L.Conv2D(5, 3, dilation_rate=2, padding="same")),
    "conv_groups": lambda: sequential(IMAGE, L.Conv2D(6, 3, groups=2, use_bias=False, activation="relu")),
    "conv_channels_first": lambda: sequential((4, 9, 10), L.Conv2D(5, 3, padding="same",
                                                                   data_format="channels_first")),
    "depthwise": lambda: sequential(IMAGE, L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)),
    "depthwise_stride2": lambda: sequential(IMAGE, L.DepthwiseConv2D(3, strides=2, padding="same",
                                                                     activation="relu")),
    "separable": lambda: sequential(IMAGE, L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2)),
    "separable_stride2": lambda: sequential(IMAGE, L.SeparableConv2D(6, 3, strides=2)),
    "conv_transpose_same": lambda: sequential(IMAGE, L.Conv2DTranspose(5, 3, strides=2, padding="same")),
    "conv_transpose_valid": lambda: sequential(IMAGE, L.Conv2DTranspose(5, 4, strides=2)),
    "conv_transpose_even_same": lambda: sequential(IMAGE, L.Conv2DTranspose(3, 4, strides=2, padding="same")),
    "conv_transpose_wide_stride": lambda: sequential(IMAGE, L.Conv2DTranspose(3, 2, strides=3)),
    "conv_transpose_output_padding": lambda: sequential(IMAGE, L.Conv2DTranspose(3, 3, strides=2,
                                                                                 output_padding=1)),
    "conv_transpose_dilated": lambda: sequential(IMAGE, L.Conv2DTranspose(3, 3, dilation_rate=2, padding="same")),
    "batchnorm_after_conv": lambda: sequential(IMAGE, L.Conv2D(5, 3), L.BatchNormalization()),
    "batchnorm_images": lambda: sequential(IMAGE, L.BatchNormalization(epsilon=1e-2)),
    "batchnorm_dense": lambda: sequential((6,), L.Dense(5), L.BatchNormalization(center=False, scale=False)),
    "batchnorm_sequence": lambda: sequential((5, 6), L.BatchNormalization()),
    "relu": lambda: sequential(IMAGE, L.ReLU()),
    "relu6": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.ReLU(max_value=6.0)),
    "relu_slope": lambda: sequential(IMAGE, L.ReLU(negative_slope=0.1)),
    "relu_general": lambda: sequential(IMAGE, L.ReLU(max_value=0.5, negative_slope=0.2, threshold=0.1)),
    "leaky_relu": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.LeakyReLU(0.3)),
    "elu": lambda: sequential(IMAGE, L.ELU(0.7)),
    "softmax_channels_of_conv": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.Softmax()),
    "softmax_axis1": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.Softmax(axis=1)),
    "max_pool": lambda: sequential(IMAGE, L.MaxPooling2D(2)),
    "max_pool_same": lambda: sequential(IMAGE, L.MaxPooling2D(3, strides=2, padding="same")),
    "average_pool": lambda: sequential(IMAGE, L.AveragePooling2D((2, 3), strides=(1, 2))),
    "average_pool_same": lambda: sequential(IMAGE, L.AveragePooling2D(3, strides=2, padding="same")),
    "pool_channels_first": lambda: sequential((4, 9, 10), L.MaxPooling2D(2, data_format="channels_first")),
    "global_average": lambda: sequential(IMAGE, L.Conv2D(3, 3), L.GlobalAveragePooling2D()),
    "global_max": lambda: sequential(IMAGE, L.Conv2D(3, 3), L.GlobalMaxPooling2D()),
    "global_average_keepdims": lambda: sequential(IMAGE, L.Conv2D(3, 3), L.GlobalAveragePooling2D(keepdims=True)),
    "flatten_after_conv": lambda: sequential(IMAGE, L.Conv2D(3, 3), L.Flatten(), L.Dense(4)),
    "flatten_channels_first": lambda: sequential((4, 9, 10), L.Flatten(data_format="channels_first")),
    "reshape": lambda: sequential((12,), L.Reshape((3, -1)), L.Dense(2)),
    "dropout_noise_augmentation": lambda: sequential(IMAGE, L.Dropout(0.5), L.GaussianNoise(1.0), L.RandomFlip(),
                                                     L.RandomRotation(0.2), L.Conv2D(3, 1)),
    "random_crop": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.RandomCrop(5, 6)),
    "zero_padding": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.ZeroPadding2D(((1, 2), (0, 3)))),
    "upsampling": lambda: sequential(IMAGE, L.Conv2D(3, 1), L.UpSampling2D((2, 3))),
    "upsampling_channels_first": lambda: sequential((4, 5, 6), L.UpSampling2D(2, data_format="channels_first")),
    "simple_rnn": lambda: sequential((7, 5), L.SimpleRNN(4)),
    "simple_rnn_relu_sequences": lambda: sequential((7, 5), L.SimpleRNN(4, activation="relu",
                                                                        return_sequences=True)),
    "lstm": lambda: sequential((7, 5), L.LSTM(4)),
    "lstm_sequences_backwards": lambda: sequential((7, 5), L.LSTM(4, return_sequences=True, go_backwards=True)),
    "lstm_stacked_no_bias": lambda: sequential((7, 5), L.LSTM(4, return_sequences=True, use_bias=False),
                                               L.LSTM(3), L.Dense(2)),
    "gru": lambda: sequential((7, 5), L.GRU(4)),
    "gru_reset_before": lambda: sequential((7, 5), L.GRU(4, reset_after=False, return_sequences=True)),
    **{f"bidirectional_{m}": lambda m=m: sequential((7, 5), L.Bidirectional(L.LSTM(3, return_sequences=True),
                                                                           merge_mode=m))
       for m in ("concat", "sum", "ave", "mul")},
    "bidirectional_gru_last": lambda: sequential((7, 5), L.Bidirectional(L.GRU(3))),
    "time_distributed_dense": lambda: sequential((7, 5), L.TimeDistributed(L.Dense(3, activation="tanh"))),
    "time_distributed_conv": lambda: sequential((3, 6, 6, 2), L.TimeDistributed(L.Conv2D(3, 3, padding="same")),
                                                L.TimeDistributed(L.Flatten()), L.LSTM(2)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_exports_and_matches_ember(case):
    model = CASES[case]()
    shape = model._input_spec[0]
    check_export(model, [images(shape)])


def test_embedding_takes_ids_as_float_or_int():
    ids = np.random.default_rng(0).integers(0, 20, size=(4, 6))
    model = sequential((6,), L.Embedding(20, 3), L.Flatten(), L.Dense(2))
    check_export(model, [ids.astype(np.float32)])
    inputs = ember.Input((6,), dtype="int64", name="ids")
    model = randomize(ember.Model(inputs, L.LSTM(3)(L.Embedding(20, 4)(inputs))))
    check_export(model, [ids.astype(np.int64)])


# -- the graph: dynamic batch, names, opset, initializers, few transposes -------------------------------------------
def test_batch_axis_is_dynamic(tmp_path):
    model = sequential(IMAGE, L.Conv2D(4, 3), L.BatchNormalization(), L.Flatten(), L.Dense(3))
    proto = model.export(tmp_path / "m.onnx")
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == ember.onnx.BATCH
    loaded = onnx.load(str(tmp_path / "m.onnx"))
    for batch in (1, 7):  # the stand-in that traced the model had a batch of one
        x = images(IMAGE, batch=batch)
        got, = run_onnx(loaded, [x])
        np.testing.assert_allclose(got, model.predict_on_batch(x), rtol=TOLERANCE, atol=TOLERANCE)


def test_opset_is_pinned_and_weights_are_initializers():
    model = sequential(IMAGE, L.Conv2D(4, 3, name="features"), L.Flatten(), L.Dense(3, name="head"))
    proto = ember.onnx.to_onnx(model)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", ember.onnx.OPSET)]
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(weights["head/kernel"], model.get_layer("head").kernel.numpy())
    np.testing.assert_array_equal(weights["features/kernel"],
                                  model.get_layer("features").kernel.numpy().transpose(3, 2, 0, 1))  # HWIO -> OIHW


def test_conv_stack_transposes_only_at_its_edges():
    model = sequential(IMAGE, L.Conv2D(4, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
                       L.MaxPooling2D(2), L.Conv2D(4, 3, padding="same"), L.ReLU(6.0),
                       L.Flatten(), L.Dense(2))
    proto = check_export(model, [images(IMAGE)])
    assert [n.op_type for n in proto.graph.node].count("Transpose") == 2  # NHWC -> NCHW in, NCHW -> NHWC at Flatten


def test_functional_model_with_several_inputs_and_outputs():
    image = ember.Input(IMAGE, name="image")
    extra = ember.Input((3,), name="extra")
    x = L.Conv2D(4, 3, padding="same", activation="relu")(image)
    skip = L.Conv2D(4, 1)(image)
    x = L.Add(name="residual")([x, skip])
    gate = L.Dense(4, activation="sigmoid")(extra)
    x = L.Multiply()([x, L.Reshape((1, 1, 4))(gate)])  # broadcast over height and width
    features = L.GlobalAveragePooling2D(name="features")(x)
    both = L.Concatenate()([features, extra])
    classes = L.Dense(5, activation="softmax", name="classes")(both)
    score = L.Dense(1, name="score")(L.Average()([features, L.Maximum()([features, gate])]))
    model = randomize(ember.Model([image, extra], [classes, score]))
    proto = check_export(model, [images(IMAGE), images((3,))])
    assert [i.name for i in proto.graph.input] == ["image", "extra"]
    assert [o.name for o in proto.graph.output] == ["classes", "score"]
    renamed = ember.onnx.to_onnx(model, input_names=["a", "b"], output_names=["p", "q"])
    assert [i.name for i in renamed.graph.input] == ["a", "b"]
    assert [o.name for o in renamed.graph.output] == ["p", "q"]


def test_recurrent_states_in_and_out():
    sequence = ember.Input((6, 5), name="sequence")
    output, h, c = L.LSTM(4, return_state=True, name="encoder")(sequence)
    decoded = L.LSTM(4, return_sequences=True, name="decoder")(sequence, initial_state=[h, c])
    fw, bw = L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode=None, name="bi")(decoded)
    gru_out, gru_h = L.GRU(2, return_state=True, name="gru")(L.Subtract()([fw, bw]))
    model = randomize(ember.Model(sequence, [output, h, c, gru_out, gru_h, L.Minimum()([fw, bw])]))
    proto = check_export(model, [images((6, 5))])
    assert [o.name for o in proto.graph.output][:3] == ["encoder_0", "encoder_1", "encoder_2"]


def test_shared_layers_store_their_weights_once():
    left, right = ember.Input(IMAGE, name="left"), ember.Input(IMAGE, name="right")
    conv, dense = L.Conv2D(4, 3, padding="same", name="conv"), L.Dense(2, name="dense")
    features = [dense(L.GlobalAveragePooling2D()(conv(x))) for x in (left, right)]
    model = randomize(ember.Model([left, right], L.Subtract()(features)))
    proto = check_export(model, [images(IMAGE), images(IMAGE, seed=2)])
    assert sorted(i.name for i in proto.graph.initializer) == ["conv/bias", "conv/kernel", "dense/bias",
                                                               "dense/kernel"]


def test_nested_models_export():
    block = ember.Sequential([ember.Input(IMAGE), L.Conv2D(4, 3, padding="same"), L.ReLU()], name="block")
    inner_in = ember.Input((9, 10, 4))
    two_heads = ember.Model(inner_in, [L.GlobalMaxPooling2D()(inner_in), L.Conv2D(2, 1)(inner_in)], name="heads")
    inputs = ember.Input(IMAGE, name="image")
    pooled, mapped = two_heads(block(inputs))
    outputs = L.Concatenate()([L.Dense(2)(L.Flatten()(mapped)), pooled])
    check_export(randomize(ember.Model(inputs, outputs)), [images(IMAGE)])


def test_model_file_loads_in_onnxruntime(tmp_path):
    model = sequential((6,), L.Dense(3))
    model.export(tmp_path / "dense.onnx", format="onnx")  # Keras' spelling works too
    with pytest.raises(ValueError, match="Expected 'onnx'"):
        model.export(tmp_path / "saved_model", format="tf_saved_model")
    session = ort.InferenceSession(str(tmp_path / "dense.onnx"), providers=["CPUExecutionProvider"])
    x = images((6,), batch=2)
    np.testing.assert_allclose(session.run(None, {"input": x})[0], model.predict_on_batch(x), rtol=TOLERANCE,
                               atol=TOLERANCE)


# -- what cannot be exported says so ----------------------------------------------------------------------------------
class Doubler(L.Layer):
    def call(self, inputs):
        return inputs * 2.0


class TwiceDense(L.Dense):
    def call(self, inputs):
        return super().call(inputs) * 2.0


@pytest.mark.parametrize("layer, cls", [(Doubler(name="doubler"), "Doubler"),
                                        (TwiceDense(3, name="twice"), "TwiceDense"),
                                        (L.Masking(name="masking"), "Masking")])
def test_layer_without_rule_is_named(layer, cls):
    model = ember.Sequential([ember.Input((4, 6)), layer])
    with pytest.raises(ember.onnx.ExportError, match=rf"layer '{layer.name}' \({cls}\) has no export rule"):
        ember.onnx.to_onnx(model)


def test_unsupported_settings_are_named():
    masked = ember.Sequential([ember.Input((5,)), L.Embedding(10, 3, mask_zero=True), L.LSTM(2, name="rnn")])
    with pytest.raises(ember.onnx.ExportError, match=r"layer 'rnn' \(LSTM\) receives a mask"):
        ember.onnx.to_onnx(masked)
    custom = ember.Sequential([ember.Input((4, 3)), L.LSTM(2, activation="elu", name="odd")])
    with pytest.raises(ember.onnx.ExportError, match=r"layer 'odd' \(LSTM\) uses the activation"):
        ember.onnx.to_onnx(custom)
    def cube(x):
        return x * x * x

    custom = ember.Sequential([ember.Input((3,)), L.Dense(2, activation=cube, name="cubic")])
    with pytest.raises(ember.onnx.ExportError, match=r"layer 'cubic' \(Dense\) uses the activation .*cube"):
        ember.onnx.to_onnx(custom)
    stateful = ember.Sequential([ember.Input((4, 3), batch_size=2), L.GRU(2, stateful=True, name="s")])
    with pytest.raises(ember.onnx.ExportError, match=r"layer 's' \(GRU\) is stateful"):
        ember.onnx.to_onnx(stateful)


def test_models_that_cannot_be_exported():
    with pytest.raises(ember.onnx.ExportError, match="is not built"):
        ember.onnx.to_onnx(ember.Sequential([L.Dense(2)]))

    class Custom(ember.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(ember.onnx.ExportError, match="subclassed Model"):
        ember.onnx.to_onnx(Custom())
    inputs = ember.Input((None, 3))
    with pytest.raises(ember.onnx.ExportError, match="only the batch axis may be unknown"):
        ember.onnx.to_onnx(ember.Model(inputs, L.Dense(2)(inputs)))


def test_missing_onnx_package_raises_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match="pip install onnx"):
        ember.onnx.to_onnx(sequential((3,), L.Dense(2)))


# -- the model zoo ----------------------------------------------------------------------------------------------------
def _zoo():
    try:
        from ember import applications
    except ImportError:
        return []
    names, seen = [], set()
    for name in getattr(applications, "__all__", []):
        model = getattr(applications, name)
        if name[:1].isupper() and id(model) not in seen:  # an alias (GoogLeNet = InceptionV1) is tested once
            seen.add(id(model))
            names.append(name)
    return names


def small_zoo_model(name):
    """The model at a small size: a small width knob and the smallest input it accepts among a few."""
    from ember import applications

    build = getattr(applications, name)
    params = inspect.signature(build).parameters
    kwargs = {"classes": 5} if "classes" in params else {}
    if "classifier_activation" in params:
        kwargs["classifier_activation"] = None  # logits: a softmax would hide differences in its small outputs
    for knob, value in (("width", 0.125), ("alpha", 0.25), ("width_multiplier", 0.125)):
        if knob in params:
            kwargs[knob] = value
    for size in (32, 48, 64, 96, 128, 224):
        try:
            return build(input_shape=(size, size, 3), **kwargs), (size, size, 3)
        except ValueError:
            continue
    pytest.fail(f"ember.applications.{name} accepted none of the input sizes tried")


@pytest.mark.parametrize("name", _zoo() or [pytest.param("none", marks=pytest.mark.skip(
    reason="ember.applications exports no models yet"))])
def test_zoo_model_exports_and_matches_ember(name):
    ember.manual_seed(0)
    model, shape = small_zoo_model(name)
    rng = np.random.default_rng(0)
    for w in model.weights:  # the initial statistics are trivial: make batch norm do something
        if w.name.endswith("moving_mean") or w.name.endswith("beta"):
            w._data = rng.normal(0, 0.1, size=w.shape).astype(w.dtype)
        elif w.name.endswith("moving_variance") or w.name.endswith("gamma"):
            w._data = rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype)
    check_export(model, [images(shape, batch=2)])
