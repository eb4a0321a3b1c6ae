"""Layer semantics beyond the table in test_layers.py: Keras-style argument errors, BatchNormalization's moving
statistics, Dropout, channels_first, and parity with PyTorch (optional) with weights converted between layouts."""
import numpy as np
import pytest

import ember
from ember import layers as L

BAD_ARGUMENTS = [
    (L.Dense, {"units": 0},
     r"Invalid value for argument `units`. Expected a strictly positive value. Received: units=0"),
    (L.Conv2D, {"filters": 0, "kernel_size": 3},
     r"Invalid value for argument `filters`. Expected a strictly positive value. Received: filters=0"),
    (L.Conv2D, {"filters": 2, "kernel_size": (3, 0)}, r"Invalid value for argument `kernel_size`"),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "padding": "full"},
     r"Invalid value for argument `padding`. Expected one of \['valid', 'same'\]"),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "data_format": "nhwc"}, r"Invalid value for argument `data_format`"),
    (L.Conv2D, {"filters": 3, "kernel_size": 3, "groups": 2},
     r"filters must be evenly divisible by the number of groups"),
    (L.Conv2D, {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, r"`strides > 1` not supported"),
    (L.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 0}, r"Invalid value for argument `depth_multiplier`"),
    (L.Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
     r"Invalid value for argument `output_padding`. Expected values smaller than the strides"),
    (L.MaxPooling2D, {"pool_size": 0}, r"Invalid value for argument `pool_size`"),
    (L.Dropout, {"rate": 1.5}, r"Invalid value for argument `rate`. Expected a float value between 0 and 1. "
                               r"Received: rate=1.5"),
    (L.BatchNormalization, {"momentum": 2.0}, r"Invalid value for argument `momentum`"),
    (L.BatchNormalization, {"epsilon": 0.0}, r"Invalid value for argument `epsilon`"),
    (L.Reshape, {"target_shape": (-1, -1)}, r"Invalid value for argument `target_shape`"),
    (L.ReLU, {"max_value": -1.0}, r"Invalid value for argument `max_value`"),
    (L.LeakyReLU, {"negative_slope": -0.1}, r"Invalid value for argument `negative_slope`"),
    (L.ZeroPadding2D, {"padding": (1, 2, 3)}, r"Invalid value for argument `padding`"),
    (L.UpSampling2D, {"interpolation": "bilinear"},
     r"Invalid value for argument `interpolation`. Expected 'nearest' \(the only interpolation ember supports\)"),
    (L.Activation, {"activation": "nope"}, r"Invalid value for argument `activation`"),
]


@pytest.mark.parametrize("cls, kwargs, match", BAD_ARGUMENTS, ids=[c.__name__ for c, *_ in BAD_ARGUMENTS])
def test_bad_arguments_raise_keras_style_errors(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


BAD_INPUTS = [
    (lambda: L.Conv2D(2, 3), np.zeros((5, 5, 3)), r"expected ndim=4 \(N, H, W, C\), found ndim=3"),
    (lambda: L.MaxPooling2D(data_format="channels_first"), np.zeros((2, 3)), r"expected ndim=4 \(N, C, H, W\)"),
    (lambda: L.Dense(3), np.zeros(4), r"expected min_ndim=2, found ndim=1"),
    (lambda: L.Conv2D(4, 3, groups=2), np.zeros((1, 5, 5, 3)), r"input channels must be evenly divisible"),
    (lambda: L.Add(), np.zeros((2, 3)), r"A merge layer should be called on a list of inputs"),
    (lambda: L.Add(), [np.zeros((2, 3)), np.zeros((2, 4))], r"Inputs have incompatible shapes"),
    (lambda: L.Subtract(), [np.zeros((2, 3))] * 3, r"`Subtract` layer should be called on exactly 2 inputs"),
    (lambda: L.Concatenate(), [np.zeros((2, 3, 1)), np.zeros((2, 4, 1))], r"matching shapes except for the concat"),
    (lambda: L.Reshape((5,)), np.zeros((2, 6)), r"cannot reshape an input of shape \(2, 6\)"),
]


@pytest.mark.parametrize("make, x, match", BAD_INPUTS, ids=[m for *_, m in BAD_INPUTS])
def test_bad_inputs_raise_with_the_shapes(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


def test_dense_checks_the_input_size_after_build():
    layer = L.Dense(2)
    layer(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 4)))


# -- BatchNormalization ------------------------------------------------------------------------------------------
def _bn(momentum=0.9):
    layer = L.BatchNormalization(momentum=momentum, epsilon=1e-3, dtype="float64")
    layer(np.zeros((1, 3)))
    return layer


def test_batch_norm_training_updates_moving_statistics_by_momentum():
    layer = _bn()
    x = np.random.default_rng(0).standard_normal((16, 3)) * 2 + 1
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-12)


def test_batch_norm_inference_uses_moving_statistics_and_leaves_them():
    layer = _bn()
    mean, var = np.array([1.0, -2.0, 0.5]), np.array([4.0, 0.25, 1.0])
    layer.set_weights([np.ones(3), np.zeros(3), mean, var])
    x = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_allclose(layer(x).numpy(), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mean)


def test_batch_norm_training_normalizes_with_batch_statistics():
    layer = _bn()
    x = np.random.default_rng(2).standard_normal((32, 3)) * 3 + 2
    out = layer(x, training=True).numpy()
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-10)


def test_frozen_batch_norm_runs_in_inference_mode():
    layer = _bn()
    layer.trainable = False
    x = np.random.default_rng(3).standard_normal((8, 3)) + 5
    np.testing.assert_allclose(layer(x, training=True).numpy(), x / np.sqrt(1 + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))


# -- Dropout -----------------------------------------------------------------------------------------------------
def test_dropout_is_the_identity_outside_training():
    x = np.ones((4, 5), np.float32)
    np.testing.assert_array_equal(L.Dropout(0.5)(x).numpy(), x)


def test_dropout_in_training_zeros_about_rate_and_scales_the_rest():
    out = L.Dropout(0.25, seed=0)(np.ones((200, 50), np.float32), training=True).numpy()
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02


def test_dropout_noise_shape_shares_one_mask_along_broadcast_axes():
    out = L.Dropout(0.5, noise_shape=(None, 1, 6), seed=1)(np.ones((3, 4, 6), np.float32), training=True).numpy()
    assert (out == out[:, :1, :]).all()


def test_dropout_with_a_seed_repeats_its_masks():
    x = np.ones((10, 10), np.float32)
    a, b = L.Dropout(0.5, seed=3), L.Dropout(0.5, seed=3)
    np.testing.assert_array_equal(a(x, training=True).numpy(), b(x, training=True).numpy())


# -- channels_first is channels_last transposed ------------------------------------------------------------------
FIRST_VS_LAST = [
    lambda f: L.Conv2D(3, 3, strides=2, padding="same", data_format=f),
    lambda f: L.DepthwiseConv2D(3, depth_multiplier=2, data_format=f),
    lambda f: L.SeparableConv2D(2, 3, data_format=f),
    lambda f: L.Conv2DTranspose(2, 3, strides=2, data_format=f),
    lambda f: L.AveragePooling2D(3, 2, "same", data_format=f),
    lambda f: L.GlobalMaxPooling2D(data_format=f),
    lambda f: L.ZeroPadding2D(((1, 2), (0, 1)), data_format=f),
    lambda f: L.UpSampling2D((3, 2), data_format=f),
    lambda f: L.Flatten(data_format=f),
]


@pytest.mark.parametrize("make", FIRST_VS_LAST, ids=[str(i) for i in range(len(FIRST_VS_LAST))])
def test_channels_first_matches_channels_last_transposed(make):
    x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(np.float32)
    last, first = make("channels_last"), make("channels_first")
    expected = last(x).numpy()
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    out = first(x.transpose(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(out if out.ndim != 4 else out.transpose(0, 2, 3, 1), expected, rtol=1e-5, atol=1e-6)


def test_depthwise_output_channel_is_input_channel_times_multiplier_plus_m():
    layer = L.DepthwiseConv2D(1, depth_multiplier=2, use_bias=False)
    layer(np.zeros((1, 1, 1, 3), np.float32))
    kernel = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2) + 1
    layer.set_weights([kernel])
    out = layer(np.array([[[[1.0, 10.0, 100.0]]]], np.float32)).numpy().ravel()
    np.testing.assert_allclose(out, [1, 2, 30, 40, 500, 600])


def test_layers_train_in_a_sequential_model():
    model = ember.Sequential([ember.Input((6, 6, 2)), L.Conv2D(4, 3, padding="same", activation="relu"),
                              L.BatchNormalization(), L.MaxPooling2D(), L.SeparableConv2D(3, 2),
                              L.GlobalAveragePooling2D(), L.Dropout(0.2), L.Dense(2)])
    out = model(np.random.default_rng(0).standard_normal((4, 6, 6, 2)), training=True)
    (out * out).sum().backward()
    assert all(w.grad is not None for w in model.trainable_weights)


# -- PyTorch as an oracle (optional) -----------------------------------------------------------------------------
def _torch_nchw(x):
    torch = pytest.importorskip("torch")
    return torch.tensor(x.transpose(0, 3, 1, 2))


def _to_nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _tf_same_pads(size, k, s, d=1):
    span = (k - 1) * d + 1
    total = max((-(-size // s) - 1) * s + span - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("kwargs", [{"filters": 4, "kernel_size": 3},
                                    {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same"},
                                    {"filters": 6, "kernel_size": 3, "groups": 3, "dilation_rate": 2,
                                     "padding": "same"}])
def test_conv2d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 7, 8, 3))
    layer = L.Conv2D(dtype="float64", **kwargs)
    layer(x)
    kernel, bias = layer.get_weights()
    pads = (0, 0, 0, 0)
    if layer.padding == "same":
        (t, b), (l, r) = [_tf_same_pads(n, k, s, d) for n, k, s, d in
                          zip(x.shape[1:3], layer.kernel_size, layer.strides, layer.dilation_rate)]
        pads = (l, r, t, b)
    xt = torch.nn.functional.pad(_torch_nchw(x), pads)
    expected = torch.nn.functional.conv2d(xt, torch.tensor(kernel.transpose(3, 2, 0, 1)), torch.tensor(bias),
                                          stride=layer.strides, dilation=layer.dilation_rate, groups=layer.groups)
    np.testing.assert_allclose(layer(x).numpy(), _to_nhwc(expected), rtol=1e-10, atol=1e-10)


def test_depthwise_conv2d_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 3))
    layer = L.DepthwiseConv2D(3, depth_multiplier=2, dtype="float64")
    layer(x)
    kernel, bias = layer.get_weights()
    weight = torch.tensor(kernel.reshape(3, 3, 1, 6).transpose(3, 2, 0, 1))  # (in * dm, 1, kh, kw)
    expected = torch.nn.functional.conv2d(_torch_nchw(x), weight, torch.tensor(bias), groups=3)
    np.testing.assert_allclose(layer(x).numpy(), _to_nhwc(expected), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kwargs", [{"filters": 2, "kernel_size": 3}, {"filters": 2, "kernel_size": 3, "strides": 2},
                                    {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"},
                                    {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                                    {"filters": 2, "kernel_size": 2, "strides": 3}])
def test_conv2d_transpose_matches_torch_with_tf_cropping(kwargs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((2, 4, 5, 3))
    layer = L.Conv2DTranspose(dtype="float64", **kwargs)
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    # torch's uncropped transposed conv; TF/Keras crop it where the forward conv's "same" padding begins
    full = _to_nhwc(torch.nn.functional.conv_transpose2d(_torch_nchw(x), torch.tensor(kernel.transpose(3, 2, 0, 1)),
                                                         stride=layer.strides))
    full = np.pad(full, ((0, 0), (0, 8), (0, 8), (0, 0)))
    top, left = [_tf_same_pads(n, k, s)[0] if layer.padding == "same" else 0
                 for n, k, s in zip(out.shape[1:3], layer.kernel_size, layer.strides)]
    expected = full[:, top:top + out.shape[1], left:left + out.shape[2]] + bias
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_batch_norm_matches_torch_in_training_and_inference():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((4, 3, 3, 2)) * 2 + 1
    layer = L.BatchNormalization(momentum=0.9, dtype="float64")
    layer(x)
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    layer.set_weights([gamma, beta, np.zeros(2), np.ones(2)])
    bn = torch.nn.BatchNorm2d(2, eps=1e-3, momentum=0.1).double()  # torch's momentum is 1 - Keras'
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    np.testing.assert_allclose(layer(x, training=True).numpy(), _to_nhwc(bn.train()(_torch_nchw(x))), rtol=1e-10)
    # torch's running variance is unbiased; Keras' moving variance is the biased batch variance
    n = x.size // 2
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               0.9 + (bn.running_var.numpy() - 0.9) * (n - 1) / n, rtol=1e-10)
    layer.set_weights([gamma, beta, bn.running_mean.numpy(), bn.running_var.numpy()])
    np.testing.assert_allclose(layer(x).numpy(), _to_nhwc(bn.eval()(_torch_nchw(x))), rtol=1e-10)
