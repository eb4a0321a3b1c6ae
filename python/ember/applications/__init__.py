"""The classic architectures, Keras-style (`ember.applications.ResNet50(...)` as `keras.applications.ResNet50`):
functions returning a functional `ember.Model` with `input_shape`, `classes`, `include_top`, `pooling`, a width
knob so that small versions train on a CPU, and `weights=None` only (nothing is downloaded).

The building blocks are public too: `inception_block`, `basic_block`, `bottleneck_block`,
`depthwise_separable_block`, `inverted_residual_block`."""
from .lenet import LeNet5

__all__ = ["LeNet5"]
