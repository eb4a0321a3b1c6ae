"""Every public layer refuses bad constructor arguments in Keras' form ("Invalid value for argument `rate`.
Expected ... Received: rate=...") and a wrong input rank or shape with a message that names the layer, what it
expected and the shape it received. Coverage is checked: a new layer without cases fails here."""
import re

import numpy as np
import pytest

import ember
from ember import layers as L

LAYERS = sorted({cls for cls in vars(L).values() if isinstance(cls, type) and issubclass(cls, L.Layer)
                 and cls is not L.Layer}, key=lambda cls: cls.__name__)


def z(*shape):
    return np.zeros(shape, np.float32)


# -- constructor arguments ----------------------------------------------------------------------------------------
BAD_ARGUMENTS = [  # (layer class, keyword arguments, the bad argument)
    (L.Activation, {"activation": "nope"}, "activation"),
    (L.Add, {"dtype": "int32"}, "dtype"),            # weights take gradients: a layer computes in floating point
    (L.AdditiveAttention, {"dropout": 2.0}, "dropout"),
    (L.Attention, {"score_mode": "add"}, "score_mode"),
    (L.Average, {"name": 3}, "name"),
    (L.AveragePooling2D, {"strides": 0}, "strides"),
    (L.BatchNormalization, {"momentum": 2.0}, "momentum"),
    (L.BatchNormalization, {"axis": 1.5}, "axis"),
    (L.Bidirectional, {"layer": 3}, "layer"),
    (L.Bidirectional, {"layer": L.LSTM(2), "merge_mode": "x"}, "merge_mode"),
    (L.Concatenate, {"axis": "x"}, "axis"),
    (L.Concatenate, {"axis": 1.5}, "axis"),
    (L.Conv2D, {"filters": 0, "kernel_size": 3}, "filters"),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "groups": 0}, "groups"),
    (L.Conv2DTranspose, {"filters": 2, "kernel_size": 0}, "kernel_size"),
    (L.Dense, {"units": 0}, "units"),
    (L.Dense, {"units": 2.5}, "units"),
    (L.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 0}, "depth_multiplier"),
    (L.Dropout, {"rate": 1.5}, "rate"),
    (L.Dropout, {"rate": 0.5, "noise_shape": "x"}, "noise_shape"),
    (L.Dropout, {"rate": 0.5, "seed": -1}, "seed"),
    (L.ELU, {"alpha": "x"}, "alpha"),
    (L.Embedding, {"input_dim": 0, "output_dim": 2}, "input_dim"),
    (L.Flatten, {"data_format": "nhwc"}, "data_format"),
    (L.GRU, {"units": 0}, "units"),
    (L.GRUCell, {"units": 2, "dropout": 1.5}, "dropout"),
    (L.GaussianNoise, {"stddev": -0.1}, "stddev"),
    (L.GlobalAveragePooling2D, {"data_format": "x"}, "data_format"),
    (L.GlobalMaxPooling2D, {"data_format": "x"}, "data_format"),
    (L.LSTM, {"units": 2, "recurrent_dropout": -0.1}, "recurrent_dropout"),
    (L.LSTMCell, {"units": 0}, "units"),
    (L.LeakyReLU, {"negative_slope": -0.1}, "negative_slope"),
    (L.Masking, {"mask_value": "x"}, "mask_value"),
    (L.MaxPooling2D, {"pool_size": 0}, "pool_size"),
    (L.Maximum, {"dtype": "nope"}, "dtype"),
    (L.Minimum, {"dtype": "complex64"}, "dtype"),
    (L.MultiHeadAttention, {"num_heads": 0, "key_dim": 2}, "num_heads"),
    (L.Multiply, {"name": ["m"]}, "name"),
    (L.RNN, {"cell": 3}, "cell"),
    (L.RandomCrop, {"height": 0, "width": 2}, "height"),
    (L.RandomFlip, {"mode": "diagonal"}, "mode"),
    (L.RandomRotation, {"factor": (0.3, 0.1)}, "factor"),
    (L.RandomTranslation, {"height_factor": 1.5, "width_factor": 0.1}, "height_factor"),
    (L.RandomZoom, {"height_factor": 0.1, "fill_mode": "mirror"}, "fill_mode"),
    (L.ReLU, {"max_value": -1.0}, "max_value"),
    (L.Reshape, {"target_shape": (-1, -1)}, "target_shape"),
    (L.SeparableConv2D, {"filters": 2, "kernel_size": 3, "depth_multiplier": 0}, "depth_multiplier"),
    (L.SimpleRNN, {"units": 2, "activation": "nope"}, "activation"),
    (L.SimpleRNNCell, {"units": 2.5}, "units"),
    (L.Softmax, {"axis": "x"}, "axis"),
    (L.Subtract, {"dtype": "bool"}, "dtype"),
    (L.TimeDistributed, {"layer": "dense"}, "layer"),
    (L.UpSampling2D, {"size": 0}, "size"),
    (L.ZeroPadding2D, {"padding": -1}, "padding"),
]


@pytest.mark.parametrize("cls, kwargs, argument", BAD_ARGUMENTS,
                         ids=[f"{cls.__name__}-{arg}" for cls, _, arg in BAD_ARGUMENTS])
def test_bad_argument_raises_in_keras_form(cls, kwargs, argument):
    with pytest.raises(ValueError) as raised:
        cls(**kwargs)
    received = re.escape(f"{argument}={kwargs[argument]!r}")
    pattern = rf"Invalid value for argument `{argument}`\. Expected .+\. Received: {received}"
    assert re.fullmatch(pattern, str(raised.value), re.DOTALL), str(raised.value)


def test_every_layer_has_a_bad_argument_case():
    covered = {cls for cls, _, _ in BAD_ARGUMENTS}
    assert not set(LAYERS) - covered, f"no bad-argument case for {sorted(c.__name__ for c in set(LAYERS) - covered)}"


# -- inputs -----------------------------------------------------------------------------------------------------------
def built(layer, *inputs):
    """`layer` after a first call on valid `inputs`: its weights and input spec are fixed."""
    layer(*inputs)
    return layer


def _cell_call(cell, x, states):
    return lambda: cell(x, states)


BAD_INPUTS = [  # (case id, layer factory taking a name, call arguments, expected (regex), received shape)
    ("Dense-rank", lambda n: L.Dense(2, name=n), (z(4),), r"expected min_ndim=2", (4,)),
    ("Dense-features", lambda n: built(L.Dense(2, name=n), z(1, 3)), (z(1, 4),),
     r"expected axis -1 of input shape to have value 3", (1, 4)),
    ("Conv2D-rank", lambda n: L.Conv2D(2, 3, name=n), (z(5, 5, 3),), r"expected ndim=4 \(N, H, W, C\)", (5, 5, 3)),
    ("Conv2D-rank-after-build", lambda n: built(L.Conv2D(2, 3, name=n), z(1, 5, 5, 3)), (z(5, 5, 3),),
     r"expected ndim=4 \(N, H, W, C\)", (5, 5, 3)),
    ("Conv2D-too-small", lambda n: L.Conv2D(2, 3, name=n), (z(1, 2, 2, 3),),
     r"kernel window \(3, 3\) .* is larger than the padded input", (1, 2, 2, 3)),
    ("Conv2D-channels", lambda n: built(L.Conv2D(2, 3, name=n), z(1, 5, 5, 3)), (z(1, 5, 5, 4),),
     r"expected axis -1 of input shape to have value 3", (1, 5, 5, 4)),
    ("Conv2D-channels-first", lambda n: built(L.Conv2D(2, 3, data_format="channels_first", name=n), z(1, 3, 5, 5)),
     (z(1, 4, 5, 5),), r"expected axis 1 of input shape to have value 3", (1, 4, 5, 5)),
    ("Conv2DTranspose-rank", lambda n: L.Conv2DTranspose(2, 3, name=n), (z(5, 5, 3),), r"expected ndim=4", (5, 5, 3)),
    ("Conv2DTranspose-channels", lambda n: built(L.Conv2DTranspose(2, 3, name=n), z(1, 5, 5, 3)), (z(1, 5, 5, 4),),
     r"expected axis -1 of input shape to have value 3", (1, 5, 5, 4)),
    ("DepthwiseConv2D-rank", lambda n: L.DepthwiseConv2D(3, name=n), (z(5, 5, 3),), r"expected ndim=4", (5, 5, 3)),
    ("DepthwiseConv2D-channels", lambda n: built(L.DepthwiseConv2D(3, name=n), z(1, 5, 5, 3)), (z(1, 5, 5, 4),),
     r"expected axis -1 of input shape to have value 3", (1, 5, 5, 4)),
    ("SeparableConv2D-rank", lambda n: L.SeparableConv2D(2, 3, name=n), (z(5, 5, 3),), r"expected ndim=4", (5, 5, 3)),
    ("SeparableConv2D-channels", lambda n: built(L.SeparableConv2D(2, 3, name=n), z(1, 5, 5, 3)), (z(1, 5, 5, 4),),
     r"expected axis -1 of input shape to have value 3", (1, 5, 5, 4)),
    ("MaxPooling2D-rank", lambda n: L.MaxPooling2D(name=n), (z(5, 5),), r"expected ndim=4 \(N, H, W, C\)", (5, 5)),
    ("MaxPooling2D-rank-channels-first", lambda n: L.MaxPooling2D(data_format="channels_first", name=n), (z(2, 3),),
     r"expected ndim=4 \(N, C, H, W\)", (2, 3)),
    ("MaxPooling2D-too-small", lambda n: L.MaxPooling2D(3, name=n), (z(1, 2, 2, 1),),
     r"pool window \(3, 3\) .* is larger than the padded input", (1, 2, 2, 1)),
    ("AveragePooling2D-rank", lambda n: L.AveragePooling2D(name=n), (z(5, 5),), r"expected ndim=4", (5, 5)),
    ("AveragePooling2D-too-small", lambda n: L.AveragePooling2D(3, name=n), (z(1, 2, 2, 1),),
     r"pool window \(3, 3\) .* is larger than the padded input", (1, 2, 2, 1)),
    ("GlobalAveragePooling2D-rank", lambda n: L.GlobalAveragePooling2D(name=n), (z(5, 5),), r"expected ndim=4",
     (5, 5)),
    ("GlobalAveragePooling2D-rank-after-build", lambda n: built(L.GlobalAveragePooling2D(name=n), z(1, 3, 3, 2)),
     (z(1, 3, 3),), r"expected ndim=4", (1, 3, 3)),
    ("GlobalMaxPooling2D-rank", lambda n: L.GlobalMaxPooling2D(name=n), (z(5, 5),), r"expected ndim=4", (5, 5)),
    ("Flatten-rank", lambda n: L.Flatten(name=n), (z(),), r"expected min_ndim=1", ()),
    ("Reshape-size", lambda n: L.Reshape((5,), name=n), (z(2, 6),), r"to target_shape \(5,\)", (2, 6)),
    ("BatchNormalization-axis", lambda n: L.BatchNormalization(axis=3, name=n), (z(2, 3),),
     r"axis 3 is out of range", (2, 3)),
    ("BatchNormalization-channels", lambda n: built(L.BatchNormalization(name=n), z(2, 3)), (z(2, 4),),
     r"`moving_mean` has shape \(3,\), expected \(4,\)", (2, 4)),
    ("ZeroPadding2D-rank", lambda n: L.ZeroPadding2D(name=n), (z(5, 5),), r"expected ndim=4", (5, 5)),
    ("UpSampling2D-rank", lambda n: L.UpSampling2D(name=n), (z(5, 5),), r"expected ndim=4", (5, 5)),
    ("Embedding-id-range", lambda n: L.Embedding(4, 2, name=n), (np.array([[7]]),),
     r"ids must lie in \[0, input_dim\) = \[0, 4\)", (1, 1)),
    ("Embedding-float-ids", lambda n: L.Embedding(4, 2, name=n), (np.array([[0.5]]),), r"expects integer ids",
     (1, 1)),
    ("LSTM-rank", lambda n: L.LSTM(2, name=n), (z(4, 5),), r"expected ndim=3 \(batch, time, features\)", (4, 5)),
    ("LSTM-features", lambda n: built(L.LSTM(2, name=n), z(2, 3, 4)), (z(2, 3, 5),),
     r"kernel \(4, 8\) does not match input features 5", (2, 3, 5)),
    ("GRU-rank", lambda n: L.GRU(2, name=n), (z(4, 5),), r"expected ndim=3", (4, 5)),
    ("SimpleRNN-rank", lambda n: L.SimpleRNN(2, name=n), (z(4, 5),), r"expected ndim=3", (4, 5)),
    ("RNN-rank", lambda n: L.RNN(L.LSTMCell(2), name=n), (z(4, 5),), r"expected ndim=3", (4, 5)),
    ("LSTMCell-rank", lambda n: L.LSTMCell(2, name=n), (z(4, 5, 3), [z(4, 2), z(4, 2)]),
     r"expected ndim=2 \(batch, features\)", (4, 5, 3)),
    ("LSTMCell-states", lambda n: L.LSTMCell(2, name=n), (z(4, 3), [z(4, 3), z(4, 2)]),
     r"expects states of shapes \[\(4, 2\), \(4, 2\)\]", (4, 3)),
    ("GRUCell-states", lambda n: L.GRUCell(2, name=n), (z(4, 3), [z(3, 2)]), r"expects states of shapes \[\(4, 2\)\]",
     (3, 2)),
    ("SimpleRNNCell-rank", lambda n: L.SimpleRNNCell(2, name=n), (z(4), [z(4, 2)]), r"expected ndim=2", (4,)),
    ("SimpleRNNCell-features", lambda n: built(L.SimpleRNNCell(2, name=n), z(4, 3), [z(4, 2)]), (z(4, 5), [z(4, 2)]),
     r"expected axis -1 of input shape to have value 3", (4, 5)),
    ("Bidirectional-rank", lambda n: L.Bidirectional(L.LSTM(2), name=n), (z(4, 5),), r"expected ndim=3", (4, 5)),
    ("TimeDistributed-rank", lambda n: L.TimeDistributed(L.Dense(2), name=n), (z(4, 5),),
     r"with at least 3 dimensions", (4, 5)),
    ("TimeDistributed-features", lambda n: built(L.TimeDistributed(L.Dense(2), name=n), z(2, 3, 4)), (z(2, 3, 5),),
     r"expected axis -1 of input shape to have value 4", (2, 3, 5)),
    ("Softmax-axis", lambda n: L.Softmax(axis=2, name=n), (z(2, 3),), r"axis 2 is out of range", (2, 3)),
    ("Attention-rank", lambda n: L.Attention(name=n), ([z(2, 3), z(2, 3)],), r"rank >= 3", (2, 3)),
    ("AdditiveAttention-rank", lambda n: L.AdditiveAttention(name=n), ([z(2, 3), z(2, 3)],), r"rank >= 3", (2, 3)),
    ("MultiHeadAttention-rank", lambda n: L.MultiHeadAttention(2, 2, name=n), (z(2, 3), z(2, 3)),
     r"must have shape \(batch, sequence, features\)", (2, 3)),
    ("RandomFlip-rank", lambda n: L.RandomFlip(name=n), (z(3, 4),), r"expected ndim=4 .* or 3", (3, 4)),
    ("RandomRotation-rank", lambda n: L.RandomRotation(0.1, name=n), (z(3, 4),), r"expected ndim=4", (3, 4)),
    ("RandomZoom-rank", lambda n: L.RandomZoom(0.1, name=n), (z(3, 4),), r"expected ndim=4", (3, 4)),
    ("RandomTranslation-rank", lambda n: L.RandomTranslation(0.1, 0.1, name=n), (z(3, 4),), r"expected ndim=4",
     (3, 4)),
    ("RandomCrop-rank", lambda n: L.RandomCrop(2, 2, name=n), (z(3, 3),), r"expected ndim=4", (3, 3)),
    ("RandomCrop-too-small", lambda n: L.RandomCrop(5, 5, name=n), (z(1, 3, 3, 1),), r"cannot crop 5x5 from .*3x3",
     (1, 3, 3, 1)),
    ("Add-shapes", lambda n: L.Add(name=n), ([z(2, 3), z(2, 4)],), r"Inputs have incompatible shapes", (2, 4)),
    ("Subtract-shapes", lambda n: L.Subtract(name=n), ([z(2, 3), z(2, 4)],), r"incompatible shapes", (2, 4)),
    ("Multiply-rank", lambda n: L.Multiply(name=n), ([z(2, 3), z(2, 3, 1)],), r"incompatible shapes", (2, 3, 1)),
    ("Average-shapes", lambda n: L.Average(name=n), ([z(2, 3), z(2, 4)],), r"incompatible shapes", (2, 4)),
    ("Maximum-shapes", lambda n: L.Maximum(name=n), ([z(2, 3), z(2, 4)],), r"incompatible shapes", (2, 4)),
    ("Minimum-shapes", lambda n: L.Minimum(name=n), ([z(2, 3), z(2, 4)],), r"incompatible shapes", (2, 4)),
    ("Concatenate-shapes", lambda n: L.Concatenate(name=n), ([z(2, 3, 1), z(2, 4, 1)],),
     r"matching shapes except for the concatenation axis", (2, 4, 1)),
    ("Concatenate-rank", lambda n: L.Concatenate(name=n), ([z(2, 3), z(2, 3, 1)],),
     r"matching shapes except for the concatenation axis", (2, 3, 1)),
    ("Dropout-noise-shape-rank", lambda n: L.Dropout(0.5, noise_shape=(1,), name=n), (z(2, 4),),
     r"noise_shape \(1,\) must have the rank of the input", (2, 4)),
    ("Dropout-noise-shape", lambda n: L.Dropout(0.5, noise_shape=(1, 3), name=n), (z(2, 4),),
     r"noise_shape \(1, 3\) does not broadcast", (2, 4)),
]

# Elementwise layers: every rank and shape is valid for them (tested below), so they have no bad input shape.
ANY_SHAPE = {
    L.Activation: lambda: L.Activation("tanh"), L.ReLU: L.ReLU, L.LeakyReLU: L.LeakyReLU, L.ELU: L.ELU,
    L.GaussianNoise: lambda: L.GaussianNoise(0.1), L.Masking: L.Masking,
}


@pytest.mark.parametrize("make, args, expected, received", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_the_layer_what_it_expected_and_the_shape_received(make, args, expected, received):
    layer = make("probe_layer")
    with pytest.raises(ValueError) as raised:
        layer(*args, training=True) if not isinstance(layer, (L.LSTMCell, L.GRUCell, L.SimpleRNNCell)) else \
            layer(*args)
    message = str(raised.value)
    assert "'probe_layer'" in message, message
    assert re.search(expected, message), message
    assert str(received) in message, message


def test_every_layer_has_a_bad_input_case_or_takes_any_shape():
    covered = {type(make("x")) for _, make, *_ in BAD_INPUTS} | set(ANY_SHAPE)
    assert not set(LAYERS) - covered, f"no bad-input case for {sorted(c.__name__ for c in set(LAYERS) - covered)}"


@pytest.mark.parametrize("cls", list(ANY_SHAPE), ids=[cls.__name__ for cls in ANY_SHAPE])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 1, 3, 4), (0, 3)])
def test_elementwise_layers_take_any_shape(cls, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = ANY_SHAPE[cls]()(x, training=True)
    assert out.shape == shape


def test_a_layer_inside_a_model_is_named_in_the_error():
    model = ember.Sequential([ember.Input((5, 5, 3)), L.Conv2D(2, 3, name="inner_conv"), L.Flatten()])
    with pytest.raises(ValueError, match=r"'inner_conv'.*expected axis -1 of input shape to have value 3.*"
                                         r"\(1, 5, 5, 4\)"):
        model(z(1, 5, 5, 4))
