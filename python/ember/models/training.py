"""compile / fit / evaluate / predict, built on the same pieces as a hand-written PyTorch-style loop:
forward, loss, `loss.backward()`, `optimizer.step(...)`."""
from functools import partial

import numpy as np

from .. import autograd, callbacks as callbacks_module
from .. import random as _random
from ..tensor import Tensor
from ..utils.progbar import Progbar, format_logs


def _to_numpy(x):
    """Data as arrays to batch: NumPy arrays, except that data on a GPU stays there (as its CuPy array)."""
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [_to_numpy(item) for item in x]
    data = x._data if isinstance(x, Tensor) else x
    return data if hasattr(data, "__cuda_array_interface__") else np.asarray(data)


def _length(x, name):
    lengths = {len(a) for a in (x if isinstance(x, list) else [x])}
    if len(lengths) != 1:
        raise ValueError(f"All arrays in `{name}` must have the same number of samples; received lengths {sorted(lengths)}")
    return lengths.pop()


def _take(x, index):
    if x is None:
        return None
    return [a[index] for a in x] if isinstance(x, list) else x[index]


def _is_dataset(x, y):
    """An iterable of (x, y) batches (e.g. ember.data batches) rather than arrays."""
    return (y is None and x is not None and not isinstance(x, (np.ndarray, Tensor, list, tuple))
            and not hasattr(x, "__cuda_array_interface__"))


def _array_batches(x, y, batch_size, shuffle):
    n = _length(x, "x")
    if y is not None and _length(y, "y") != n:
        raise ValueError(f"fit: `x` has {n} samples but `y` has {_length(y, 'y')}; expected the same number")
    order = _random.generator().permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield _take(x, index), _take(y, index)


class Trainer:
    """The training half of ember.Model."""

    compiled = False
    stop_training = False
    _distributed = None  # the ember.distributed FitStrategy of a fit(distributed=True) in progress

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=None,
                jit_compile=None, steps_per_execution=None):
        """Choose the optimizer, loss and metrics, by name or object, as Keras."""
        from .. import losses, optimizers

        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        if isinstance(loss, (list, tuple)):
            self._loss_fns = [losses.get(item) for item in loss]
        else:
            self._loss_fns = None if loss is None else losses.get(loss)
        self._loss_weights = loss_weights
        self._metric_specs = list(metrics or [])
        self._metrics = None
        self.compiled = True

    # -- one step ---------------------------------------------------------------------------------------------------
    def _require_compiled(self, what):
        if not self.compiled or self._loss_fns is None:
            raise RuntimeError(f"You must call compile() with a loss before {what}().")

    def _resolve_metrics(self, y_pred):
        from .. import metrics

        if self._metrics is None:
            shape = tuple(y_pred.shape)
            self._metrics = [metrics.get(spec, loss=self.loss, output_shape=shape) for spec in self._metric_specs]
        return self._metrics

    def compute_loss(self, y, y_pred):
        """The compiled loss (summed over outputs with `loss_weights`) plus the layers' regularization."""
        if isinstance(self._loss_fns, list):
            weights = self._loss_weights or [1.0] * len(self._loss_fns)
            total = sum(w * fn(t, p) for w, fn, t, p in zip(weights, self._loss_fns, y, y_pred))
        else:
            total = self._loss_fns(y, y_pred)
        for penalty in self.losses:
            total = total + penalty
        return total

    def _update_metrics(self, y, y_pred):
        if isinstance(y_pred, (list, tuple)):  # metrics follow the first output of a multi-output model
            y, y_pred = y[0], y_pred[0]
        for metric in self._resolve_metrics(y_pred):
            metric.update_state(y, y_pred.detach())

    def train_step(self, x, y):
        """Forward, loss, backward, optimizer step; returns the batch loss as a float."""
        y_pred = self(x, training=True)
        loss = self.compute_loss(y, y_pred)
        params = self.trainable_weights
        for p in params:
            p.grad = None
        loss.backward()
        value = float(loss.item())
        if self._distributed is not None:  # gradients (and the batch loss) summed over the ranks
            value = self._distributed.sync_gradients(params, value)
        self.optimizer.step(params)
        with autograd.no_grad():
            self._update_metrics(y, y_pred)
        return value

    def test_step(self, x, y):
        with autograd.no_grad():
            y_pred = self(x, training=False)
            loss = self.compute_loss(y, y_pred)
            self._update_metrics(y, y_pred)
        return float(loss.item())

    def _logs(self, loss_sum, count, prefix=""):
        if self._distributed is not None:
            return self._distributed.logs(self, loss_sum, count, prefix)
        logs = {prefix + "loss": loss_sum / max(count, 1)}
        for metric in self._metrics or []:
            logs[prefix + metric.name] = float(metric.result())
        return logs

    def _on_device(self, batches):
        """The batches as they go in: on a GPU model, each one copied to its device while the previous one is
        used (pinned memory, a copy stream; see ember.cuda.to_device_batches), floats cast to the model's dtype."""
        device = self.device
        if device == "cpu":
            return batches
        from ..cuda import to_device_batches

        return to_device_batches(batches, device, self.dtype)

    def _reset_metrics(self):
        for metric in self._metrics or []:
            metric.reset_state()

    # -- loops ---------------------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, distributed=False):
        """Train for `epochs`; returns a History whose `.history` maps "loss", "val_loss", metrics... to lists.

        distributed=True: data-parallel over the processes of an MPI job (`mpiexec -n 2 python train.py`);
        `batch_size` is then the global batch and each rank trains on its part (see ember/distributed/fit.py)."""
        self._require_compiled("fit")
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Invalid value for argument `batch_size`. Expected a positive int. "
                             f"Received: batch_size={batch_size!r}")
        verbose = 1 if verbose == "auto" else verbose
        dataset = _is_dataset(x, y)
        x, y = (x, y) if dataset else (_to_numpy(x), _to_numpy(y))
        if validation_split and not dataset:
            if not 0 < validation_split < 1:
                raise ValueError(f"Invalid value for argument `validation_split`. Expected a float in (0, 1). "
                                 f"Received: validation_split={validation_split}")
            n = _length(x, "x")
            split = int(n * (1 - validation_split))  # the last samples, before shuffling, as Keras
            validation_data = (_take(x, slice(split, None)), _take(y, slice(split, None)))
            x, y = _take(x, slice(0, split)), _take(y, slice(0, split))
        steps = steps_per_epoch or (len(x) if dataset and hasattr(x, "__len__") else
                                    None if dataset else -(-_length(x, "x") // batch_size))
        strategy = None
        if distributed:
            from ..distributed.fit import FitStrategy

            strategy = FitStrategy(self, x, y, dataset)
            verbose = strategy.verbose(verbose)
            steps = steps_per_epoch or strategy.steps(_length(x, "x"), batch_size)
        self._distributed = strategy

        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(list(callbacks or []) + [history], self,
                                            {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(steps, verbose)
            loss_sum, count, step = 0.0, 0, 0
            if strategy:
                batches = strategy.batches(x, y, batch_size, shuffle)
            else:
                batches = iter(x) if dataset else _array_batches(x, y, batch_size, shuffle)
            for xb, yb in self._on_device(batches):
                cbs.on_train_batch_begin(step)
                loss = self.train_step(xb, yb)
                size = _length(_to_numpy(xb) if not isinstance(xb, list) else xb, "x")
                loss_sum, count, step = loss_sum + loss * size, count + size, step + 1
                logs = self._logs(loss_sum, count)
                cbs.on_train_batch_end(step - 1, dict(logs, loss=loss))
                bar.update(step, logs)
                if self.stop_training or (steps_per_epoch and step >= steps_per_epoch):
                    break
            if strategy:
                strategy.end_epoch(self)
            logs = self._logs(loss_sum, count)
            if validation_data is not None:
                evaluate = partial(strategy.evaluate, self) if strategy else self.evaluate
                val = evaluate(*validation_data[:2], batch_size=batch_size, verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            bar.target = bar.target or step
            bar.finish(logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        self._distributed = None
        history.model = self
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """The loss and metrics on (x, y): a float, a list [loss, metric...] or a dict, as Keras."""
        self._require_compiled("evaluate")
        batch_size = batch_size or 32
        dataset = _is_dataset(x, y)
        if not dataset:
            x, y = _to_numpy(x), _to_numpy(y)
        self._reset_metrics()
        loss_sum, count = 0.0, 0
        for xb, yb in self._on_device(iter(x) if dataset else _array_batches(x, y, batch_size, shuffle=False)):
            size = _length(_to_numpy(xb) if not isinstance(xb, list) else xb, "x")
            loss_sum, count = loss_sum + self.test_step(xb, yb) * size, count + size
        logs = self._logs(loss_sum, count)
        if verbose:
            print(format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs for `x`, computed in batches without recording a graph; NumPy arrays."""
        batch_size = batch_size or 32
        if _is_dataset(x, None):
            parts = [self.predict_on_batch(xb if not isinstance(xb, tuple) else xb[0]) for xb in self._on_device(x)]
        else:
            x = _to_numpy(x)
            batches = self._on_device(_array_batches(x, None, batch_size, shuffle=False))
            parts = [self.predict_on_batch(xb) for xb, _ in batches]
        if parts and isinstance(parts[0], list):
            return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def predict_on_batch(self, x):
        with autograd.no_grad():
            out = self(x, training=False)
        return [o.numpy() for o in out] if isinstance(out, (list, tuple)) else out.numpy()

    def train_on_batch(self, x, y, return_dict=False):
        return self._one_batch("train_on_batch", self.train_step, x, y, return_dict)

    def test_on_batch(self, x, y, return_dict=False):
        return self._one_batch("test_on_batch", self.test_step, x, y, return_dict)

    def _one_batch(self, what, step, x, y, return_dict):
        """One step on one batch, with the metrics of that batch alone: a float, a list or a dict, as Keras."""
        self._require_compiled(what)
        self._reset_metrics()
        logs = {"loss": step(_to_numpy(x), _to_numpy(y))}
        logs.update({m.name: float(m.result()) for m in self._metrics or []})
        return logs if return_dict else (logs["loss"] if len(logs) == 1 else list(logs.values()))

    # -- inspection and saving -----------------------------------------------------------------------------------------
    def summary(self, print_fn=None):
        from .summary import summary_lines

        for line in summary_lines(self):
            (print_fn or print)(line)

    def save(self, filepath):
        """Architecture (JSON config) and weights in one safetensors file; `ember.load_model` reads it back.
        With several ranks (ember.distributed), rank 0 writes while the others wait: call it on every rank."""
        from .. import saving
        from ..distributed import rank_zero_writes

        rank_zero_writes("save", lambda: saving.save_model(self, filepath))

    def save_weights(self, filepath):
        from .. import saving
        from ..distributed import rank_zero_writes

        rank_zero_writes("save_weights", lambda: saving.save_weights(self, filepath))

    def load_weights(self, filepath):
        """Weights saved by `save_weights` (safetensors), or a Keras 3 `.weights.h5` file (HDF5, needs h5py)."""
        from .. import saving, saving_keras

        if saving_keras.is_hdf5(filepath):
            return saving_keras.load_keras_weights(self, filepath)
        saving.load_weights(self, filepath)
