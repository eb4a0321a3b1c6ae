"""One seeded generator for everything random in ember: tensor creation, initializers, dropout, shuffling."""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed ember's generator: the same seed makes a run repeatable."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Invalid value for argument `seed`. Expected a non-negative int. Received: seed={seed!r}")
    _generator = np.random.default_rng(int(seed))


def generator():
    """The current NumPy Generator (read it at call time: manual_seed replaces it)."""
    return _generator
