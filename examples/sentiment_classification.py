"""Sentiment-style text classification: an Embedding + bidirectional LSTM reads variable-length "reviews".

The program makes its own corpus: reviews are sequences of word ids drawn from neutral words and a few
positive and negative words; a negation word flips the next sentiment word. The label is the sign of the
resulting score, so word order matters (a bag of words is not enough). Sequences are zero-padded and
Embedding(mask_zero=True) masks the padding through the recurrent layers.

    python examples/sentiment_classification.py [--epochs 8]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers

VOCAB, NEUTRAL, POSITIVE, NEGATIVE, NOT = 60, range(10, 60), (1, 2, 3, 4), (5, 6, 7, 8), 9


def make_reviews(n, max_len=20, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, max_len), "int64")
    y = np.zeros(n, "float32")
    for i in range(n):
        while True:
            length = rng.integers(5, max_len + 1)
            words = rng.choice(list(NEUTRAL), size=length)
            score = 0
            for position in rng.choice(length, size=rng.integers(1, 4), replace=False):
                sign = 1 if rng.random() < 0.5 else -1
                words[position] = rng.choice(POSITIVE if sign > 0 else NEGATIVE)
                if position > 0 and rng.random() < 0.3:
                    words[position - 1] = NOT
                    sign = -sign
                score += sign
            if score != 0:
                break
        x[i, :length] = words
        y[i] = float(score > 0)
    return x, y


def build_model(max_len=20):
    model = keras.Sequential([
        keras.Input(shape=(max_len,), dtype="int64"),
        layers.Embedding(VOCAB, 16, mask_zero=True),
        layers.Bidirectional(layers.LSTM(24)),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def main(epochs=8, samples=3000, verbose=1):
    keras.utils.set_random_seed(0)
    x, y = make_reviews(samples)
    x_test, y_test = make_reviews(500, seed=1)
    model = build_model()
    model.fit(x, y, batch_size=64, epochs=epochs, validation_split=0.1, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.3f} (loss {loss:.4f})")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    main(args.epochs)
