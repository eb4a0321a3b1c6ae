"""What `model.fit(..., distributed=True)` does differently; Trainer calls these hooks (models/training.py).

- `batch_size` is the global batch, as in Keras' distribution strategies: every epoch rank 0 draws the shuffled
  order from ember's generator (the draw a single process makes, so the same seed gives the same order) and
  broadcasts it; each global batch is split into `world_size` near-equal parts and rank r trains on part r.
  A last batch with fewer samples than ranks is skipped (at most world_size - 1 samples an epoch).
- gradients are summed with weights n_rank / n_batch (buckets.py), so every step applies the gradient of the
  global batch's mean loss, as one process with that batch would; the batch loss is summed in the same step.
- logs (loss and Mean-style metrics) are reduced from their running totals and counts over all ranks, so every
  rank sees the same logs and callbacks decide the same (EarlyStopping stops all ranks at once).
- non-trainable weights (moving statistics) are averaged over the ranks at each epoch's end; validation data
  is split between the ranks and its logs reduced the same way.
- only rank 0 prints; saving is done by rank 0 while the others wait (`rank_zero_writes`).
"""
import numpy as np

from .. import autograd, metrics as metrics_module
from .. import random as _random
from ..models.training import _array_batches, _length, _take, _to_numpy
from . import collectives
from .buckets import GradientBuckets
from .ddp import average_weights, broadcast_weights


class FitStrategy:
    """The state of one fit(distributed=True): this rank's share of the current batch and the buckets."""

    def __init__(self, model, x, y, dataset):
        if dataset:
            raise ValueError("fit(distributed=True): `x` and `y` must be arrays so that each rank can take its part "
                             "of every batch; received an iterable of batches. Shard such data yourself and train "
                             "with ember.distributed.DistributedDataParallel.")
        collectives.init()
        self.group = collectives.group()
        self.rank, self.size = self.group.rank, self.group.size
        if not model.weights:  # a model that makes its weights on its first call
            with autograd.no_grad():
                model(_take(x, slice(0, 1)), training=False)
        broadcast_weights(model.weights)
        self.buckets = None
        self.share = 1.0 / self.size
        self.synced = False

    def verbose(self, verbose):
        return verbose if self.rank == 0 else 0

    def steps(self, n, batch_size):
        full, rest = divmod(n, batch_size)
        return full + (rest >= self.size)

    def batches(self, x, y, batch_size, shuffle):
        n = _length(x, "x")
        if y is not None and _length(y, "y") != n:
            raise ValueError(f"fit: `x` has {n} samples but `y` has {_length(y, 'y')}; expected the same number")
        if batch_size < self.size:
            raise ValueError(f"Invalid value for argument `batch_size`. With distributed=True it is the global "
                             f"batch, shared by {self.size} ranks: expected at least {self.size}. "
                             f"Received: batch_size={batch_size}")
        if n < self.size:
            raise ValueError(f"fit(distributed=True): {n} training samples cannot be shared by {self.size} ranks")
        order = np.arange(n) if not shuffle else self._shuffled(n)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            if len(index) < self.size:
                return
            mine = np.array_split(index, self.size)[self.rank]
            self.share = len(mine) / len(index)
            self.synced = False
            yield _take(x, mine), _take(y, mine)
            if not self.synced:  # the same code runs on every rank: all raise here, none hangs
                raise RuntimeError("fit(distributed=True): the training step did not average the gradients over "
                                   "the ranks, so the replicas would drift apart. A custom train_step must call "
                                   "self._distributed.sync_gradients(params, loss) between backward and the "
                                   "optimizer step (Trainer.train_step does).")

    def _shuffled(self, n):
        order = _random.generator().permutation(n).astype(np.int64) if self.rank == 0 else np.empty(n, np.int64)
        return self.group.broadcast(order, 0, "epoch order broadcast from rank 0")

    def sync_gradients(self, params, loss):
        """Sum share * gradient over the ranks into every `.grad`; returns the global batch loss."""
        if self.buckets is None or not self.buckets.matches(params):
            self.buckets = GradientBuckets(params)
        (global_loss,) = self.buckets.reduce(self.share, extras=(loss,))
        self.synced = True
        return float(global_loss)

    def logs(self, model, loss_sum, count, prefix=""):
        """The logs over all ranks: loss and metrics from their summed totals and counts."""
        metrics = model._metrics or []
        values = [loss_sum, count]
        for metric in metrics:
            if isinstance(metric, metrics_module.Mean):
                values += [metric.total, metric.count]
            else:  # a metric without running totals: the mean of the ranks' results
                values += [float(metric.result()), 1.0]
        summed = self.group.all_reduce(np.array(values, np.float64), "sum", "loss and metric reduction")
        logs = {prefix + "loss": float(summed[0] / max(summed[1], 1))}
        for i, metric in enumerate(metrics):
            total, weight = summed[2 + 2 * i], summed[3 + 2 * i]
            logs[prefix + metric.name] = float(total / weight) if weight else 0.0
        return logs

    def end_epoch(self, model):
        average_weights(model.non_trainable_weights)

    def evaluate(self, model, x, y, batch_size=None, verbose=0, return_dict=True):
        """Validation: each rank evaluates its contiguous part of (x, y); the logs are reduced over the ranks."""
        x, y = _to_numpy(x), _to_numpy(y)
        mine = np.array_split(np.arange(_length(x, "x")), self.size)[self.rank]
        model._reset_metrics()
        loss_sum, count = 0.0, 0
        for xb, yb in _array_batches(_take(x, mine), _take(y, mine), batch_size or 32, shuffle=False):
            size = _length(xb, "x")
            loss_sum, count = loss_sum + model.test_step(xb, yb) * size, count + size
        return model._logs(loss_sum, count)


def rank_zero_writes(what, write):
    """Run `write()` on rank 0 only while the other ranks wait for it, then return its result on rank 0 (None
    elsewhere). A failure on rank 0 raises on every rank. Every rank must call it (save_weights, save and
    ModelCheckpoint do); without several ranks it is just `write()`."""
    if collectives.world_size() == 1:
        return write()
    group = collectives.group()
    result = error = None
    if group.rank == 0:
        try:
            result = write()
        except Exception as exc:  # reported to every rank below, then re-raised here
            error = exc
    message = group.broadcast_object(None if error is None else f"{type(error).__name__}: {error}", 0,
                                     f"{what} (rank 0 writes while every rank waits: call it on every rank)")
    if error is not None:
        raise error
    if message is not None:
        raise RuntimeError(f"ember.distributed: {what} failed on rank 0, which writes for all ranks: {message}")
    return result
