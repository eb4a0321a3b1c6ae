"""The classic architectures, Keras-style (`ember.applications.ResNet50(...)` as `keras.applications.ResNet50`):
functions returning a functional `ember.Model` with `input_shape` (NHWC), `classes`, `include_top`, `pooling`, a
width knob (`width`, or `alpha` for the MobileNets) so that small versions train on a CPU, and `weights=None`
only (nothing is downloaded). At the standard sizes their parameter counts are the published ones.

The building blocks are public too: `inception_block`, `basic_block`, `bottleneck_block`,
`depthwise_separable_block`, `inverted_residual_block`."""
from .alexnet import AlexNet
from .inception import InceptionV1, inception_block
from .lenet import LeNet5
from .mobilenet import MobileNetV1, MobileNetV2, depthwise_separable_block, inverted_residual_block
from .resnet import ResNet18, ResNet34, ResNet50, basic_block, bottleneck_block
from .vgg import VGG11, VGG16

MobileNet = MobileNetV1  # Keras' name
GoogLeNet = InceptionV1

__all__ = ["AlexNet", "GoogLeNet", "InceptionV1", "LeNet5", "MobileNet", "MobileNetV1", "MobileNetV2", "ResNet18",
           "ResNet34", "ResNet50", "VGG11", "VGG16", "basic_block", "bottleneck_block", "depthwise_separable_block",
           "inception_block", "inverted_residual_block"]
