"""Utilities: the progress bar and training-curve plots."""
from .image_grid import save_image_grid
from .plotting import plot_history
from .progbar import Progbar


def set_random_seed(seed):
    """Seed ember, NumPy's global generator and Python's `random` at once (as keras.utils.set_random_seed)."""
    import random

    import numpy as np

    from ..random import manual_seed

    manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
