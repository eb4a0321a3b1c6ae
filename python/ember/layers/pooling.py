"""2-D pooling layers: windowed max/average, and global max/average over the spatial axes."""
from .. import ops
from ._args import (choice, data_format as _data_format, int_tuple, layout, to_channels_first,
                    to_channels_last)
from .base import Layer


class BasePooling2D(Layer):
    pool = None  # the op, set by the subclass

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else int_tuple("strides", strides)
        self.padding = choice("padding", padding, ("valid", "same"))
        self.data_format = _data_format(data_format)

    def build(self, input_shape):
        self.check_rank(input_shape, 4, layout(self.data_format))

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        out = type(self).pool(x, self.pool_size, self.strides, self.padding)
        return to_channels_first(out, self.data_format)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(BasePooling2D):
    pool = staticmethod(ops.max_pool2d)


class AveragePooling2D(BasePooling2D):
    pool = staticmethod(ops.avg_pool2d)


class BaseGlobalPooling2D(Layer):
    reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        self.check_rank(input_shape, 4, layout(self.data_format))

    def call(self, inputs):
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return type(self).reduce(inputs, axes, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(BaseGlobalPooling2D):
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(BaseGlobalPooling2D):
    reduce = staticmethod(ops.max)


MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
