"""Models: Sequential, the functional Model(inputs, outputs), subclassed models; training and saving."""
from .functional import Input, SymbolicTensor
from .model import Model
from .sequential import Sequential
from .gan import GAN
