"""Callbacks: EarlyStopping, ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN, CSVLogger."""
import csv

import numpy as np
import pytest

import ember
from ember import callbacks, layers


def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32"))


def linear_model(learning_rate=0.05):
    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=ember.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    x, y = regression()
    model = linear_model(learning_rate=0.0)  # nothing improves
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2)
    history = model.fit(x, y, epochs=20, callbacks=[stopper], verbose=0)
    assert len(history.history["loss"]) == 3
    assert stopper.stopped_epoch == 2


def test_early_stopping_restores_the_best_weights():
    x, y = regression()
    model = linear_model(learning_rate=0.05)
    best = {}

    class RecordBest(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_loss"] < best.get("loss", np.inf):
                best.update(loss=logs["val_loss"], weights=self.model.get_weights())
            if epoch == 3:
                self.model.optimizer.learning_rate = 5.0  # diverge from here on

    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model.fit(x, y, epochs=30, validation_data=regression(32, seed=1), callbacks=[RecordBest(), stopper], verbose=0)
    for restored, expected in zip(model.get_weights(), best["weights"]):
        np.testing.assert_array_equal(restored, expected)


def test_unknown_monitor_names_the_available_keys():
    x, y = regression()
    with pytest.raises(KeyError, match="'val_accuracy' is not in the logs; available: \\['loss'\\]"):
        linear_model().fit(x, y, epochs=1, callbacks=[callbacks.EarlyStopping(monitor="val_accuracy")], verbose=0)


def test_model_checkpoint_saves_each_epoch_with_formatted_names(tmp_path):
    x, y = regression()
    model = linear_model()
    pattern = str(tmp_path / "weights.{epoch:02d}.safetensors")
    model.fit(x, y, epochs=3, callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"weights.0{i}.safetensors" for i in (1, 2, 3)]
    fresh = linear_model()
    fresh.load_weights(tmp_path / "weights.03.safetensors")
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_best_only_keeps_the_best_model(tmp_path):
    x, y = regression()
    model = linear_model()
    path = tmp_path / "best.ember"
    checkpoint = callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True)
    model.fit(x, y, epochs=4, callbacks=[checkpoint], verbose=0)
    restored = ember.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-6)


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    x, y = regression()
    model = linear_model()
    rates = []

    class Record(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            rates.append(self.model.optimizer.learning_rate)

    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, callbacks=[scheduler, Record()], verbose=0)
    assert rates == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx(rates)


def test_reduce_lr_on_plateau_halves_the_rate_after_each_flat_epoch():
    x, y = regression()
    model = linear_model(learning_rate=1e-12)  # too small to improve the loss by min_delta
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1.0)
    model.fit(x, y, epochs=3, callbacks=[plateau], verbose=0)
    assert model.optimizer.learning_rate == pytest.approx(1e-12 / 4)  # epoch 1 sets the best, 2 and 3 cut


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    x, y = regression()
    y[5] = np.nan
    model = linear_model()
    batches = []

    class Count(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)

    model.fit(x, y, epochs=5, batch_size=8, shuffle=False, callbacks=[callbacks.TerminateOnNaN(), Count()],
              verbose=0)
    assert batches == [0]
    assert "invalid loss" in capsys.readouterr().out


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    x, y = regression()
    path = tmp_path / "log.csv"
    linear_model().fit(x, y, epochs=3, validation_split=0.25, callbacks=[callbacks.CSVLogger(str(path))], verbose=0)
    rows = list(csv.DictReader(open(path)))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "val_loss"}


def test_history_is_returned_and_attached_to_the_model():
    x, y = regression()
    model = linear_model()
    history = model.fit(x, y, epochs=2, verbose=0)
    assert history.epoch == [0, 1] and history.model is model


def test_plot_history_draws_train_and_validation_curves(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = regression()
    history = linear_model().fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    figure = ember.utils.plot_history(history, path=tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert len(figure.axes[0].lines) == 2
