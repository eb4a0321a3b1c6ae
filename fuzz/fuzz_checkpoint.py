#!/usr/bin/env python3
"""Fuzz the checkpoint reader (ember.saving): any bytes must load or raise CheckpointError, nothing else.

An input's first byte picks how the rest is read:
  even   the rest is a whole file, as on disk
  odd    the rest is "header JSON \\0 data": the harness writes the 8-byte header length itself, so that
         mutations of the JSON reach the validation instead of breaking the length
A file that loads and says it is an ember model is also rebuilt into a model (config, build, set_weights).
Run (see fuzz/README.md):

    python fuzz/fuzz_checkpoint.py -dict=fuzz/checkpoint.dict -atheris_runs=1000000 fuzz/corpus/checkpoint
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def as_file(data):
    if not data:
        return b""
    body = data[1:]
    if data[0] % 2 == 0:
        return body
    header, _, payload = body.partition(b"\0")
    return struct.pack("<Q", len(header)) + header + payload


def test_one_input(data, saving=None):
    saving = saving or _saving()
    try:
        tensors, metadata = saving.load_bytes(as_file(data), "fuzz-input")
        if metadata.get("format") == saving.FORMAT:
            saving._model_from_payload("fuzz-input", tensors, metadata)
    except saving.CheckpointError:
        pass


def _saving():
    from ember import saving

    return saving


def main():
    import atheris
    from instrument import instrument_modules

    saving = _saving()
    instrument_modules(atheris, ["ember"])  # coverage of the reader and of the model rebuild
    atheris.Setup(sys.argv, lambda data: test_one_input(data, saving))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
