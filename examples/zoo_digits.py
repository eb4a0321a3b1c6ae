"""Classics from ember.applications learn scikit-learn's handwritten digits: LeNet-5, a small ResNet18, a small
MobileNet and a small MobileNetV2, each on the 8x8 images upsampled to 32x32 (the zoo's smallest input; nothing is
downloaded).

    python examples/zoo_digits.py [--models lenet5 resnet18 mobilenet mobilenetv2] [--epochs N] [--samples N]

Prints, per model, its size, the held-out test accuracy, the training time and the training throughput.
"""
import argparse
import time

import numpy as np

import ember
from ember import applications, layers

UPSAMPLE = 4  # 8x8 -> 32x32


def make_lenet5(width=1.0):
    return applications.LeNet5(input_shape=(32, 32, 1), classes=10, width=width)  # width 1: 61,706 parameters


def make_resnet18(width=0.25):
    return applications.ResNet18(input_shape=(32, 32, 1), classes=10, width=width)  # 16-32-64-128 filters


def make_mobilenet(width=0.5):
    return applications.MobileNetV1(input_shape=(32, 32, 1), classes=10, alpha=width)


def make_mobilenetv2(width=0.5):  # at alpha 0.35 (8-channel bottlenecks) it learns the digits far more slowly
    return applications.MobileNetV2(input_shape=(32, 32, 1), classes=10, alpha=width)


MODELS = {"lenet5": make_lenet5, "resnet18": make_resnet18, "mobilenet": make_mobilenet,
          "mobilenetv2": make_mobilenetv2}
DEFAULT_MODELS = tuple(MODELS)
# (epochs, peak learning rate of the cosine decay) that reach the accuracies in the closing note (MobileNetV2 is
# unstable at 5e-3 on so few images)
SCHEDULES = {"lenet5": (30, 2e-3), "resnet18": (15, 5e-3), "mobilenet": (25, 5e-3), "mobilenetv2": (30, 2e-3)}


def load_digits(samples=None, seed=0):
    """The digits split 80/20 per class, upsampled by repeating pixels; `samples` keeps that many training images."""
    (x_train, y_train), (x_test, y_test) = ember.datasets.digits(test_size=0.2, seed=seed)
    if samples is not None:
        x_train, y_train = x_train[:samples], y_train[:samples]

    def upsample(x):
        return np.repeat(np.repeat(x, UPSAMPLE, axis=1), UPSAMPLE, axis=2)

    return (upsample(x_train), y_train), (upsample(x_test), y_test)


def with_shifts(model, shift=3 / 32):
    """The model behind a random shift of up to 3 pixels, active in training only: digits written off-centre."""
    inputs = ember.Input((32, 32, 1))
    shifted = layers.RandomTranslation(shift, shift, fill_mode="constant")(inputs)
    return ember.Model(inputs, model(shifted), name=model.name)


def quicker_batch_norm_statistics(model, momentum=0.9):
    """Keras' moving-average momentum (0.99; MobileNetV2's 0.999) is set for ImageNet's hundreds of thousands of
    steps; 1,438 images make 45 steps an epoch, so the moving statistics that evaluation uses need a shorter memory."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum


def train(name, data, epochs=None, width=None, batch_size=32, verbose=0):
    """Trains one model (for its SCHEDULES epochs and at its default width unless given); returns its parameter
    count, test accuracy, training seconds and images per second."""
    default_epochs, learning_rate = SCHEDULES[name]
    epochs = epochs or default_epochs
    (x_train, y_train), (x_test, y_test) = data
    network = MODELS[name]() if width is None else MODELS[name](width)
    quicker_batch_norm_statistics(network)
    model = with_shifts(network)
    steps = epochs * -(-len(x_train) // batch_size)
    model.compile(optimizer=ember.optimizers.Adam(ember.schedules.CosineDecay(learning_rate, decay_steps=steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"params": network.count_params(), "accuracy": accuracy, "seconds": seconds,
            "images_per_second": len(x_train) * epochs / seconds}


def main(models=DEFAULT_MODELS, epochs=None, samples=None, widths=None, verbose=0, seed=0):
    """Trains each of `models` (names from MODELS) for `epochs` (default: SCHEDULES per model) on `samples` training
    images (default: all 1,438), at `widths` ({name: width or alpha}, default: the makers'); returns
    {name: results}."""
    widths = widths or {}
    ember.utils.set_random_seed(seed)
    data = load_digits(samples, seed)
    print(f"ember {ember.__version__}, {ember.get_num_threads()} threads: digits upsampled to 32x32, "
          f"{len(data[0][0])} training and {len(data[1][0])} test images")
    results = {}
    for name in models:
        ember.utils.set_random_seed(seed)
        results[name] = r = train(name, data, epochs, widths.get(name), verbose=verbose)
        print(f"{name:12s} {r['params']:>9,} parameters | test accuracy {r['accuracy']:.4f} | training "
              f"{r['seconds']:.1f} s, {r['images_per_second']:,.0f} images/s", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(DEFAULT_MODELS))
    parser.add_argument("--epochs", type=int, default=None, help="for every model (default: each its own)")
    parser.add_argument("--samples", type=int, default=None, help="training images (default: all 1,438)")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    main(args.models, args.epochs, args.samples, verbose=args.verbose)
