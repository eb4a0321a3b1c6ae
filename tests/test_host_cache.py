"""The host block cache behind ember's large CPU outputs (_C.empty): arrays of the asked shape and dtype whose block
goes back to the cache only when the array and all its views are gone, is handed to the next array of that size, and
never pushes the free blocks kept past the limit; EMBER_MALLOC_TUNING=0 turns it off. The CPU backend takes its
outputs over 32 MiB from it."""
import os
import subprocess
import sys

import numpy as np
import pytest

from ember import _C
from ember.backend import cpu

MiB = 1 << 20


@pytest.fixture
def cache():
    _C.host_cache_clear()
    yield _C
    _C.host_cache_clear()


@pytest.mark.parametrize("shape,dtype", [((3, 4), np.float32), ((0, 5), np.float64), ((), np.float32),
                                         ((7, 1, 9), np.uint8)])
def test_empty_gives_a_writable_c_contiguous_array_of_the_shape_and_dtype(cache, shape, dtype):
    a = cache.empty(shape, np.dtype(dtype))
    assert a.shape == shape and a.dtype == dtype and a.flags["C_CONTIGUOUS"] and a.flags["WRITEABLE"]
    assert a.ctypes.data % 64 == 0
    a[...] = 3
    assert np.all(a == 3)


def test_a_freed_block_is_handed_to_the_next_array_of_its_size(cache):
    a = cache.empty((5, MiB), np.dtype(np.float32))
    address = a.ctypes.data
    del a
    info = cache.host_cache_info()
    assert info["cached_blocks"] == 1 and info["cached_bytes"] >= 20 * MiB
    hits = info["hits"]
    b = cache.empty((5 * MiB,), np.dtype(np.float32))  # the same bytes in another shape
    assert b.ctypes.data == address and cache.host_cache_info()["hits"] == hits + 1
    assert cache.host_cache_info()["cached_blocks"] == 0


def test_views_keep_the_block_out_of_the_cache_until_the_last_one_dies(cache):
    a = cache.empty((4, MiB), np.dtype(np.float32))
    a[...] = 1.5
    view = a[2:].reshape(-1)
    del a
    assert cache.host_cache_info()["cached_blocks"] == 0
    other = cache.empty((4, MiB), np.dtype(np.float32))  # must not reuse the block the view still reads
    other[...] = -1
    assert np.all(view == 1.5)
    del view
    assert cache.host_cache_info()["cached_blocks"] == 1


def test_the_free_blocks_kept_never_exceed_the_limit(cache):
    limit = cache.host_cache_info()["limit_bytes"]
    size = limit // 3 + MiB  # three of them overflow the limit: one must be freed (never touched: no memory used)
    arrays = [cache.empty((size,), np.dtype(np.uint8)) for _ in range(3)]
    del arrays
    info = cache.host_cache_info()
    assert info["cached_bytes"] <= limit and info["cached_blocks"] == 2
    huge = cache.empty((limit + MiB,), np.dtype(np.uint8))  # larger than the limit: freed, not kept
    del huge
    assert cache.host_cache_info()["cached_bytes"] <= limit


@pytest.mark.parametrize("shape,message", [((2, -1), "negative dimension -1"), ((2 ** 62, 4), "overflows"),
                                           ((0, 2 ** 62), "overflows"), ((3, 0, 2 ** 61, 2 ** 61), "overflows"),
                                           ((2 ** 41,), "more than the 1 TiB allowed")])
def test_bad_shapes_are_refused(cache, shape, message):
    with pytest.raises(ValueError, match=message):
        cache.empty(shape, np.dtype(np.float64))


def test_the_cpu_backend_takes_outputs_over_32_mib_from_the_cache(cache):
    big = np.linspace(-1, 1, 9 * MiB, dtype=np.float32)  # 36 MiB
    out = cpu.activation_forward("relu", big)
    assert isinstance(out.base, type(cache.empty((1,), np.dtype(np.float32)).base))  # a capsule: the cache's
    np.testing.assert_array_equal(out, np.maximum(big, 0))
    small = cpu.activation_forward("relu", big[:1000])
    assert small.base is None  # np.empty's own
    del out
    again = cpu.activation_forward("tanh", big)
    assert cache.host_cache_info()["hits"] >= 1
    np.testing.assert_allclose(again, np.tanh(big), atol=1e-6)


def test_malloc_tuning_off_turns_the_cache_off():
    code = ("import numpy as np; from ember import _C; a = _C.empty((1 << 20,), np.dtype(np.float32)); del a; "
            "i = _C.host_cache_info(); print(i['enabled'], i['cached_blocks'])")
    env = dict(os.environ, EMBER_MALLOC_TUNING="0")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "0"]
