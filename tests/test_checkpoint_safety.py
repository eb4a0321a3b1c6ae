"""Checkpoints are safe to load and to lose power over: every bad file of fuzz/bad_checkpoints.py gives a clear
CheckpointError and runs nothing (hostile pickles would create a marker directory), a process killed with SIGKILL
in the middle of a save leaves the previous checkpoint loadable, and the fuzz corpus kept in the repo loads or
raises CheckpointError, nothing else."""
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import ember
from ember import saving
from ember.saving import CheckpointError

FUZZ = pathlib.Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))
import bad_checkpoints  # noqa: E402
import fuzz_checkpoint  # noqa: E402

CASES = sorted(bad_checkpoints.build_cases("unused"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "a-loader-ran-a-payload"
    yield path
    assert not path.exists(), "a payload in a checkpoint was executed"


def write_case(tmp_path, name, marker):
    data, expected = bad_checkpoints.build_cases(marker)[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    return path, expected


def small_model():
    ember.manual_seed(0)
    return ember.Sequential([ember.Input((3,)), ember.layers.Dense(2, name="d")])


# -- the bad-file corpus --------------------------------------------------------------------------------------------
def test_the_corpus_covers_every_kind_of_bad_file_the_issue_names():
    kinds = ["truncated", "oversized_header", "overlapping_offsets", "offsets_out_of_range", "dtype_unknown",
             "size_overflow", "pickle", "npz_zip_bomb"]
    for kind in kinds:
        assert any(kind in name for name in CASES), kind
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", CASES)
def test_bad_file_gives_a_checkpoint_error_naming_the_problem_and_the_file(name, tmp_path, marker):
    path, expected = write_case(tmp_path, name, marker)
    with pytest.raises(CheckpointError) as info:
        if name.startswith("model_"):
            saving.load_model(path)
        else:
            saving.load_file(path)
    assert expected in str(info.value), str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith(("pickle", "torch", "npy", "npz"))])
@pytest.mark.parametrize("loader", ["load_file", "load_weights", "load_model"])
def test_hostile_files_run_nothing_whichever_loader_gets_them(name, loader, tmp_path, marker):
    path, _ = write_case(tmp_path, name, marker)
    with pytest.raises(CheckpointError):
        if loader == "load_weights":
            saving.load_weights(small_model(), path)
        else:
            getattr(saving, loader)(path)
    # the marker fixture asserts on teardown that the payload did not run


def test_a_pickle_payload_runs_when_unpickled_so_the_marker_proves_something(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    pickle.loads(bad_checkpoints.pickle_payload(str(marker)))
    assert marker.exists()


def test_a_pickle_stored_as_tensor_bytes_or_metadata_is_data_only(tmp_path, marker):
    payload = bad_checkpoints.pickle_payload(str(marker))
    saving.save_file({"blob": np.frombuffer(payload, np.uint8)}, tmp_path / "p.safetensors",
                     {"note": payload.decode("latin-1")})
    tensors, metadata = saving.load_file(tmp_path / "p.safetensors")
    assert tensors["blob"].tobytes() == payload and metadata["note"] == payload.decode("latin-1")


def peak_traced_bytes(fn):
    """The most memory Python and NumPy held at once while `fn` ran, above what was held before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_zip_bomb_is_refused_without_being_inflated(tmp_path):
    path = tmp_path / "bomb.npz"
    path.write_bytes(bad_checkpoints.zip_bomb(64 << 20))  # 64 MiB of zeros in about 64 KB
    assert path.stat().st_size < 1 << 20

    def load():
        with pytest.raises(CheckpointError, match="zip archive"):
            saving.load_file(path)
    assert peak_traced_bytes(load) < 1 << 20


def test_a_header_cannot_make_the_reader_allocate_more_than_the_file(tmp_path):
    # a valid-looking header for a 16 GiB tensor over a 100-byte file: refused before any allocation
    path = tmp_path / "big.safetensors"
    path.write_bytes(bad_checkpoints.one(shape=(2 ** 32,), offsets=(0, 2 ** 34), data=b"\0" * 100))

    def load():
        with pytest.raises(CheckpointError, match="truncated"):
            saving.load_file(path)
    assert peak_traced_bytes(load) < 1 << 20


def test_the_reader_reads_each_tensor_once_into_its_own_array(tmp_path):
    size = 4 * (4 << 20) * 4  # 4 tensors of 16 MiB
    saving.save_file({f"t{i}": np.full(4 << 20, i, np.float32) for i in range(4)}, tmp_path / "big.safetensors")
    loaded = {}
    peak = peak_traced_bytes(lambda: loaded.update(saving.load_file(tmp_path / "big.safetensors")[0]))
    assert peak < size * 1.1  # the result itself, not the file's bytes besides (or a second copy)
    assert [float(loaded[f"t{i}"][-1]) for i in range(4)] == [0.0, 1.0, 2.0, 3.0]
    assert all(a.flags.writeable for a in loaded.values())


# -- the fuzz corpus kept in the repo -------------------------------------------------------------------------------
def test_every_file_of_the_checkpoint_fuzz_corpus_loads_or_raises_checkpoint_error():
    files = sorted((FUZZ / "corpus" / "checkpoint").iterdir())
    assert len(files) >= 50
    for path in files:
        fuzz_checkpoint.test_one_input(path.read_bytes(), saving)  # raises anything but CheckpointError


# -- killed mid-save ------------------------------------------------------------------------------------------------
def child_env():
    root = os.path.dirname(os.path.dirname(ember.__file__))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root] + sys.path), OMP_NUM_THREADS="1")


PAUSE_MID_WRITE = """
import sys, time, numpy as np
from ember import saving
written = []
def write_then_pause(f, array):
    data = memoryview(array.reshape(-1)).cast("B")
    if written:  # the second tensor: half of it, then wait to be killed
        f.write(data[: len(data) // 2])
        f.flush()
        print("paused", flush=True)
        time.sleep(600)
    f.write(data)
    written.append(1)
saving._write_array = write_then_pause
saving.save_file({"a": np.full(1 << 22, 2.0, np.float32), "b": np.full(1 << 22, 2.0, np.float32)}, sys.argv[1])
"""


def test_sigkill_in_the_middle_of_writing_a_tensor_leaves_the_old_checkpoint(tmp_path):
    path = tmp_path / "w.safetensors"
    saving.save_file({"a": np.ones(1 << 22, np.float32), "b": np.ones(1 << 22, np.float32)}, path)
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", PAUSE_MID_WRITE, str(path)], stdout=subprocess.PIPE,
                             env=child_env(), text=True)
    try:
        assert child.stdout.readline().strip() == "paused"
        temp = [p for p in tmp_path.iterdir() if p.name != path.name]
        assert len(temp) == 1 and temp[0].stat().st_size > 16 << 20  # 16 MiB of the new file were written
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.kill()
        child.stdout.close()
    assert path.read_bytes() == before
    tensors, _ = saving.load_file(path)
    assert np.all(tensors["a"] == 1.0) and np.all(tensors["b"] == 1.0)


SAVE_FOREVER = """
import sys, numpy as np
from ember import saving
version = 1
while True:
    version += 1
    saving.save_file({"a": np.full(1 << 20, version, np.float32), "b": np.full(1 << 20, version, np.float32)},
                     sys.argv[1], {"version": str(version)})
    print(version, flush=True)
"""


def test_sigkill_at_random_moments_of_repeated_saves_always_leaves_one_whole_checkpoint(tmp_path):
    path = tmp_path / "w.safetensors"
    saving.save_file({"a": np.ones(1 << 20, np.float32), "b": np.ones(1 << 20, np.float32)}, path,
                     {"version": "1"})
    rng = random.Random(0)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path)], stdout=subprocess.PIPE,
                                 env=child_env(), text=True)
        try:
            child.stdout.readline()  # at least one save has completed: kill during a later one
            time.sleep(rng.uniform(0.0, 0.2))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            child.kill()
            child.stdout.close()
        tensors, metadata = saving.load_file(path)
        version = float(metadata["version"])
        assert np.all(tensors["a"] == version) and np.all(tensors["b"] == version)
