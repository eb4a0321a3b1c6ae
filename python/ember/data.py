"""Mini-batches over in-memory arrays: `DataLoader(x, y, batch_size=32, shuffle=True)` and `batches(...)`.

`x` and `y` are arrays (or ember Tensors), or lists/tuples of them for models with several inputs or outputs;
each batch keeps that structure. Shuffling draws from ember's generator (so `ember.manual_seed` makes it
repeatable) or, with `seed`, from the loader's own generator; each epoch (each `iter`) is a new order."""
import math

import numpy as np

from . import random as _random


def _invalid(name, expected, value):
    return ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value!r}")


def _as_arrays(name, data):
    """(list of arrays, whether `data` was a list/tuple)."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise ValueError(f"DataLoader: `{name}` is an empty list; expected one array or a list of arrays")
        return [np.asarray(item) for item in data], True
    return [np.asarray(data)], False


class DataLoader:
    """Iterates over mini-batches of `(x, y)` (or `x` alone when `y` is None). `len(loader)` is the number of
    batches per epoch."""

    def __init__(self, x, y=None, batch_size=32, shuffle=True, seed=None, drop_remainder=False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise _invalid("batch_size", "a positive int", batch_size)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise _invalid("seed", "None or a non-negative int", seed)
        self._x, self._x_nested = _as_arrays("x", x)
        self._y, self._y_nested = _as_arrays("y", y) if y is not None else ([], False)
        self._has_y = y is not None
        lengths = {}
        for label, arrays, nested in (("x", self._x, self._x_nested), ("y", self._y, self._y_nested)):
            for i, array in enumerate(arrays):
                name = f"{label}[{i}]" if nested else label
                if array.ndim == 0:
                    raise ValueError(f"DataLoader: `{name}` is a scalar; expected an array whose first "
                                     f"dimension indexes the samples")
                lengths[name] = len(array)
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"DataLoader: all arrays must have the same number of samples (first dimension); "
                             f"received {listed}")
        self.num_samples = next(iter(lengths.values()))
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self):
        if self.drop_remainder:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _order(self):
        if not self.shuffle:
            return np.arange(self.num_samples)
        rng = self._rng if self._rng is not None else _random.generator()  # read now: manual_seed replaces it
        return rng.permutation(self.num_samples)

    def __iter__(self):
        order = self._order()
        for b in range(len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            xb = [a[index] for a in self._x]
            xb = xb if self._x_nested else xb[0]
            if not self._has_y:
                yield xb
                continue
            yb = [a[index] for a in self._y]
            yield xb, (yb if self._y_nested else yb[0])

    def __repr__(self):
        return (f"<DataLoader samples={self.num_samples}, batch_size={self.batch_size}, batches={len(self)}, "
                f"shuffle={self.shuffle}>")


def batches(x, y=None, batch_size=32, shuffle=True, seed=None, drop_remainder=False):
    """One epoch of mini-batches: `for xb, yb in batches(x, y, batch_size=64): ...`."""
    return iter(DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_remainder=drop_remainder))


__all__ = ["DataLoader", "batches"]
