"""Attention, AdditiveAttention and MultiHeadAttention: shapes, masks (value, query, causal, carried by the inputs),
config round trips, float64 gradients w.r.t. every input and weight, the functional API, and Keras (torch backend)
and PyTorch as optional oracles."""
import os

import numpy as np
import pytest

import ember
from ember import layers as L
from ember.layers.base import LAYER_CLASSES
from ember.testing import gradcheck

BACKENDS = ("reference", "cpu")
RNG = np.random.default_rng(0)
Q = RNG.standard_normal((2, 4, 3)).astype(np.float32)   # (batch, Tq, dim)
V = RNG.standard_normal((2, 5, 3)).astype(np.float32)   # (batch, Tv, dim)
K = RNG.standard_normal((2, 5, 3)).astype(np.float32)
QUERY_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
VALUE_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)

LUONG = {
    "dot": lambda **kw: L.Attention(**kw),
    "dot-scaled": lambda **kw: L.Attention(use_scale=True, **kw),
    "concat-scaled": lambda **kw: L.Attention(use_scale=True, score_mode="concat", **kw),
    "additive": lambda **kw: L.AdditiveAttention(**kw),
    "additive-unscaled": lambda **kw: L.AdditiveAttention(use_scale=False, **kw),
}
MHA = {
    "heads2": dict(num_heads=2, key_dim=3),
    "value_dim-output_shape": dict(num_heads=3, key_dim=2, value_dim=4, output_shape=5),
    "no-bias": dict(num_heads=2, key_dim=3, use_bias=False),
}


def _randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([w + 0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


# -- shapes and masks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", LUONG)
def test_attention_gives_query_shaped_output_and_tq_by_tv_scores(kind):
    out, scores = LUONG[kind]()([Q, V, K], return_attention_scores=True)
    assert out.shape == (2, 4, 3) and scores.shape == (2, 4, 5)
    assert out.dtype == np.float32 and scores.dtype == np.float32


@pytest.mark.parametrize("kind", LUONG)
def test_scores_sum_to_one_over_unmasked_values_and_are_zero_on_masked_ones(kind):
    layer = LUONG[kind]()
    layer([Q, V])
    _, scores = _randomize(layer)([Q, V], mask=[None, VALUE_MASK], return_attention_scores=True)
    scores = scores.numpy()
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-6)
    assert np.all(scores[~np.broadcast_to(VALUE_MASK[:, None, :], scores.shape)] == 0.0)


@pytest.mark.parametrize("kind", LUONG)
def test_query_mask_zeroes_output_rows_and_becomes_the_output_mask(kind):
    out = LUONG[kind]()([Q, V], mask=[QUERY_MASK, VALUE_MASK])
    assert np.all(out.numpy()[~QUERY_MASK] == 0.0) and np.all(out.numpy()[QUERY_MASK] != 0.0)
    np.testing.assert_array_equal(out._keras_mask, QUERY_MASK)


def test_masks_carried_by_the_inputs_act_as_a_mask_argument():
    layer = L.Attention()
    query, value = ember.tensor(Q), ember.tensor(V)
    query._keras_mask, value._keras_mask = QUERY_MASK, VALUE_MASK
    np.testing.assert_array_equal(layer([query, value]).numpy(),
                                  layer([Q, V], mask=[QUERY_MASK, VALUE_MASK]).numpy())


@pytest.mark.parametrize("kind", ["dot", "additive"])
def test_causal_mask_hides_later_keys(kind):
    x = Q
    _, scores = LUONG[kind]()([x, x], use_causal_mask=True, return_attention_scores=True)
    scores = scores.numpy()
    assert np.all(np.triu(scores[0], 1) == 0.0) and np.all(np.triu(scores[1], 1) == 0.0)
    np.testing.assert_allclose(scores.sum(-1), 1.0, rtol=1e-6)
    assert scores[0, 0, 0] == pytest.approx(1.0)


def test_mha_weights_come_in_keras_order_and_shapes():
    layer = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4)
    layer(Q, V, np.zeros((2, 5, 6), np.float32))
    names = [w.name.split("/", 1)[1] for w in layer.weights]
    assert names == ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
                     "attention_output/kernel", "attention_output/bias"]
    assert [w.shape for w in layer.weights] == [(3, 3, 2), (3, 2), (6, 3, 2), (3, 2), (3, 3, 4), (3, 4),
                                                (3, 4, 3), (3,)]


@pytest.mark.parametrize("kwargs, out_dim", [(dict(num_heads=2, key_dim=3), 3),
                                             (dict(num_heads=2, key_dim=3, output_shape=7), 7)])
def test_mha_output_shape_and_scores_shape(kwargs, out_dim):
    layer = L.MultiHeadAttention(**kwargs)
    out, scores = layer(Q, V, return_attention_scores=True)
    assert out.shape == (2, 4, out_dim) and scores.shape == (2, 2, 4, 5)
    assert layer.compute_output_shape((None, 4, 3), (None, 5, 3)) == (None, 4, out_dim)


def test_mha_masks_combine_and_masked_keys_get_no_weight():
    layer = L.MultiHeadAttention(num_heads=2, key_dim=3)
    attention_mask = np.ones((2, 4, 5), bool)
    attention_mask[:, :, 1] = False
    query, value = ember.tensor(Q), ember.tensor(V)
    query._keras_mask, value._keras_mask = QUERY_MASK, VALUE_MASK
    out, scores = layer(query, value, attention_mask=attention_mask, return_attention_scores=True)
    keep = QUERY_MASK[:, :, None] & VALUE_MASK[:, None, :] & attention_mask
    scores = scores.numpy()
    assert np.all(scores[~np.broadcast_to(keep[:, None], scores.shape)] == 0.0)
    np.testing.assert_allclose(scores.sum(-1)[:, :, QUERY_MASK[0]][0], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out._keras_mask, QUERY_MASK)
    explicit = layer(Q, V, attention_mask=keep)
    np.testing.assert_allclose(layer(query, value, attention_mask=attention_mask).numpy(), explicit.numpy())


def test_mha_causal_mask_hides_later_keys():
    _, scores = L.MultiHeadAttention(2, 3)(Q, Q, use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(scores.numpy()[0, 1], 1) == 0.0)


def test_dropout_acts_only_in_training_and_a_seed_repeats_it():
    def run(training):
        layer = L.Attention(dropout=0.5, seed=3)
        return layer([Q, V], training=training, return_attention_scores=True)[1].numpy()

    plain = L.Attention()([Q, V], return_attention_scores=True)[1].numpy()
    np.testing.assert_array_equal(run(False), plain)
    dropped = run(True)
    np.testing.assert_array_equal(dropped, run(True))
    assert np.all((dropped == 0) | np.isclose(dropped, 2 * plain)) and np.any(dropped == 0)
    mha = L.MultiHeadAttention(2, 3, dropout=0.5, seed=1)
    assert not np.allclose(mha(Q, V, training=True).numpy(), mha(Q, V).numpy())


# -- config and errors --------------------------------------------------------------------------------------------
MAKERS = [*(LUONG[k] for k in LUONG), *(lambda kw=kw: L.MultiHeadAttention(**kw) for kw in MHA.values())]


@pytest.mark.parametrize("make", MAKERS, ids=[*LUONG, *MHA])
def test_config_round_trip_gives_the_same_config_and_outputs(make):
    layer = make()
    call = (lambda l: l(Q, V, K)) if isinstance(layer, L.MultiHeadAttention) else (lambda l: l([Q, V, K]))
    call(layer)
    _randomize(layer)
    config = layer.get_config()
    clone = LAYER_CLASSES[type(layer).__name__].from_config(config)
    assert clone.get_config() == config
    call(clone)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(call(clone).numpy(), call(layer).numpy())


@pytest.mark.parametrize("make, message", [
    (lambda: L.Attention(score_mode="add"), "Invalid value for argument `score_mode`"),
    (lambda: L.Attention(dropout=1.5), "Invalid value for argument `dropout`"),
    (lambda: L.MultiHeadAttention(0, 2), "Invalid value for argument `num_heads`"),
    (lambda: L.MultiHeadAttention(2, -1), "Invalid value for argument `key_dim`"),
    (lambda: L.MultiHeadAttention(2, 2, value_dim=0), "Invalid value for argument `value_dim`"),
    (lambda: L.MultiHeadAttention(2, 2, attention_axes=(1, 2)), "Invalid value for argument `attention_axes`"),
])
def test_bad_arguments_raise_keras_style_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("call, message", [
    (lambda: L.Attention()(Q), "must be called on a list of inputs"),
    (lambda: L.Attention()([Q]), "accepts inputs list of length 2 or 3"),
    (lambda: L.Attention()([Q, V], mask=VALUE_MASK), "mask must be a list"),
    (lambda: L.Attention()([Q, V[..., :2]]), "same last dimension"),
    (lambda: L.MultiHeadAttention(2, 2)(Q, V, K[:, :4]), "except the last one, must be equal"),
    (lambda: L.MultiHeadAttention(2, 2)(Q[0], V[0]), "must have shape \\(batch, sequence, features\\)"),
])
def test_bad_inputs_raise_errors_naming_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- gradients ----------------------------------------------------------------------------------------------------
def _weight_attributes(layer):
    names = {id(v): k for k, v in vars(layer).items() if isinstance(v, ember.Tensor)}
    return [names[id(w)] for w in layer.trainable_weights]


def _check_gradients(layer, inputs, run):
    """gradcheck w.r.t. every input and every weight (gradcheck's tensors stand in for the layer's weights)."""
    attributes = _weight_attributes(layer)
    count = len(inputs)

    def forward(*arrays):
        for name, weight in zip(attributes, arrays[count:]):
            setattr(layer, name, weight)
        return run(layer, *arrays[:count])

    gradcheck(forward, inputs + [w.numpy().copy() for w in layer.trainable_weights], atol=1e-6, rtol=1e-5)


def _tiny(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in ((2, 3, 2), (2, 4, 2), (2, 4, 2))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", LUONG)
def test_attention_gradients_match_finite_differences_in_float64(kind, backend):
    with ember.use_backend(backend):
        layer = LUONG[kind](dtype="float64")
        inputs = _tiny(4)
        layer(inputs)
        _randomize(layer)
        masks = [np.array([[1, 1, 0], [1, 1, 1]], bool), np.array([[1, 1, 1, 0], [1, 0, 1, 1]], bool)]
        _check_gradients(layer, inputs, lambda l, q, v, k: l([q, v, k], mask=masks, use_causal_mask=True))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", MHA)
def test_mha_gradients_match_finite_differences_in_float64(kind, backend):
    with ember.use_backend(backend):
        layer = L.MultiHeadAttention(**{**MHA[kind], "key_dim": 2}, dtype="float64")
        inputs = _tiny(5)
        attention_mask = np.array([[[1, 1, 0, 1]] * 3, [[1, 1, 1, 0]] * 3], bool)
        layer(*inputs)
        _randomize(layer)
        _check_gradients(layer, inputs, lambda l, q, v, k: l(q, v, k, attention_mask=attention_mask))


# -- the functional API -------------------------------------------------------------------------------------------
def test_attention_layers_work_in_a_functional_seq2seq_graph_and_train():
    encoder_in, decoder_in = ember.Input((5, 4)), ember.Input((3, 4))
    mask_in = ember.Input((3, 5), dtype="bool")
    encoded = L.Dense(6, activation="tanh")(encoder_in)
    decoded = L.Dense(6, activation="tanh")(decoder_in)
    context, scores = L.Attention()([decoded, encoded], return_attention_scores=True)
    self_attended = L.MultiHeadAttention(2, 3)(decoded, decoded, use_causal_mask=True)
    cross = L.MultiHeadAttention(2, 3)(self_attended, encoded, attention_mask=mask_in)
    merged = L.Concatenate()([context, cross, L.AdditiveAttention()([decoded, encoded])])
    outputs = L.Dense(7, activation="softmax")(merged)
    model = ember.Model([encoder_in, decoder_in, mask_in], [outputs, scores])

    rng = np.random.default_rng(0)
    data = [rng.standard_normal((8, 5, 4)).astype(np.float32), rng.standard_normal((8, 3, 4)).astype(np.float32),
            rng.random((8, 3, 5)) > 0.3]
    probabilities, attention = model.predict(data, verbose=0)
    assert probabilities.shape == (8, 3, 7) and attention.shape == (8, 3, 5)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    trainer = ember.Model([encoder_in, decoder_in, mask_in], outputs)
    trainer.compile("adam", "sparse_categorical_crossentropy")
    history = trainer.fit(data, rng.integers(0, 7, (8, 3)), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# -- Keras (torch backend) and PyTorch as oracles -----------------------------------------------------------------
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras parity runs on Keras' torch backend")
    return keras


def _paired(keras_layer, ember_layer, *build_args):
    keras_layer(*build_args)
    ember_layer(*build_args)
    rng = np.random.default_rng(7)
    weights = [np.asarray(keras_layer_w) + 0.3 * rng.standard_normal(np.shape(keras_layer_w)).astype(np.float32)
               for keras_layer_w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    ember_layer.set_weights(weights)


def _close(ember_out, keras_out):
    np.testing.assert_allclose(np.asarray(ember_out), np.asarray(keras_out.detach().cpu()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("kind", LUONG)
def test_attention_matches_keras(kind, causal, masked):
    keras = _keras()
    options = {"dot": {}, "dot-scaled": {"use_scale": True}, "concat-scaled": {"use_scale": True, "score_mode": "concat"},
               "additive": {}, "additive-unscaled": {"use_scale": False}}[kind]
    name = "AdditiveAttention" if kind.startswith("additive") else "Attention"
    keras_layer, ember_layer = getattr(keras.layers, name)(**options), getattr(L, name)(**options)
    _paired(keras_layer, ember_layer, [Q, V, K])
    mask = [QUERY_MASK, VALUE_MASK] if masked else None
    call = dict(mask=mask, use_causal_mask=causal, return_attention_scores=True)
    (keras_out, keras_scores), (ember_out, ember_scores) = keras_layer([Q, V, K], **call), ember_layer([Q, V, K], **call)
    _close(ember_out, keras_out)
    _close(ember_scores, keras_scores)


@pytest.mark.parametrize("scores", [False, True], ids=["output", "with-scores"])
@pytest.mark.parametrize("masking", ["none", "attention_mask", "causal", "both"])
@pytest.mark.parametrize("kind", MHA)
def test_mha_matches_keras(kind, masking, scores):
    keras = _keras()
    keras_layer, ember_layer = keras.layers.MultiHeadAttention(**MHA[kind]), L.MultiHeadAttention(**MHA[kind])
    _paired(keras_layer, ember_layer, Q, V, K)
    # Every query keeps key 0: a fully masked row is where Keras' fused path and its explicit path disagree.
    attention_mask = np.random.default_rng(3).random((2, 4, 5)) > 0.4
    attention_mask[:, :, 0] = True
    call = dict(attention_mask=attention_mask if masking in ("attention_mask", "both") else None,
                use_causal_mask=masking in ("causal", "both"), return_attention_scores=scores)
    keras_result, ember_result = keras_layer(Q, V, K, **call), ember_layer(Q, V, K, **call)
    if scores:
        _close(ember_result[0], keras_result[0])
        _close(ember_result[1], keras_result[1])
    else:
        _close(ember_result, keras_result)


def test_mha_matches_torch_multihead_attention():
    torch = pytest.importorskip("torch")
    heads, key_dim, embed = 2, 3, 6
    ember_layer = L.MultiHeadAttention(heads, key_dim)
    x = np.random.default_rng(2).standard_normal((2, 4, embed)).astype(np.float32)
    ember_layer(x, x)
    _randomize(ember_layer)
    qk, qb, kk, kb, vk, vb, ok, ob = ember_layer.get_weights()
    torch_layer = torch.nn.MultiheadAttention(embed, heads, batch_first=True)
    with torch.no_grad():
        torch_layer.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
            [w.reshape(embed, -1).T for w in (qk, kk, vk)])))
        torch_layer.in_proj_bias.copy_(torch.from_numpy(np.concatenate([b.reshape(-1) for b in (qb, kb, vb)])))
        torch_layer.out_proj.weight.copy_(torch.from_numpy(ok.reshape(-1, embed).T.copy()))
        torch_layer.out_proj.bias.copy_(torch.from_numpy(ob))
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), 1)  # torch: True means masked
    t = torch.from_numpy(x)
    expected, weights = torch_layer(t, t, t, attn_mask=causal, average_attn_weights=False)
    out, scores = ember_layer(x, x, use_causal_mask=True, return_attention_scores=True)
    _close(out, expected)
    _close(scores, weights)


def test_a_saved_model_with_attention_layers_loads_with_identical_predictions(tmp_path):
    from ember import saving

    encoder_in, decoder_in = ember.Input((5, 3)), ember.Input((4, 3))
    context = L.Attention(use_scale=True)([decoder_in, encoder_in])
    attended = L.MultiHeadAttention(2, 3, output_shape=4)(decoder_in, encoder_in, use_causal_mask=True)
    model = ember.Model([encoder_in, decoder_in], L.Concatenate()([context, attended]))
    saving.save_model(model, tmp_path / "m.safetensors")
    loaded = saving.load_model(tmp_path / "m.safetensors")
    data = [V, Q]
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_masks_from_an_embedding_flow_through_attention_in_a_functional_model():
    if not hasattr(L, "Embedding"):
        pytest.skip("Embedding is not exported yet")
    tokens = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    inputs = ember.Input((5,), dtype="int64")
    embedded = L.Embedding(10, 4, mask_zero=True)(inputs)
    attended = L.MultiHeadAttention(2, 2)(embedded, embedded)
    context, scores = L.Attention()([attended, embedded], return_attention_scores=True)
    model = ember.Model(inputs, [context, scores])
    context, scores = model.predict(tokens, verbose=0)
    padding = tokens == 0
    assert np.all(context[padding] == 0.0) and np.all(context[~padding] != 0.0)
    assert np.all(scores.transpose(0, 2, 1)[padding] == 0.0)
