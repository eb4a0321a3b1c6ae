"""A character-level language model: a GRU learns a short bundled text and continues it from a prompt.

    python examples/char_language_model.py [--epochs 30] [--prompt "the river"]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers

TEXT = (
    "the river runs past the old mill and under the stone bridge. in spring the water is high and fast, "
    "in summer it is slow and green. the miller keeps his wheel turning all year, and the children of the "
    "village watch the boats go down to the sea. at night the lamps on the bridge shine on the water, and "
    "the river carries their light away to the town below the hill."
)


def vocabulary(text):
    chars = sorted(set(text))
    return {c: i for i, c in enumerate(chars)}, chars


def training_windows(text, index, width=32, stride=3):
    """Inputs of `width` characters and, at every position, the character that follows (as Keras tutorials)."""
    ids = np.array([index[c] for c in text], "int64")
    starts = range(0, len(ids) - width - 1, stride)
    x = np.stack([ids[s:s + width] for s in starts])
    y = np.stack([ids[s + 1:s + width + 1] for s in starts])
    return x, y


def build_model(vocab_size, units=128):
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int64"),
        layers.Embedding(vocab_size, 24),
        layers.GRU(units, return_sequences=True),
        layers.Dense(vocab_size, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy")
    return model


def continue_text(model, prompt, length, index, chars):
    """Greedy decoding: feed the text so far, append the most likely next character."""
    ids = [index[c] for c in prompt]
    for _ in range(length):
        probabilities = model.predict(np.array([ids], "int64"), verbose=0)[0, -1]
        ids.append(int(np.argmax(probabilities)))
    return "".join(chars[i] for i in ids)


def main(epochs=30, prompt="the miller keeps", length=40, verbose=1):
    keras.utils.set_random_seed(0)
    index, chars = vocabulary(TEXT)
    x, y = training_windows(TEXT, index)
    model = build_model(len(chars))
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=verbose)
    text = continue_text(model, prompt, length, index, chars)
    print(f"loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}\n{text!r}")
    return history, text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--prompt", default="the miller keeps")
    args = parser.parse_args()
    main(args.epochs, args.prompt)
