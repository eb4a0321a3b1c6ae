"""Convolutions: a base conv (rank as a parameter; ember's kernels are 2-D today) and Conv2D, DepthwiseConv2D,
SeparableConv2D and Conv2DTranspose on it. Weights use Keras' shapes, so Keras weights load as they are."""
from .. import activations, initializers, ops, regularizers
from ._args import (channels_of, choice, data_format as _data_format, int_tuple, layout, positive_int,
                    to_channels_first, to_channels_last)
from .base import Layer, invalid_argument


class BaseConv(Layer):
    """Validates and stores the arguments every convolution shares; subclasses make the weights and the conv."""

    rank = 2
    fuses_bias = False  # whether convolve(x, bias, activation, alpha) fuses them (ops.conv2d_bias_activation)

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1, activation=None,
                 use_bias=True, bias_initializer="zeros", bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int_tuple("kernel_size", kernel_size, self.rank)
        self.strides = int_tuple("strides", strides, self.rank)
        self.padding = choice("padding", padding, ("valid", "same"))
        self.data_format = _data_format(data_format)
        self.dilation_rate = int_tuple("dilation_rate", dilation_rate, self.rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def input_channels(self, input_shape):
        self.check_rank(input_shape, self.rank + 2, layout(self.data_format, self.rank))
        self._channels = channels_of(input_shape, self.data_format)
        return self._channels

    def add_bias(self, size):
        if not self.use_bias:
            return None
        return self.add_weight("bias", (size,), self.bias_initializer, regularizer=self.bias_regularizer)

    def call(self, inputs):
        if channels_of(inputs.shape, self.data_format) != self._channels:  # the weights were made for these
            axis = -1 if self.data_format == "channels_last" else 1
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis {axis} "
                             f"of input shape to have value {self._channels}, but received input with shape "
                             f"{inputs.shape}")
        x = to_channels_last(inputs, self.data_format)
        fused = activations.fused_args(x, self.bias, self.activation) if self.fuses_bias else None
        if fused is not None:  # bias and activation added as the convolution stores its output
            return to_channels_first(self.convolve(x, self.bias, *fused), self.data_format)
        out = self.convolve(x)
        if activations.fusable_with_bias(self.activation):  # elementwise: fused with the bias before the transpose
            return to_channels_first(activations.with_bias(out, self.bias, self.activation), self.data_format)
        if self.bias is not None:
            out = out + self.bias
        # after the transpose back: an activation over an axis (softmax) sees the layout the user asked for
        return self.activation(to_channels_first(out, self.data_format))

    def convolve(self, x):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "bias_initializer": initializers.serialize(self.bias_initializer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


class Conv2D(BaseConv):
    """2-D convolution; kernel (kh, kw, in // groups, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        self.filters = positive_int("filters", filters)
        self.groups = positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"The number of filters must be evenly divisible by the number of groups. Received: "
                             f"groups={self.groups}, filters={self.filters}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {channels} channels (full input "
                             f"shape is {tuple(input_shape)})")
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_bias(self.filters)

    fuses_bias = True

    def convolve(self, x, bias=None, activation=None, alpha=0.0):
        if bias is None and activation is None:
            return ops.conv2d(x, self.kernel, self.strides, self.padding, self.dilation_rate, self.groups)
        return ops.conv2d_bias_activation(x, self.kernel, bias, activation, alpha, self.strides, self.padding,
                                          self.dilation_rate, self.groups)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer)}


def depthwise(x, kernel, strides, padding, dilation_rate):
    """Keras' depthwise kernel (kh, kw, in, multiplier) as a grouped conv2d: reshaped to (kh, kw, 1, in *
    multiplier), output channel c * multiplier + m is input channel c's m-th filter, as Keras orders them."""
    kh, kw, channels, multiplier = kernel.shape
    grouped = ops.reshape(kernel, (kh, kw, 1, channels * multiplier))
    return ops.conv2d(x, grouped, strides, padding, dilation_rate, groups=channels)


class DepthwiseConv2D(BaseConv):
    """Each input channel convolved with its own `depth_multiplier` filters; kernel (kh, kw, in, multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        self.depth_multiplier = positive_int("depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, regularizer=self.depthwise_regularizer)
        self.bias = self.add_bias(channels * self.depth_multiplier)

    def convolve(self, x):
        return depthwise(x, self.kernel, self.strides, self.padding, self.dilation_rate)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer)}


class SeparableConv2D(BaseConv):
    """A depthwise conv then a 1x1 conv: depthwise_kernel (kh, kw, in, multiplier), pointwise_kernel
    (1, 1, in * multiplier, filters), bias (filters,)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        self.filters = positive_int("filters", filters)
        self.depth_multiplier = positive_int("depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        depthwise_shape = self.kernel_size + (channels, self.depth_multiplier)
        self.depthwise_kernel = self.add_weight("depthwise_kernel", depthwise_shape, self.depthwise_initializer,
                                                regularizer=self.depthwise_regularizer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel",
                                                (1, 1, channels * self.depth_multiplier, self.filters),
                                                self.pointwise_initializer, regularizer=self.pointwise_regularizer)
        self.bias = self.add_bias(self.filters)

    def convolve(self, x):
        x = depthwise(x, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate)
        return ops.conv2d(x, self.pointwise_kernel)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer)}


class Conv2DTranspose(BaseConv):
    """Transposed convolution (a learned upsampling); kernel (kh, kw, filters, in), bias (filters,). Output size as
    Keras: H * stride for "same", H * stride + max(kernel - stride, 0) for "valid", unless `output_padding`."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, **kwargs)
        self.filters = positive_int("filters", filters)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = int_tuple("output_padding", output_padding, self.rank, minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise invalid_argument("output_padding", f"values smaller than the strides {self.strides}",
                                       output_padding)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        channels = self.input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_bias(self.filters)

    def convolve(self, x):
        return ops.conv2d_transpose(x, self.kernel, self.strides, self.padding, self.output_padding,
                                    self.dilation_rate)

    def get_config(self):
        extra = None if self.output_padding is None else list(self.output_padding)
        return {**super().get_config(), "filters": self.filters, "output_padding": extra,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer)}
