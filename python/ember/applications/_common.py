"""What every model in the zoo shares: argument checks that name the model, the input, and the top (the
classifier, or the pooling Keras offers when `include_top=False`)."""
import numpy as np

from .. import activations, layers


def bad_argument(model, name, expected, value):
    """Keras' form of a bad-argument error, prefixed with the model that refused it."""
    return ValueError(f"{model}: Invalid value for argument `{name}`. Expected {expected}. "
                      f"Received: {name}={value!r}")


def check_weights(model, weights):
    if weights is not None:
        raise bad_argument(model, "weights", "None (ember ships no pretrained weights and downloads nothing; "
                           "train the model, or load weights you have with model.load_weights)", weights)


def check_input_shape(model, input_shape, default, min_size, channels=None):
    """`input_shape` (height, width, channels), every size known (the functional API runs each layer on a stand-in
    of that size while it builds), at least `min_size` square so the model's downsampling leaves a pixel."""
    if input_shape is None:
        return tuple(default)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    well_formed = len(shape) == 3 and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
                                          for n in shape)
    if not well_formed or min(shape[:2]) < min_size or (channels is not None and shape[2] != channels):
        needs = f"{channels} channels" if channels is not None else "channels last"
        raise bad_argument(model, "input_shape", f"a tuple (height, width, channels) of known sizes, height and "
                           f"width at least {min_size}, {needs} (NHWC)", input_shape)
    return tuple(int(n) for n in shape)


def check_classes(model, classes):
    if not isinstance(classes, (int, np.integer)) or isinstance(classes, bool) or classes < 1:
        raise bad_argument(model, "classes", "a positive int", classes)
    return int(classes)


def check_pooling(model, pooling, include_top):
    if pooling not in (None, "avg", "max"):
        raise bad_argument(model, "pooling", "None, 'avg' or 'max'", pooling)
    if pooling is not None and include_top:
        raise bad_argument(model, "pooling", "None when include_top=True (pooling applies to the features that "
                           "include_top=False returns)", pooling)
    return pooling


def check_multiplier(model, name, value):
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or not value > 0:
        raise bad_argument(model, name, "a number > 0 (1.0 is the published size)", value)
    return float(value)


def check_activation(model, name, value):
    """A name ember.activations knows, a callable, or None (linear); returned as given for the layers."""
    try:
        activations.get(value)
    except ValueError:
        raise bad_argument(model, name, f"one of {sorted(activations._BY_NAME)}, a callable or None",
                           value) from None
    return value


def check_dropout(model, dropout):
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.number)) or not 0 <= dropout < 1:
        raise bad_argument(model, "dropout", "a float in [0, 1)", dropout)
    return float(dropout)


def scaled(n, width):
    """n channels or units scaled by a width multiplier, never below one."""
    return max(1, int(round(n * width)))


def check_common(model, weights, input_shape, default_shape, min_size, classes, include_top, pooling,
                 classifier_activation):
    """The checks every zoo model runs first; returns (input_shape, classes, pooling)."""
    check_weights(model, weights)
    check_activation(model, "classifier_activation", classifier_activation)
    shape = check_input_shape(model, input_shape, default_shape, min_size)
    return shape, check_classes(model, classes), check_pooling(model, pooling, include_top)


def pooled(x, pooling, name):
    """The features include_top=False returns: the last feature map, or its global average or maximum."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"{name}avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"{name}max_pool")(x)
    return x


__all__ = ["bad_argument", "check_activation", "check_common", "check_dropout", "check_multiplier", "pooled", "scaled"]
