"""The native code under bad input: the binding fuzzer's corpus and a burst of pseudo-random inputs replay with
TypeError/ValueError only, and the EMBER_SANITIZE build (.ci/sanitize) proves its sanitizers are live.

In the sanitizer job this whole suite runs on the ASan+UBSan build, so any memory error or undefined behaviour the
replays reach fails it; in the default run they still catch crashes, wrong exceptions and wrong GEMM results."""
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

from ember import _C

FUZZ = pathlib.Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))
import fuzz_bindings  # noqa: E402

needs_sanitizer = pytest.mark.skipif(not _C.sanitized, reason="needs the EMBER_SANITIZE build: run .ci/sanitize")


# -- the binding fuzzer's inputs ------------------------------------------------------------------------------------
def test_every_entry_point_of_the_module_is_fuzzed():
    public = {name for name in dir(_C) if callable(getattr(_C, name)) and not name.startswith("__")}
    settings = {"set_num_threads", "get_num_threads", "set_gemm_kernel", "gemm_kernel", "cpu_features",
                "isa_tables_built", "set_conv2d_path", "conv2d_path"}
    bench = {"measure_fma_peak", "measure_copy_bandwidth"} if "bench" in fuzz_bindings.BUILDERS else set()
    host_cache = {"empty", "host_cache_info", "host_cache_clear"}
    fuzzed = (set(fuzz_bindings.BUILDERS) - {"settings", "bench", "host_cache"}) | settings | bench | host_cache
    assert public - fuzz_bindings.UNFUZZED == fuzzed


def test_the_binding_fuzz_corpus_replays_with_expected_exceptions_only():
    files = sorted((FUZZ / "corpus" / "bindings").iterdir())
    assert len(files) >= len(fuzz_bindings.NAMES)
    for path in files:
        fuzz_bindings.test_one_input(path.read_bytes())


def test_two_thousand_pseudo_random_inputs_reach_every_entry_point_without_a_crash():
    rng = random.Random(2024)
    reached = set()
    for _ in range(2000):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        reached.add(fuzz_bindings.NAMES[data[0] % len(fuzz_bindings.NAMES)] if data else fuzz_bindings.NAMES[0])
        fuzz_bindings.test_one_input(data)
    assert reached == set(fuzz_bindings.NAMES)


def test_a_thread_count_libgomp_cannot_handle_is_refused():
    # ~100000 threads overflowed libgomp's stack-allocated team arrays: a segfault, not an exception
    with pytest.raises(ValueError, match="set_num_threads: expected at most 1024 threads, got 100000"):
        _C.set_num_threads(100000)
    previous = _C.get_num_threads()
    _C.set_num_threads(1024)
    try:
        x = np.linspace(-1, 1, 1 << 16, dtype=np.float32)
        _C.activation_forward("relu", x, x)
        assert x.min() == 0.0
    finally:
        _C.set_num_threads(previous)


def test_an_oversized_omp_num_threads_is_capped():
    code = "from ember import _C; print(_C.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1024"


# -- the EMBER_SANITIZE build ---------------------------------------------------------------------------------------
def test_the_release_build_has_no_canary():
    if _C.sanitized:
        pytest.skip("this is the EMBER_SANITIZE build, which has the canary on purpose")
    assert not hasattr(_C, "_sanitizer_canary")


@needs_sanitizer
@pytest.mark.parametrize("kind, report", [("address", "ERROR: AddressSanitizer: heap-buffer-overflow"),
                                          ("undefined", "runtime error: signed integer overflow")])
def test_the_sanitizers_catch_the_canary(kind, report):
    code = f"from ember import _C; _C._sanitizer_canary({kind!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert report in done.stderr, done.stderr[-3000:]


@needs_sanitizer
def test_the_canary_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="_sanitizer_canary: expected 'address' or 'undefined'"):
        _C._sanitizer_canary("leak")
