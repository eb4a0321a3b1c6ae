"""Concurrency: the kernels release the GIL, so Python threads really run them at the same time. Several
threads predicting with one model, or running ops, must get exactly the serial results; the per-thread
switches (no_grad, the backend chosen by use_backend) must not leak from one thread into another.

Every thread starts at a barrier so that the calls overlap; each case repeats enough calls that a shared
buffer or a racy switch would show as a wrong bit."""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ember
from ember import layers, ops

THREADS = 4
REPEATS = 6


def _run_together(jobs):
    """Run the callables `jobs` on THREADS threads released together; their results in order."""
    barrier = threading.Barrier(min(THREADS, len(jobs)))

    def start(job):
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass  # fewer jobs left than threads: run anyway
        return job()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(start, jobs))


def _cnn():
    return ember.Sequential([
        ember.Input((16, 16, 3)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Conv2D(16, 3, activation="tanh"),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ]), (16, 16, 3)


def _recurrent():
    return ember.Sequential([
        ember.Input((20, 8)),
        layers.LSTM(64, return_sequences=True),
        layers.GRU(48),
        layers.Dense(3),
    ]), (20, 8)


@pytest.mark.parametrize("make", [_cnn, _recurrent], ids=["cnn", "lstm_gru"])
def test_threads_predicting_with_one_model_get_the_serial_results_exactly(make):
    ember.manual_seed(0)
    model, shape = make()
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((24,) + shape).astype("float32") for _ in range(THREADS)]
    serial = [model.predict(x, batch_size=8) for x in batches]
    jobs = [lambda i=i: model.predict(batches[i], batch_size=8) for _ in range(REPEATS) for i in range(THREADS)]
    results = _run_together(jobs)
    for k, out in enumerate(results):
        np.testing.assert_array_equal(out, serial[k % THREADS], err_msg=f"call {k} (batch {k % THREADS})")
    assert not all(np.array_equal(serial[0], s) for s in serial[1:])  # the batches differ: a mix-up would show


def _op_cases(rng):
    """(name, function of one seed) pairs: ops on kernels that split work and keep workspaces."""
    def conv(seed):
        r = np.random.default_rng(seed)
        return ops.conv2d(ember.tensor(r.standard_normal((4, 12, 12, 8))),
                          ember.tensor(r.standard_normal((3, 3, 8, 16))), padding="same")

    def matmul(seed):
        r = np.random.default_rng(seed)
        return ember.tensor(r.standard_normal((96, 130))) @ ember.tensor(r.standard_normal((130, 70)))

    def lstm(seed):
        r = np.random.default_rng(seed)
        args = [r.standard_normal(s) for s in [(6, 10, 7), (6, 64), (6, 64), (7, 256), (64, 256), (256,)]]
        return ops.lstm(*[ember.tensor(0.3 * a) for a in args])[0]

    def softmax(seed):
        return ops.log_softmax(ember.tensor(np.random.default_rng(seed).standard_normal((64, 300))))

    return [("conv2d", conv), ("matmul", matmul), ("lstm", lstm), ("log_softmax", softmax)]


def test_concurrent_forward_passes_of_ops_under_no_grad_match_the_serial_ones():
    cases = _op_cases(np.random.default_rng(0))

    def call(fn, seed):
        with ember.no_grad():
            out = fn(seed)
            assert not out.requires_grad
            return out.numpy()

    serial = {(name, seed): call(fn, seed) for name, fn in cases for seed in range(THREADS)}
    keys = [(name, fn, seed) for _ in range(REPEATS) for name, fn in cases for seed in range(THREADS)]
    results = _run_together([lambda fn=fn, seed=seed: call(fn, seed) for _, fn, seed in keys])
    for (name, _, seed), out in zip(keys, results):
        np.testing.assert_array_equal(out, serial[(name, seed)], err_msg=f"{name}, seed {seed}")


def test_concurrent_training_steps_on_separate_graphs_give_the_serial_gradients():
    def step(seed):
        r = np.random.default_rng(seed)
        w = ember.tensor(r.standard_normal((3, 3, 4, 8)), requires_grad=True)
        x = ember.tensor(r.standard_normal((2, 10, 10, 4)))
        loss = ops.relu(ops.conv2d(x, w, padding="same")).sum()
        loss.backward()
        return w.grad.numpy()

    serial = [step(seed) for seed in range(THREADS)]
    results = _run_together([lambda s=s: step(s) for _ in range(REPEATS) for s in range(THREADS)])
    for k, grad in enumerate(results):
        np.testing.assert_array_equal(grad, serial[k % THREADS])


def test_no_grad_in_one_thread_leaves_recording_on_in_another():
    inside, checked = threading.Event(), threading.Event()
    x = ember.tensor(np.ones(3), requires_grad=True)
    seen = {}

    def quiet():
        with ember.no_grad():
            inside.set()
            checked.wait(timeout=30)
            seen["quiet"] = (x * 2).requires_grad

    def recording():
        inside.wait(timeout=30)  # while the other thread sits inside no_grad
        seen["recording"] = ((x * 2).requires_grad, ember.is_grad_enabled())
        checked.set()

    threads = [threading.Thread(target=quiet), threading.Thread(target=recording)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == {"quiet": False, "recording": (True, True)}
    assert ember.is_grad_enabled()


def _differs_by_backend():
    """A float32 product whose result differs between the reference and the native GEMM (another summation
    order), so that running it on the wrong backend shows."""
    r = np.random.default_rng(3)
    a, b = r.standard_normal((64, 517)).astype("float32"), r.standard_normal((517, 33)).astype("float32")
    return lambda: (ember.tensor(a) @ ember.tensor(b)).numpy()


def test_use_backend_in_one_thread_does_not_switch_another():
    product = _differs_by_backend()
    with ember.use_backend("cpu"):
        native = product()
    with ember.use_backend("reference"):
        reference = product()
    assert not np.array_equal(native, reference), "pick a product the two backends round differently"

    inside, done = threading.Event(), threading.Event()
    seen = {}

    def switched():
        with ember.use_backend("reference"):
            inside.set()
            done.wait(timeout=30)
            seen["switched"] = product()

    def default():
        inside.wait(timeout=30)
        seen["default"] = (ember.get_backend(), product())
        done.set()

    previous = ember.get_backend()
    ember.set_backend("cpu")
    try:
        threads = [threading.Thread(target=switched), threading.Thread(target=default)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        ember.set_backend(previous)
    assert seen["default"][0] == "cpu"
    np.testing.assert_array_equal(seen["default"][1], native)
    np.testing.assert_array_equal(seen["switched"], reference)


def test_interleaved_use_backend_blocks_in_two_threads_restore_the_process_backend():
    # A enters, B enters, A leaves, B leaves: with one process-wide switch B would restore A's "reference"
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with ember.use_backend("reference"):
            a_in.set()
            b_in.wait(timeout=30)
        a_out.set()

    def second():
        a_in.wait(timeout=30)
        with ember.use_backend("reference"):
            b_in.set()
            a_out.wait(timeout=30)

    previous = ember.get_backend()
    ember.set_backend("cpu")
    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert ember.get_backend() == "cpu"
    finally:
        ember.set_backend(previous)


def test_set_backend_is_process_wide():
    previous = ember.get_backend()
    seen = []
    try:
        ember.set_backend("reference")
        thread = threading.Thread(target=lambda: seen.append(ember.get_backend()))
        thread.start()
        thread.join(timeout=60)
    finally:
        ember.set_backend(previous)
    assert seen == ["reference"]


class _CountingDense(layers.Dense):
    """A Dense layer that counts its builds."""

    def build(self, input_shape):
        self.builds = getattr(self, "builds", 0) + 1
        super().build(input_shape)


def test_threads_making_the_first_calls_of_an_unbuilt_model_build_it_once():
    # unbuilt (no Input): the first call builds; two threads building at once gave a model with doubled weights
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows within a few trials
    try:
        for trial in range(50):
            dense = _CountingDense(4)
            model = ember.Sequential([layers.Conv2D(8, 3), layers.Flatten(), dense])
            x = np.random.default_rng(trial).standard_normal((2, 8, 8, 3)).astype("float32")
            results = _run_together([lambda: model.predict(x) for _ in range(THREADS)])
            assert dense.builds == 1 and len(model.weights) == 4, f"trial {trial}: {len(model.weights)} weights"
            for out in results:
                np.testing.assert_array_equal(out, model.predict(x))
    finally:
        sys.setswitchinterval(switch)
