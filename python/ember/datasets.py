"""Data sets that need no download: scikit-learn's bundled 8x8 digits, and a reader for MNIST IDX files the user
already has (ember never fetches data at run time)."""
import gzip
import os
import zlib

import numpy as np

# IDX type code -> (big-endian NumPy dtype, name), as in LeCun's MNIST page
IDX_DTYPES = {0x08: (">u1", "unsigned byte"), 0x09: (">i1", "signed byte"), 0x0B: (">i2", "short"),
              0x0C: (">i4", "int"), 0x0D: (">f4", "float"), 0x0E: (">f8", "double")}
MAX_IDX_BYTES = 2 ** 32  # refuse to read more than 4 GiB: a corrupt header could ask for anything


class DatasetError(ValueError):
    """A data file that is not what it claims to be."""

    def __init__(self, path, problem):
        super().__init__(f"{problem} (file: {os.fspath(path)!r})")
        self.path, self.problem = path, problem


def _open(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def load_idx(path):
    """Read an IDX file (MNIST's format; gzip-compressed or not) into a NumPy array of its native dtype.

    Layout: two zero bytes, a type code, the number of dimensions, each dimension as a big-endian uint32, then
    the data, big-endian, row-major. Every part is checked; the data must fill the file exactly."""
    fail = lambda problem: DatasetError(path, problem)  # noqa: E731
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4:
                raise fail(f"file is {len(magic)} bytes: too short for the 4-byte IDX magic number")
            if magic[:2] != b"\0\0":
                raise fail(f"bad IDX magic number {magic.hex()}: the first two bytes must be zero")
            code, ndim = magic[2], magic[3]
            if code not in IDX_DTYPES:
                raise fail(f"unknown IDX type code 0x{code:02X}; expected one of "
                           f"{', '.join(f'0x{c:02X} ({n})' for c, (_, n) in IDX_DTYPES.items())}")
            if ndim == 0:
                raise fail("IDX file declares 0 dimensions")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise fail(f"file ends inside its dimension list ({ndim} dimensions declared)")
            dims = tuple(int(d) for d in np.frombuffer(raw_dims, ">u4"))
            dtype = np.dtype(IDX_DTYPES[code][0])
            nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
            if nbytes > MAX_IDX_BYTES:
                raise fail(f"dimensions {dims} of {IDX_DTYPES[code][1]} need {nbytes} bytes, more than the "
                           f"{MAX_IDX_BYTES}-byte limit")
            data = f.read(nbytes + 1)  # one byte more: to see trailing data without reading it all
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        if isinstance(error, FileNotFoundError):
            raise
        raise fail(f"cannot read the file ({error})") from None
    if len(data) != nbytes:
        kind = "truncated" if len(data) < nbytes else "has trailing bytes"
        raise fail(f"dimensions {dims} of {IDX_DTYPES[code][1]} need {nbytes} bytes of data; the file {kind} "
                   f"({min(len(data), nbytes)}{'' if len(data) < nbytes else '+'} bytes)")
    return np.frombuffer(data, dtype).astype(dtype.newbyteorder("=")).reshape(dims)


def _stratified_split(labels, test_size, seed):
    """Indices (train, test): each class split in the proportion `test_size`, both sides shuffled by `seed`."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_size * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def digits(test_size=0.2, seed=0):
    """scikit-learn's 1,797 bundled 8x8 handwritten digits, split into train and test per class.

    Returns `(x_train, y_train), (x_test, y_test)`: images float32 (N, 8, 8, 1) in [0, 1], labels int64 0-9.
    The same seed gives the same split. Needs scikit-learn (`pip install "ember[examples]"`); nothing is
    downloaded."""
    if isinstance(test_size, bool) or not isinstance(test_size, (float, int)) or not 0 < test_size < 1:
        raise ValueError(f"Invalid value for argument `test_size`. Expected a float in (0, 1). "
                         f"Received: test_size={test_size!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError('ember.datasets.digits needs scikit-learn, which ships the digits data: '
                          'pip install "ember[examples]" (or pip install scikit-learn)') from None
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[..., None]  # pixel values are 0..16
    labels = bunch.target.astype(np.int64)
    train, test = _stratified_split(labels, test_size, seed)
    return (images[train], labels[train]), (images[test], labels[test])


__all__ = ["digits", "load_idx", "DatasetError"]
