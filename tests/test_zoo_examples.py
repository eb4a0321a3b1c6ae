"""The zoo's example programs learn, at small settings (a few seconds each; the full runs reach LeNet-5 >= 98%,
ResNet18 and MobileNet >= 97% on the digits and VGG11 >= 90% on the shapes: figures in issue 8's closing note)."""
import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def zoo_digits():
    pytest.importorskip("sklearn")
    return load_example("zoo_digits")


# (model, training images, epochs, width or alpha, accuracy it must reach on the 359 test digits; chance is 0.1)
SMALL_RUNS = [("lenet5", 600, 4, 1.0, 0.8), ("resnet18", 400, 4, 0.125, 0.6), ("mobilenet", 600, 10, 0.25, 0.3)]


@pytest.mark.parametrize("name, samples, epochs, width, accuracy", SMALL_RUNS, ids=[r[0] for r in SMALL_RUNS])
def test_zoo_model_learns_the_digits_at_a_small_size(zoo_digits, capfd, name, samples, epochs, width, accuracy):
    results = zoo_digits.main(models=(name,), epochs=epochs, samples=samples, widths={name: width})
    assert results[name]["accuracy"] >= accuracy
    assert results[name]["images_per_second"] > 0
    assert "images/s" in capfd.readouterr().out.splitlines()[-1]


def test_digits_are_upsampled_to_the_zoos_32x32_by_repeating_pixels(zoo_digits):
    (x_train, y_train), (x_test, _) = zoo_digits.load_digits(samples=50)
    assert x_train.shape == (50, 32, 32, 1) and x_test.shape[1:] == (32, 32, 1) and len(y_train) == 50
    np.testing.assert_array_equal(x_train[:, ::4, ::4], x_train[:, 3::4, 3::4])  # 4x4 blocks of one value


def test_vgg_learns_to_name_the_generated_shapes():
    accuracy = load_example("vgg_shapes").main(epochs=8, samples=1000, width=0.0625)
    assert accuracy >= 0.9


def test_generated_shapes_are_balanced_and_drawn_as_named():
    shapes = load_example("vgg_shapes")
    images, labels = shapes.make_shapes(40, seed=3)
    assert images.shape == (40, 32, 32, 3) and images.min() >= 0 and images.max() <= 1
    assert np.bincount(labels).tolist() == [10, 10, 10, 10]
    dy, dx = np.mgrid[-10:11, -10:11]  # offsets from the centre; index 10 is the centre
    square, circle, triangle, cross = (shapes.shape_mask(kind, dy, dx, 8) for kind in shapes.SHAPES)
    assert all(mask[10, 10] for mask in (square, circle, triangle, cross))
    assert square[2, 2] and not circle[2, 2] and not cross[4, 4]  # only the square fills its corners
    assert triangle[18, 3] and not triangle[3, 7]  # wide at the base (below), narrow at the apex
