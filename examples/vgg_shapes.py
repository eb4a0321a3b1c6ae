"""A VGG-style network (ember.applications.VGG11, narrowed) learns to name the shape in a picture: square, circle,
triangle or cross, drawn here at random places, sizes and colours on noise (nothing is downloaded).

    python examples/vgg_shapes.py [--epochs 6] [--samples 2000] [--width 0.125]

Prints the test accuracy, the training time and the training throughput.
"""
import argparse
import time

import numpy as np

import ember
from ember import applications

SHAPES = ("square", "circle", "triangle", "cross")
SIZE = 32


def shape_mask(kind, dy, dx, r):
    """Pixels inside a filled shape of half-size r, given each pixel's offset (dy, dx) from the shape's centre."""
    if kind == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if kind == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if kind == "triangle":  # apex up: as wide as its height at the base
        return (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
    arm = max(r / 3, 1)  # the cross: two bars
    return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))


def make_shapes(n, seed=0):
    """n RGB images (n, 32, 32, 3) in [0, 1] and their labels (index in SHAPES), the classes in turn."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.4, (n, SIZE, SIZE, 3)).astype("float32")
    labels = np.arange(n) % len(SHAPES)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    for i, label in enumerate(labels):
        r = rng.uniform(5, 10)
        cy, cx = rng.uniform(r + 1, SIZE - r - 2, 2)
        mask = shape_mask(SHAPES[label], rows - cy, cols - cx, r)
        images[i][mask] = rng.uniform(0.5, 1.0, 3)
    order = rng.permutation(n)
    return images[order], labels[order]


def main(epochs=6, samples=2000, width=0.125, batch_size=32, verbose=0, seed=0):
    """Trains VGG11 at `width` on `samples` generated images; returns the accuracy on 1,000 new ones."""
    ember.utils.set_random_seed(seed)
    x_train, y_train = make_shapes(samples, seed)
    x_test, y_test = make_shapes(1000, seed + 1)
    # standardized with the training images' statistics: VGG has no batch norm, and on raw [0, 1] pixels (all
    # positive, mean 0.3) its ten ReLU layers start too far off balance to leave chance level
    mean, std = x_train.mean(axis=(0, 1, 2)), x_train.std(axis=(0, 1, 2))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = applications.VGG11(input_shape=(SIZE, SIZE, 3), classes=len(SHAPES), width=width)
    steps = epochs * -(-samples // batch_size)
    model.compile(optimizer=ember.optimizers.Adam(ember.schedules.CosineDecay(1e-3, decay_steps=steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"VGG11 at width {width}: {model.count_params():,} parameters, {samples} training images of "
          f"{', '.join(SHAPES)}")
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f} | training {seconds:.1f} s, {samples * epochs / seconds:,.0f} images/s")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.samples, args.width, verbose=args.verbose)
