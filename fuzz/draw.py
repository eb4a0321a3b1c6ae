"""Turning fuzzer bytes into choices: integers, floats and NumPy arrays in every layout a binding can meet.

Plain Python (no atheris), so that the test suite can replay the corpus without the fuzzer installed. Bytes that
run out read as zeros, so every input means something and short inputs mean the common, valid choices.
"""
import warnings

import numpy as np

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
WRONG_DTYPES = (np.dtype(np.float16), np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_),
                np.dtype(np.complex64), np.dtype(">f4"), np.dtype(">f8"), np.dtype(np.uint8))
NOT_ARRAYS = (None, 1.5, [1.0, 2.0], "x", b"\0" * 16)
EXTREME_INTS = (0, -1, 1, 2, -(2 ** 63), 2 ** 63 - 1, 2 ** 62, -(2 ** 62), 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 32,
                2 ** 64, -(2 ** 64), 3_000_000_000)
SPECIAL_FLOATS = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 1e-45, 3.4e38, 1e308, 5e-324)
ODD_LAYOUTS = ("strided", "reversed", "transposed", "broadcast", "read_only", "misaligned")


class Draw:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def int(self, lo, hi):
        """An integer in [lo, hi] (lo when the bytes are used up)."""
        span = hi - lo
        value, width = 0, 0
        while (1 << width) <= span:
            value = (value << 8) | self.byte()
            width += 8
        return lo + value % (span + 1)

    def chance(self, one_in):
        return self.int(0, one_in - 1) == one_in - 1

    def choice(self, options):
        return options[self.int(0, len(options) - 1)]

    def size(self):
        """A dimension: mostly 0..5, sometimes up to 17."""
        return self.int(6, 17) if self.chance(8) else self.int(0, 5)

    def param(self, lo, hi):
        """A window argument: mostly in [lo, hi], sometimes an extreme value (negative, past 2**31, 2**63)."""
        return self.choice(EXTREME_INTS) if self.chance(16) else self.int(lo, hi)

    def scalar(self):
        return self.choice(SPECIAL_FLOATS) if self.chance(8) else self.int(-8, 8) / 4.0

    def values(self, count, dtype):
        kind = self.int(0, 7)
        if kind == 0:
            return np.zeros(count, dtype)
        base = (np.arange(count, dtype=np.float64) * (self.int(1, 9) / 7.0) + self.int(-5, 5)) % 3.0 - 1.5
        if kind == 1 and count:  # sprinkle specials (NaN, inf, huge, tiny) over ordinary values
            for _ in range(self.int(1, 4)):
                base[self.int(0, count - 1)] = self.choice(SPECIAL_FLOATS)
        return base.astype(dtype)

    def dtype(self, usual):
        return self.choice(WRONG_DTYPES) if self.chance(24) else usual

    def array(self, shape, dtype, output=False):
        """An array of `shape` (or, rarely, something that is not a float array at all) in a drawn layout.
        Inputs are in an odd layout one time in 5, outputs one in 12: most calls should reach a kernel."""
        if self.chance(48):
            return self.choice(NOT_ARRAYS)
        dtype = self.dtype(dtype)
        shape = tuple(shape)
        layout = self.choice(ODD_LAYOUTS) if self.chance(12 if output else 5) else "contiguous"
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if layout == "strided" and shape:
            axis = self.int(0, len(shape) - 1)
            wide = shape[:axis] + (2 * shape[axis],) + shape[axis + 1:]
            return self._fill(wide, dtype)[(slice(None),) * axis + (slice(None, None, 2),)]
        if layout == "reversed" and shape:
            axis = self.int(0, len(shape) - 1)
            return self._fill(shape, dtype)[(slice(None),) * axis + (slice(None, None, -1),)]
        if layout == "transposed" and len(shape) >= 2:
            return self._fill(shape[::-1], dtype).T
        if layout == "broadcast" and shape:
            axis = self.int(0, len(shape) - 1)
            one = shape[:axis] + (1,) + shape[axis + 1:]
            return np.broadcast_to(self._fill(one, dtype), shape)
        if layout == "read_only":
            a = self._fill(shape, dtype)
            a.flags.writeable = False
            return a
        if layout == "misaligned" and dtype.kind != "O":
            raw = bytearray(count * dtype.itemsize + 1)
            a = np.frombuffer(raw, dtype=dtype, count=count, offset=1).reshape(shape)
            return a
        return self._fill(shape, dtype)

    def _fill(self, shape, dtype):
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        values = self.values(count, np.float64)
        with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # specials cast to integers or float16
            return values.astype(dtype).reshape(shape)

    def maybe_alias(self, out, inputs):
        """`out`, or now and then one of `inputs` (exact aliasing) or a view overlapping one of them."""
        arrays = [a for a in inputs if isinstance(a, np.ndarray) and a.size]
        if not arrays or not self.chance(12):
            return out
        source = self.choice(arrays)
        if self.chance(2) or not isinstance(out, np.ndarray):
            return source
        flat = source.reshape(-1)
        if flat.size and out.size <= flat.size and flat.dtype == out.dtype:
            return flat[flat.size - out.size:].reshape(out.shape)  # overlaps the tail of `source`
        return source
