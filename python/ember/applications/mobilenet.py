"""MobileNet (Howard et al., 2017) and MobileNetV2 (Sandler et al., 2018) as Keras builds them: depthwise-separable
convolutions with batch norm and ReLU6, a width multiplier `alpha`; V2 adds inverted residual blocks (1x1 expand,
3x3 depthwise, linear 1x1 projection, shortcut where the shape allows). Layer names are Keras'."""
from .. import layers
from ..models import Input, Model
from ._common import bad_argument, check_common, check_dropout, check_multiplier, pooled

# (pointwise filters, strides) of MobileNet's 13 depthwise-separable blocks
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
             (512, 1), (1024, 2), (1024, 1))
# (expansion, filters, repeats, first stride) of MobileNetV2's bottleneck stages: the paper's table 2
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


def stride2_padding(x):
    """The zero padding before a 3x3/2 "valid" convolution that Keras uses (imagenet_utils.correct_pad): one row
    or column after on an even size, one on each side on an odd size."""
    return tuple((n % 2, 1) for n in x.shape[1:3])


def depthwise_separable_block(x, filters, strides=1, depth_multiplier=1, name="block", momentum=0.99):
    """MobileNet's block: 3x3 depthwise convolution (strided to halve the size), batch norm, ReLU6, then a 1x1
    convolution to `filters` channels, batch norm, ReLU6. Convolutions without bias (batch norm's beta is one).
    Keras' names: conv_dw_{i}, conv_pw_{i} with name="{i}"."""
    if strides == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{name}")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same" if strides == 1 else "valid",
                               depth_multiplier=depth_multiplier, use_bias=False, name=f"conv_dw_{name}")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"conv_dw_{name}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{name}_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{name}")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"conv_pw_{name}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{name}_relu")(x)


def inverted_residual_block(x, filters, strides=1, expansion=6, name="block", momentum=0.999):
    """MobileNetV2's block: 1x1 convolution expanding the channels `expansion` times (none when expansion is 1),
    3x3 depthwise convolution, each with batch norm and ReLU6, then a linear 1x1 projection to `filters` with batch
    norm, added to the input when strides is 1 and the channels agree."""
    channels = x.shape[-1]
    inputs = x
    if expansion != 1:
        x = layers.Conv2D(expansion * channels, 1, padding="same", use_bias=False, name=f"{name}expand")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=momentum, name=f"{name}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{name}expand_relu")(x)
    if strides == 2:
        x = layers.ZeroPadding2D(stride2_padding(x), name=f"{name}pad")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same" if strides == 1 else "valid", use_bias=False,
                               name=f"{name}depthwise")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=momentum, name=f"{name}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{name}depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=momentum, name=f"{name}project_BN")(x)
    if strides == 1 and channels == filters:
        x = layers.Add(name=f"{name}add")([inputs, x])
    return x


def make_divisible(value, divisor=8):
    """Keras' channel rounding for MobileNetV2: to the nearest multiple of `divisor`, never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def MobileNetV1(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights=None,
                pooling=None, classes=1000, classifier_activation="softmax", name="mobilenet"):
    """MobileNet: a 3x3/2 convolution and 13 depthwise-separable blocks; 4,253,864 parameters at 224x224x3,
    alpha 1 and 1000 classes, moving statistics included (as Keras' MobileNet). `alpha` scales every layer's
    channels, `depth_multiplier` the depthwise convolutions' outputs; smallest input 32x32."""
    model = "MobileNetV1"
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 32, classes,
                                                 include_top, pooling, classifier_activation)
    alpha = check_multiplier(model, "alpha", alpha)
    dropout = check_dropout(model, dropout)
    if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise bad_argument(model, "depth_multiplier", "a positive int", depth_multiplier)
    inputs = Input(input_shape, name="input")
    x = layers.Conv2D(max(1, int(32 * alpha)), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, strides) in enumerate(V1_BLOCKS, start=1):
        x = depthwise_separable_block(x, max(1, int(filters * alpha)), strides, depth_multiplier, name=str(i))
    if include_top:
        # Keras' head: a 1x1 convolution on the pooled features (a dense layer in all but the kernel's shape)
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling2d")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights=None, pooling=None, classes=1000,
                classifier_activation="softmax", name="mobilenetv2"):
    """MobileNetV2: a 3x3/2 convolution, 17 inverted residual blocks and a 1x1 convolution to 1280 channels;
    3,538,984 parameters at 224x224x3, alpha 1 and 1000 classes, moving statistics included (as Keras'
    MobileNetV2). `alpha` scales the channels (rounded to multiples of 8; the last 1280 only grows); smallest
    input 32x32."""
    model = "MobileNetV2"
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 32, classes,
                                                 include_top, pooling, classifier_activation)
    alpha = check_multiplier(model, "alpha", alpha)
    inputs = Input(input_shape, name="input")
    x = layers.Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    block = 0
    for expansion, filters, repeats, first_stride in V2_STAGES:
        for r in range(repeats):
            prefix = f"block_{block}_" if block else "expanded_conv_"
            x = inverted_residual_block(x, make_divisible(int(filters * alpha)), first_stride if r == 0 else 1,
                                        expansion, name=prefix)
            block += 1
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)
