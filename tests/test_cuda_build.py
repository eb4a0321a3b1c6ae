"""ember._cuda as built: present wherever CMake found a CUDA compiler (so a kernel that does not compile fails CI on
machines with nvcc, instead of the module silently not being built), importable without a driver, with ember._C's
kernel signatures, and saying clearly why no GPU is usable.

CMake records what it found in the generated ember/_build_info.py (CMakeLists.txt: EMBER_CUDA=AUTO|ON|OFF): these
tests read that record rather than guess whether the build machine had nvcc.
"""
import os
import re
import shutil

import numpy as np
import pytest

from ember import _build_info
from ember import _C

KERNELS = ["gemm", "column_sums", "gemm_naive", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
           "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
           "activation_forward", "activation_backward", "softmax_forward", "softmax_backward", "log_softmax_forward",
           "log_softmax_backward", "simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
           "gru_forward", "gru_backward"]


def _nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    default = "/usr/local/cuda/bin/nvcc"
    return default if os.access(default, os.X_OK) else None


def _cuda_module():
    if not _build_info.CUDA_BUILT:
        pytest.skip(f"ember._cuda was not built: {_build_info.CUDA_SKIPPED_BECAUSE}")
    from ember import _cuda
    return _cuda


def test_build_info_records_the_cuda_decision():
    assert _build_info.CUDA_MODE in ("AUTO", "ON", "OFF")
    assert isinstance(_build_info.CUDA_BUILT, bool)
    assert _build_info.CUDA_BUILT == bool(_build_info.CUDA_COMPILER)
    assert _build_info.CUDA_BUILT or _build_info.CUDA_SKIPPED_BECAUSE


def test_cmake_found_the_nvcc_of_this_machine():
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no nvcc on this machine (PATH or /usr/local/cuda/bin)")
    if _build_info.CUDA_MODE == "OFF" or _build_info.CUDA_SKIPPED_BECAUSE.startswith("EMBER_SANITIZE"):
        pytest.skip(f"the CUDA build was switched off: {_build_info.CUDA_SKIPPED_BECAUSE}")
    assert _build_info.CUDA_COMPILER, f"nvcc is at {nvcc}, but CMake found no CUDA compiler when ember was built"


def test_cuda_module_imports_wherever_it_was_built():
    if not _build_info.CUDA_COMPILER:
        pytest.skip(f"no CUDA compiler at build time: {_build_info.CUDA_SKIPPED_BECAUSE}")
    from ember import _cuda  # an ImportError here fails: the compiler was there, so the module must be

    assert _cuda.runtime_version() >= 12000


def test_cuda_module_carries_sm80_sm90_machine_code_and_compute90_ptx():
    _cuda = _cuda_module()
    assert {"sm_80", "sm_90", "compute_90"} <= set(_cuda.compiled_architectures())


def _positional_parameters(function):
    """The parameter names of a pybind11 function before its keyword-only marker, from its signature line."""
    signature = function.__doc__.splitlines()[0]
    params = signature[signature.index("(") + 1:signature.rindex(")")]
    return [re.match(r"\s*(\w+)", p).group(1) for p in params.split(", *,")[0].split(",") if p.strip() != "*"]


@pytest.mark.parametrize("name", KERNELS)
def test_every_kernel_mirrors_ember_C_with_a_keyword_only_stream(name):
    _cuda = _cuda_module()
    for module in (_cuda, _cuda.emulator):
        function = getattr(module, name)
        assert _positional_parameters(function) == _positional_parameters(getattr(_C, name))
        assert re.search(r", \*, stream: [^,]*= 0\) -> None$", function.__doc__.splitlines()[0])


def test_errors_are_typed():
    _cuda = _cuda_module()
    assert issubclass(_cuda.CudaError, RuntimeError)
    assert issubclass(_cuda.CudaOutOfMemoryError, _cuda.CudaError)
    assert issubclass(_cuda.CudaOutOfMemoryError, MemoryError)


class FakeCudaArray:
    """An object exposing __cuda_array_interface__ v3 over an address that is not device memory."""

    def __init__(self, shape, typestr="<f4", address=1 << 20):
        self.__cuda_array_interface__ = dict(shape=shape, typestr=typestr, data=(address, False), strides=None,
                                             version=3, stream=1)


def test_without_a_gpu_the_module_says_why_and_kernels_raise_cuda_error():
    _cuda = _cuda_module()
    if _cuda.device_count() > 0:
        pytest.skip("a CUDA device is visible")
    why = _cuda.driver_error()
    assert re.search(r"driver|device", why), why
    a, b, out = FakeCudaArray((1, 2, 2)), FakeCudaArray((1, 2, 2), address=2 << 20), FakeCudaArray((1, 2, 2), address=3 << 20)
    with pytest.raises(_cuda.CudaError, match=r"gemm: no CUDA device \(.*(driver|device)"):
        _cuda.gemm(a, b, out)
    with pytest.raises(_cuda.CudaError, match="synchronize: no CUDA device"):
        _cuda.synchronize()


def test_with_a_gpu_driver_error_is_empty_and_host_memory_is_refused():
    _cuda = _cuda_module()
    if _cuda.device_count() == 0:
        pytest.skip(f"no CUDA device: {_cuda.driver_error()}")
    assert _cuda.driver_error() == ""
    host = np.ones((1, 2, 2), np.float32)
    fakes = [FakeCudaArray((1, 2, 2), address=host.ctypes.data) for _ in range(2)]
    out = FakeCudaArray((1, 2, 2), address=np.ones((1, 2, 2), np.float32).ctypes.data)
    with pytest.raises(TypeError, match=r"gemm: `a` .* is not in CUDA device memory"):
        _cuda.gemm(fakes[0], fakes[1], out)


def test_numpy_arrays_are_refused_with_a_type_error_naming_the_op():
    _cuda = _cuda_module()
    x = np.ones((1, 4, 4, 2), np.float32)
    with pytest.raises(TypeError, match=r"max_pool2d_forward: expected `x` to be a CUDA array .*"
                                        r"__cuda_array_interface__.*got numpy.ndarray"):
        _cuda.max_pool2d_forward(x, np.ones((1, 2, 2, 2), np.float32), 2, 2, 2, 2, 0, 0, 0, 0)


@pytest.mark.parametrize("fields,error,message", [
    (dict(typestr="<f2"), TypeError, r"expected `x` of dtype float32 or float64, got float16"),
    (dict(typestr=">f4"), TypeError, r"expected `x` of dtype float32 or float64"),
    (dict(mask=(1 << 22, False)), TypeError, r"`x` is a masked CUDA array"),
    (dict(strides=(4, 2)), ValueError, r"`x` has strides that are not a multiple of its itemsize"),
    (dict(strides=(4, 12)), ValueError, r"expected `x` to be C-contiguous"),
    (dict(data=(1 << 20 | 2, False)), ValueError, r"`x` is not aligned to its itemsize"),
])
def test_cuda_array_interface_is_checked_before_any_device_work(fields, error, message):
    _cuda = _cuda_module()
    x = FakeCudaArray((3, 5))
    x.__cuda_array_interface__.update(fields)
    out = FakeCudaArray((3, 5), address=1 << 24)
    with pytest.raises(error, match=f"activation_forward: {message}"):
        _cuda.activation_forward("relu", x, out)


def test_read_only_and_overlapping_outputs_are_refused():
    _cuda = _cuda_module()
    x = FakeCudaArray((3, 5))
    out = FakeCudaArray((3, 5), address=1 << 24)
    out.__cuda_array_interface__["data"] = (1 << 24, True)
    with pytest.raises(ValueError, match="softmax_forward: output `out` is read-only"):
        _cuda.softmax_forward(x, out)
    with pytest.raises(ValueError, match="gemm: output `out` overlaps input `a`"):
        _cuda.gemm(FakeCudaArray((1, 2, 2)), FakeCudaArray((1, 2, 2), address=1 << 24),
                   FakeCudaArray((1, 2, 2), address=(1 << 20) + 8))


def test_stream_is_keyword_only():
    _cuda = _cuda_module()
    with pytest.raises(TypeError):
        _cuda.softmax_forward(FakeCudaArray((3,)), FakeCudaArray((3,), address=1 << 24), 0)
