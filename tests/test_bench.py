"""The bench's machinery (bench/): the peak measurements in ember._C, one --quick run end to end with its JSON and
plot, and the training steps it times. Only that it runs and returns sane numbers: no timing asserts."""
import importlib
import json
import math
import os
import sys

import numpy as np
import pytest

import ember
from ember import _C

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
BENCH_MODULES = ("run", "peak", "peers", "report", "steps", "timing")


@pytest.fixture(scope="module")
def bench():
    """bench/'s modules, imported as `python bench/run.py` imports them (bench/ first on the path), then removed
    from sys.modules so that their plain names shadow nothing in later tests."""
    sys.path.insert(0, BENCH_DIR)
    try:
        yield {name: importlib.import_module(name) for name in BENCH_MODULES}
    finally:
        sys.path.remove(BENCH_DIR)
        for name in BENCH_MODULES:
            sys.modules.pop(name, None)


def _available_kernels():
    features = _C.cpu_features()
    usable = {"generic": True, "avx2": features["avx2"] and features["fma"],
              "avx512": features["avx512f"] and features["avx512bw"] and features["avx512dq"]
              and features["avx512vl"] and features["fma"]}
    return [k for k in features["compiled_kernels"] if usable[k]]


@pytest.mark.parametrize("kernel", _available_kernels())
def test_fma_peak_is_positive_and_finite_on_every_compiled_isa(kernel):
    _C.set_gemm_kernel(kernel)  # the FMA loop follows the GEMM's choice
    try:
        gflops = _C.measure_fma_peak(0.005, 1)
    finally:
        _C.set_gemm_kernel("auto")
    assert 0 < gflops < 1e6 and math.isfinite(gflops)


def test_fma_peak_on_ember_thread_count_by_default():
    assert _C.measure_fma_peak(0.005) > 0
    assert _C.measure_fma_peak(0.005, 2) > 0


@pytest.mark.parametrize("threads", [1, 2])
def test_copy_bandwidth_is_positive_and_finite(threads):
    gbs = _C.measure_copy_bandwidth(1 << 20, 0.005, threads)
    assert 0 < gbs < 1e5 and math.isfinite(gbs)


def test_copy_bandwidth_takes_sizes_not_a_multiple_of_a_cache_line():
    assert _C.measure_copy_bandwidth(1000, 0.001, 3) > 0


@pytest.mark.parametrize("call, message", [
    (lambda: _C.measure_fma_peak(0.0, 1), r"measure_fma_peak: expected seconds in \(0, 60\], got 0"),
    (lambda: _C.measure_fma_peak(61.0, 1), r"measure_fma_peak: expected seconds in \(0, 60\], got 61"),
    (lambda: _C.measure_fma_peak(0.01, -1), r"measure_fma_peak: expected threads in \[0, 1024\].*got -1"),
    (lambda: _C.measure_fma_peak(0.01, 5000), r"measure_fma_peak: expected threads in \[0, 1024\].*got 5000"),
    (lambda: _C.measure_copy_bandwidth(63, 0.01, 1), r"measure_copy_bandwidth: expected bytes in \[64, 2\^40\], got 63"),
    (lambda: _C.measure_copy_bandwidth(1 << 41, 0.01, 1), r"measure_copy_bandwidth: expected bytes in \[64, 2\^40\]"),
    (lambda: _C.measure_copy_bandwidth(1 << 20, -1.0, 1), r"measure_copy_bandwidth: expected seconds in \(0, 60\]"),
])
def test_peak_measurements_refuse_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_percent_of_peak_uses_the_fma_peak_for_flops_and_the_copy_bandwidth_for_bytes(bench):
    peaks = {"fma_gflops": {1: 100.0, 2: 200.0}, "copy_gbs": {1: 10.0, 2: 20.0}, "isa": "avx512"}
    peak = bench["peak"]
    assert peak.percent_of_peak(peaks, "GFLOP/s", 50.0, 2) == pytest.approx(25.0)
    assert peak.percent_of_peak(peaks, "GB/s", 5.0, 1) == pytest.approx(50.0)
    assert peak.percent_of_peak(peaks, "img/s", 5.0, 1) is None


def test_quick_run_prints_rows_and_writes_json_and_plot(bench, tmp_path, capsys):
    json_path, plot_path = tmp_path / "results.json", tmp_path / "ratios.png"
    rows = bench["run"].main(["--quick", "--ops", "matmul,softmax", "--json", str(json_path), "--plot",
                              str(plot_path), "--peak-seconds", "0.005"])
    printed = capsys.readouterr().out
    assert "measured peak: FMA" in printed and "matmul" in printed and "softmax" in printed
    contenders = {(row["op"], row["contender"]) for row in rows}
    # --quick times NumPy where it is a peer (BLAS matmul), not ember's NumPy reference backend
    assert {("matmul", "ember"), ("matmul", "numpy"), ("softmax", "ember")} <= contenders
    assert ("softmax", "numpy") not in contenders
    for row in rows:
        assert row["unit"] == ("GFLOP/s" if row["op"] == "matmul" else "GB/s")
        assert row["ms"] > 0 and row["rate"] > 0 and row["percent_peak"] > 0 and row["ember_speedup"] > 0
    assert all(r["ember_speedup"] == 1.0 for r in rows if r["contender"] == "ember")
    document = json.loads(json_path.read_text())
    assert document["rows"] == rows
    assert all(v > 0 for table in ("fma_gflops", "copy_gbs") for v in document["peaks"][table].values())
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not plot_path.exists()
    else:
        assert plot_path.stat().st_size > 0


def test_without_quick_ember_is_also_timed_against_its_numpy_reference_backend(bench):
    run = bench["run"]
    info, label, shapes, backward = next(run.op_cases({"softmax"}, quick=True))
    peaks = {"fma_gflops": {1: 100.0}, "copy_gbs": {1: 10.0}, "isa": "generic"}
    rows = run.bench_op(info, label, shapes, backward, None, dict(rounds=1, calls=1, settle=0.0), peaks, 1)
    assert [r["contender"] for r in rows] == ["ember", "numpy"]
    assert all(r["ms"] > 0 for r in rows)


def test_unknown_op_names_are_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench["run"].main(["--ops", "softmax,no_such_op"])
    assert "unknown no_such_op" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["lenet5", "binary_classifier"])
def test_ember_training_steps_run_and_learn(bench, name):
    case = next(c for c in bench["steps"].STEPS if c.name == name)
    step = bench["steps"].ember_step(case)
    losses = [step() for _ in range(3)]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]  # same batch every step: Adam must bring its loss down


@pytest.mark.parametrize("name", ["lenet5", "binary_classifier"])
def test_torch_training_steps_match_ember_networks(bench, name):
    torch = pytest.importorskip("torch")
    steps = bench["steps"]
    case = next(c for c in steps.STEPS if c.name == name)
    ember_params = sum(int(np.prod(w.shape)) for w in case.ember_model().trainable_weights)
    assert sum(p.numel() for p in case.torch_model(torch).parameters()) == ember_params
    step = steps.torch_step(torch, case)
    losses = [step() for _ in range(3)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_lenet5_overhead_splits_the_step_into_kernels_python_and_numpy(bench):
    o = bench["steps"].lenet5_overhead(2)
    assert o["native_calls"] > 10 and o["step_ms"] > 0 and o["native_ms"] > 0 and o["python_ms"] > 0
    assert o["native_ms"] + o["python_ms"] + o["numpy_ms"] == pytest.approx(o["step_ms"])
    assert 0 < o["python_share"] < 1
    assert o["top_python"] and all(row["ms"] >= 0 for row in o["top_python"])
    assert type(_C.gemm).__name__ == "builtin_function_or_method"  # the timers around ember._C's functions are gone
    assert "\n".join(bench["steps"].describe_overhead(o)).startswith("ember LeNet-5 step (batch 64)")



@pytest.mark.parametrize("name,gates", [("simple_rnn", 1), ("lstm", 4), ("gru", 3)])
def test_recurrent_ops_are_benched_as_the_sum_of_each_result_as_torch_sums_them(bench, name, gates):
    """The op table's recurrent op concatenates outputs and final states; the bench sums them one by one instead
    (as its PyTorch peer does), which must give the op table's loss and gradients."""
    import ember

    info = next(op for op in bench["run"].OPS if op.name == name)
    rng = np.random.default_rng(3)
    b, t, i, h = 3, 4, 5, 6
    states = [rng.standard_normal((b, h)) for _ in range(2 if name == "lstm" else 1)]
    bias = rng.standard_normal((2, 3 * h) if name == "gru" else (gates * h,))
    args = [rng.standard_normal((b, t, i)), *states, 0.3 * rng.standard_normal((i, gates * h)),
            0.3 * rng.standard_normal((h, gates * h)), bias]
    results = []
    for loss in (bench["peers"]._sum_of_results(getattr(ember.ops, name)),
                 lambda *a: ember.ops.sum(info.op(*a))):
        tensors = [ember.tensor(a, dtype="float64", requires_grad=True) for a in args]
        value = loss(*tensors)
        value.backward()
        results.append([value.numpy()] + [t.grad.numpy() for t in tensors])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "max_pool2d", "avg_pool2d"])
def test_elementwise_fwd_bwd_rows_start_from_the_same_upstream_gradient_on_both_sides(bench, name):
    """Pooling and activation fwd+bwd rows run the backward from a fixed gradient (the gradient of a sum, ones, would
    be materialized by ember's kernels): ember's input gradient on the native backend, on the NumPy reference and in
    PyTorch's peer (when installed) must agree."""
    peers = bench["peers"]
    info = next(op for op in bench["run"].OPS if op.name == name)
    x = np.random.default_rng(4).standard_normal((2, 6, 8, 3)).astype(np.float32)

    def ember_gradient(backend):
        seen = []

        class Recorded:  # info.op, keeping the input tensor ember_call makes
            def __init__(self):
                self.name = info.name

            def op(self, t, **kw):
                seen.append(t)
                return info.op(t, **kw)

        peers.ember_call(Recorded(), bench["run"].Sample((x,), {}), backend, backward=True)()
        return seen[-1].grad.numpy()

    gradient = ember_gradient("cpu")
    assert np.count_nonzero(gradient) > x.size // 8
    np.testing.assert_allclose(gradient, ember_gradient("reference"), rtol=1e-6, atol=1e-6)
    torch = pytest.importorskip("torch")
    step = peers.torch_peer(torch, name, bench["run"].Sample((x.copy(),), {}), backward=True)
    step()
    np.testing.assert_allclose(gradient, step.input.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", "sigmoid", "tanh"])
def test_the_dense_peer_computes_what_ember_dense_computes(bench, activation):
    """PyTorch's F.linear takes the weight as (N, K): the peer transposes ember's (K, N) kernel."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    args = (rng.standard_normal((5, 7), dtype=np.float32), rng.standard_normal((7, 3), dtype=np.float32),
            rng.standard_normal(3, dtype=np.float32))
    kwargs = {"activation": activation, "alpha": 0.2}
    expected = ember.ops.dense(*args, **kwargs).numpy()
    np.testing.assert_allclose(bench["peers"].torch_peer(torch, "dense", bench["run"].Sample(args, kwargs))().numpy(),
                               expected, rtol=1e-5, atol=1e-5)
