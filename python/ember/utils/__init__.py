"""Utilities: the progress bar and training-curve plots."""
from .plotting import plot_history
from .progbar import Progbar
