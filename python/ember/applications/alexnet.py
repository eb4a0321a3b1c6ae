"""AlexNet (Krizhevsky et al., 2012) as torchvision builds it (the one-GPU variant of "One weird trick", 2014):
five convolutions with ReLU, three 3x3/2 max pools, then dropout and two 4096-unit dense layers."""
from .. import layers
from ..models import Input, Model
from ._common import check_common, check_dropout, check_multiplier, pooled, scaled


def AlexNet(input_shape=None, classes=1000, include_top=True, weights=None, pooling=None, width=1.0, dropout=0.5,
            classifier_activation="softmax", name="alexnet"):
    """AlexNet: 61,100,840 parameters at 224x224x3 and 1000 classes (as torchvision's alexnet; its adaptive
    average pool to 6x6 is the identity at 224x224, and other sizes flatten what they have). `width` scales every
    convolution and hidden dense layer; smallest input 63x63."""
    model = "AlexNet"
    input_shape, classes, pooling = check_common(model, weights, input_shape, (224, 224, 3), 63, classes,
                                                 include_top, pooling, classifier_activation)
    width = check_multiplier(model, "width", width)
    dropout = check_dropout(model, dropout)
    inputs = Input(input_shape, name="input")
    x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)  # torchvision pads 2 on every side: 224 -> 55
    x = layers.Conv2D(scaled(64, width), 11, strides=4, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(scaled(192, width), 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(scaled(384, width), 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(scaled(256, width), 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(scaled(256, width), 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(dropout, name="dropout1")(x)
        x = layers.Dense(scaled(4096, width), activation="relu", name="fc1")(x)
        x = layers.Dropout(dropout, name="dropout2")(x)
        x = layers.Dense(scaled(4096, width), activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)
