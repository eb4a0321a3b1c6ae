"""Callbacks that `fit` calls at the edges of training, epochs and batches (Keras names and behaviour)."""
import csv
import math
import os

import numpy as np


def _print(message):
    """Print on rank 0 only when ember.distributed runs several processes (they all hold the same logs)."""
    from . import distributed

    if distributed.rank() == 0:
        print(message)


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]`, `["val_accuracy"]`..."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"Invalid value for argument `mode`. Expected one of ['auto', 'min', 'max']. "
                         f"Received: mode={mode!r}")
    if mode == "auto":
        mode = "max" if any(word in monitor for word in ("acc", "auc", "precision", "recall")) else "min"
    return mode


class _Monitor(Callback):
    """Shared by callbacks that watch one logged quantity for improvement."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = sorted((logs or {}).keys())
            raise KeyError(f"{type(self).__name__}: monitored quantity {self.monitor!r} is not in the logs; "
                           f"available: {available}")
        return value

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved for `patience` epochs; optionally restore the best weights."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = self.baseline

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if epoch < self.start_from_epoch:
            return
        if self._improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None and self.model.stop_training:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) after each epoch; `filepath` may hold `{epoch:02d}`, `{val_loss:.2f}`..."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch"):
        super().__init__(monitor, mode)
        if save_freq != "epoch":
            raise ValueError(f"Invalid value for argument `save_freq`. Expected 'epoch'. Received: save_freq={save_freq!r}")
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._current(logs)
            if not self._improved(value):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            _print(f"Epoch {epoch + 1}: saved to {path}")


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch's start to `schedule(epoch, current_lr)`."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, float(self.model.optimizer.learning_rate)))
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            _print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` after `patience` epochs without improvement."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(f"Invalid value for argument `factor`. Expected a float in (0, 1). Received: factor={factor}")
        self.factor, self.patience, self.verbose, self.cooldown, self.min_lr = factor, patience, verbose, cooldown, min_lr
        self.wait = self.cooldown_left = 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_left == 0:
            self.wait += 1
            if self.wait >= self.patience:
                lr = max(float(self.model.optimizer.learning_rate) * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = lr
                self.cooldown_left, self.wait = self.cooldown, 0
                if self.verbose:
                    _print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {lr}.")


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            _print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Append each epoch's logs as a CSV row (written and flushed every epoch, so a crash loses nothing)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None

    def on_train_begin(self, logs=None):
        from . import distributed

        self.file = None
        if distributed.rank() != 0:  # every rank holds the same logs; one writes them
            return
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys, self.header_written = None, None, exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.file is None:
            return
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.separator)
            if not self.header_written:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()


class GANSampleGrid(Callback):
    """Every `every` epochs, write a PNG grid of `n` samples of a GAN (ember.GAN) to `path_pattern` formatted
    with the epoch (1-based) and the logs, e.g. "samples/epoch_{epoch:03d}.png". The latent vectors come from
    `seed`, the same every time, so the grids show one set of samples changing as training goes."""

    def __init__(self, path_pattern="gan_samples_{epoch:03d}.png", every=1, n=64, nrow=8, seed=0,
                 value_range=None, scale=1):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"Invalid value for argument `every`. Expected a positive int. Received: every={every!r}")
        self.path_pattern, self.every, self.n, self.nrow, self.seed = os.fspath(path_pattern), every, n, nrow, seed
        self.value_range, self.scale = value_range, scale
        self.paths = []  # the files written, in order

    def on_epoch_end(self, epoch, logs=None):
        from . import distributed
        from .utils.image_grid import save_image_grid

        if (epoch + 1) % self.every or distributed.rank() != 0:
            return
        path = self.path_pattern.format(epoch=epoch + 1, **(logs or {}))
        save_image_grid(self.model.generate(self.n, seed=self.seed), path, nrow=self.nrow,
                        value_range=self.value_range, scale=self.scale)
        self.paths.append(path)
