"""Every layer from one table: output shapes (call and compute_output_shape), config round trips with identical
outputs, float64 gradients with respect to the input and each weight on both backends, and Keras-style errors."""
import numpy as np
import pytest

import ember
from ember import layers as L
from ember.layers.base import LAYER_CLASSES
from ember.testing import gradcheck

BACKENDS = ("reference", "cpu")

# (class, constructor kwargs, input shape(s), expected output shape)
CASES = [
    (L.Dense, {"units": 4}, (3, 5), (3, 4)),
    (L.Dense, {"units": 2, "activation": "tanh", "use_bias": False}, (2, 3, 4), (2, 3, 2)),
    (L.Activation, {"activation": "sigmoid"}, (2, 3), (2, 3)),
    (L.Flatten, {}, (2, 3, 2, 2), (2, 12)),
    (L.Flatten, {"data_format": "channels_first"}, (2, 3, 2, 2), (2, 12)),
    (L.Reshape, {"target_shape": (-1, 2)}, (2, 3, 4), (2, 6, 2)),
    (L.Dropout, {"rate": 0.5}, (2, 6), (2, 6)),
    (L.Conv2D, {"filters": 3, "kernel_size": 3}, (2, 5, 5, 2), (2, 3, 3, 3)),
    (L.Conv2D, {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same", "activation": "relu"},
     (1, 5, 6, 2), (1, 3, 3, 4)),
    (L.Conv2D, {"filters": 4, "kernel_size": 2, "groups": 2, "dilation_rate": 2}, (1, 5, 5, 4), (1, 3, 3, 4)),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "padding": "same", "data_format": "channels_first"},
     (1, 3, 4, 5), (1, 2, 4, 5)),
    (L.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 2}, (1, 5, 4, 3), (1, 3, 2, 6)),
    (L.DepthwiseConv2D, {"kernel_size": 2, "strides": 2, "padding": "same"}, (2, 5, 5, 2), (2, 3, 3, 2)),
    (L.SeparableConv2D, {"filters": 3, "kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
     (1, 4, 4, 2), (1, 4, 4, 3)),
    (L.Conv2DTranspose, {"filters": 3, "kernel_size": 3}, (1, 3, 4, 2), (1, 5, 6, 3)),
    (L.Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 3, 3, 2),
     (2, 6, 6, 2)),
    (L.Conv2DTranspose, {"filters": 2, "kernel_size": 2, "strides": 2, "output_padding": 1,
                         "data_format": "channels_first"}, (1, 2, 3, 3), (1, 2, 7, 7)),
    (L.MaxPooling2D, {}, (2, 4, 5, 3), (2, 2, 2, 3)),
    (L.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
     (1, 2, 5, 5), (1, 2, 3, 3)),
    (L.AveragePooling2D, {"pool_size": (2, 3), "strides": 1}, (1, 4, 4, 2), (1, 3, 2, 2)),
    (L.GlobalAveragePooling2D, {}, (2, 3, 4, 5), (2, 5)),
    (L.GlobalAveragePooling2D, {"data_format": "channels_first", "keepdims": True}, (2, 3, 4, 5), (2, 3, 1, 1)),
    (L.GlobalMaxPooling2D, {}, (2, 3, 4, 5), (2, 5)),
    (L.BatchNormalization, {}, (6, 3), (6, 3)),
    (L.BatchNormalization, {"axis": 1, "center": False}, (3, 2, 2, 2), (3, 2, 2, 2)),
    (L.ReLU, {}, (2, 5), (2, 5)),
    (L.ReLU, {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.2}, (3, 4), (3, 4)),
    (L.LeakyReLU, {}, (2, 5), (2, 5)),
    (L.ELU, {"alpha": 0.5}, (2, 5), (2, 5)),
    (L.Softmax, {"axis": 1}, (2, 3, 4), (2, 3, 4)),
    (L.Add, {}, [(2, 3), (2, 3), (2, 3)], (2, 3)),
    (L.Subtract, {}, [(2, 3, 2), (2, 3, 2)], (2, 3, 2)),
    (L.Multiply, {}, [(2, 4), (2, 4)], (2, 4)),
    (L.Average, {}, [(2, 4), (2, 4)], (2, 4)),
    (L.Maximum, {}, [(2, 4), (2, 4)], (2, 4)),
    (L.Minimum, {}, [(2, 4), (2, 4)], (2, 4)),
    (L.Concatenate, {}, [(2, 3, 1), (2, 3, 2)], (2, 3, 3)),
    (L.Concatenate, {"axis": 1}, [(2, 1, 4), (2, 2, 4)], (2, 3, 4)),
    (L.ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (1, 2, 3, 2), (1, 3, 8, 2)),
    (L.ZeroPadding2D, {"padding": 1, "data_format": "channels_first"}, (1, 2, 3, 3), (1, 2, 5, 5)),
    (L.UpSampling2D, {"size": (2, 3)}, (1, 2, 3, 2), (1, 4, 9, 2)),
    (L.UpSampling2D, {"data_format": "channels_first"}, (1, 2, 2, 3), (1, 2, 4, 6)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, *_) in enumerate(CASES)]


def _inputs(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if isinstance(shape, list):
        return [rng.standard_normal(s).astype(dtype) for s in shape]
    return rng.standard_normal(shape).astype(dtype)


def _make(cls, kwargs, shape, dtype="float32"):
    layer = cls(dtype=dtype, **kwargs)
    layer(_inputs(shape, dtype=dtype))  # build
    rng = np.random.default_rng(1)  # non-trivial weights (biases, BN statistics) so that every weight matters
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 + (1.5 if "variance" in w.name else 0.0)
                       for w in layer.weights])
    return layer


@pytest.mark.parametrize("cls, kwargs, shape, expected", CASES, ids=IDS)
def test_output_shape_of_call_and_compute_output_shape(cls, kwargs, shape, expected):
    layer = cls(**kwargs)
    assert tuple(layer(_inputs(shape, dtype=np.float32)).shape) == expected
    batchless = [(None,) + s[1:] for s in shape] if isinstance(shape, list) else (None,) + shape[1:]
    assert tuple(layer.compute_output_shape(batchless)) == (None,) + expected[1:]


@pytest.mark.parametrize("cls, kwargs, shape, expected", CASES, ids=IDS)
def test_config_round_trip_gives_the_same_config_and_outputs(cls, kwargs, shape, expected):
    layer = _make(cls, kwargs, shape)
    config = layer.get_config()
    clone = LAYER_CLASSES[cls.__name__].from_config(config)
    assert clone.get_config() == config
    x = _inputs(shape, seed=2, dtype=np.float32)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


def _weight_attributes(layer):
    """The attribute name of each weight, so that gradcheck's tensors can stand in for them."""
    names = {id(v): k for k, v in vars(layer).items() if isinstance(v, ember.Tensor)}
    return [names[id(w)] for w in layer.trainable_weights]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, kwargs, shape, expected", CASES, ids=IDS)
def test_gradients_match_finite_differences_in_float64(cls, kwargs, shape, expected, backend):
    with ember.use_backend(backend):
        layer = _make(cls, kwargs, shape, dtype="float64")
        attributes = _weight_attributes(layer)
        inputs = _inputs(shape, seed=3)
        inputs = inputs if isinstance(inputs, list) else [inputs]
        count = len(inputs)

        def forward(*arrays):
            for name, weight in zip(attributes, arrays[count:]):
                setattr(layer, name, weight)
            x = list(arrays[:count]) if isinstance(shape, list) else arrays[0]
            return layer(x, training=cls is L.BatchNormalization)  # BN: batch statistics; Dropout: identity

        weights = [w.numpy().copy() for w in layer.trainable_weights]
        gradcheck(forward, inputs + weights, atol=1e-5, rtol=1e-4)


MODULES = ("activation_layers", "convolutional", "core", "merging", "normalization", "pooling", "reshaping")


def test_layer_table_covers_every_exported_layer():
    tested = {cls for cls, *_ in CASES}
    exported = {v for v in vars(L).values() if isinstance(v, type) and issubclass(v, L.Layer)
                and v.__module__.rsplit(".", 1)[-1] in MODULES}
    assert exported - tested == set()


# -- Keras weight order and shapes -------------------------------------------------------------------------------
WEIGHTS = [
    (lambda: L.Dense(4), (2, 3), ["kernel", "bias"], [(3, 4), (4,)]),
    (lambda: L.Conv2D(5, (3, 2)), (1, 6, 6, 2), ["kernel", "bias"], [(3, 2, 2, 5), (5,)]),
    (lambda: L.BatchNormalization(), (2, 3), ["gamma", "beta", "moving_mean", "moving_variance"], [(3,)] * 4),
    (lambda: L.SeparableConv2D(4, 3, depth_multiplier=2), (1, 5, 5, 3),
     ["depthwise_kernel", "pointwise_kernel", "bias"], [(3, 3, 3, 2), (1, 1, 6, 4), (4,)]),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (1, 5, 5, 3), ["kernel", "bias"], [(3, 3, 3, 2), (6,)]),
    (lambda: L.Conv2DTranspose(4, 3), (1, 5, 5, 3), ["kernel", "bias"], [(3, 3, 4, 3), (4,)]),
]


@pytest.mark.parametrize("make, shape, names, shapes", WEIGHTS, ids=[n[0] for *_, n, _ in WEIGHTS])
def test_weights_come_in_keras_order_and_shapes(make, shape, names, shapes):
    layer = make()
    layer(np.zeros(shape, np.float32))
    assert [w.name.split("/")[-1] for w in layer.weights] == names
    assert [w.shape for w in layer.get_weights()] == shapes


def test_batch_norm_moving_statistics_are_not_trainable():
    layer = L.BatchNormalization()
    layer(np.zeros((2, 3), np.float32))
    assert [w.name.split("/")[-1] for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name.split("/")[-1] for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
