"""ResNet (He et al., 2015): residual blocks with batch norm. ResNet18 and ResNet34 stack basic blocks (two 3x3
convolutions) as torchvision does, ResNet50 bottleneck blocks (1x1 down, 3x3, 1x1 up by 4) as Keras does; the
blocks are public for building other depths."""
from .. import layers
from ..models import Input, Model
from ._common import check_common, check_multiplier, pooled, scaled

BN_EPSILON = 1.001e-5  # Keras' ResNet value (torchvision's 1e-5); it changes no parameter count


def conv_bn(x, filters, kernel_size, strides, use_bias, name, relu=True):
    """Convolution, batch norm and (unless relu=False) ReLU: the unit every residual block is made of."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=use_bias, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def shortcut(x, channels, strides, use_bias, name):
    """The identity, or a strided 1x1 convolution with batch norm where the block changes the size or channels."""
    if strides == 1 and x.shape[-1] == channels:
        return x
    return conv_bn(x, channels, 1, strides, use_bias, f"{name}_0", relu=False)


def basic_block(x, filters, strides=1, use_bias=False, name="block"):
    """ResNet's basic block: relu(x' + bn(conv3x3(relu(bn(conv3x3(x)))))), x' the shortcut; `filters` channels out.
    `strides` 2 halves the size (in the first convolution and the shortcut). use_bias=False as torchvision (batch
    norm's beta makes a convolution bias redundant)."""
    short = shortcut(x, filters, strides, use_bias, name)
    x = conv_bn(x, filters, 3, strides, use_bias, f"{name}_1")
    x = conv_bn(x, filters, 3, 1, use_bias, f"{name}_2", relu=False)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(x, filters, strides=1, expansion=4, use_bias=True, name="block"):
    """ResNet's bottleneck block, as Keras' ResNet50: 1x1 to `filters` (strided, as the paper's v1; torchvision's
    v1.5 strides the 3x3 instead, same parameters), 3x3, 1x1 up to `expansion * filters`, each with batch norm,
    added to the shortcut, then ReLU. use_bias=True as Keras."""
    channels = expansion * filters
    short = shortcut(x, channels, strides, use_bias, name)
    x = conv_bn(x, filters, 1, strides, use_bias, f"{name}_1")
    x = conv_bn(x, filters, 3, 1, use_bias, f"{name}_2")
    x = conv_bn(x, channels, 1, 1, use_bias, f"{name}_3", relu=False)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet(model, block, stage_blocks, use_bias, input_shape, classes, include_top, weights, pooling, width,
           classifier_activation, name):
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 32, classes,
                                                 include_top, pooling, classifier_activation)
    width = check_multiplier(model, "width", width)
    inputs = Input(input_shape, name="input")
    # the stem: 7x7/2 convolution and 3x3/2 max pool, padded explicitly as both Keras and torchvision do
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(scaled(64, width), 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)  # zeros pad a max pool after ReLU as -inf would
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, blocks in enumerate(stage_blocks):
        filters = scaled(64 * 2 ** stage, width)
        for b in range(blocks):
            strides = 2 if stage > 0 and b == 0 else 1
            x = block(x, filters, strides, use_bias=use_bias, name=f"conv{stage + 2}_block{b + 1}")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)


def ResNet18(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
             classifier_activation="softmax", name="resnet18"):
    """ResNet18: basic blocks (2, 2, 2, 2), convolutions without bias, 11,689,512 trainable parameters at 1000
    classes (as torchvision's resnet18; the batch norms' moving statistics add 9,600 more). `width` scales every
    convolution; smallest input 32x32."""
    return resnet("ResNet18", basic_block, (2, 2, 2, 2), False, input_shape, classes, include_top, weights, pooling,
                  width, classifier_activation, name)


def ResNet34(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
             classifier_activation="softmax", name="resnet34"):
    """ResNet34: basic blocks (3, 4, 6, 3), convolutions without bias, 21,797,672 trainable parameters at 1000
    classes (as torchvision's resnet34). `width` scales every convolution; smallest input 32x32."""
    return resnet("ResNet34", basic_block, (3, 4, 6, 3), False, input_shape, classes, include_top, weights, pooling,
                  width, classifier_activation, name)


def ResNet50(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0,
             classifier_activation="softmax", name="resnet50"):
    """ResNet50: bottleneck blocks (3, 4, 6, 3), convolutions with bias, 25,636,712 parameters at 1000 classes,
    moving statistics included (as Keras' ResNet50). `width` scales every convolution; smallest input 32x32."""
    return resnet("ResNet50", bottleneck_block, (3, 4, 6, 3), True, input_shape, classes, include_top, weights,
                  pooling, width, classifier_activation, name)
