"""VGG (Simonyan & Zisserman, 2014) as Keras builds VGG16: 3x3 "same" convolutions with ReLU in blocks, each block
closed by a 2x2 max pool, then Flatten and two 4096-unit dense layers. No batch norm, no dropout (as Keras)."""
from .. import layers
from ..models import Input, Model
from ._common import check_common, check_multiplier, pooled, scaled

# filters of each block's convolutions ("A" is VGG11, "D" VGG16 in the paper's table 1)
VGG11_BLOCKS = ((64,), (128,), (256, 256), (512, 512), (512, 512))
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg(model, blocks, input_shape, classes, include_top, weights, pooling, width, classifier_activation, name):
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 32, classes,
                                                 include_top, pooling, classifier_activation)
    width = check_multiplier(model, "width", width)
    inputs = Input(input_shape, name="input")
    x = inputs
    for b, block in enumerate(blocks, start=1):
        for c, filters in enumerate(block, start=1):
            x = layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu",
                              name=f"block{b}_conv{c}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(scaled(4096, width), activation="relu", name="fc1")(x)
        x = layers.Dense(scaled(4096, width), activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)


def VGG11(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
          classifier_activation="softmax", name="vgg11"):
    """VGG11 (configuration A): 8 convolutions in 5 blocks, 132,863,336 parameters at 224x224x3, 1000 classes (as
    torchvision's vgg11). `width` scales every convolution and hidden dense layer; smallest input 32x32."""
    return vgg("VGG11", VGG11_BLOCKS, input_shape, classes, include_top, weights, pooling, width,
               classifier_activation, name)


def VGG16(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
          classifier_activation="softmax", name="vgg16"):
    """VGG16 (configuration D): 13 convolutions in 5 blocks, 138,357,544 parameters at 224x224x3, 1000 classes (as
    Keras). `width` scales every convolution and hidden dense layer; smallest input 32x32."""
    return vgg("VGG16", VGG16_BLOCKS, input_shape, classes, include_top, weights, pooling, width,
               classifier_activation, name)
