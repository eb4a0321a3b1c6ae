"""ember on a GPU, ops and devices: the op table on the CUDA backend against the NumPy reference (values) and the CPU
backend (gradients, float32 and float64), empty tensors, moves between devices and the errors of mixing them, the
default device, what the kernels receive (CuPy's stream), DLPack and __cuda_array_interface__ exchange with CuPy and
PyTorch. Layers, losses, optimizers and training are tests/test_cuda_training.py.

Each test runs on two GPUs: a real one ("cuda": skipped, with `ember.cuda.why_unavailable()` as the reason, where
there is none, as on CI) and the simulated one ("simulated": tests/simulated_gpu.py, CuPy and ember._cuda stand-ins
over NumPy and ember._cuda.emulator), which checks ember's GPU plumbing and the CUDA kernels' math everywhere. Tests
that need real device memory (DLPack, CuPy/PyTorch interop, the memory pool) run on the real GPU only.
"""
import zlib

import numpy as np
import pytest

import ember
import simulated_gpu
from ember import layers
from ember.testing import OPS
from simulated_gpu import gpu, real_gpu, simulated  # noqa: F401  (fixtures)


# -- the op table on the GPU ------------------------------------------------------------------------------------
def _samples(info):
    return info.samples(np.random.default_rng(zlib.crc32(info.name.encode())))


# dropout's mask comes from the GPU's own generator (Philox), not the host's: its values cannot match the
# reference's, so it has its own tests below
_GPU_RANDOM = {"dropout"}


def _op_cases(select=lambda info: True):
    for info in OPS:
        if select(info) and info.name not in _GPU_RANDOM:
            for i, sample in enumerate(_samples(info)):
                yield pytest.param(info, sample, id=f"{info.name}-{i}")


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _on(device, value, dtype, requires_grad=False):
    """A sample argument as the op takes it on `device`: arrays as tensors there (floats as `dtype`)."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "f":
        return ember.tensor(value, dtype=dtype, device=device, requires_grad=requires_grad)
    return ember.tensor(value, device=device)


def _run(info, sample, device, dtype, requires_grad=False):
    args = [_on(device, a, dtype, requires_grad) for a in sample.args]
    kwargs = {k: _on(device, v, dtype) for k, v in sample.kwargs.items()}
    out = info.op(*args, **kwargs)
    return args, (list(out) if isinstance(out, (list, tuple)) else [out])


def _assert_close(actual, expected, rtol, atol, what):
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    scale = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


@pytest.mark.parametrize("info, sample", list(_op_cases()))
def test_op_forward_on_the_gpu_matches_the_reference(gpu, info, sample):
    rounded = [a.astype(np.float32).astype(np.float64) if _is_float_array(a) else a for a in sample.args]
    expected = info.reference(*rounded, **sample.kwargs)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    _, outs = _run(info, sample, "cuda", np.float32)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected):
        assert out.device == "cuda:0", f"{info.name}: result on {out.device}"
        if np.asarray(ref).dtype.kind == "f":
            assert out.dtype == np.float32, f"{info.name}: computed in {out.dtype}"
        _assert_close(out.numpy(), ref, info.rtol, info.atol, info.name)


def _gradients(info, sample, device, dtype, cotangents):
    args, outs = _run(info, sample, device, dtype, requires_grad=True)
    total = None
    for out, cotangent in zip(outs, cotangents):
        if out.requires_grad:
            term = (out * ember.tensor(cotangent, dtype=out.dtype, device=device)).sum()
            total = term if total is None else total + term
    total.backward()
    return [a.grad.numpy() if isinstance(a, ember.Tensor) and a.grad is not None else None for a in args
            if isinstance(a, ember.Tensor) and a.requires_grad]


@pytest.mark.parametrize("info, sample", list(_op_cases(lambda info: info.differentiable)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_op_gradients_on_the_gpu_match_the_cpu_backend(gpu, info, sample, dtype):
    # the CPU backend's gradients are the ones test_ops checks against finite differences (float64)
    with ember.no_grad():
        _, outs = _run(info, sample, "cpu", dtype)
    rng = np.random.default_rng(1)
    cotangents = [rng.standard_normal(o.shape) for o in outs]
    with ember.use_backend("cpu"):
        expected = _gradients(info, sample, "cpu", dtype, cotangents)
    actual = _gradients(info, sample, "cuda", dtype, cotangents)
    rtol, atol = (max(info.rtol, 1e-4), max(info.atol, 1e-5)) if dtype == np.float32 else (1e-9, 1e-10)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert (a is None) == (e is None), f"{info.name}: input {i} got a gradient on one device only"
        if a is not None:
            _assert_close(a, e, rtol, atol, f"{info.name}: gradient of input {i}")


@pytest.mark.parametrize("call, shape", [
    (lambda t: ember.ops.relu(t(0, 3)), (0, 3)),
    (lambda t: ember.ops.sigmoid(t(2, 0)), (2, 0)),
    (lambda t: ember.ops.matmul(t(2, 0), t(0, 3)), (2, 3)),
    (lambda t: ember.ops.matmul(t(0, 4), t(4, 2)), (0, 2)),
    (lambda t: ember.ops.softmax(t(0, 3)), (0, 3)),
    (lambda t: ember.ops.sum(t(0, 3), axis=0), (3,)),
    (lambda t: ember.ops.conv2d(t(0, 4, 4, 2), t(3, 3, 2, 5)), (0, 2, 2, 5)),
    (lambda t: ember.ops.max_pool2d(t(0, 4, 4, 2)), (0, 2, 2, 2)),
    (lambda t: ember.ops.lstm(t(0, 3, 2), None, None, t(2, 8), t(2, 8))[0], (0, 3, 2)),
], ids=["relu", "sigmoid", "matmul_k0", "matmul_m0", "softmax", "sum", "conv2d", "max_pool2d", "lstm"])
def test_empty_tensors_on_the_gpu(gpu, call, shape):
    # no kernel is launched on nothing (a grid of 0 blocks is a CUDA error); a product over k = 0 is zeros
    def t(*dims):
        return ember.ones(*dims, device="cuda", requires_grad=True)

    out = call(t)
    assert out.shape == shape and out.device == "cuda:0"
    np.testing.assert_array_equal(out.numpy(), np.zeros(shape))
    out.sum().backward()


# -- devices: moves, mixing, defaults ---------------------------------------------------------------------------
def test_a_tensor_moves_to_the_gpu_and_back(gpu):
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    g = t.to("cuda")
    assert g.device == "cuda:0" and g.is_cuda and not t.is_cuda
    assert g.cuda() is g and t.cpu() is t
    back = g.cpu()
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    assert hasattr(g, "__cuda_array_interface__") and not hasattr(t, "__cuda_array_interface__")
    assert g.__cuda_array_interface__["shape"] == (2, 2)


def test_gradients_flow_back_across_a_device_move(gpu):
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("cuda") * ember.tensor([2.0, 3.0, 4.0], device="cuda")).sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


@pytest.mark.parametrize("call", [
    lambda c, g: c + g,
    lambda c, g: ember.ops.matmul(g.reshape(3, 1), c.reshape(1, 3)),
    lambda c, g: ember.ops.concatenate([g, c]),
    lambda c, g: ember.ops.where(g > 0, g, c),
], ids=["add", "matmul", "concatenate", "where"])
def test_an_op_on_tensors_of_two_devices_names_both(gpu, call):
    c, g = ember.tensor([1.0, 2.0, 3.0]), ember.tensor([1.0, 2.0, 3.0], device="cuda")
    with pytest.raises(RuntimeError, match=r"expected all tensors on one device, got (cpu|cuda:0) \(shape .*\) "
                                           r"and (cuda:0|cpu) \(shape"):
        call(c, g)


def test_a_layer_on_the_gpu_called_with_a_cpu_tensor_names_both_devices(gpu):
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    dense.to("cuda")
    with pytest.raises(RuntimeError, match=r"cpu \(shape \(1, 3\)\) and cuda:0"):
        dense(ember.tensor(np.ones((1, 3), np.float32)))


def test_a_new_layer_called_on_a_gpu_tensor_builds_its_weights_there(gpu):
    model = ember.Sequential([layers.Dense(3, activation="relu"), layers.Dense(1)])
    out = model(ember.ones(2, 4, device="cuda"))
    assert out.device == "cuda:0" and {w.device for w in model.weights} == {"cuda:0"}
    assert model.device == "cuda:0"


def test_numpy_input_goes_to_the_layers_device(gpu):
    dense = layers.Dense(2).to("cuda")
    out = dense(np.ones((4, 3), np.float32))
    assert out.device == "cuda:0" and all(w.device == "cuda:0" for w in dense.weights)


def test_creation_functions_take_a_device_and_the_default(gpu):
    ember.manual_seed(3)
    on_cpu = ember.randn(2, 3)
    ember.manual_seed(3)
    on_gpu = ember.randn(2, 3, device="cuda")
    assert on_gpu.device == "cuda:0"
    np.testing.assert_array_equal(on_gpu.numpy(), on_cpu.numpy())  # one generator: the same values anywhere
    for t in (ember.zeros(2, 3, device="cuda"), ember.ones(2, device="cuda"), ember.full((2,), 1.5, device="cuda"),
              ember.arange(3, device="cuda"), ember.tensor([1, 2], device="cuda"), ember.zeros_like(on_gpu),
              ember.randint(0, 4, size=(2,), device="cuda")):
        assert t.device == "cuda:0"
    assert ember.full((2,), 1.5, device="cuda").dtype == np.float32
    ember.set_device("cuda")
    try:
        assert ember.get_device() == "cuda:0"
        assert ember.zeros(2).device == "cuda:0" and ember.tensor([1.0]).device == "cuda:0"
        assert ember.zeros(2, device="cpu").device == "cpu"
        model = ember.Sequential([layers.Dense(3), layers.Dense(1)])
        model(np.ones((2, 4), np.float32))
        assert {w.device for w in model.weights} == {"cuda:0"}
    finally:
        ember.set_device("cpu")
    assert ember.zeros(2).device == "cpu"


def test_a_tensors_data_assigned_from_the_host_stays_on_its_device(gpu):
    t = ember.zeros(3, device="cuda")
    t.data = np.ones(3)
    assert t.device == "cuda:0"
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


def test_set_weights_keeps_weights_on_their_device(gpu):
    dense = layers.Dense(2).to("cuda")
    dense(np.ones((1, 3), np.float32))
    dense.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert all(w.device == "cuda:0" for w in dense.weights)
    np.testing.assert_array_equal(dense.get_weights()[0], np.ones((3, 2)))


# -- the simulated GPU only: what the stand-ins can observe -----------------------------------------------------
def test_kernels_run_on_cupys_current_stream(simulated):
    import cupy

    x = ember.randn(2, 3, device="cuda")
    w = ember.randn(3, 4, device="cuda")
    simulated_gpu.LAUNCHES.clear()
    ember.ops.matmul(x, w)
    with cupy.cuda.Stream() as stream:
        ember.ops.relu(x)
    assert simulated_gpu.LAUNCHES == [("gemm", 0), ("activation_forward", stream.ptr)]


def test_to_device_batches_yields_every_batch_on_the_device_in_order(simulated):
    batches = [(np.full((2, 3), i, np.float64), np.array([i, i])) for i in range(3)]
    out = list(ember.cuda.to_device_batches(iter(batches), "cuda", dtype=np.float32))
    assert len(out) == 3
    for i, (x, y) in enumerate(out):
        assert x.device == y.device == "cuda:0" and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x.numpy(), np.full((2, 3), i))


def test_why_unavailable_is_none_when_everything_is_there(simulated):
    assert ember.cuda.why_unavailable() is None and ember.cuda.is_available()
    assert ember.cuda.device_count() == 1
    assert ember.cuda.get_device_name(0) == "Simulated GPU 0" and ember.cuda.current_device() == 0
    info = ember.cuda.info()
    assert info["available"] and info["devices"] == ["Simulated GPU 0"] and "sm_90" in info["compiled_architectures"]
    ember.cuda.synchronize()


def test_a_second_gpu_is_checked_against_the_device_count(simulated):
    with pytest.raises(RuntimeError, match=r"cannot use cuda:1: this machine has 1 CUDA device\(s\)"):
        ember.tensor([1.0]).to("cuda:1")


# -- a real GPU only: memory shared with CuPy and PyTorch -------------------------------------------------------
def test_zero_copy_with_cupy(real_gpu):
    import cupy

    t = ember.randn(3, 4, device="cuda")
    c = cupy.asarray(t)  # through __cuda_array_interface__
    assert c.data.ptr == t.__cuda_array_interface__["data"][0]
    c[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0
    back = ember.from_dlpack(c)
    assert back.__cuda_array_interface__["data"][0] == c.data.ptr and back.device == "cuda:0"
    shared = ember.Tensor(c)
    assert shared.__cuda_array_interface__["data"][0] == c.data.ptr
    via_dlpack = cupy.from_dlpack(t)
    assert via_dlpack.data.ptr == c.data.ptr


def test_zero_copy_with_torch(real_gpu):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    t = ember.randn(3, 4, device="cuda")
    pointer = t.__cuda_array_interface__["data"][0]
    as_torch = torch.from_dlpack(t)
    assert as_torch.is_cuda and as_torch.data_ptr() == pointer
    assert torch.as_tensor(t, device="cuda").data_ptr() == pointer  # through __cuda_array_interface__
    from_torch = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    e = ember.from_dlpack(from_torch)
    assert e.device == "cuda:0" and e.__cuda_array_interface__["data"][0] == from_torch.data_ptr()
    from_torch[0, 0] = 7.0
    torch.cuda.synchronize()
    assert e.numpy()[0, 0] == 7.0


def test_memory_pool_and_synchronize(real_gpu):
    before = ember.cuda.memory_allocated()
    t = ember.zeros(1 << 20, device="cuda")
    ember.cuda.synchronize()
    assert ember.cuda.memory_allocated() >= before + t.size * 4
    del t
    ember.cuda.empty_cache()
    assert ember.cuda.get_device_name()


def test_deterministic_mode_refuses_the_gpus_scatter_add_gradient(gpu):
    x = ember.tensor(np.arange(6.0), device="cuda", requires_grad=True)
    with ember.use_deterministic(True):
        x[1:4].sum().backward()  # basic slicing: a plain copy, deterministic
        with pytest.raises(RuntimeError, match=r"getitem: there is no deterministic implementation of this op on "
                                               r"cuda \(the gradient of indexing with integer arrays"):
            x[[0, 2, 2]].sum().backward()
        on_cpu = ember.tensor(np.arange(6.0), requires_grad=True)
        on_cpu[[0, 2, 2]].sum().backward()
    np.testing.assert_array_equal(on_cpu.grad.numpy(), [1, 0, 2, 0, 0, 0])
