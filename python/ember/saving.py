"""Saving and loading in the safetensors format: weights (`save_weights`) and whole models (`save_model`).

A safetensors file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
`{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
then the raw little-endian data. The reader trusts nothing in a file: every field is checked against the file's
size before any tensor is allocated, and each tensor's bytes are read into a fresh array (nothing is ever
unpickled, unzipped or evaluated).
Writes are atomic: a temp file in the target's directory, fsync, then `os.replace`.
"""
import io
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
# Files that are not safetensors but are often handed to a loader by mistake (or on purpose). None of them is
# ever parsed: when the first 8 bytes cannot be a header length, the reader names the format it sees, nothing more.
FOREIGN_FORMATS = [
    (b"\x80", "a Python pickle (PyTorch .pt/.bin, joblib): ember never unpickles, which could run code"),
    (b"PK\x03\x04", "a zip archive (NumPy .npz, Keras .keras, PyTorch .pt): ember does not open archives"),
    (b"PK\x05\x06", "an empty zip archive: ember does not open archives"),
    (b"\x93NUMPY", "a NumPy .npy file: ember does not read it (it may hold pickled objects)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5): ember does not read it"),
    (b"\x1f\x8b", "a gzip file: ember does not decompress"),
]
MAX_DIMS = 32  # NumPy 1.x's limit


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
    except RecursionError:
        raise fail("header nests JSON too deeply") from None
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
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise fail(f"tensor {name!r}: unknown or unsupported dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(n) for n in shape):
        raise fail(f"tensor {name!r}: shape must be a list of integers, found {shape!r}")
    if len(shape) > MAX_DIMS:
        raise fail(f"tensor {name!r}: shape has {len(shape)} dimensions, more than the {MAX_DIMS} supported")
    if any(n < 0 for n in shape):
        raise fail(f"tensor {name!r}: shape {shape} has a negative dimension")
    extent = ITEMSIZE[dtype]  # NumPy refuses shapes whose nonzero dimensions multiply past 2**63 bytes, even empty ones
    for n in shape:
        extent *= max(n, 1)
        if extent >= 2 ** 63:
            raise fail(f"tensor {name!r}: shape {shape} overflows (more than 2**63 bytes)")
    count = 1
    for n in shape:
        count *= n
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise fail(f"tensor {name!r}: data_offsets must be a list of two integers, found {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise fail(f"tensor {name!r}: data_offsets {offsets} are not 0 <= begin <= end")
    if end - begin != count * ITEMSIZE[dtype]:
        raise fail(f"tensor {name!r}: data_offsets {offsets} span {end - begin} bytes, but shape {shape} of "
                   f"{dtype} needs {count * ITEMSIZE[dtype]}")
    return dtype, tuple(shape), begin, end


def _foreign_format(head):
    for magic, what in FOREIGN_FORMATS:
        if head.startswith(magic):
            return what
    return None


def _check_header_length(fail, head, file_size):
    """The header length from the first 8 bytes, checked against the limit and the file size."""
    if file_size < 8 or len(head) < 8:
        raise fail(f"file is {file_size} bytes: too short to hold the 8-byte header length")
    (n,) = struct.unpack("<Q", head[:8])
    if n > MAX_HEADER_BYTES:
        what = _foreign_format(head)
        if what:
            raise fail(f"not a safetensors file: this is {what}")
        raise fail(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > file_size:
        raise fail(f"header length {n} runs past the end of the file ({file_size} bytes): truncated or corrupt")
    return n


def _check_layout(fail, entries, buffer_size):
    expected = 0  # the tensors must tile the buffer exactly: no gaps, no overlaps, nothing after
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != expected:
            kind = "overlaps the previous tensor" if begin < expected else "leaves a gap before it"
            raise fail(f"tensor {name!r}: data_offsets start at {begin}, expected {expected}: it {kind}")
        expected = end
    if expected != buffer_size:
        raise fail(f"the tensors cover {expected} bytes of data but the file holds {buffer_size} "
                   f"({'truncated' if expected > buffer_size else 'trailing bytes'})")


def read_header(path, data):
    """Validate the header of safetensors bytes `data`; returns ({name: (dtype, shape, begin, end)}, metadata,
    data_start). Everything the spec requires is checked here, before any tensor is read."""
    return _read_header(io.BytesIO(data), len(data), path)


def _read_header(f, file_size, path):
    fail = lambda problem: CheckpointError(path, problem)  # noqa: E731
    n = _check_header_length(fail, f.read(8), file_size)
    header, metadata = _parse_header(path, f.read(n))
    entries = {name: _check_entry(fail, name, entry) for name, entry in header.items()}
    _check_layout(fail, entries, file_size - 8 - n)
    return entries, metadata, 8 + n


def _read_array(f, path, name, dtype, shape, begin, end):
    """One tensor, read straight into its own array (the file is never held in memory as a whole)."""
    count = (end - begin) // ITEMSIZE[dtype]
    array = np.empty(count, dtype=np.dtype(DTYPES[dtype]))
    got = f.readinto(memoryview(array).cast("B")) if count else 0
    if got != end - begin:  # the file shrank after its size was taken
        raise CheckpointError(path, f"tensor {name!r}: read {got} of its {end - begin} bytes: truncated")
    if dtype == "BF16":  # bfloat16 is the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(array.dtype.newbyteorder("="), copy=False).reshape(shape)


def _load_stream(f, file_size, path):
    entries, metadata, _ = _read_header(f, file_size, path)
    arrays = {}
    for name, entry in sorted(entries.items(), key=lambda item: item[1][2]):  # in file order: one forward pass
        arrays[name] = _read_array(f, path, name, *entry)
    return {name: arrays[name] for name in entries}, metadata  # in the header's order


def load_file(path):
    """Read a safetensors file: returns ({name: np.ndarray}, metadata) in the file's header order.
    Raises CheckpointError (a ValueError) naming what is wrong and the file. The header is validated against the
    file's size before any tensor is allocated, so no file can make the reader allocate more than its own size."""
    with open(path, "rb") as f:
        return _load_stream(f, os.fstat(f.fileno()).st_size, path)


def load_bytes(data, source="<bytes>"):
    """`load_file` for safetensors bytes already in memory; `source` names them in errors."""
    return _load_stream(io.BytesIO(data), len(data), source)


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
        except (ValueError, RecursionError):
            order = None
        if not (isinstance(order, list) and all(isinstance(k, str) for k in order)
                and sorted(order) == sorted(tensors)):
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
    tensors, metadata = load_file(path)
    return _model_from_payload(path, tensors, metadata, custom_objects)


def _json_metadata(path, metadata, key):
    try:
        return json.loads(metadata[key])
    except (ValueError, RecursionError) as error:
        raise CheckpointError(path, f"metadata {key!r} is not JSON ({type(error).__name__}: {error})") from None


def _model_from_payload(path, tensors, metadata, custom_objects=None):
    """The model described by a loaded file's metadata, with its weights set. A config that names only known
    classes can still be nonsense (a file is untrusted): whatever it makes a layer raise becomes a CheckpointError."""
    from .models.model import deserialize_layer

    if metadata.get("format") != FORMAT:
        raise CheckpointError(path, f"not an ember model file (metadata format={metadata.get('format')!r}); "
                                    f"a weights-only file loads with load_weights")
    if metadata.get("version") != VERSION:
        raise CheckpointError(path, f"model file version {metadata.get('version')!r} is not supported "
                                    f"(this ember reads version {VERSION!r})")
    if "config" not in metadata:
        raise CheckpointError(path, "metadata 'config' is missing")
    config = _json_metadata(path, metadata, "config")
    build_shape = None
    if "build_input_shape" in metadata:
        build_shape = _json_metadata(path, metadata, "build_input_shape")
        if not (isinstance(build_shape, list) and all(d is None or (_is_int(d) and d >= 0) for d in build_shape)):
            raise CheckpointError(path, f"metadata 'build_input_shape' must be a list of sizes or nulls, found "
                                        f"{build_shape!r}")
    try:
        model = deserialize_layer({"class_name": metadata.get("class_name"), "config": config}, custom_objects)
        if not model.built and build_shape is not None:
            model.build(tuple(build_shape))
            model.built = True
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of an untrusted config is the file's fault
        raise CheckpointError(path, f"the model config could not be rebuilt: {type(error).__name__}: "
                                    f"{error}") from error
    model.set_weights(_ordered_values(path, model, tensors, metadata))
    return model


__all__ = ["CheckpointError", "save_file", "load_file", "save_weights", "load_weights", "save_model", "load_model"]
