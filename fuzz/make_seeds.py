"""(Re)write the named seeds of the corpus kept in the repo: fuzz/corpus/checkpoint and fuzz/corpus/bindings.

    python fuzz/make_seeds.py

Deterministic: the same files every time. Checkpoint seeds are good files (every dtype, a weights file, model
files of a dense net, a CNN and an LSTM) in both of the harness's input modes, and every bad file of
bad_checkpoints.py. Binding seeds pick each entry point with a few different tails of choices.
"""
import os
import random
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bad_checkpoints  # noqa: E402
import fuzz_bindings  # noqa: E402

RAW, STRUCTURED = b"\x00", b"\x01"  # fuzz_checkpoint.py's mode byte
MARKER = "/tmp/ember-fuzz-a-loader-ran-a-payload"  # what the hostile seeds would create if anything ran them


def structured(file_bytes):
    """The harness's odd mode: header JSON, a 0 byte, then the data (the harness writes the length)."""
    (n,) = struct.unpack("<Q", file_bytes[:8])
    return STRUCTURED + file_bytes[8:8 + n] + b"\0" + file_bytes[8 + n:]


def good_files():
    import ember
    from ember import layers, saving

    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        def saved(save, name):
            path = os.path.join(tmp, name)
            save(path)
            with open(path, "rb") as f:
                return f.read()

        arrays = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3), "f64": np.linspace(-1, 1, 3),
                  "f16": np.ones(2, np.float16), "i64": np.arange(2, dtype=np.int64), "i8": np.arange(3, dtype=np.int8),
                  "u8": np.arange(4, dtype=np.uint8), "bool": np.array([True, False]), "empty": np.zeros((0, 2)),
                  "scalar": np.array(1.5, np.float32)}
        files["all_dtypes"] = saved(lambda p: saving.save_file(arrays, p, {"note": "seed"}), "a")
        bits = (np.array([1.5, -2.0], np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        files["bf16"] = bad_checkpoints.safetensors({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}},
                                                    bits)
        files["empty_header"] = bad_checkpoints.safetensors({})
        ember.manual_seed(0)
        dense = ember.Sequential([ember.Input((3,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
        files["weights_dense"] = saved(lambda p: saving.save_weights(dense, p), "w")
        files["model_dense"] = saved(lambda p: saving.save_model(dense, p), "m1")
        cnn = ember.Sequential([ember.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.MaxPooling2D(2),
                                layers.Flatten(), layers.Dense(2)])
        files["model_cnn"] = saved(lambda p: saving.save_model(cnn, p), "m2")
        rnn = ember.Sequential([ember.Input((4, 2)), layers.LSTM(3), layers.Dense(1)])
        files["model_lstm"] = saved(lambda p: saving.save_model(rnn, p), "m3")
        inputs = ember.Input((3,))
        functional = ember.Model(inputs, layers.Add()([layers.Dense(2)(inputs), layers.Dense(2)(inputs)]))
        files["model_functional"] = saved(lambda p: saving.save_model(functional, p), "m4")
    return files


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    corpus = os.path.join(HERE, "corpus")
    checkpoint, bindings = os.path.join(corpus, "checkpoint"), os.path.join(corpus, "bindings")
    for directory in (checkpoint, bindings):  # files merged in from fuzzer runs (named by hash) are kept
        os.makedirs(directory, exist_ok=True)
    for name, data in good_files().items():
        write(checkpoint, f"good_{name}", RAW + data)
        write(checkpoint, f"good_{name}_structured", structured(data))
    for name, (data, _) in bad_checkpoints.build_cases(MARKER).items():
        if len(data) <= 64 * 1024:  # small files only (the deep-nesting case is 400 KB; the test builds it)
            write(checkpoint, f"bad_{name}", RAW + data)
    for i, name in enumerate(fuzz_bindings.NAMES):
        rng = random.Random(i)
        for j in range(4):
            tail = bytes(rng.getrandbits(8) for _ in range(96)) if j else b""
            write(bindings, f"{name}_{j}", bytes([i]) + tail)
    for directory in (checkpoint, bindings):
        print(f"{directory}: {len(os.listdir(directory))} files")


if __name__ == "__main__":
    main()
