"""A sequence-to-sequence encoder-decoder with attention learns to reverse sequences of digits.

The encoder LSTM reads the digits; the decoder LSTM starts from the encoder's final states and, at each step,
attends (Luong dot-product attention) over all encoder outputs. Trained with teacher forcing; decoded
greedily one token at a time. Reports the share of test sequences reversed exactly.

    python examples/seq2seq_reverse.py [--length 6] [--epochs 25]
"""
import argparse

import numpy as np

import ember as keras
from ember import layers

START = 10  # token 0-9 are digits; the decoder's first input is START
VOCAB = 11


def make_pairs(n, length, seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(0, 10, size=(n, length))
    target = source[:, ::-1]
    decoder_input = np.concatenate([np.full((n, 1), START), target[:, :-1]], axis=1)
    return source.astype("int64"), decoder_input.astype("int64"), target.astype("int64")


def build_model(units=64):
    encoder_tokens = keras.Input(shape=(None,), dtype="int64")
    decoder_tokens = keras.Input(shape=(None,), dtype="int64")
    embed = layers.Embedding(VOCAB, 16)
    encoder_outputs, h, c = layers.LSTM(units, return_sequences=True, return_state=True)(embed(encoder_tokens))
    decoder_outputs = layers.LSTM(units, return_sequences=True)(embed(decoder_tokens), initial_state=[h, c])
    context = layers.Attention()([decoder_outputs, encoder_outputs])
    merged = layers.Concatenate()([decoder_outputs, context])
    probabilities = layers.Dense(VOCAB, activation="softmax")(merged)
    model = keras.Model([encoder_tokens, decoder_tokens], probabilities)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def greedy_decode(model, source):
    """Feed the decoder its own predictions: START, then each argmax so far."""
    n, length = source.shape
    decoded = np.full((n, 1), START, "int64")
    for _ in range(length):
        probabilities = model.predict([source, decoded], verbose=0, batch_size=256)
        decoded = np.concatenate([decoded, probabilities[:, -1:].argmax(-1)], axis=1)
    return decoded[:, 1:]


def main(length=6, epochs=25, samples=4000, verbose=1):
    keras.utils.set_random_seed(0)
    source, decoder_input, target = make_pairs(samples, length)
    model = build_model()
    model.fit([source, decoder_input], target, batch_size=64, epochs=epochs, validation_split=0.1, verbose=verbose)
    test_source, _, test_target = make_pairs(500, length, seed=1)
    predicted = greedy_decode(model, test_source)
    accuracy = float(np.mean(np.all(predicted == test_target, axis=1)))
    print(f"sequences of {length} digits reversed exactly: {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=25)
    args = parser.parse_args()
    main(args.length, args.epochs)
