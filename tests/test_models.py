"""Models: Sequential, functional and subclassed; compile/fit/evaluate/predict; the PyTorch-style loop."""
import numpy as np
import pytest

import ember
from ember import layers


def xor_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("float32")[:, None]
    return x, y


def small_classifier():
    return ember.Sequential([ember.Input((2,)), layers.Dense(16, activation="tanh"),
                             layers.Dense(1, activation="sigmoid")])


def trained(seed=0, epochs=3, **fit_kwargs):
    ember.manual_seed(seed)
    x, y = xor_data()
    model = small_classifier()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, **fit_kwargs)
    return model, history


# -- building ------------------------------------------------------------------------------------------------------
def test_sequential_with_input_builds_at_once_and_knows_output_shapes():
    model = small_classifier()
    assert model.built
    assert [layer.output_shape for layer in model.layers] == [(None, 16), (None, 1)]
    assert model.count_params() == 2 * 16 + 16 + 16 + 1


def test_sequential_builds_on_first_call_without_input():
    model = ember.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not model.built
    assert model(np.ones((3, 5), "float32")).shape == (3, 2)
    assert [w.shape for w in model.get_weights()] == [(5, 4), (4,), (4, 2), (2,)]


def test_input_shape_on_first_layer_builds_like_keras():
    model = ember.Sequential([layers.Dense(3, input_shape=(7,))])
    assert model.built and model.weights[0].shape == (7, 3)


def test_sequential_add_rejects_non_layers():
    with pytest.raises(TypeError, match="Sequential.add: expected a Layer"):
        ember.Sequential().add("dense")


def test_functional_residual_graph_runs_and_has_each_layer_once():
    inputs = ember.Input((4,))
    hidden = layers.Dense(4, activation="relu")(inputs)
    merged = layers.Add()([inputs, hidden])
    outputs = layers.Dense(2)(merged)
    model = ember.Model(inputs, outputs)
    assert model(np.ones((5, 4), "float32")).shape == (5, 2)
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Add", "Dense"]


def test_functional_multi_input_model_concatenates():
    a, b = ember.Input((3,)), ember.Input((2,))
    out = layers.Dense(1)(layers.Concatenate()([a, b]))
    model = ember.Model([a, b], out)
    assert model([np.ones((4, 3), "float32"), np.ones((4, 2), "float32")]).shape == (4, 1)


def test_shared_layer_reuses_its_weights():
    shared = layers.Dense(3)
    a, b = ember.Input((3,)), ember.Input((3,))
    model = ember.Model([a, b], layers.Add()([shared(a), shared(b)]))
    assert len(model.weights) == 2


def test_disconnected_graph_is_a_clear_error():
    a, b = ember.Input((3,)), ember.Input((3,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="Graph disconnected"):
        ember.Model(a, out)


@pytest.mark.parametrize("build", ["sequential", "functional"])
def test_model_config_round_trip_gives_the_same_predictions(build):
    if build == "sequential":
        model = small_classifier()
    else:
        inputs = ember.Input((2,))
        hidden = layers.Dense(8, activation="relu")(inputs)
        model = ember.Model(inputs, layers.Dense(1)(layers.Concatenate()([inputs, hidden])))
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((6, 2)).astype("float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_subclassed_model_tracks_its_layers_and_trains():
    class TwoLayer(ember.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="tanh")
            self.out = layers.Dense(1, activation="sigmoid")

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    ember.manual_seed(0)
    model = TwoLayer()
    x, y = xor_data()
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=20, verbose=0)
    assert len(model.trainable_weights) == 4
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_summary_lists_layers_shapes_and_totals():
    lines = []
    small_classifier().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "dense" in text and "(None, 16)" in text and "Total params: 65" in text
    assert "Trainable params: 65" in text and "Non-trainable params: 0" in text


# -- training ------------------------------------------------------------------------------------------------------
def test_fit_returns_history_with_keras_keys_and_the_loss_falls():
    x, y = xor_data()
    ember.manual_seed(0)
    model = small_classifier()
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=0.03), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=25, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 25
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9


def test_two_seeded_fits_give_identical_histories_and_weights():
    model_a, history_a = trained(seed=3)
    model_b, history_b = trained(seed=3)
    assert history_a.history == history_b.history
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_give_different_weights():
    a, _ = trained(seed=1)
    b, _ = trained(seed=2)
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def test_validation_split_holds_out_the_last_samples():
    x, y = xor_data(100)
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    seen = []
    original = model.train_step
    model.train_step = lambda xb, yb: (seen.append(xb), original(xb, yb))[1]
    model.fit(x, y, epochs=1, validation_split=0.2, verbose=0, batch_size=100)
    assert len(seen[0]) == 80
    assert {tuple(row) for row in seen[0]} == {tuple(row) for row in x[:80]}


def test_evaluate_returns_loss_and_metrics_like_keras():
    model, _ = trained()
    x, y = xor_data(64, seed=5)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"loss": loss, "accuracy": accuracy}
    assert 0 <= accuracy <= 1


def test_evaluate_without_metrics_returns_a_float():
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.evaluate(*xor_data(10), verbose=0), float)


def test_predict_batches_and_matches_a_direct_call():
    model = small_classifier()
    x = xor_data(70)[0]
    with ember.no_grad():
        direct = model(x).numpy()
    np.testing.assert_allclose(model.predict(x, batch_size=32), direct, rtol=1e-6)


def test_train_on_batch_and_test_on_batch():
    model = small_classifier()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = xor_data(32)
    loss, accuracy = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert set(model.test_on_batch(x, y, return_dict=True)) == {"loss", "accuracy"}


def test_fit_before_compile_is_a_clear_error():
    with pytest.raises(RuntimeError, match="compile"):
        small_classifier().fit(*xor_data(8), verbose=0)


def test_fit_rejects_mismatched_sample_counts():
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="`x` has 10 samples but `y` has 9"):
        model.fit(np.ones((10, 2), "float32"), np.ones((9, 1), "float32"), verbose=0)


def test_fit_accepts_a_batch_iterator():
    x, y = xor_data(96)
    model = small_classifier()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    loader = ember.data.DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    history = model.fit(loader, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_regularization_penalty_joins_the_training_loss():
    x, y = xor_data(32)
    plain = ember.Sequential([ember.Input((2,)), layers.Dense(1)])
    penalized = ember.Sequential([ember.Input((2,)), layers.Dense(1, kernel_regularizer=ember.regularizers.L2(1.0))])
    penalized.set_weights(plain.get_weights())
    for model in (plain, penalized):
        model.compile(optimizer="sgd", loss="mse")
    kernel = plain.get_weights()[0]
    gap = penalized.test_on_batch(x, y) - plain.test_on_batch(x, y)
    assert gap == pytest.approx(float(np.sum(kernel ** 2)), rel=1e-5)


def test_verbose_2_prints_one_line_per_epoch_without_carriage_returns(capsys):
    x, y = xor_data(64)
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=3, verbose=2)
    out = capsys.readouterr().out
    assert "\r" not in out
    assert out.count("loss:") == 3


def test_progress_bar_in_a_log_file_prints_each_epoch_once(capsys):
    x, y = xor_data(256)
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)  # captured output is not a terminal
    out = capsys.readouterr().out
    assert "\r" not in out and out.count("32/32") == 2


# -- the PyTorch way -------------------------------------------------------------------------------------------------
def test_pytorch_style_loop_with_model_parameters():
    ember.manual_seed(0)
    x, y = xor_data()
    model = small_classifier()
    optimizer = ember.optimizers.Adam(model.parameters(), lr=0.05)
    loss_fn = ember.losses.BinaryCrossentropy()
    first = None
    for _ in range(60):
        loss = loss_fn(y, model(x))
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


class AddOffset(layers.Layer):
    """A layer taking a second tensor by keyword, as recurrent layers take `initial_state=[h, c]`."""

    def call(self, x, offset=None):
        return x + offset[0]


def test_symbolic_tensors_passed_by_keyword_join_the_graph_and_its_config():
    a, b = ember.Input((3,)), ember.Input((3,))
    model = ember.Model([a, b], layers.Dense(2)(AddOffset()(a, offset=[b])))
    xa, xb = np.ones((2, 3), "float32"), np.full((2, 3), 2.0, "float32")
    clone = ember.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict([xa, xb]), model.predict([xa, xb]))
    assert not np.array_equal(model.predict([xa, xb]), model.predict([xa, xa]))


def test_functional_model_with_unknown_image_size_runs_on_any_size():
    inputs = ember.Input((None, None, 3))
    features = layers.MaxPooling2D(2)(layers.Conv2D(8, 3, activation="relu")(inputs))
    assert features.shape == (None, None, None, 8)
    model = ember.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(features)))
    assert model(np.ones((2, 12, 17, 3), "float32")).shape == (2, 2)
    assert model(np.ones((1, 5, 6, 3), "float32")).shape == (1, 2)


def test_functional_shapes_keep_known_dimensions():
    tokens = ember.Input((None,), dtype="int64")
    assert layers.Embedding(10, 4)(tokens).shape == (None, None, 4)
    assert layers.Dense(3)(ember.Input((7,))).shape == (None, 3)
