"""Leaks: long training keeps the process's resident memory flat, and autograd graphs are freed by reference
counting alone (no reference cycle waits for Python's cyclic garbage collector).

The memory runs happen in a fresh interpreter each, so that what other tests allocated (and the allocator's
high-water marks they left) cannot hide or fake a trend. RSS comes from /proc/self/statm (Linux).
"""
import gc
import json
import os
import subprocess
import sys
import weakref
import zlib

import numpy as np
import pytest

import ember
from ember import layers
from ember.testing import OPS

WARMUP_STEPS = 200
MEASURED_STEPS = 2000
MAX_GROWTH = 0.05  # the bound: resident memory within 5% of its level after warm-up

# Runs in the child: build a small model, train WARMUP_STEPS steps through `fit`, read RSS, train
# MEASURED_STEPS more, read RSS again. 25 batches of 8 per epoch. `--leak BYTES` makes a callback keep BYTES
# per step alive: the canary that shows the measurement sees a real leak.
_CHILD = r"""
import gc, json, os, sys
import numpy as np
import ember
from ember import layers

kind, warmup, steps, leak, gc_off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
device = sys.argv[6]
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

if device != "cpu":  # on a GPU: the bytes of live device arrays in CuPy's pool (its cached blocks excluded)
    import cupy

    def rss():
        cupy.cuda.Device().synchronize()
        return cupy.get_default_memory_pool().used_bytes()

ember.manual_seed(0)
rng = np.random.default_rng(0)
batch, per_epoch = 8, 25
n = batch * per_epoch
if kind == "cnn":
    model = ember.Sequential([ember.Input((8, 8, 2)), layers.Conv2D(4, 3, padding="same", activation="relu"),
                              layers.MaxPooling2D(2), layers.BatchNormalization(), layers.Conv2D(4, 3),
                              layers.Flatten(), layers.Dropout(0.2), layers.Dense(3)])
    x = rng.standard_normal((n, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 3, n)
    model.compile(optimizer="adam", loss=ember.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
else:
    model = ember.Sequential([ember.Input((6, 3)), layers.LSTM(8, return_sequences=True), layers.LSTM(8),
                              layers.Dense(1)])
    x = rng.standard_normal((n, 6, 3)).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

model.to(device)
kept = []
class Probe(ember.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if leak:
            kept.append(np.ones(leak // 8))
        samples.append(rss())

samples = []
model.fit(x, y, batch_size=batch, epochs=warmup // per_epoch, verbose=0, callbacks=[Probe()])
if gc_off:
    gc.collect()
    gc.disable()
objects = len(gc.get_objects())
samples.clear()
before = rss()
model.fit(x, y, batch_size=batch, epochs=steps // per_epoch, verbose=0, callbacks=[Probe()])
after = rss()
print(json.dumps({"before": before, "after": after, "peak": max(samples), "steps": len(samples),
                  "objects_before": objects, "objects_after": len(gc.get_objects())}))
"""


def _train_in_child(kind, leak_bytes_per_step=0, gc_off=False, device="cpu"):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = [kind, str(WARMUP_STEPS), str(MEASURED_STEPS), str(leak_bytes_per_step), "1" if gc_off else "0", device]
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["steps"] == MEASURED_STEPS
    return result


def _growth(result):
    """Relative growth of resident memory over the measured steps (the end, or the peak if higher)."""
    return (max(result["after"], result["peak"]) - result["before"]) / result["before"]


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc (Linux)")


@needs_proc
@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_two_thousand_training_steps_keep_resident_memory_flat(kind):
    # with the cyclic collector off during the measured steps: every graph must die by reference counting
    # alone, so a reference cycle per step would pile up here (and RSS can only be lower with gc on)
    result = _train_in_child(kind, gc_off=True)
    growth = _growth(result)
    print(f"{kind}: RSS {result['before'] / 2**20:.2f} MiB after {WARMUP_STEPS} warm-up steps, "
          f"{result['after'] / 2**20:.2f} MiB after {MEASURED_STEPS} more (peak {result['peak'] / 2**20:.2f}): "
          f"{100 * growth:+.2f}%; gc-tracked objects {result['objects_before']} -> {result['objects_after']}")
    assert growth <= MAX_GROWTH, result
    assert result["objects_after"] - result["objects_before"] < 100, result  # not one (or more) per step


@needs_proc
def test_the_memory_probe_sees_a_leak_of_four_kilobytes_per_step():
    # the canary: 2,000 steps keeping 4 KiB each (8 MiB) must fail the bound the real runs pass
    result = _train_in_child("lstm", leak_bytes_per_step=4096, gc_off=True)
    assert _growth(result) > MAX_GROWTH, result


@pytest.mark.skipif(not ember.cuda.is_available(), reason=f"needs a GPU: {ember.cuda.why_unavailable()}")
@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_two_thousand_gpu_training_steps_keep_device_memory_flat(kind):
    # the live device arrays (CuPy's pool, used bytes) after 2000 more steps, as the CPU runs bound RSS
    result = _train_in_child(kind, gc_off=True, device="cuda")
    assert _growth(result) <= MAX_GROWTH, result
    assert result["objects_after"] - result["objects_before"] < 100, result


# -- graphs die by reference counting ---------------------------------------------------------------------------
@pytest.fixture
def cyclic_gc_off():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _differentiable_cases():
    for info in OPS:
        if info.differentiable:
            yield pytest.param(info, id=info.name)


def _leaf_tensors(args):
    return [ember.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in args]


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


@pytest.mark.parametrize("info", list(_differentiable_cases()))
def test_an_ops_recorded_output_dies_with_its_last_reference(info, cyclic_gc_off):
    # a backward closure holding its own output tensor makes the cycle out -> node -> closure -> out, which
    # keeps every graph built and never backpropagated (a forward pass with grad on) alive until gc runs
    sample = info.samples(np.random.default_rng(zlib.crc32(info.name.encode())))[0]
    outs = _as_list(info.op(*_leaf_tensors(sample.args), **sample.kwargs))
    assert any(o._node is not None for o in outs), f"{info.name}: recorded no graph"
    refs = [weakref.ref(o) for o in outs]
    node = weakref.ref(outs[0]._node)
    del outs
    assert all(r() is None for r in refs), f"{info.name}: its output outlived its last reference (a cycle)"
    assert node() is None, f"{info.name}: its graph node outlived its outputs"


def _cnn():
    return ember.Sequential([ember.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu"), layers.MaxPooling2D(2),
                             layers.BatchNormalization(), layers.Flatten(), layers.Dropout(0.5), layers.Dense(2)])


def _lstm():
    return ember.Sequential([ember.Input((5, 3)), layers.LSTM(4, return_sequences=True), layers.GRU(4),
                             layers.Dense(2)])


@pytest.mark.parametrize("make, shape", [(_cnn, (4, 6, 6, 2)), (_lstm, (4, 5, 3))], ids=["cnn", "lstm"])
def test_a_models_graph_dies_after_backward_and_without_it(make, shape, cyclic_gc_off):
    model = make()
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    for backpropagate in (True, False):
        out = model(x, training=True)
        loss = (out * out).sum()
        node, saved = weakref.ref(out._node), weakref.ref(out)
        if backpropagate:
            loss.backward()
            assert node() is not None  # the loss still holds its graph (not its saved arrays) until it goes
        del out, loss
        assert saved() is None and node() is None, f"backward={backpropagate}: the graph outlived its tensors"


def test_backward_drops_the_saved_arrays_while_the_output_lives():
    x = ember.tensor(np.ones((3, 4)), requires_grad=True)
    y = ember.ops.tanh(x)
    loss = (y * y).sum()
    loss.backward()
    assert y._node.backward_fn is None and loss._node.backward_fn is None  # closures (and their arrays) released
