"""The CPU GEMM (_C.gemm) against a float64 product, for each micro-kernel, on its paths: A packed, A read in place
(K contiguous in A and N narrow enough, rows in balanced tiles of up to MR) and a transposed A read in place
(M contiguous, N at most 8 panels), and for the thread split of B's panels. Sizes sit on the edges of the 12 x 32
tile and of the KC = 384 depth block."""
import numpy as np
import pytest

from ember import _C



@pytest.fixture
def threads():
    before = _C.get_num_threads()
    yield lambda n: _C.set_num_threads(n)
    _C.set_num_threads(before)


def _product(a, b, threads, alpha=1.0, beta=0.0, out=None):
    out = np.zeros((1, a.shape[0], b.shape[1]), a.dtype) if out is None else out[None].copy()
    _C.gemm(a[None], b[None], out, alpha, beta)
    return out[0]


def _same_bits_on_one_two_and_three_threads(a, b, threads):
    results = []
    for t in (1, 2, 3):
        threads(t)
        results.append(_product(a, b, threads))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    return results[0]


def _check(got, a, b, alpha=1.0, beta=0.0, c=None):
    ref = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if c is not None:
        ref = ref + beta * c
    tol = 1e-4 if a.dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.sqrt(a.shape[1]))


# (M, K, N): every row count from 1 to 2 tiles plus one in place (N <= 512), the in-place limit's both sides
# (N = 1024 with M <= 512 in place, M = 513 packed), several depth blocks, and the layer shapes of the bench.
SHAPES = [(m, 45, 40) for m in range(1, 26)] + [
    (11, 385, 1024), (64, 769, 1025), (513, 100, 1000), (7, 1, 513), (130, 257, 190), (64, 400, 120),
    (37, 1153, 97), (2, 3, 2000),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_matches_the_float64_product(gemm_kernel, threads, dtype, m, k, n):
    rng = np.random.default_rng(m * 7919 + k * 31 + n)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    threads(2)
    _check(_product(a, b, threads), a, b)


@pytest.mark.parametrize("k", [1, 5, 15, 16, 17, 31, 40, 400])
def test_gemm_of_a_packed_row_major_a_at_every_depth_residue(gemm_kernel, threads, k):
    """A row-major A packed (N = 1100: too wide to read A in place): whole slivers go through the ISA's transposing
    copy, 16 columns at a time, with a masked last block of k mod 16 columns; 29 rows leave a partial sliver for the
    element-by-element pack. A is a slice of a wider array (rows 7 floats longer than k), so its row stride is not k;
    the same bits on 1, 2 and 3 threads (the slivers are split among the threads)."""
    rng = np.random.default_rng(k)
    a = rng.standard_normal((29, k + 7)).astype(np.float32)[:, 3:3 + k]
    b = rng.standard_normal((k, 1100)).astype(np.float32)
    _check(_same_bits_on_one_two_and_three_threads(a, b, threads), a, b)


@pytest.mark.parametrize("layout", ["a transposed", "b transposed", "both"])
@pytest.mark.parametrize("n", [300, 100])
def test_gemm_of_transposed_views_with_alpha_and_beta(gemm_kernel, threads, layout, n):
    """A transposed view has M contiguous in A: packed, or read in place a sliver of MR values per k (fn_columns)
    when N is at most 8 panels (n = 100; 29 rows: a last partial sliver, packed)."""
    rng = np.random.default_rng(5)
    m, k = 29, 400
    a = rng.standard_normal((k, m)).T if layout != "b transposed" else rng.standard_normal((m, k))
    b = rng.standard_normal((n, k)).T if layout != "a transposed" else rng.standard_normal((k, n))
    c = rng.standard_normal((m, n))
    threads(2)
    _check(_product(a, b, threads, 0.5, 2.0, c), a, b, 0.5, 2.0, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(385, 1100, 70), (49, 600, 130), (97, 13, 33), (50, 700, 300)])
def test_gemm_of_a_transposed_a_over_several_sliver_groups(gemm_kernel, threads, dtype, m, k, n):
    """x^T dy, as a weight gradient takes it: A's columns contiguous, read in place where N is at most 8 panels (70
    and 33 columns everywhere, 130 on AVX-512) with a last partial sliver packed, else packed one source row at a
    time across groups of 8 slivers (385 rows: 9 groups, a last sliver of 1 row; 49: a group of 1 sliver), over
    several depth blocks; the same bits on 1, 2 and 3 threads."""
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((k, m)).astype(dtype).T
    b = rng.standard_normal((k, n)).astype(dtype)
    _check(_same_bits_on_one_two_and_three_threads(a, b, threads), a, b)


@pytest.mark.parametrize("b_layout", ["row-major", "transposed"])
@pytest.mark.parametrize("m,k,n", [(20, 768, 1999), (30, 384, 1536), (6, 1024, 4096)])
def test_gemm_with_few_rows_against_a_b_block_wider_than_half_the_l2(gemm_kernel, threads, b_layout, m, k, n):
    """Few rows against a B block over half the L2 (512 KiB L2: the AVX2 block; 1 MiB: the AVX-512 one): panels go
    outermost, B packed row by row across the panels (a partial last panel: 1999 columns); same bits on 1 and 2
    threads."""
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)) if b_layout == "row-major" else rng.standard_normal((n, k)).T
    b = b.astype(np.float32)
    results = []
    for t in (1, 2):
        threads(t)
        results.append(_product(a, b, threads))
    np.testing.assert_array_equal(results[0], results[1])
    _check(results[0], a, b)


@pytest.mark.parametrize("m,k,n", [(64, 769, 1024), (700, 390, 800), (30, 500, 2048), (130, 257, 190)])
def test_gemm_gives_the_same_bits_on_one_two_and_three_threads(gemm_kernel, threads, m, k, n):
    """The panels of B are split among the threads by count; no element's reduction over K may move."""
    rng = np.random.default_rng(m + n)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    _check(_same_bits_on_one_two_and_three_threads(a, b, threads), a, b)
