"""The program the two-rank tests start under `mpiexec -n 2 python rank_program.py SCENARIO [DIR]`.

Rank 0 prints one line `RESULT {json}` that the tests read; the failure scenarios end the job on purpose.
    equivalence   fit(distributed=True) and DistributedDataParallel against one process on the full batches
    collectives   all_reduce / broadcast / all_gather values on two ranks
    raise         rank 1 raises in the middle of fit
    kill          rank 1 kills itself (SIGKILL) in the middle of fit
    hang          rank 1 stops calling collectives in the middle of fit (the others must time out)
"""
import json
import os
import signal
import sys
import time

import numpy as np

import ember
from ember import distributed as dist
from ember import layers

F64 = "float64"


def data(n=22, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)), rng.integers(0, 3, size=n)


def cnn(batch_norm=False):
    stack = [ember.Input((6, 6, 1), dtype=F64), layers.Conv2D(4, 3, activation="tanh", dtype=F64)]
    if batch_norm:
        stack.append(layers.BatchNormalization(dtype=F64))
    stack += [layers.Flatten(dtype=F64), layers.Dense(3, activation="softmax", dtype=F64)]
    return ember.Sequential(stack, dtype=F64)


def compiled(model):
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def flat(model):
    return np.concatenate([w.reshape(-1) for w in model.get_weights()])


def same_on_all_ranks(vector):
    gathered = dist.all_gather(ember.tensor(vector, dtype=vector.dtype))
    return all(np.array_equal(g.numpy(), gathered[0].numpy()) for g in gathered)


def fit_equivalence(workdir):
    """Global batches of 8 (4 + 4) and 7 (4 + 3: unequal parts), shuffled, with validation and a checkpoint."""
    x, y = data()
    out = {}
    for batch_size in (8, 7):
        ember.manual_seed(1)
        single = compiled(cnn())
        if dist.rank() == 0:
            history_single = single.fit(x, y, batch_size=batch_size, epochs=3, verbose=0, validation_split=0.25)
        ember.manual_seed(1 if dist.rank() == 0 else 99)  # rank 1 starts elsewhere: fit copies rank 0's weights
        model = compiled(cnn())
        checkpoint = ember.callbacks.ModelCheckpoint(os.path.join(workdir, f"b{batch_size}.weights"),
                                                     monitor="loss", save_weights_only=True)
        history = model.fit(x, y, batch_size=batch_size, epochs=3, verbose=2, validation_split=0.25,
                            callbacks=[checkpoint], distributed=True)
        weights = flat(model)
        saved = compiled(cnn())
        saved.load_weights(os.path.join(workdir, f"b{batch_size}.weights"))
        same_history = same_on_all_ranks(np.array([v for k in sorted(history.history)
                                                   for v in history.history[k]]))
        if dist.rank() == 0:
            out[f"batch{batch_size}"] = {
                "max_weight_difference": float(np.max(np.abs(weights - flat(single)))),
                "max_log_difference": max(abs(a - b) for k in history_single.history
                                          for a, b in zip(history.history[k], history_single.history[k])),
                "log_keys": sorted(history.history),
                "ranks_identical": bool(same_on_all_ranks(weights)),
                "histories_identical": bool(same_history),
                "checkpoint_matches": bool(np.array_equal(flat(saved), weights))}
        else:
            same_on_all_ranks(weights)
    ember.manual_seed(3)
    with_bn = compiled(cnn(batch_norm=True))
    with_bn.fit(x, y, batch_size=8, epochs=2, verbose=0, distributed=True)
    identical = same_on_all_ranks(flat(with_bn))
    out["batch_norm_ranks_identical"] = bool(identical)
    return out


def ddp_equivalence(steps=4):
    """The tensor way: each rank takes half of every batch of 22; rank 0 also trains one process on all 22."""
    x, y = data()
    loss_fn = ember.losses.SparseCategoricalCrossentropy()
    ember.manual_seed(5)
    single = cnn()
    optimizer = ember.optimizers.SGD(single.parameters(), learning_rate=0.2, momentum=0.9)
    for _ in range(steps):
        loss_fn(y, single(x, training=True)).backward()
        optimizer.step()
        optimizer.zero_grad()
    ember.manual_seed(5 if dist.rank() == 0 else 77)
    ddp = dist.DistributedDataParallel(cnn())
    optimizer = ember.optimizers.SGD(ddp.parameters(), learning_rate=0.2, momentum=0.9)
    mine = np.array_split(np.arange(len(x)), dist.world_size())[dist.rank()]
    for _ in range(steps):
        ddp.backward(loss_fn(y[mine], ddp(x[mine], training=True)))
        optimizer.step()
        optimizer.zero_grad()
    weights = flat(ddp.module)
    identical = same_on_all_ranks(weights)
    return {"max_weight_difference": float(np.max(np.abs(weights - flat(single)))), "ranks_identical": identical}


def collectives():
    r = dist.rank()
    values = {}
    for op in ("sum", "mean", "max", "min", "prod"):
        t = ember.tensor([1.0 + r, 10.0 - 3 * r], dtype=F64)
        assert dist.all_reduce(t, op) is t
        values[op] = t.tolist()
    scalar = ember.tensor(2.0 + r, dtype=F64)
    values["scalar_sum"] = dist.all_reduce(scalar).item()
    strided = ember.tensor(np.arange(6.0).reshape(2, 3).T + r)  # not contiguous: reduced through a copy
    values["strided_sum"] = dist.all_reduce(strided).tolist()
    ints = ember.tensor(np.array([r, 5], np.int64))
    values["int_max"] = dist.all_reduce(ints, "max").tolist()
    b = ember.tensor([float(r), float(r)], dtype=F64)
    values["broadcast_from_1"] = dist.broadcast(b, root=1).tolist()
    values["all_gather"] = [g.tolist() for g in dist.all_gather(ember.tensor([[r, r + 0.5]], dtype=F64))]
    dist.barrier()
    values["failed_save"] = failed_save()
    return values


def failed_save():
    """Rank 0 cannot write the file: every rank must raise (rank 0 its own error), none may wait forever."""
    model = cnn()
    try:
        model.save_weights(os.path.join("/nonexistent-directory", "weights.safetensors"))
    except Exception as error:
        mine = f"{type(error).__name__}: {error}"
    gathered = dist.all_gather(ember.tensor(np.frombuffer(mine[:80].ljust(80).encode(), np.uint8)))
    return [bytes(g.numpy()).decode().strip() for g in gathered]


class FailAtBatch(ember.callbacks.Callback):
    """On rank 1, at the third batch: raise, die, or stop taking part (sleep far past the timeout)."""

    def __init__(self, how):
        super().__init__()
        self.how = how

    def on_train_batch_begin(self, batch, logs=None):
        if dist.rank() != 1 or batch != 2:
            return
        if self.how == "raise":
            raise ValueError("rank 1 fails on purpose")
        if self.how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)


def failing(how):
    x, y = data(64)
    model = compiled(cnn())
    model.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[FailAtBatch(how)], distributed=True)


def main(scenario, workdir=None):
    dist.init()
    if scenario == "equivalence":
        result = {"world_size": dist.world_size(), "fit": fit_equivalence(workdir), "ddp": ddp_equivalence()}
    elif scenario == "collectives":
        result = collectives()
    else:
        failing(scenario)
        result = {"finished": True}
    gathered = dist.all_gather(ember.tensor([dist.rank()]))
    if dist.rank() == 0:
        result["ranks_seen"] = [g.item() for g in gathered]
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
