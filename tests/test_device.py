"""Devices without a GPU: device names, why CUDA is unavailable (each cause simulated: the extension not built or
failing to load, CuPy missing or failing, no driver, no device, CuPy unable to use the GPU), the clear errors of a
move to a GPU that cannot be used, the default device, layers' `to` on the CPU, and the backend chosen by the
array type. These run everywhere (CI has no GPU); tests/test_cuda.py covers a GPU, real or simulated."""
import importlib.abc
import sys
import types

import numpy as np
import pytest

import ember
import simulated_gpu
from ember import backend, layers
from ember import device as device_module

BUILT_WITHOUT_CUDA = r"ember was built without CUDA: the extension ember._cuda is missing"


@pytest.fixture(autouse=True)
def cpu_default(monkeypatch):
    monkeypatch.setattr(device_module, "_default", "cpu")


@pytest.fixture
def no_extension(monkeypatch):
    """ember._cuda absent, as in a build without a CUDA compiler."""
    monkeypatch.setitem(sys.modules, "ember._cuda", None)
    _build_record(monkeypatch, CUDA_BUILT=False, CUDA_COMPILER="", CUDA_SKIPPED_BECAUSE="no CUDA compiler found")


def _build_record(monkeypatch, **fields):
    """ember/_build_info.py as CMake would have written it."""
    record = types.ModuleType("ember._build_info")
    record.__dict__.update(fields)
    monkeypatch.setitem(sys.modules, "ember._build_info", record)


class _FailingImport(importlib.abc.MetaPathFinder):
    """Makes `import <name>` raise ImportError(message), as a module whose shared libraries do not load."""

    def __init__(self, name, message):
        self.name, self.message = name, message

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise ImportError(self.message)
        return None


def _failing_import(monkeypatch, name, message):
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_FailingImport(name, message)] + sys.meta_path)


def _stand_ins(monkeypatch, device_count=1, driver_error="", cupy_count=None):
    """The simulated CuPy and extension, with `device_count` GPUs as the extension sees them and `cupy_count` as
    CuPy does (an exception instance: getDeviceCount raises it)."""
    extension = simulated_gpu.install(monkeypatch, device_count=device_count)
    extension.driver_error = lambda: driver_error
    cupy = sys.modules["cupy"]
    if cupy_count is not None:
        def count():
            if isinstance(cupy_count, Exception):
                raise cupy_count
            return cupy_count

        monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", count)
    return extension, cupy


# -- device names -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("given, canonical", [("cpu", "cpu"), ("CPU", "cpu"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0"),
                                              ("CUDA:1", "cuda:1"), (" cuda:2 ", "cuda:2"), ("cuda:007", "cuda:7")])
def test_device_names_are_normalized(given, canonical):
    assert device_module.parse(given) == canonical


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:0:1", "", "cpu:0"])
def test_an_invalid_device_name_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError, match=r"Invalid device .*Expected 'cpu' or 'cuda\[:index\]'"):
        device_module.parse(bad)


def test_a_cpu_tensor_is_on_the_cpu_and_has_no_cuda_array_interface():
    t = ember.tensor([1.0, 2.0])
    assert t.device == "cpu" and not t.is_cuda
    assert not hasattr(t, "__cuda_array_interface__")
    assert t.to("cpu") is t and t.cpu() is t


# -- why CUDA is unavailable, cause by cause ------------------------------------------------------------------------
def test_why_unavailable_when_the_extension_was_not_built(no_extension):
    reason = ember.cuda.why_unavailable()
    assert reason.startswith("ember was built without CUDA: the extension ember._cuda is missing")
    assert "EMBER_CUDA=ON" in reason and "nvcc" in reason
    assert not ember.cuda.is_available() and ember.cuda.device_count() == 0


@pytest.mark.parametrize("because", ["no CUDA compiler found", "EMBER_CUDA=OFF", "EMBER_SANITIZE builds ember._C only"])
def test_why_unavailable_quotes_the_builds_record_of_why_cuda_was_skipped(no_extension, monkeypatch, because):
    _build_record(monkeypatch, CUDA_BUILT=False, CUDA_COMPILER="", CUDA_SKIPPED_BECAUSE=because)
    # the first cause; CuPy's absence (as in a fresh venv) may follow after "; "
    assert ember.cuda.why_unavailable().startswith(f"ember was built without CUDA: the extension ember._cuda is "
                                                   f"missing ({because}); reinstall with nvcc on PATH: pip install . "
                                                   f"-Ccmake.define.EMBER_CUDA=ON")


def test_why_unavailable_when_a_built_extension_is_missing_from_the_install(no_extension, monkeypatch):
    _build_record(monkeypatch, CUDA_BUILT=True, CUDA_COMPILER="/usr/local/cuda/bin/nvcc", CUDA_SKIPPED_BECAUSE="")
    assert ember.cuda.why_unavailable().startswith("the extension ember._cuda is missing from this install, although "
                                                   "it was built (with /usr/local/cuda/bin/nvcc): reinstall ember")


def test_why_unavailable_without_a_build_record(no_extension, monkeypatch):
    monkeypatch.setitem(sys.modules, "ember._build_info", None)
    assert ember.cuda.why_unavailable().startswith("ember was built without CUDA: the extension ember._cuda is missing "
                                                   "(no CUDA compiler was found when ember was installed, or "
                                                   "EMBER_CUDA=OFF)")


def test_why_unavailable_when_the_extension_fails_to_load(monkeypatch):
    _failing_import(monkeypatch, "ember._cuda", "libcudart.so.13: cannot open shared object file")
    monkeypatch.delattr(ember, "_cuda", raising=False)
    assert ember.cuda.why_unavailable().startswith(
        "the extension ember._cuda failed to load: libcudart.so.13: cannot open shared object file")


def test_why_unavailable_when_cupy_is_not_installed(monkeypatch):
    _stand_ins(monkeypatch)
    monkeypatch.setitem(sys.modules, "cupy", None)
    reason = ember.cuda.why_unavailable()
    assert reason.startswith("CuPy is not installed (ember keeps GPU tensors in CuPy arrays)")
    assert "pip install 'ember[cuda]'" in reason


def test_why_unavailable_when_cupy_fails_to_import(monkeypatch):
    _stand_ins(monkeypatch)
    _failing_import(monkeypatch, "cupy", "CuPy failed to load libnvrtc.so.13")
    assert ember.cuda.why_unavailable() == "CuPy failed to import: CuPy failed to load libnvrtc.so.13"


def test_why_unavailable_names_every_missing_piece(no_extension, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    reason = ember.cuda.why_unavailable()
    assert reason.startswith("ember was built without CUDA") and "; CuPy is not installed" in reason


def test_why_unavailable_when_there_is_no_driver(monkeypatch):
    _stand_ins(monkeypatch, device_count=0, driver_error="CUDA driver not found",
               cupy_count=RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert ember.cuda.why_unavailable() == ("no GPU: CUDA driver not found (CuPy: cudaErrorInsufficientDriver: CUDA "
                                            "driver version is insufficient)")
    assert ember.cuda.device_count() == 0


def test_why_unavailable_when_the_driver_sees_no_device(monkeypatch):
    _stand_ins(monkeypatch, device_count=0, cupy_count=0)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert ember.cuda.why_unavailable() == "no GPU: no CUDA-capable device was found"


def test_why_unavailable_names_cuda_visible_devices_when_it_is_set(monkeypatch):
    _stand_ins(monkeypatch, device_count=0, driver_error="no CUDA-capable device is detected", cupy_count=0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert ember.cuda.why_unavailable() == ("no GPU: no CUDA-capable device is detected (CUDA_VISIBLE_DEVICES='' "
                                            "limits the GPUs this process may see)")


def test_why_unavailable_when_cupy_cannot_use_the_gpu_the_kernels_see(monkeypatch):
    _stand_ins(monkeypatch, device_count=1, cupy_count=RuntimeError("cudaErrorInsufficientDriver"))
    reason = ember.cuda.why_unavailable()
    assert reason.startswith("CuPy cannot use the GPU that ember._cuda sees: cudaErrorInsufficientDriver")
    assert "is the CuPy wheel for the installed CUDA driver?" in reason


def test_why_unavailable_with_the_real_cupy_and_no_driver(monkeypatch):
    try:
        import cupy  # noqa: F401
    except Exception as error:
        pytest.skip(f"CuPy does not import here: {error}")
    if ember.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    real_cupy = sys.modules["cupy"]
    try:
        real_cupy.cuda.runtime.getDeviceCount()
        pytest.skip("CuPy reaches a driver here")
    except Exception as error:
        cupy_view = str(error)
    extension = simulated_gpu._make_extension()
    extension.device_count, extension.driver_error = (lambda: 0), (lambda: "CUDA driver not found")
    monkeypatch.setitem(sys.modules, "ember._cuda", extension)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert ember.cuda.why_unavailable() == f"no GPU: CUDA driver not found (CuPy: {cupy_view})"


def test_cuda_functions_that_need_a_gpu_say_why_there_is_none(no_extension):
    for call, name in ((ember.cuda.synchronize, "synchronize"), (ember.cuda.current_device, "current_device"),
                       (ember.cuda.get_device_name, "get_device_name"), (ember.cuda.memory_allocated,
                                                                          "memory_allocated")):
        with pytest.raises(RuntimeError, match=rf"ember\.cuda\.{name}: CUDA is not available: {BUILT_WITHOUT_CUDA}"):
            call()


def test_info_reports_the_reason(no_extension):
    info = ember.cuda.info()
    assert info["available"] is False and info["devices"] == []
    assert info["why_unavailable"].startswith("ember was built without CUDA")


# -- moving to a GPU that cannot be used -------------------------------------------------------------------------
def test_moving_a_tensor_to_cuda_without_a_gpu_raises_with_the_reason(no_extension):
    with pytest.raises(RuntimeError, match=rf"moving a tensor of shape \(2,\) from cpu to cuda:0: cannot use cuda:0: "
                                           rf"CUDA is not available: {BUILT_WITHOUT_CUDA}"):
        ember.tensor([1.0, 2.0]).to("cuda")
    with pytest.raises(RuntimeError, match=BUILT_WITHOUT_CUDA):
        ember.tensor([1.0]).cuda()


@pytest.mark.parametrize("make, name", [(lambda: ember.zeros(2, device="cuda"), "ember.zeros"),
                                        (lambda: ember.ones(2, device="cuda"), "ember.ones"),
                                        (lambda: ember.full(2, 1.0, device="cuda"), "ember.full"),
                                        (lambda: ember.randn(2, device="cuda"), "moving a tensor"),
                                        (lambda: ember.tensor([1.0], device="cuda:0"), "moving a tensor")])
def test_constructors_on_cuda_without_a_gpu_raise_with_the_reason(no_extension, make, name):
    with pytest.raises(RuntimeError, match=rf"{name}.*cannot use cuda:0: CUDA is not available: {BUILT_WITHOUT_CUDA}"):
        make()


def test_a_model_to_cuda_without_a_gpu_raises_and_stays_on_the_cpu(no_extension):
    model = ember.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match=rf"Sequential\.to: cannot use cuda:0: CUDA is not available"):
        model.to("cuda")
    assert {w.device for w in model.weights} == {"cpu"} and model.device == "cpu"


def test_from_dlpack_of_cuda_memory_without_a_gpu_raises(no_extension):
    class CudaCapsuleOwner:
        def __dlpack_device__(self):
            return (2, 0)

    with pytest.raises(RuntimeError, match=r"ember\.from_dlpack: cannot use cuda:0"):
        ember.from_dlpack(CudaCapsuleOwner())


def test_from_dlpack_of_another_kind_of_memory_raises_type_error():
    class OpenCLBuffer:
        def __dlpack_device__(self):
            return (4, 0)

    with pytest.raises(TypeError, match=r"DLPack device type 4 is not supported"):
        ember.from_dlpack(OpenCLBuffer())


def test_from_dlpack_of_host_memory_shares_it():
    array = np.arange(4.0)
    t = ember.from_dlpack(array)
    array[0] = 9.0
    assert t.device == "cpu" and t.numpy()[0] == 9.0


def test_to_device_batches_without_a_gpu_raises(no_extension):
    with pytest.raises(RuntimeError, match=r"ember\.cuda\.to_device_batches: cannot use cuda:0"):
        next(ember.cuda.to_device_batches(iter([np.ones(2)])))


# -- the default device -----------------------------------------------------------------------------------------
def test_the_default_device_is_the_cpu():
    assert ember.get_device() == "cpu"
    assert ember.zeros(2).device == ember.randn(2).device == ember.tensor([1.0]).device == "cpu"


def test_set_device_validates_its_argument(no_extension):
    with pytest.raises(ValueError, match=r"Invalid device 'tpu'"):
        ember.set_device("tpu")
    with pytest.raises(RuntimeError, match=rf"ember\.set_device: cannot use cuda:0: CUDA is not available"):
        ember.set_device("cuda")
    assert ember.get_device() == "cpu"
    ember.set_device("CPU")
    assert ember.get_device() == "cpu"


def test_set_device_refuses_a_gpu_index_beyond_the_count(monkeypatch):
    _stand_ins(monkeypatch, device_count=2)
    with pytest.raises(RuntimeError,
                       match=r"cannot use cuda:2: this machine has 2 CUDA device\(s\) \(indices 0 to 1\)"):
        ember.set_device("cuda:2")
    ember.set_device("cuda:1")
    assert ember.get_device() == "cuda:1" and ember.zeros(1).device == "cuda:1"


# -- layers on the CPU ------------------------------------------------------------------------------------------
def test_model_to_cpu_is_a_no_op_that_returns_the_model():
    model = ember.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    arrays = [w._data for w in model.weights]
    assert model.to("cpu") is model and model.cpu() is model
    assert all(w._data is a for w, a in zip(model.weights, arrays))
    assert model.device == "cpu" and all(layer.device == "cpu" for layer in model.layers)


def test_an_unbuilt_layer_is_on_the_default_device():
    assert layers.Dense(2).device == "cpu"


# -- the backend follows the array's type -----------------------------------------------------------------------
def test_cpu_arrays_run_on_the_cpu_choice():
    assert backend.for_array(np.ones(2)).__name__ == "ember.backend.cpu"
    with ember.use_backend("reference"):
        assert backend.for_array(np.ones(2)).__name__ == "ember.backend.reference"
    assert backend.for_array(np.float32(1.0)).__name__ == "ember.backend.cpu"


def test_the_simulated_gpu_leaves_no_stand_in_behind():
    before = {name: sys.modules.get(name) for name in ("cupy", "ember._cuda", "ember.backend.cuda")}
    with pytest.MonkeyPatch.context() as patch:
        simulated_gpu.install(patch)
        ember.ops.relu(ember.ones(2, device="cuda"))  # imports ember.backend.cuda against the stand-ins
        simulated_gpu.uninstall_leftovers()
    assert {name: sys.modules.get(name) for name in before} == before
    assert getattr(getattr(backend, "cuda", None), "cupy", None) in (None, before["cupy"])


def test_gpu_arrays_run_on_the_cuda_backend_whatever_the_cpu_choice(monkeypatch):
    simulated_gpu.install(monkeypatch)
    try:
        array = sys.modules["cupy"].ones(3)
        with ember.use_backend("reference"):
            assert backend.for_array(array).__name__ == "ember.backend.cuda"
        assert backend.for_array(np.ones(3)).__name__ == "ember.backend.cpu"
    finally:
        simulated_gpu.uninstall_leftovers()


@pytest.mark.parametrize("choose", [ember.set_backend, lambda name: ember.use_backend(name).__enter__()])
def test_cuda_is_not_a_cpu_backend_choice(choose):
    with pytest.raises(ValueError, match=r"The backend 'cuda' is not a choice: ops on GPU tensors always run on it"):
        choose("cuda")
    assert ember.get_backend() in ("cpu", "reference")


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"Unknown backend 'tpu'. Expected one of \['reference', 'cpu', 'cuda'\]"):
        backend.get("tpu")
