"""LeNet-5 (LeCun et al., 1998): two convolution/subsampling stages, then 120-84-classes dense layers."""
from .. import layers
from ..models import Input, Model
from ._common import check_activation, check_common, check_multiplier, pooled, scaled


def LeNet5(input_shape=None, classes=10, include_top=True, weights=None, pooling=None, width=1.0,
           activation="relu", classifier_activation="softmax", name="lenet5"):
    """LeNet-5 for (32, 32, 1) images by default: conv 5x5 6 - pool 2 - conv 5x5 16 - pool 2 - dense 120 - dense 84
    - dense classes, 61,706 parameters. The 1998 paper used tanh and trainable average subsampling; ReLU and max
    pooling (the default here) train faster; `activation="tanh"` gives the paper's activations. `width` scales every
    conv and hidden dense layer. Smallest input: 16x16 (28x28 MNIST works as it is)."""
    model = "LeNet5"
    input_shape, classes, pooling = check_common(model, weights, input_shape, (32, 32, 1), 16, classes,
                                                 include_top, pooling, classifier_activation)
    width = check_multiplier(model, "width", width)
    check_activation(model, "activation", activation)
    inputs = Input(input_shape, name="input")
    x = layers.Conv2D(scaled(6, width), 5, activation=activation, name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(scaled(16, width), 5, activation=activation, name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(scaled(120, width), activation=activation, name="fc1")(x)
        x = layers.Dense(scaled(84, width), activation=activation, name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "")
    return Model(inputs, x, name=name)
