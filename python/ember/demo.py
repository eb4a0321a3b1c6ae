"""The main job: a LeNet-5-style CNN learns scikit-learn's bundled 8x8 handwritten digits.

    python -m ember.demo [--epochs 40] [--batch-size 32] [--backend cpu|reference] [--device cpu|cuda] [--verbose 1]

Written the Keras way (Sequential, compile, fit, evaluate). Prints the progress of training, the held-out
test accuracy and the training speed in images per second.
"""
import argparse
import time

import ember
from ember import layers


def lenet5(num_classes=10):
    """LeNet-5's shape (two conv/pool stages, then 120-84-classes dense layers) sized for 8x8 images, after a
    random shift of up to one pixel (active in training only)."""
    return ember.Sequential([
        ember.Input((8, 8, 1)),
        layers.RandomTranslation(0.125, 0.125, fill_mode="constant"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dropout(0.25),
        layers.Dense(84, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ], name="lenet5")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", default=None, help="cpu (native kernels, the default) or reference (NumPy)")
    parser.add_argument("--device", default=None, help="cpu (the default) or cuda: where the model trains")
    parser.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress bar, 2 one line per epoch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.backend:
        ember.set_backend(args.backend)
    if args.device:
        ember.set_device(args.device)  # a GPU that cannot be used raises, saying why

    ember.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = ember.datasets.digits(test_size=0.2, seed=args.seed)
    model = lenet5()
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    learning_rate = ember.schedules.CosineDecay(2e-3, decay_steps=steps)
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    where = (f"device {ember.get_device()} ({ember.cuda.get_device_name()})" if ember.get_device() != "cpu" else
             f"backend '{ember.get_backend()}', {ember.get_num_threads()} threads")
    print(f"ember {ember.__version__}, {where}: "
          f"LeNet-5 on the digits, {len(x_train)} training and {len(x_test)} held-out test images")
    if args.verbose:
        model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) | training {seconds:.1f} s, "
          f"{len(x_train) * args.epochs / seconds:,.0f} images/s")
    return accuracy


if __name__ == "__main__":
    main()
