"""The classic Keras tutorial: a small convnet that tells two kinds of 64x64 RGB images apart.

Written exactly as for Keras; only the two import lines differ (`import ember as keras`,
`from ember import layers`). The images are made here (vertical vs horizontal bars on noise), so nothing
is downloaded.

    python examples/binary_image_classifier.py [--epochs 8] [--samples 600]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers


def make_images(n, size=64, seed=0):
    """Half with a bright vertical bar, half with a horizontal one, at random places, widths and colours, on
    noisy backgrounds: a question of orientation, which is what convolutions see first."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.5, (n, size, size, 3)).astype("float32")
    labels = np.arange(n) % 2
    for i in range(n):
        length, width = rng.integers(24, 48), rng.integers(4, 9)
        top, left = rng.integers(0, size - length), rng.integers(0, size - width)
        colour = rng.uniform(0.4, 0.5, 3).astype("float32")
        if labels[i]:
            images[i, left:left + width, top:top + length] += colour
        else:
            images[i, top:top + length, left:left + width] += colour
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


def main(epochs=8, samples=600, verbose=1):
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
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args()
    main(args.epochs, args.samples)
