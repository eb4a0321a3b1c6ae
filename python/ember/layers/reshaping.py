"""Spatial reshaping layers: ZeroPadding2D, UpSampling2D (nearest neighbour)."""
from .. import ops
from ._args import data_format as _data_format, int_tuple, layout
from .base import Layer, invalid_argument


class ZeroPadding2D(Layer):
    """padding: an int (all sides), (rows, cols) (symmetric), or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        try:
            if isinstance(padding, int) or all(isinstance(p, int) for p in padding):
                rows, cols = int_tuple("padding", padding, 2, minimum=0)
                self.padding = ((rows, rows), (cols, cols))
            else:
                self.padding = tuple(int_tuple("padding", p, 2, minimum=0) for p in padding)
        except (TypeError, ValueError):
            self.padding = None
        if self.padding is None or len(self.padding) != 2:
            raise invalid_argument("padding", "an int, a tuple of 2 ints or a tuple of 2 tuples of 2 ints, all >= 0",
                                   padding)

    def build(self, input_shape):
        self.check_rank(input_shape, 4, layout(self.data_format))

    def call(self, inputs):
        spatial = list(self.padding)
        widths = [(0, 0)] + spatial + [(0, 0)] if self.data_format == "channels_last" else [(0, 0), (0, 0)] + spatial
        return ops.pad(inputs, widths)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class UpSampling2D(Layer):
    """Repeats rows and columns `size` times (nearest neighbour), as reshape + broadcast + reshape so that
    autograd gives the gradient (the sum over each block)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple("size", size)
        self.data_format = _data_format(data_format)
        if interpolation != "nearest":
            raise invalid_argument("interpolation", "'nearest' (the only interpolation ember supports)",
                                   interpolation)
        self.interpolation = interpolation

    def build(self, input_shape):
        self.check_rank(input_shape, 4, layout(self.data_format))

    def call(self, inputs):
        (sh, sw) = self.size
        if self.data_format == "channels_last":
            n, h, w, c = inputs.shape
            x = ops.reshape(inputs, (n, h, 1, w, 1, c))
            return ops.reshape(ops.expand(x, (n, h, sh, w, sw, c)), (n, h * sh, w * sw, c))
        n, c, h, w = inputs.shape
        x = ops.reshape(inputs, (n, c, h, 1, w, 1))
        return ops.reshape(ops.expand(x, (n, c, h, sh, w, sw)), (n, c, h * sh, w * sw))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
