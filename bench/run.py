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


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ember.get_num_threads())
    return torch


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_peer(torch, name, sample):
    """A zero-argument callable doing the op's forward in PyTorch on the same data (NHWC as channels_last)."""
    import torch.nn.functional as F

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


def ember_call(info, sample, backend):
    tensors = [ember.Tensor._wrap(a) if isinstance(a, np.ndarray) else a for a in sample.args]

    def call():
        with ember.use_backend(backend), ember.no_grad():
            return info.op(*tensors, **sample.kwargs)

    return call


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
        for label, shapes in info.bench[:1] if args.quick else info.bench:
            rng = np.random.default_rng(0)
            sample = Sample(tuple(rng.standard_normal(s).astype(np.float32) for s in shapes.args), shapes.kwargs)
            contenders = {"ember": ember_call(info, sample, "cpu"),
                          "numpy": (lambda s=sample: np.matmul(*s.args)) if info.name == "matmul"
                          else ember_call(info, sample, "reference")}
            peer = torch_peer(torch, info.name, sample) if torch else None
            if peer:
                contenders["torch"] = peer
            times = time_interleaved(contenders, rounds)
            work = info.flops(sample) if info.flops else sum(a.nbytes for a in sample.args) * 2
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
