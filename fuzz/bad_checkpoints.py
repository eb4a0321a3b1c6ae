"""A corpus of bad checkpoint files, each with the words its CheckpointError must contain.

Used by tests/test_checkpoint_safety.py (every case must raise CheckpointError with that message and run nothing)
and by fuzz/make_seeds.py (every case is a seed of the checkpoint fuzzer). `build_cases(marker)` returns
{name: (file bytes, expected message)}; `marker` is the path that the hostile payloads (pickles) would create if
anything ever ran them.
"""
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np


FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip members' timestamp: the same bytes on every run


def safetensors(header, data=b"", length=None):
    """A file from a header (dict, or raw JSON bytes) and a data buffer; `length` overrides the header length."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def one(dtype="F32", shape=(2,), offsets=(0, 8), data=b"\0" * 8, **extra):
    entry = {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple) else shape,
             "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets}
    entry.update(extra)
    return safetensors({"w": entry}, data)


class _Executes:
    """Unpickling this runs os.mkdir(marker): the proof that a loader ran a payload."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def pickle_payload(marker, protocol=4):
    return pickle.dumps(_Executes(marker), protocol=protocol)


def zip_bomb(inner_bytes=1 << 20):
    """An .npz whose one member inflates from ~1/1000 of its size to `inner_bytes` of zeros."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "|u1", "fortran_order": False, "shape": (inner_bytes,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        member_info = zipfile.ZipInfo("bomb.npy", date_time=FIXED_TIME)
        member_info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(member_info, "w", force_zip64=True) as member:
            member.write(npy.getvalue())
            chunk = b"\0" * (1 << 20)
            for start in range(0, inner_bytes, len(chunk)):
                member.write(chunk[:inner_bytes - start])
    return buffer.getvalue()


def torch_style_zip(marker):
    """A PyTorch-style checkpoint: a zip holding a pickle (data.pkl) that would run a payload."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("archive/data.pkl", date_time=FIXED_TIME), pickle_payload(marker, protocol=2))
    return buffer.getvalue()


def npy_with_objects(marker):
    npy = io.BytesIO()
    np.save(npy, np.array([_Executes(marker)], dtype=object), allow_pickle=True)
    return npy.getvalue()


def model_file(metadata, tensors=None):
    """An ember model file with the given metadata (format and version filled in unless given)."""
    tensors = tensors or {}
    header, data, offset = {}, b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    header["__metadata__"] = dict({"format": "ember", "version": "1"}, **metadata)
    return safetensors(header, data)


def dense_config(**changes):
    layer = {"class_name": "Dense", "config": dict({"name": "d", "units": 2}, **changes)}
    return json.dumps({"name": "m", "layers": [layer], "input_shape": [3]})


def build_cases(marker):
    marker = os.fspath(marker)
    good = one()
    cases = {
        # length and framing
        "empty": (b"", "too short"),
        "seven_bytes": (b"\x10\0\0\0\0\0\0", "too short"),
        "truncated_header": (safetensors(b'{"w": {"dtype": "F32"}}', length=200), "runs past the end"),
        "truncated_data": (good[:-3], "truncated"),
        "trailing_bytes": (good + b"\0" * 8, "trailing bytes"),
        "oversized_header_length": (struct.pack("<Q", 2 ** 40) + b"{}", "exceeds the"),
        "header_length_2_64_minus_1": (b"\xff" * 8 + b"{}", "exceeds the"),
        "header_length_zero": (struct.pack("<Q", 0), "not a JSON object"),
        # offsets
        "overlapping_offsets": (safetensors({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                                            b"\0" * 12), "overlaps the previous tensor"),
        "offsets_out_of_range": (one(offsets=(0, 8), data=b"\0" * 4), "truncated"),
        "offsets_far_out_of_range": (one(shape=(2 ** 40,), offsets=(0, 2 ** 42)), "truncated"),
        "offsets_gap": (safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
                        "leaves a gap"),
        "offsets_reversed": (one(offsets=(8, 0)), "begin <= end"),
        "offsets_negative": (one(offsets=(-8, 0)), "begin <= end"),
        "offsets_floats": (one(offsets=[0.0, 8.0]), "two integers"),
        "offsets_three": (one(offsets=[0, 4, 8]), "two integers"),
        "offsets_past_2_64": (one(offsets=[2 ** 64, 2 ** 64 + 8]), "leaves a gap"),
        # dtype
        "dtype_unknown": (one(dtype="F128"), "unknown or unsupported dtype 'F128'"),
        "dtype_numpy_name": (one(dtype="float32"), "unsupported dtype 'float32'"),
        "dtype_object": (one(dtype="O"), "unsupported dtype 'O'"),
        "dtype_null": (one(dtype=None), "unsupported dtype None"),
        "dtype_list": (one(dtype=["F32"]), "unsupported dtype"),
        # shape and size
        "shape_negative": (one(shape=(-2,)), "negative dimension"),
        "shape_float": (one(shape=[2.0]), "list of integers"),
        "shape_bool": (one(shape=[True, True]), "list of integers"),
        "shape_string": (one(shape="2"), "list of integers"),
        "shape_size_mismatch": (one(shape=(3,)), "needs 12"),
        "size_overflow_product": (one(shape=(2 ** 40, 2 ** 40)), "overflows"),
        "size_overflow_itemsize": (one(dtype="F64", shape=(2 ** 61,)), "overflows"),
        "size_overflow_empty": (one(shape=(0, 2 ** 70), offsets=(0, 0), data=b""), "overflows"),
        "too_many_dimensions": (one(shape=(1,) * 33, offsets=(0, 4), data=b"\0" * 4), "dimensions"),
        # header text
        "header_not_utf8": (safetensors(b'{"w": "\xff\xfe"}'), "not valid UTF-8"),
        "header_not_json": (safetensors(b"{not json"), "not valid JSON"),
        "header_json_list": (safetensors(b"[1, 2]"), "not a JSON object"),
        "header_nested_too_deep": (safetensors(b'{"w": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"),
                                   "too deeply"),
        "header_huge_integer": (safetensors(b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b"]}}"),
                                "not valid JSON"),
        "header_duplicate_key": (safetensors(b'{"w": 1, "w": 2}'), "twice"),
        "entry_not_object": (safetensors({"w": [1, 2]}), "exactly the keys"),
        "entry_extra_key": (one(extra="x"), "exactly the keys"),
        "entry_missing_key": (safetensors({"w": {"dtype": "F32", "shape": [0]}}), "exactly the keys"),
        "metadata_not_strings": (safetensors({"__metadata__": {"k": 1}}), "__metadata__"),
        # other formats, hostile or not: named, never opened
        "pickle_protocol_4": (pickle_payload(marker, 4), "Python pickle"),
        "pickle_protocol_2": (pickle_payload(marker, 2), "Python pickle"),
        "pickle_protocol_0": (pickle_payload(marker, 0), "exceeds the"),
        "npz_zip_bomb": (zip_bomb(), "zip archive"),
        "torch_zip_with_pickle": (torch_style_zip(marker), "zip archive"),
        "npy_with_pickled_objects": (npy_with_objects(marker), "NumPy .npy"),
        "hdf5": (b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "HDF5"),
        "gzip": (b"\x1f\x8b\x08\0" + b"\0" * 64, "gzip"),
        # model files: the config is untrusted too
        "model_config_not_json": (model_file({"class_name": "Sequential", "config": "{nope"}), "not JSON"),
        "model_config_missing": (model_file({"class_name": "Sequential"}), "'config' is missing"),
        "model_class_unknown": (model_file({"class_name": "os.system", "config": "{}"}), "Unknown layer class"),
        "model_layer_class_unknown": (model_file({"class_name": "Sequential", "config": json.dumps(
            {"name": "m", "layers": [{"class_name": "eval", "config": {}}]})}), "Unknown layer class 'eval'"),
        "model_config_bad_argument": (model_file({"class_name": "Sequential", "config": dense_config(units="many")}),
                                      "could not be rebuilt"),
        "model_config_unknown_argument": (model_file({"class_name": "Sequential",
                                                      "config": dense_config(exec="import os")}),
                                          "could not be rebuilt"),
        "model_build_shape_bad": (model_file({"class_name": "Sequential", "config": dense_config(),
                                              "build_input_shape": '"big"'}), "build_input_shape"),
        "model_weight_order_not_strings": (model_file({"class_name": "Sequential", "config": dense_config(),
                                                       "weight_order": "[1, 2]"}), "weight_order"),
        "model_weight_shape_mismatch": (model_file(
            {"class_name": "Sequential", "config": dense_config(), "weight_order": '["d/kernel", "d/bias"]'},
            {"d/kernel": np.zeros((3, 5)), "d/bias": np.zeros(2)}), "has shape"),
        "model_version_other": (model_file({"version": "99", "class_name": "Sequential", "config": "{}"}),
                                "version '99'"),
    }
    return cases
