"""Augmentation layers: identity at inference, the transform in training, repeatable, gradients, configs."""
import numpy as np
import pytest

import ember
from ember.layers import (GaussianNoise, Layer, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
                          RandomZoom)
from ember.models.model import deserialize_layer, serialize_layer


def images(batch=4, height=6, width=7, channels=2, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, height, width, channels)).astype(np.float32)


def run(layer, x, training=True):
    with ember.no_grad():
        return np.asarray(layer(x, training=training))


LAYERS = {
    "flip": lambda seed=None: RandomFlip(seed=seed),
    "translation": lambda seed=None: RandomTranslation(0.3, 0.3, seed=seed),
    "rotation": lambda seed=None: RandomRotation(0.2, seed=seed),
    "zoom": lambda seed=None: RandomZoom(0.3, seed=seed),
    "crop": lambda seed=None: RandomCrop(4, 5, seed=seed),
    "noise": lambda seed=None: GaussianNoise(0.5, seed=seed),
}
SAME_SHAPE = [k for k in LAYERS if k != "crop"]


@pytest.mark.parametrize("kind", SAME_SHAPE)
@pytest.mark.parametrize("training", [None, False])
def test_identity_at_inference(kind, training):
    x = images()
    np.testing.assert_array_equal(run(LAYERS[kind](), x, training), x)


@pytest.mark.parametrize("kind", SAME_SHAPE)
def test_training_changes_the_images_and_keeps_the_shape(kind):
    x = images(batch=16)
    out = run(LAYERS[kind](seed=1), x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.array_equal(out, x)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_repeatable_with_ember_manual_seed(kind):
    x = images()
    ember.manual_seed(5)
    a = run(LAYERS[kind](), x)
    ember.manual_seed(5)
    b = run(LAYERS[kind](), x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_seeded_layers_repeat_and_do_not_touch_embers_generator(kind):
    x = images()
    ember.manual_seed(0)
    before = ember.random.generator().bit_generator.state
    np.testing.assert_array_equal(run(LAYERS[kind](seed=3), x), run(LAYERS[kind](seed=3), x))
    assert ember.random.generator().bit_generator.state == before


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_gradient_reaches_the_input(kind):
    x = ember.tensor(images(), requires_grad=True)
    out = LAYERS[kind](seed=2)(x, training=True)
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert np.asarray(x.grad).sum() > 0


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_config_round_trip(kind):
    layer = LAYERS[kind](seed=9)
    clone = deserialize_layer(serialize_layer(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    x = images()
    np.testing.assert_array_equal(run(clone, x), run(LAYERS[kind](seed=9), x))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_unbatched_image(kind):
    x = images(batch=1)
    out = run(LAYERS[kind](seed=4), x[0])
    np.testing.assert_array_equal(out, run(LAYERS[kind](seed=4), x)[0])


# -- what each transform does ---------------------------------------------------------------------------------------
def test_horizontal_flip_reverses_columns_of_the_flipped_images():
    x = images(batch=32)
    out = run(RandomFlip("horizontal", seed=0), x)
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 32


def test_vertical_flip_reverses_rows():
    x = images(batch=32)
    out = run(RandomFlip("vertical", seed=0), x)
    flipped = [np.array_equal(o, i[::-1]) for o, i in zip(out, x)]
    assert all(f or np.array_equal(o, i) for f, o, i in zip(flipped, out, x)) and 0 < sum(flipped) < 32


def test_flip_both_ways_produces_all_four_orientations():
    x = images(batch=64)
    out = run(RandomFlip("horizontal_and_vertical", seed=0), x)
    kinds = set()
    for o, i in zip(out, x):
        for name, view in (("none", i), ("h", i[:, ::-1]), ("v", i[::-1]), ("hv", i[::-1, ::-1])):
            if np.array_equal(o, view):
                kinds.add(name)
    assert kinds == {"none", "h", "v", "hv"}


def test_translation_shifts_by_whole_pixels_with_constant_fill():
    x = images(batch=1, height=5, width=5)
    out = run(RandomTranslation((0.2, 0.2), (-0.4, -0.4), fill_mode="constant", fill_value=-7.0), x)
    # one row down, two columns left
    np.testing.assert_array_equal(out[0, 1:, :3], x[0, :4, 2:])
    assert (out[0, 0] == -7.0).all() and (out[0, :, 3:] == -7.0).all()


@pytest.mark.parametrize("mode, expected_row", [("nearest", [0, 0, 0, 0, 1]), ("reflect", [2, 1, 0, 0, 1]),
                                                ("wrap", [2, 3, 4, 0, 1])])
def test_translation_fill_modes(mode, expected_row):
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    out = run(RandomTranslation(0.0, (0.6, 0.6), fill_mode=mode), x)  # three pixels right
    np.testing.assert_array_equal(out[0, 0, :, 0], expected_row)


def test_rotation_by_a_quarter_turn_is_counter_clockwise():
    x = images(batch=1, height=5, width=5)
    out = run(RandomRotation((0.25, 0.25), interpolation="nearest"), x)
    np.testing.assert_array_equal(out[0], np.rot90(x[0], k=1, axes=(0, 1)))
    bilinear = run(RandomRotation((0.25, 0.25)), x)
    np.testing.assert_allclose(bilinear[0], np.rot90(x[0], k=1, axes=(0, 1)), atol=1e-5)


def test_zoom_out_fills_the_border_and_keeps_the_center():
    x = np.ones((1, 9, 9, 1), np.float32)
    out = run(RandomZoom((1.0, 1.0), fill_mode="constant", interpolation="nearest"), x)  # zoom 2: half size
    assert out[0, 4, 4, 0] == 1.0 and out[0, 0, 0, 0] == 0.0


def test_crop_is_a_window_in_training_and_the_center_at_inference():
    x = images(batch=8, height=6, width=7)
    out = run(RandomCrop(4, 5, seed=0), x)
    assert out.shape == (8, 4, 5, 2)
    for o, i in zip(out, x):
        assert any(np.array_equal(o, i[t:t + 4, l:l + 5]) for t in range(3) for l in range(3))
    np.testing.assert_array_equal(run(RandomCrop(4, 5), x, training=False), x[:, 1:5, 1:6])


def test_crop_larger_than_the_image_is_an_error():
    with pytest.raises(ValueError, match="cannot crop 8x8 from images of 6x7"):
        run(RandomCrop(8, 8), images())


def test_noise_has_the_requested_spread_and_identity_gradient():
    x = ember.tensor(np.zeros((64, 8, 8, 1), np.float32), requires_grad=True)
    out = GaussianNoise(0.5, seed=0)(x, training=True)
    assert abs(float(np.std(np.asarray(out))) - 0.5) < 0.02
    (out * 3.0).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.full(x.shape, 3.0, np.float32))


def test_channels_first_matches_channels_last():
    x = images()
    last = run(RandomRotation(0.2, seed=1), x)
    first = run(RandomRotation(0.2, seed=1, data_format="channels_first"), x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first.transpose(0, 2, 3, 1), last, rtol=1e-6)


def test_in_a_sequential_model_only_fit_time_calls_augment():
    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((6, 7, 2)), RandomFlip(), RandomTranslation(0.2, 0.2), GaussianNoise(1.0)])
    x = images()
    np.testing.assert_array_equal(run(model, x, training=False), x)
    assert not np.array_equal(run(model, x, training=True), x)


# -- argument validation (Keras's message form) ---------------------------------------------------------------------
@pytest.mark.parametrize("make, argument", [
    (lambda: RandomFlip("diagonal"), "mode"),
    (lambda: RandomFlip(seed=-1), "seed"),
    (lambda: RandomFlip(seed=1.5), "seed"),
    (lambda: RandomFlip(data_format="nchw"), "data_format"),
    (lambda: RandomTranslation(1.5, 0.1), "height_factor"),
    (lambda: RandomTranslation(0.1, (0.3, 0.1)), "width_factor"),
    (lambda: RandomTranslation(0.1, "big"), "width_factor"),
    (lambda: RandomTranslation(0.1, 0.1, fill_mode="mirror"), "fill_mode"),
    (lambda: RandomTranslation(0.1, 0.1, fill_value="zero"), "fill_value"),
    (lambda: RandomRotation((0.1, 0.2, 0.3)), "factor"),
    (lambda: RandomRotation(0.1, interpolation="cubic"), "interpolation"),
    (lambda: RandomZoom((-1.0, 0.0)), "height_factor"),
    (lambda: RandomCrop(0, 4), "height"),
    (lambda: RandomCrop(4, 2.0), "width"),
    (lambda: GaussianNoise(-0.1), "stddev"),
])
def test_bad_arguments_raise_keras_style_errors(make, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        make()


def test_wrong_rank_input_is_rejected():
    with pytest.raises(ValueError, match="expected ndim=4"):
        RandomFlip()(np.zeros((3, 4), np.float32), training=True)


def test_augmentation_layers_are_layers():
    assert all(isinstance(make(), Layer) for make in LAYERS.values())
