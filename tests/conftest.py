"""Hypothesis profiles: "ember" (the default run: 100 examples per test, derandomized so CI sees the same
examples every run, no example database) and "slow" (10x the examples, on demand:
`HYPOTHESIS_PROFILE=slow python -m pytest tests/test_properties.py`). Shared fixtures: `gemm_kernel` runs a test
once per compiled micro-kernel family (skipped where the CPU lacks it), `conv_path(name)` forces a convolution path
for the rest of the test, `conv_passes_match_the_reference` checks a layer's three passes against the NumPy reference
and `conv_passes_on_one_and_three_threads` that they give the same bits on 1 and 3 threads."""
import os

import pytest
from hypothesis import HealthCheck, settings

from ember import _C

settings.register_profile("ember", max_examples=100, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("slow", parent=settings.get_profile("ember"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ember"))


@pytest.fixture(params=["avx512", "avx2", "generic"])
def gemm_kernel(request):
    """set_gemm_kernel for the test (the vector width every native family follows), restored after it."""
    try:
        _C.set_gemm_kernel(request.param)
    except ValueError as e:
        pytest.skip(f"this CPU has no {request.param} kernels: {e}")
    yield request.param
    _C.set_gemm_kernel("auto")


@pytest.fixture
def conv_path():
    """conv_path("rows") forces that convolution family (set_conv2d_path) until the test ends."""
    yield _C.set_conv2d_path
    _C.set_conv2d_path("auto")


@pytest.fixture
def conv_passes_on_one_and_three_threads():
    """check(x, k, gy, args): forward, input gradient and weight gradient (ember.backend.cpu) on 1 and on 3 threads
    must give the same bits; the thread count is restored after."""
    import numpy as np

    from ember.backend import cpu

    def check(x, k, gy, args):
        def passes():
            return (cpu.conv2d_forward(x, k, *args), cpu.conv2d_backward_input(gy, k, x.shape, *args),
                    cpu.conv2d_backward_weight(gy, x, k.shape, *args))

        before = _C.get_num_threads()
        try:
            _C.set_num_threads(1)
            one = passes()
            _C.set_num_threads(3)
            three = passes()
        finally:
            _C.set_num_threads(before)
        for a, b in zip(one, three):
            np.testing.assert_array_equal(a, b)

    return check


@pytest.fixture
def conv_passes_match_the_reference():
    """check(x, k, gy, args, y=None): forward (or the given y), input gradient and weight gradient (ember.backend.cpu)
    against the float64 NumPy reference, to 1e-5 (float32) or 1e-12 (float64) of the largest value."""
    import numpy as np

    from ember.backend import cpu, reference

    def check(x, k, gy, args, y=None):
        x64, k64, gy64 = (a.astype(np.float64) for a in (x, k, gy))
        tol = 1e-5 if x.dtype == np.float32 else 1e-12
        for got, expected in [(cpu.conv2d_forward(x, k, *args) if y is None else y,
                               reference.conv2d_forward(x64, k64, *args)),
                              (cpu.conv2d_backward_input(gy, k, x.shape, *args),
                               reference.conv2d_backward_input(gy64, k64, x.shape, *args)),
                              (cpu.conv2d_backward_weight(gy, x, k.shape, *args),
                               reference.conv2d_backward_weight(gy64, x64, k.shape, *args))]:
            assert got.dtype == x.dtype
            scale = max(1.0, float(np.abs(expected).max()))
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale)

    return check
