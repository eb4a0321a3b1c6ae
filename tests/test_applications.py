"""ember.applications: the zoo's models have the published sizes and Keras' shapes, small versions run and train,
the blocks do what they say, and bad arguments raise errors naming the model and the argument."""
import numpy as np
import pytest

import ember
from ember import applications as zoo


@pytest.fixture
def zero_weights(monkeypatch):
    """Weights built as np.zeros, which the OS maps lazily: a count or a shape needs no random draws, and VGG16's
    138M of them take 3 s to draw."""
    monkeypatch.setattr(ember.initializers, "get", lambda identifier: lambda shape, dtype="float32":
                        np.zeros(shape, dtype))


def trainable_count(model):
    return sum(w.size for w in model.trainable_weights)


def predict(model, input_shape, batch=2, seed=0):
    x = np.random.default_rng(seed).standard_normal((batch,) + tuple(input_shape)).astype("float32")
    with ember.no_grad():
        return np.asarray(model(x))


def trains_one_step(model, input_shape, classes):
    """One SGD step on a batch of four gives a finite loss and changes every trainable weight's tensor."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4,) + tuple(input_shape)).astype("float32")
    y = np.arange(4) % classes
    model.compile(optimizer=ember.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    return np.isfinite(loss) and np.mean(changed) > 0.9


# -- the published sizes -------------------------------------------------------------------------------------------
# (model, count, which count): Keras counts every weight (its "Total params", moving statistics included),
# torchvision the trainable ones (parameters(); running statistics are buffers)
PUBLISHED = [
    (zoo.VGG16, 138_357_544, "keras"), (zoo.ResNet50, 25_636_712, "keras"), (zoo.MobileNetV1, 4_253_864, "keras"),
    (zoo.MobileNetV2, 3_538_984, "keras"), (zoo.AlexNet, 61_100_840, "torchvision"),
    (zoo.VGG11, 132_863_336, "torchvision"), (zoo.ResNet18, 11_689_512, "torchvision"),
    (zoo.ResNet34, 21_797_672, "torchvision"), (zoo.InceptionV1, 6_624_904, "torchvision")]


@pytest.mark.parametrize("build, count, reference", PUBLISHED, ids=[p[0].__name__ for p in PUBLISHED])
def test_standard_size_has_the_published_parameter_count(zero_weights, build, count, reference):
    model = build()  # 224x224x3 images, 1000 classes
    assert (model.count_params() if reference == "keras" else trainable_count(model)) == count


def test_width_multipliers_give_keras_counts(zero_weights):
    # keras.applications (3.15) count_params() for the same arguments
    assert zoo.MobileNetV1(alpha=0.25).count_params() == 475_544
    assert zoo.MobileNetV2(alpha=0.35).count_params() == 1_691_208
    assert zoo.MobileNetV2(alpha=1.4).count_params() == 6_156_712


def test_keras_models_trainable_counts_are_keras_too(zero_weights):
    # Keras' summaries: trainable / non-trainable (the batch norms' moving mean and variance)
    assert trainable_count(zoo.ResNet50()) == 25_583_592
    assert trainable_count(zoo.MobileNetV1()) == 4_231_976
    assert trainable_count(zoo.MobileNetV2()) == 3_504_872


def test_lenet5_has_the_classic_61706_parameters():
    # conv 5x5x1x6 + 6, conv 5x5x6x16 + 16, dense 400x120 + 120, 120x84 + 84, 84x10 + 10
    assert zoo.LeNet5().count_params() == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_inception_v1_with_the_papers_5x5_branches(zero_weights):
    # torchvision's 3x3 "5x5" branch (pytorch/vision#906) plus, per block, 5x5 reduce * 5x5 * (25 - 9) weights
    extra = sum(reduce * filters * 16 for _, _, _, reduce, filters, _ in zoo.inception.BLOCKS.values())
    assert trainable_count(zoo.InceptionV1(large_kernel_size=5)) == 6_624_904 + extra == 7_005_832


# -- include_top=False: Keras' feature shapes ---------------------------------------------------------------------
FEATURES = [(zoo.VGG11, (7, 7, 512)), (zoo.VGG16, (7, 7, 512)), (zoo.AlexNet, (6, 6, 256)),
            (zoo.ResNet18, (7, 7, 512)), (zoo.ResNet34, (7, 7, 512)), (zoo.ResNet50, (7, 7, 2048)),
            (zoo.InceptionV1, (7, 7, 1024)), (zoo.MobileNetV1, (7, 7, 1024)), (zoo.MobileNetV2, (7, 7, 1280))]


@pytest.mark.parametrize("build, features", FEATURES, ids=[f[0].__name__ for f in FEATURES])
def test_without_top_gives_the_feature_map_or_its_pooling(zero_weights, build, features):
    assert build(include_top=False).compute_output_shape((None, 224, 224, 3)) == (None,) + features
    pooled = build(include_top=False, pooling="avg").compute_output_shape((None, 224, 224, 3))
    assert pooled == (None, features[-1])


def test_lenet5_without_top_gives_the_last_feature_map_or_its_pooling():
    assert zoo.LeNet5(include_top=False).compute_output_shape((None, 32, 32, 1)) == (None, 5, 5, 16)
    assert zoo.LeNet5(include_top=False, pooling="max").compute_output_shape((None, 32, 32, 1)) == (None, 16)



# -- small versions: a forward pass and a training step -------------------------------------------------------------
SMALL = [(zoo.LeNet5, {}, (32, 32, 1)), (zoo.LeNet5, {"input_shape": (28, 28, 1), "width": 0.5}, (28, 28, 1)),
         (zoo.AlexNet, {"width": 0.125}, (63, 63, 3)), (zoo.VGG11, {"width": 0.125}, (32, 32, 3)),
         (zoo.VGG16, {"width": 0.125}, (32, 32, 3)), (zoo.InceptionV1, {"width": 0.125}, (32, 32, 3)),
         (zoo.ResNet18, {"width": 0.25}, (32, 32, 3)), (zoo.ResNet34, {"width": 0.125}, (32, 32, 3)),
         (zoo.ResNet50, {"width": 0.125}, (32, 32, 3)), (zoo.MobileNetV1, {"alpha": 0.25}, (32, 32, 3)),
         (zoo.MobileNetV2, {"alpha": 0.35}, (32, 32, 3))]
SMALL_IDS = [f"{build.__name__}-{'x'.join(map(str, shape))}" for build, _, shape in SMALL]


def small(build, kwargs, input_shape, classes=5, **extra):
    kwargs = {"input_shape": input_shape, **kwargs, **extra}
    return build(classes=classes, **kwargs) if extra.get("include_top", True) else build(**kwargs)


@pytest.mark.parametrize("build, kwargs, input_shape", SMALL, ids=SMALL_IDS)
def test_small_version_predicts_a_distribution_over_its_classes(build, kwargs, input_shape):
    probabilities = predict(small(build, kwargs, input_shape), input_shape)
    assert probabilities.shape == (2, 5) and np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("build, kwargs, input_shape", SMALL, ids=SMALL_IDS)
def test_small_version_trains_one_step(build, kwargs, input_shape):
    assert trains_one_step(small(build, kwargs, input_shape), input_shape, 5)


@pytest.mark.parametrize("build, kwargs, input_shape", SMALL, ids=SMALL_IDS)
def test_small_version_without_top_pools_to_one_vector_per_image(build, kwargs, input_shape):
    model = small(build, kwargs, input_shape, include_top=False, pooling="max")
    features = predict(model, input_shape)
    assert features.ndim == 2 and features.shape[0] == 2


def test_classifier_activation_none_gives_logits():
    logits = predict(zoo.ResNet18(input_shape=(32, 32, 3), classes=4, width=0.25, classifier_activation=None),
                     (32, 32, 3))
    assert logits.shape == (2, 4) and not np.allclose(logits.sum(axis=1), 1)


def test_width_scales_the_channels_and_keras_rounding_the_mobilenets():
    assert zoo.VGG16(input_shape=(32, 32, 3), width=0.5).get_layer("block5_conv3").filters == 256
    assert zoo.ResNet50(input_shape=(32, 32, 3), width=0.25).get_layer("conv5_block3_3_conv").filters == 512
    assert zoo.MobileNetV1(input_shape=(32, 32, 3), alpha=0.5).get_layer("conv_pw_13").filters == 512
    v2 = zoo.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35)
    # Keras' MobileNetV2 rounds to multiples of 8 (32 * 0.35 = 11.2 -> 16) and keeps 1280 last channels below 1.0
    assert v2.get_layer("Conv1").filters == 16 and v2.get_layer("Conv_1").filters == 1280
    assert [zoo.mobilenet.make_divisible(v) for v in (11.2, 5.6, 22.4, 320 * 1.4, 36)] == [16, 8, 24, 448, 40]


def test_model_config_round_trips_to_the_same_architecture():
    model = zoo.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, classes=3)
    again = ember.Model.from_config(model.get_config())
    again.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(again.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)


# -- the public blocks ------------------------------------------------------------------------------------------------
def block_model(block, input_shape, *args, **kwargs):
    inputs = ember.Input(input_shape)
    return ember.Model(inputs, block(inputs, *args, **kwargs))


def zero_convolutions(model):
    """Every convolution's kernel set to zero: a residual block then passes its shortcut through."""
    for layer in model.layers:
        if isinstance(layer, (ember.layers.Conv2D, ember.layers.DepthwiseConv2D)):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def test_basic_block_with_silenced_convolutions_is_relu_of_its_input():
    model = block_model(zoo.basic_block, (8, 8, 4), 4, name="b")
    zero_convolutions(model)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), np.maximum(x, 0), atol=1e-6)


def test_residual_blocks_project_the_shortcut_only_where_the_shape_changes():
    same = block_model(zoo.basic_block, (8, 8, 4), 4, name="same")
    assert "same_0_conv" not in [l.name for l in same.layers]
    down = block_model(zoo.basic_block, (8, 8, 4), 6, strides=2, name="down")
    assert down.compute_output_shape((None, 8, 8, 4)) == (None, 4, 4, 6)
    assert down.get_layer("down_0_conv").strides == (2, 2)
    wide = block_model(zoo.bottleneck_block, (8, 8, 16), 4, name="wide")  # 4 -> 16 channels: identity
    assert "wide_0_conv" not in [l.name for l in wide.layers]
    assert wide.compute_output_shape((None, 8, 8, 16)) == (None, 8, 8, 16)


def test_bottleneck_block_expands_four_times_with_bias_as_keras():
    model = block_model(zoo.bottleneck_block, (8, 8, 8), 4, strides=2, name="b")
    assert model.compute_output_shape((None, 8, 8, 8)) == (None, 4, 4, 16)
    assert model.get_layer("b_1_conv").use_bias and model.get_layer("b_1_conv").strides == (2, 2)


def test_inception_block_concatenates_its_four_branches():
    model = block_model(zoo.inception_block, (9, 9, 5), (2, 3, 4, 1, 5, 6), name="i")
    assert model.compute_output_shape((None, 9, 9, 5)) == (None, 9, 9, 2 + 4 + 5 + 6)
    assert model.get_layer("i_5x5_conv").kernel_size == (5, 5)
    with pytest.raises(ValueError, match=r"^inception_block: Invalid value for argument `filters`"):
        block_model(zoo.inception_block, (9, 9, 5), (2, 3, 4))


def test_inverted_residual_block_adds_its_input_when_the_shape_allows():
    model = block_model(zoo.inverted_residual_block, (8, 8, 8), 8, name="r_")
    zero_convolutions(model)  # expansion, depthwise and projection silenced: the shortcut remains
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), x, atol=1e-6)
    assert model.get_layer("r_expand").filters == 48 and model.get_layer("r_expand_relu").max_value == 6
    down = block_model(zoo.inverted_residual_block, (8, 8, 8), 8, strides=2, name="d_")
    assert "d_add" not in [l.name for l in down.layers]
    assert down.compute_output_shape((None, 8, 8, 8)) == (None, 4, 4, 8)


def test_depthwise_separable_block_is_depthwise_then_pointwise_with_relu6():
    model = block_model(zoo.depthwise_separable_block, (8, 8, 3), 7, strides=2, name="s")
    assert model.compute_output_shape((None, 8, 8, 3)) == (None, 4, 4, 7)
    assert model.get_layer("conv_dw_s").get_weights()[0].shape == (3, 3, 3, 1)
    big = np.full((1, 8, 8, 3), 100.0, "float32")
    assert np.asarray(model.predict(big, verbose=0)).max() <= 6


# -- bad arguments --------------------------------------------------------------------------------------------------
MODELS = [zoo.LeNet5, zoo.AlexNet, zoo.VGG11, zoo.VGG16, zoo.InceptionV1, zoo.ResNet18, zoo.ResNet34, zoo.ResNet50,
          zoo.MobileNetV1, zoo.MobileNetV2]
BAD_COMMON = [({"weights": "imagenet"}, "weights"), ({"classes": 0}, "classes"), ({"classes": 2.5}, "classes"),
              ({"input_shape": (8, 8, 3)}, "input_shape"), ({"input_shape": (224, 224)}, "input_shape"),
              ({"input_shape": (None, None, 3)}, "input_shape"), ({"pooling": "avg"}, "pooling"),
              ({"pooling": "mean", "include_top": False}, "pooling"),
              ({"classifier_activation": "softmaxx"}, "classifier_activation")]


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
@pytest.mark.parametrize("kwargs, argument", BAD_COMMON, ids=[f"{a}={v[a]!r}" for v, a in BAD_COMMON])
def test_bad_argument_error_names_the_model_and_the_argument(build, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{build.__name__}: Invalid value for argument `{argument}`"):
        build(**kwargs)


@pytest.mark.parametrize("build, kwargs, argument", [
    (zoo.LeNet5, {"width": 0}, "width"), (zoo.VGG16, {"width": -1}, "width"), (zoo.ResNet50, {"width": "x"}, "width"),
    (zoo.InceptionV1, {"large_kernel_size": 7}, "large_kernel_size"), (zoo.AlexNet, {"dropout": 1.0}, "dropout"),
    (zoo.MobileNetV1, {"alpha": 0}, "alpha"), (zoo.MobileNetV1, {"depth_multiplier": 0}, "depth_multiplier"),
    (zoo.MobileNetV2, {"alpha": None}, "alpha"), (zoo.LeNet5, {"activation": "swoosh"}, "activation")])
def test_bad_size_knob_error_names_the_model_and_the_argument(build, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{build.__name__}: Invalid value for argument `{argument}`"):
        build(**kwargs)


def test_weights_error_says_nothing_is_downloaded():
    with pytest.raises(ValueError, match="downloads nothing.*Received: weights='imagenet'"):
        zoo.ResNet50(weights="imagenet")


# -- Keras as an optional oracle --------------------------------------------------------------------------------------
KERAS_TWINS = [("MobileNet", zoo.MobileNetV1, {"alpha": 0.25, "input_shape": (32, 32, 3), "classes": 10}),
               ("MobileNet", zoo.MobileNetV1, {"alpha": 0.25, "input_shape": (33, 47, 3), "include_top": False}),
               ("MobileNetV2", zoo.MobileNetV2, {"alpha": 0.35, "input_shape": (32, 32, 3), "classes": 10}),
               ("MobileNetV2", zoo.MobileNetV2, {"alpha": 0.35, "input_shape": (33, 47, 3), "include_top": False}),
               ("ResNet50", zoo.ResNet50, {"input_shape": (33, 47, 3), "classes": 10}),
               ("VGG16", zoo.VGG16, {"input_shape": (32, 32, 3), "include_top": False, "pooling": "avg"})]


@pytest.fixture(scope="module")
def keras():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras oracle runs on Keras' torch backend")
    return keras


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own, converting torch
@pytest.mark.parametrize("keras_name, build, kwargs", KERAS_TWINS,
                         ids=[f"{k}-{'x'.join(map(str, a['input_shape']))}" for k, _, a in KERAS_TWINS])
def test_keras_model_of_the_same_name_with_the_same_weights_predicts_the_same(keras, keras_name, build, kwargs):
    """Layer names are Keras', so weights copy over by name; random weights (moving variances positive) then give
    the same predictions, odd image sizes included (Keras' asymmetric padding before stride-2 convolutions)."""
    reference = getattr(keras.applications, keras_name)(weights=None, **kwargs)
    model = build(**kwargs)
    rng = np.random.default_rng(0)
    for layer in reference.layers:
        values = []
        for weight in layer.weights:
            shape = tuple(weight.shape)
            if "variance" in weight.path:
                values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
            else:  # scaled by fan-in so that activations stay of order one through fifty layers
                values.append((rng.standard_normal(shape) / np.sqrt(max(1, np.prod(shape[:-1])))).astype("float32"))
        if values:
            layer.set_weights(values)
            model.get_layer(layer.name).set_weights(values)
    assert model.count_params() == reference.count_params()
    x = rng.standard_normal((2,) + kwargs["input_shape"]).astype("float32")
    expected = np.asarray(reference.predict(x, verbose=0))
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
