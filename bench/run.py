"""Side-by-side bench of every kernel op in the op table: ember cpu, NumPy (ember's reference or BLAS), PyTorch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/run.py [--quick] [--ops matmul,conv2d]

Contenders run in one process, in alternating blocks (see time_interleaved), so a noisy machine slows them
alike; each figure is the median per call. Writes bench/out/results.json too.
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import ember
from ember.testing import OPS, Sample
from ember.testing.op_table_rnn import torch_rnn_weights

RECURRENT = ("simple_rnn", "lstm", "gru")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ember.get_num_threads())
    return torch


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_recurrent(torch, name, sample, backward):
    """nn.RNN / nn.LSTM / nn.GRU (batch_first) with the sample's Keras-layout weights; forward, or forward and
    backward of the sum of every output and final state (as ember's op-table op, which concatenates them)."""
    x, *states, kernel, recurrent_kernel, bias = sample.args
    cls = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[name]
    module = cls(x.shape[2], recurrent_kernel.shape[0], batch_first=True)
    with torch.no_grad():
        for pname, value in torch_rnn_weights(name, kernel, recurrent_kernel, bias).items():
            getattr(module, pname).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    xt = torch.from_numpy(x).requires_grad_(backward)
    st = [torch.from_numpy(s)[None].requires_grad_(backward) for s in states]
    st = tuple(st) if name == "lstm" else st[0]

    def run():
        out, final = module(xt, st)
        return out.sum() + sum(f.sum() for f in (final if name == "lstm" else (final,)))

    if backward:
        return lambda: run().backward()

    def forward():
        with torch.no_grad():
            return run()

    return forward


def torch_peer(torch, name, sample, backward=False):
    """A zero-argument callable doing the op's forward (and backward where asked) in PyTorch on the same data
    (NHWC as channels_last)."""
    import torch.nn.functional as F

    if name in RECURRENT:
        return torch_recurrent(torch, name, sample, backward)
    if backward:
        return None
    args = [torch.from_numpy(np.ascontiguousarray(a)) for a in sample.args]
    kw = sample.kwargs
    if name == "matmul":
        return lambda: torch.matmul(*args)
    if name == "conv2d":
        x = args[0].permute(0, 3, 1, 2)  # NHWC memory seen as NCHW: torch's channels_last
        w = args[1].permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
        padding = kw.get("padding", "valid")
        return lambda: F.conv2d(x, w, stride=_pair(kw.get("strides", 1)), padding=padding,
                                dilation=_pair(kw.get("dilation_rate", 1)), groups=kw.get("groups", 1))
    if name in ("max_pool2d", "avg_pool2d"):
        x = args[0].permute(0, 3, 1, 2)
        pool = _pair(kw.get("pool_size", 2))
        fn = F.max_pool2d if name == "max_pool2d" else F.avg_pool2d
        return lambda: fn(x, pool, kw.get("strides") or pool)
    if name in ("relu", "sigmoid", "tanh"):
        return lambda: getattr(torch, name)(args[0])
    if name == "leaky_relu":
        return lambda: F.leaky_relu(args[0], 0.2)
    if name == "elu":
        return lambda: F.elu(args[0])
    if name in ("softmax", "log_softmax"):
        return lambda: getattr(torch, name)(args[0], -1)
    return None


def ember_call(info, sample, backend, backward=False):
    """The op's forward on `backend`; with `backward`, forward and backward of the sum of its output."""
    tensors = [ember.Tensor._wrap(a) if isinstance(a, np.ndarray) else a for a in sample.args]
    if backward:
        for t in tensors:
            if isinstance(t, ember.Tensor) and t.dtype.kind == "f":
                t.requires_grad = True

        def train_step():
            with ember.use_backend(backend):
                ember.ops.sum(info.op(*tensors, **sample.kwargs)).backward()

        return train_step

    def call():
        with ember.use_backend(backend), ember.no_grad():
            return info.op(*tensors, **sample.kwargs)

    return call


def runnable(contenders):
    """The contenders that run (one call each); a backend without the op yet is reported and left out."""
    kept = {}
    for name, fn in contenders.items():
        try:
            fn()
        except (AttributeError, NotImplementedError) as error:
            print(f"  ({name} left out: {type(error).__name__}: {error})")
        else:
            kept[name] = fn
    return kept


def time_interleaved(contenders, rounds, calls=3, settle=0.1):
    """Median seconds per call of each contender, measured in alternating blocks.

    Each round gives every contender one block: a pause (so that the previous library's worker threads, which
    spin for a while after each call, go to sleep and leave the cores free), one warm-up call, then `calls`
    timed calls. Alternating blocks keep slow drifts of a shared machine from favouring anyone.
    """
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(settle)
            fn()
            for _ in range(calls):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, first shape of each op only")
    parser.add_argument("--ops", default="", help="comma-separated op names (default: all with bench shapes)")
    args = parser.parse_args(argv)
    torch = _torch()
    wanted = set(filter(None, args.ops.split(",")))
    rounds = 3 if args.quick else 7

    print(f"ember {ember.__version__} | {platform.processor() or platform.machine()} | threads "
          f"{ember.get_num_threads()} | numpy {np.__version__} | torch {torch.__version__ if torch else 'absent'}")
    print(f"{'op':<12} {'shape':<28} {'contender':<10} {'ms':>9} {'rate':>14} {'ember speedup':>14}")
    rows = []
    for info in OPS:
        if not info.bench or (wanted and info.name not in wanted):
            continue
        modes = (False, True) if info.bench_backward else (False,)
        for (label, shapes), backward in [(case, b) for case in (info.bench[:1] if args.quick else info.bench)
                                          for b in modes]:
            if info.bench_backward:
                label = f"{label} {'fwd+bwd' if backward else 'fwd'}"
            rng = np.random.default_rng(0)
            sample = Sample(tuple(rng.standard_normal(s).astype(np.float32) for s in shapes.args), shapes.kwargs)
            contenders = {"ember": ember_call(info, sample, "cpu", backward),
                          "numpy": (lambda s=sample: np.matmul(*s.args)) if info.name == "matmul"
                          else ember_call(info, sample, "reference", backward)}
            peer = torch_peer(torch, info.name, sample, backward) if torch else None
            if peer:
                contenders["torch"] = peer
            contenders = runnable(contenders)
            if "ember" not in contenders:
                continue
            times = time_interleaved(contenders, rounds)
            work = info.flops(sample) if info.flops else sum(a.nbytes for a in sample.args) * 2
            work *= 3 if backward else 1  # a backward costs about two forwards (input and weight gradients)
            unit = "GFLOP/s" if info.flops else "GB/s"
            for name, seconds in times.items():
                ratio = times[name] / times["ember"]
                print(f"{info.name:<12} {label:<28} {name:<10} {seconds * 1e3:9.3f} "
                      f"{work / seconds / 1e9:8.1f} {unit:<5} {ratio:14.2f}")
                rows.append({"op": info.name, "shape": label, "contender": name, "ms": seconds * 1e3,
                             "rate": work / seconds / 1e9, "unit": unit, "ember_speedup": ratio})
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
