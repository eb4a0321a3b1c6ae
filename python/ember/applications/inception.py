"""GoogLeNet / Inception v1 (Szegedy et al., 2014) as torchvision builds it: every convolution followed by batch
norm and ReLU (the paper predates batch norm; torchvision adds it and drops the local response norms), nine
Inception blocks, no auxiliary classifiers."""
from .. import layers
from ..models import Input, Model
from ._common import bad_argument, check_common, check_dropout, check_multiplier, pooled, scaled

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) of each block: the paper's table 1
BLOCKS = {"3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
          "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
          "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
          "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128)}


def conv_bn(x, filters, kernel_size, name, strides=1, padding="same"):
    """torchvision's BasicConv2d: convolution without bias, batch norm (epsilon 1e-3), ReLU."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def inception_block(x, filters, large_kernel_size=5, name="inception"):
    """The Inception block: four branches side by side, concatenated on the channels - a 1x1 convolution; 1x1 then
    3x3; 1x1 then `large_kernel_size` x `large_kernel_size` (the paper's 5x5); a 3x3/1 max pool then 1x1.
    `filters` = (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection), as the paper's table 1. The output has
    the input's height and width and filters[0] + filters[2] + filters[4] + filters[5] channels."""
    if len(filters) != 6 or not all(isinstance(f, int) and f > 0 for f in filters):
        raise bad_argument("inception_block", "filters", "6 positive ints (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, "
                           "pool projection)", filters)
    f1, f3_reduce, f3, f5_reduce, f5, pool_projection = filters
    branch1 = conv_bn(x, f1, 1, f"{name}_1x1")
    branch2 = conv_bn(conv_bn(x, f3_reduce, 1, f"{name}_3x3_reduce"), f3, 3, f"{name}_3x3")
    branch3 = conv_bn(conv_bn(x, f5_reduce, 1, f"{name}_5x5_reduce"), f5, large_kernel_size, f"{name}_5x5")
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch4 = conv_bn(pool, pool_projection, 1, f"{name}_pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch2, branch3, branch4])


def InceptionV1(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
                dropout=0.2, large_kernel_size=3, classifier_activation="softmax", name="inception_v1"):
    """GoogLeNet: 6,624,904 trainable parameters at 1000 classes, as torchvision's googlenet without its auxiliary
    heads, which counts that figure with 3x3 convolutions in the blocks' "5x5" branch (a known torchvision bug,
    pytorch/vision#906, kept for its pretrained weights); large_kernel_size=5 gives the paper's 5x5 (7,005,832).
    `width` scales every convolution; smallest input 32x32."""
    model = "InceptionV1"
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 32, classes,
                                                 include_top, pooling, classifier_activation)
    width = check_multiplier(model, "width", width)
    if large_kernel_size not in (3, 5):
        raise bad_argument(model, "large_kernel_size", "3 (torchvision) or 5 (the paper)", large_kernel_size)
    dropout = check_dropout(model, dropout)
    inputs = Input(input_shape, name="input")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = conv_bn(x, scaled(64, width), 7, "conv1", strides=2, padding="valid")
    # torchvision's ceil-mode pools give what "same" gives: 112 -> 56 -> 28 -> 14 -> 7
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_bn(x, scaled(64, width), 1, "conv2")
    x = conv_bn(x, scaled(192, width), 3, "conv3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    for block, block_filters in BLOCKS.items():
        if block in ("4a", "5a"):
            size = 3 if block == "4a" else 2
            x = layers.MaxPooling2D(size, strides=2, padding="same", name=f"pool{block[0]}")(x)
        x = inception_block(x, tuple(scaled(f, width) for f in block_filters), large_kernel_size,
                            name=f"inception{block}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)
