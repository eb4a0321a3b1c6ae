"""The classic Keras tutorial: a small convnet that tells two kinds of 64x64 RGB images apart.

Written exactly as for Keras; only the two import lines differ (`import ember as keras`,
`from ember import layers`). The images are made here (discs vs squares on noise), so nothing is downloaded.

    python examples/binary_image_classifier.py [--epochs 4] [--samples 600]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers


def make_images(n, size=64, seed=0):
    """Half bright discs, half bright squares, at random places and sizes, on noisy coloured backgrounds."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.uniform(0.0, 0.4, (n, size, size, 3)).astype("float32")
    labels = np.arange(n) % 2
    for i in range(n):
        r = rng.uniform(6, 14)
        cy, cx = rng.uniform(r, size - r, 2)
        if labels[i]:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            mask = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
        images[i][mask] += rng.uniform(0.5, 0.6, 3).astype("float32")
    order = rng.permutation(n)
    return np.clip(images[order], 0, 1), labels[order].astype("float32")


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(64, 64, 3)),
        layers.Conv2D(16, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(epochs=4, samples=600, verbose=1):
    keras.utils.set_random_seed(0)
    x, y = make_images(samples)
    x_test, y_test = make_images(200, seed=1)
    model = build_model()
    if verbose:
        model.summary()
    history = model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.2, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.3f}")
    return history, accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args()
    main(args.epochs, args.samples)
