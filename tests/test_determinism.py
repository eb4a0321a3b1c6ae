"""Determinism: `ember.manual_seed` and the same data give bit-identical weights after a shuffled `fit`, on
1 and on 2 threads; `ember.use_deterministic` records the mode, and an op without a deterministic kernel on
its device raises under it (shown with a registered stand-in, as the CPU has none)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import determinism, layers

SEED = 1234


def _cnn():
    # the first convolution (3200 output pixels a batch) is large enough for its kernels to use both threads
    return ember.Sequential([
        ember.Input((10, 10, 3)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Conv2D(8, 3, activation="relu"),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(16, activation="relu"),
        layers.Dense(4),
    ]), (10, 10, 3), "classes"


def _recurrent():
    # 64 units at batch 32: enough work per time step (2^18 multiply-adds) that the recurrent kernels split
    # their units across threads; smaller layers would run on one thread whatever the setting
    return ember.Sequential([
        ember.Input((8, 5)),
        layers.LSTM(64, return_sequences=True),
        layers.Dropout(0.2),
        layers.GRU(64),
        layers.Dense(1),
    ]), (12, 5), "values"


MODELS = {"cnn": _cnn, "lstm_gru": _recurrent}


def _seeded_fit(kind, seed=SEED, epochs=2):
    """Seed, build, fit with shuffling and dropout; the trained weights (and the initial ones)."""
    ember.manual_seed(seed)
    model, shape, target = MODELS[kind]()
    data = np.random.default_rng(0)  # the data is fixed; only ember's seed drives init, shuffle and dropout
    x = data.standard_normal((80,) + shape).astype("float32")  # batches of 32, 32 and 16: a short last one
    if target == "classes":
        y = data.integers(0, 4, 80)
        model.compile(optimizer="adam", loss=ember.losses.SparseCategoricalCrossentropy(from_logits=True))
    else:
        y = data.standard_normal((80, 1)).astype("float32")
        model.compile(optimizer="adam", loss="mse")
    initial = model.get_weights()
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return initial, model.get_weights()


@pytest.fixture
def restore_threads():
    previous = ember.get_num_threads()
    yield
    ember.set_num_threads(previous)


def _assert_bit_identical(first, second):
    assert len(first) == len(second)
    for i, (a, b) in enumerate(zip(first, second)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), f"weight {i} differs: max |diff| {np.max(np.abs(a - b))}"


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_seeded_fit_gives_bit_identical_weights_on_one_and_two_threads(kind, restore_threads):
    ember.set_num_threads(1)
    initial, one = _seeded_fit(kind)
    ember.set_num_threads(2)
    _, two = _seeded_fit(kind)
    assert any(not np.array_equal(a, b) for a, b in zip(initial, one)), "fit changed no weight"
    _assert_bit_identical(one, two)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_another_seed_gives_other_weights(kind, restore_threads):
    # the seed reaches the initializers, the shuffle and the dropout masks: without that the test above is empty
    ember.set_num_threads(1)  # (one thread: this is about the seed, and it is cheaper)
    _, first = _seeded_fit(kind, seed=SEED, epochs=1)
    _, second = _seeded_fit(kind, seed=SEED + 1, epochs=1)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


_CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import test_determinism as t
import ember
assert ember.get_num_threads() == int(sys.argv[2]), ember.get_num_threads()
weights = {}
for kind in sorted(t.MODELS):
    _, trained = t._seeded_fit(kind, epochs=1)
    weights.update({f"{kind}_{i}": w for i, w in enumerate(trained)})
np.savez(sys.argv[3], **weights)
"""


def test_fresh_processes_with_omp_num_threads_1_and_2_train_the_same_weights(tmp_path):
    # the thread count a user gets from the environment (OpenMP's default), not set_num_threads
    saved = {}
    for threads in (1, 2):
        path = tmp_path / f"weights_{threads}.npz"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        done = subprocess.run([sys.executable, "-c", _CHILD, os.path.dirname(__file__), str(threads), str(path)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(path) as archive:
            saved[threads] = {name: archive[name] for name in archive.files}
    assert sorted(saved[1]) == sorted(saved[2])
    _assert_bit_identical([saved[1][k] for k in sorted(saved[1])], [saved[2][k] for k in sorted(saved[2])])


# -- ember.use_deterministic ----------------------------------------------------------------------------------
@pytest.fixture
def deterministic_off_after(monkeypatch):
    monkeypatch.setattr(determinism, "_NONDETERMINISTIC", {})  # registrations made by a test stay in it
    yield
    ember.use_deterministic(False)


def test_deterministic_mode_is_off_by_default_and_recorded_when_set(deterministic_off_after):
    assert ember.are_deterministic_algorithms_enabled() is False
    ember.use_deterministic(True)
    assert ember.are_deterministic_algorithms_enabled() is True
    ember.use_deterministic(False)
    assert ember.are_deterministic_algorithms_enabled() is False


def test_use_deterministic_as_a_context_restores_the_previous_mode(deterministic_off_after):
    with ember.use_deterministic(True):
        assert ember.are_deterministic_algorithms_enabled()
        with ember.use_deterministic(False):
            assert not ember.are_deterministic_algorithms_enabled()
        assert ember.are_deterministic_algorithms_enabled()
    assert not ember.are_deterministic_algorithms_enabled()


def test_use_deterministic_rejects_a_non_bool(deterministic_off_after):
    with pytest.raises(TypeError, match="mode"):
        ember.use_deterministic("yes")
    assert not ember.are_deterministic_algorithms_enabled()


def _fake_cuda_kernel(launches):
    """A stand-in for a future CUDA op whose kernel adds with atomics: checks, then 'launches'."""
    def scatter_add(device):
        determinism.check("scatter_add", device)
        launches.append(device)
    return scatter_add


def test_an_op_without_a_deterministic_kernel_raises_under_deterministic_mode(deterministic_off_after):
    determinism.register_nondeterministic("scatter_add", "cuda", "atomicAdd accumulates in arrival order")
    launches = []
    kernel = _fake_cuda_kernel(launches)
    kernel("cuda:0")  # allowed while the mode is off
    ember.use_deterministic(True)
    with pytest.raises(RuntimeError, match=r"scatter_add: there is no deterministic implementation .* on cuda "
                                           r"\(atomicAdd accumulates in arrival order\)"):
        kernel("cuda:1")
    assert launches == ["cuda:0"]  # the refused call launched nothing


def test_the_registration_is_per_device_and_can_be_withdrawn(deterministic_off_after):
    determinism.register_nondeterministic("scatter_add", "cuda:0", "atomics")
    ember.use_deterministic(True)
    determinism.check("scatter_add", "cpu")   # the CPU kernel is deterministic
    determinism.check("conv2d", "cuda")       # an op nobody registered
    with pytest.raises(RuntimeError, match="scatter_add"):
        determinism.check("scatter_add", "cuda")
    determinism.unregister_nondeterministic("scatter_add", "cuda")
    determinism.check("scatter_add", "cuda")


def test_no_cpu_kernel_is_registered_as_nondeterministic():
    assert not [key for key in determinism._NONDETERMINISTIC if key[1] == "cpu"]


def test_a_seeded_fit_under_deterministic_mode_matches_one_without(deterministic_off_after):
    _, plain = _seeded_fit("cnn", epochs=1)
    with ember.use_deterministic(True):
        _, strict = _seeded_fit("cnn", epochs=1)
    _assert_bit_identical(plain, strict)
