"""Saving and loading in the safetensors format: weights (`save_weights`) and whole models (`save_model`).

A safetensors file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
`{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
then the raw little-endian data. The reader trusts nothing in a file: every field is checked before any
byte of the data is looked at, and arrays come from `np.frombuffer` over validated slices (never pickle).
Writes are atomic: a temp file in the target's directory, fsync, then `os.replace`.
"""
import json
import os
import struct
import tempfile

import numpy as np

MAX_HEADER_BYTES = 100 * 1024 * 1024
FORMAT, VERSION = "ember", "1"

# safetensors dtype code -> little-endian NumPy dtype. BF16 has no NumPy dtype: it is read into float32.
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "BF16": "<u2"}
CODES = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items() if k != "BF16"}
ITEMSIZE = {k: np.dtype(v).itemsize for k, v in DTYPES.items()}
ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


class CheckpointError(ValueError):
    """A checkpoint file that is not a valid safetensors file, or does not fit the model it is loaded into."""

    def __init__(self, path, problem):
        super().__init__(f"{problem} (file: {os.fspath(path)!r})")
        self.path, self.problem = path, problem


# -- writing ------------------------------------------------------------------------------------------------------
def _as_array(name, value):
    array = np.asarray(value)
    if array.dtype.newbyteorder("=") not in CODES:
        raise TypeError(f"save_file: tensor {name!r} has dtype {array.dtype}, which safetensors cannot hold. "
                        f"Expected one of {sorted(str(d) for d in CODES)}")
    return array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)


def _header(arrays, metadata):
    header = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, array in arrays.items():
        header[name] = {"dtype": CODES[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-(8 + len(text)) % 8)  # pad with spaces so the data starts 8-byte aligned (as the spec)


def _write_array(f, array):
    """One tensor's bytes (a separate function so that tests can make a write fail halfway)."""
    f.write(memoryview(array.reshape(-1)).cast("B") if array.size else b"")


def _atomic_write(path, write):
    """Run `write(file)` on a temp file beside `path`, then move it over `path`: a crash leaves the old file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not every platform lets a directory be opened
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_file(tensors, path, metadata=None):
    """Write `tensors` ({name: array}) and `metadata` ({str: str}) to `path` as safetensors, atomically."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file: expected a dict of name -> array, received {type(tensors).__name__}")
    for name in tensors:
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save_file: tensor names must be strings other than '__metadata__'; received {name!r}")
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save_file: metadata must map str to str; received {key!r}: {value!r}")
    arrays = {name: _as_array(name, value) for name, value in tensors.items()}
    header = _header(arrays, metadata)

    def write(f):
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for array in arrays.values():
            _write_array(f, array)

    _atomic_write(path, write)


# -- reading ------------------------------------------------------------------------------------------------------
def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(Exception):
    pass


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header(path, raw):
    fail = lambda problem: CheckpointError(path, problem)  # noqa: E731
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise fail(f"header is not valid UTF-8 ({error})") from None
    if not text.startswith("{"):
        raise fail("header is not a JSON object (it must start with '{')")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as error:
        raise fail(f"header has the key {error.args[0]!r} twice") from None
    except ValueError as error:
        raise fail(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise fail(f"header is JSON but not an object: {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise fail("header '__metadata__' must be an object mapping strings to strings")
    return header, metadata


def _check_entry(fail, name, entry):
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise fail(f"tensor {name!r}: expected exactly the keys {sorted(ENTRY_KEYS)}, found {keys}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise fail(f"tensor {name!r}: unknown or unsupported dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(n) for n in shape):
        raise fail(f"tensor {name!r}: shape must be a list of integers, found {shape!r}")
    if any(n < 0 for n in shape):
        raise fail(f"tensor {name!r}: shape {shape} has a negative dimension")
    count = 1
    for n in shape:
        count *= n
        if count * ITEMSIZE[dtype] >= 2 ** 63:
            raise fail(f"tensor {name!r}: shape {shape} overflows (more than 2**63 bytes)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise fail(f"tensor {name!r}: data_offsets must be a list of two integers, found {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise fail(f"tensor {name!r}: data_offsets {offsets} are not 0 <= begin <= end")
    if end - begin != count * ITEMSIZE[dtype]:
        raise fail(f"tensor {name!r}: data_offsets {offsets} span {end - begin} bytes, but shape {shape} of "
                   f"{dtype} needs {count * ITEMSIZE[dtype]}")
    return dtype, tuple(shape), begin, end


def read_header(path, data):
    """Validate the header of safetensors bytes `data`; returns ({name: (dtype, shape, begin, end)}, metadata,
    data_start). Everything the spec requires is checked here, before any tensor is read."""
    fail = lambda problem: CheckpointError(path, problem)  # noqa: E731
    if len(data) < 8:
        raise fail(f"file is {len(data)} bytes: too short to hold the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise fail(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > len(data):
        raise fail(f"header length {n} runs past the end of the file ({len(data)} bytes): truncated or corrupt")
    header, metadata = _parse_header(path, bytes(data[8:8 + n]))
    entries = {name: _check_entry(fail, name, entry) for name, entry in header.items()}
    buffer_size = len(data) - 8 - n
    expected = 0  # the tensors must tile the buffer exactly: no gaps, no overlaps, nothing after
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != expected:
            kind = "overlaps the previous tensor" if begin < expected else "leaves a gap before it"
            raise fail(f"tensor {name!r}: data_offsets start at {begin}, expected {expected}: it {kind}")
        expected = end
    if expected != buffer_size:
        raise fail(f"the tensors cover {expected} bytes of data but the file holds {buffer_size} "
                   f"({'truncated' if expected > buffer_size else 'trailing bytes'})")
    return entries, metadata, 8 + n


def _array(data, start, dtype, shape, begin, end):
    array = np.frombuffer(data, dtype=np.dtype(DTYPES[dtype]), count=(end - begin) // ITEMSIZE[dtype],
                          offset=start + begin)
    if dtype == "BF16":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder("="), copy=True).reshape(shape)


def load_file(path):
    """Read a safetensors file: returns ({name: np.ndarray}, metadata) in the file's header order.
    Raises CheckpointError (a ValueError) naming what is wrong and the file."""
    with open(path, "rb") as f:
        data = f.read()
    entries, metadata, start = read_header(path, data)
    tensors = {name: _array(data, start, *entry) for name, entry in entries.items()}
    return tensors, metadata


# -- weights and models -------------------------------------------------------------------------------------------
def weight_keys(weights):
    """Unique file keys for `weights`, in order: the weight's name, or `{index}/{name}` where names collide."""
    names = [w.name or f"weight_{i}" for i, w in enumerate(weights)]
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{i}/{name}" for i, name in enumerate(names)]


def _weights_payload(model):
    weights = model.weights
    keys = weight_keys(weights)
    tensors = {key: np.asarray(w.numpy() if hasattr(w, "numpy") else w) for key, w in zip(keys, weights)}
    return tensors, {"weight_order": json.dumps(keys)}


def save_weights(model, path):
    """Save `model.weights` to `path` (safetensors), keyed by weight name, in order."""
    tensors, metadata = _weights_payload(model)
    save_file(tensors, path, metadata)


def _ordered_values(path, model, tensors, metadata):
    """The file's arrays in the order of `model.weights` (by the stored order, else by name)."""
    weights = model.weights
    if "weight_order" in metadata:
        try:
            order = json.loads(metadata["weight_order"])
        except ValueError:
            order = None
        if not (isinstance(order, list) and sorted(order) == sorted(tensors)):
            raise CheckpointError(path, "metadata 'weight_order' does not list exactly the file's tensors")
    else:  # a file from another writer: match by name
        order = weight_keys(weights)
        missing = [k for k in order if k not in tensors]
        if missing or len(tensors) != len(weights):
            raise CheckpointError(path, f"the file has no 'weight_order' metadata and its tensor names "
                                        f"{sorted(tensors)} do not match the model's {order}")
    if len(order) != len(weights):
        hint = " (is the model built? call it on data or give it an input shape first)" if not model.built else ""
        raise CheckpointError(path, f"the file holds {len(order)} weights but model {model.name!r} has "
                                    f"{len(weights)}{hint}")
    values = []
    for i, (key, w) in enumerate(zip(order, weights)):
        value = tensors[key]
        if tuple(value.shape) != tuple(w.shape):
            raise CheckpointError(path, f"weight {i} {w.name!r} of model {model.name!r} has shape {tuple(w.shape)} "
                                        f"but the file's {key!r} has shape {tuple(value.shape)}")
        values.append(value)
    return values


def load_weights(model, path):
    """Load weights saved by `save_weights` (or `save_model`) into `model`, by order, checking every shape."""
    tensors, metadata = load_file(path)
    model.set_weights(_ordered_values(path, model, tensors, metadata))


def save_model(model, path):
    """Save architecture (`get_config`) and weights to one safetensors file."""
    from .models.model import serialize_layer

    spec = serialize_layer(model)
    tensors, metadata = _weights_payload(model)
    metadata.update(format=FORMAT, version=VERSION, class_name=spec["class_name"], config=json.dumps(spec["config"]))
    build_shape = getattr(model, "_build_input_shape", None)
    if build_shape is not None:
        metadata["build_input_shape"] = json.dumps(build_shape)
    save_file(tensors, path, metadata)


def load_model(path, custom_objects=None):
    """Rebuild a model saved by `save_model` from its config and set its weights. Layer classes that ember does
    not know (custom layers, subclassed models) are passed as `custom_objects={"Name": cls}`."""
    from .models.model import deserialize_layer

    tensors, metadata = load_file(path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(path, f"not an ember model file (metadata format={metadata.get('format')!r}); "
                                    f"a weights-only file loads with load_weights")
    if metadata.get("version") != VERSION:
        raise CheckpointError(path, f"model file version {metadata.get('version')!r} is not supported "
                                    f"(this ember reads version {VERSION!r})")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, ValueError) as error:
        raise CheckpointError(path, f"metadata 'config' is missing or not JSON ({error})") from None
    model = deserialize_layer({"class_name": metadata.get("class_name"), "config": config}, custom_objects)
    if not model.built and "build_input_shape" in metadata:
        model.build(tuple(json.loads(metadata["build_input_shape"])))
        model.built = True
    model.set_weights(_ordered_values(path, model, tensors, metadata))
    return model


__all__ = ["CheckpointError", "save_file", "load_file", "save_weights", "load_weights", "save_model", "load_model"]
