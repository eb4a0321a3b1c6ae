"""ember.applications: the zoo's models have the published sizes, the shapes Keras gives, train, and refuse bad
arguments with errors naming the model and the argument."""
import numpy as np
import pytest

import ember
from ember import applications


def output_shape(model, input_shape):
    """The model's output shape for a batch of two zero images."""
    with ember.no_grad():
        return tuple(model(np.zeros((2,) + tuple(input_shape), "float32")).shape)


def trains_one_step(model, input_shape, classes):
    """One SGD step on a batch of four changes the weights and gives a finite loss."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4,) + tuple(input_shape)).astype("float32")
    y = np.arange(4) % classes
    model.compile(optimizer=ember.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    after = model.get_weights()
    return np.isfinite(loss) and any(not np.array_equal(b, a) for b, a in zip(before, after))


# -- LeNet-5 -----------------------------------------------------------------------------------------------------
def test_lenet5_has_the_classic_61706_parameters():
    # conv 5x5x1x6 + 6, conv 5x5x6x16 + 16, dense 400x120 + 120, 120x84 + 84, 84x10 + 10
    assert applications.LeNet5().count_params() == 156 + 2416 + 48120 + 10164 + 850 == 61706


def test_lenet5_classifies_32x32_grey_images_into_its_classes():
    model = applications.LeNet5(classes=7)
    assert output_shape(model, (32, 32, 1)) == (2, 7)


def test_lenet5_without_top_gives_the_last_feature_map_or_its_pooling():
    assert output_shape(applications.LeNet5(include_top=False), (32, 32, 1)) == (2, 5, 5, 16)
    assert output_shape(applications.LeNet5(include_top=False, pooling="max"), (32, 32, 1)) == (2, 16)


def test_lenet5_reads_28x28_mnist_images_and_scales_with_width():
    model = applications.LeNet5(input_shape=(28, 28, 1), width=2.0)
    assert output_shape(model, (28, 28, 1)) == (2, 10)
    assert model.get_layer("conv1").filters == 12 and model.get_layer("fc2").units == 168


def test_lenet5_trains_one_step():
    assert trains_one_step(applications.LeNet5(), (32, 32, 1), 10)


@pytest.mark.parametrize("kwargs, argument", [
    ({"weights": "imagenet"}, "weights"), ({"classes": 0}, "classes"), ({"input_shape": (8, 8, 1)}, "input_shape"),
    ({"input_shape": (32, 32)}, "input_shape"), ({"pooling": "mean", "include_top": False}, "pooling"),
    ({"pooling": "avg"}, "pooling"), ({"width": 0}, "width"), ({"activation": "swish"}, "activation")])
def test_lenet5_refuses_bad_arguments_naming_itself_and_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^LeNet5: Invalid value for argument `{argument}`"):
        applications.LeNet5(**kwargs)
