"""Side-by-side bench of the op table's kernels and of training steps, against the machine's measured peak.

Contenders: ember cpu, NumPy (ember's reference backend, or BLAS for matmul), PyTorch when installed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/run.py [--quick] [--ops matmul,conv2d,lenet5]

Contenders run in one process, in alternating blocks (see timing.time_interleaved), so a noisy machine slows them
alike; each figure is the median per call. "%peak" compares GFLOP/s rows with the FMA peak and GB/s rows with the
copy bandwidth, both at the thread count used (peak.py). Writes bench/out/results.json, and bench/out/ratios.png
when matplotlib is installed.
"""
import argparse
import os
import platform
import sys
import time

# OpenBLAS's idle workers spin for 2^28 cycles (0.1 s here) after each call before they sleep: as long as the pause
# between contenders' blocks, so they could still hold a core when the next contender starts. 2^22 cycles (~1 ms)
# changes nothing within a block of back-to-back calls. Read when NumPy loads OpenBLAS, hence before the import.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")

import numpy as np  # noqa: E402

import ember
from ember.testing import OPS, Sample

import peak
import report
import steps
from peers import ember_call, torch_peer
from timing import runnable, time_interleaved

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ember.get_num_threads())
    return torch


def rows_of(op, label, times, work, unit, peaks, threads):
    """Table rows of one entry: `work` (flops, bytes or images) per call, in `unit` per second."""
    rows = []
    for name, seconds in times.items():
        rate = work / seconds / (1 if unit == "img/s" else 1e9)
        rows.append({"op": op, "shape": label, "contender": name, "ms": seconds * 1e3, "rate": rate, "unit": unit,
                     "percent_peak": peak.percent_of_peak(peaks, unit, rate, threads),
                     "ember_speedup": seconds / times["ember"]})
    return rows


def op_cases(wanted, quick):
    """(op info, label, backward) for each bench shape of each op in the op table (the first shape with --quick)."""
    for info in OPS:
        if not info.bench or (wanted and info.name not in wanted):
            continue
        for label, shapes in info.bench[:1] if quick else info.bench:
            for backward in (False, True) if info.bench_backward else (False,):
                if info.bench_backward:
                    yield info, f"{label} {'fwd+bwd' if backward else 'fwd'}", shapes, backward
                else:
                    yield info, label, shapes, backward


def bench_op(info, label, shapes, backward, torch, timing, peaks, threads, reference=True):
    """Rows of one entry; `reference`: also time ember's NumPy reference backend (NumPy's BLAS for matmul is
    always timed: it is a peer, where the reference backend is only the spec)."""
    rng = np.random.default_rng(0)
    sample = Sample(tuple(rng.standard_normal(s, dtype=np.float32) for s in shapes.args), shapes.kwargs)
    contenders = {"ember": ember_call(info, sample, "cpu", backward)}
    if info.name == "matmul":
        contenders["numpy"] = lambda s=sample: np.matmul(*s.args)
    elif reference:
        contenders["numpy"] = ember_call(info, sample, "reference", backward)
    peer = torch_peer(torch, info.name, sample, backward) if torch else None
    if peer:
        contenders["torch"] = peer
    contenders = runnable(contenders)
    if "ember" not in contenders:
        return []
    times = time_interleaved(contenders, **timing)
    if info.flops:
        work = info.flops(sample)
    else:  # bytes read and written; an elementwise op's by default
        work = info.bytes(sample) if info.bytes else sum(a.nbytes for a in sample.args) * 2
    work *= 3 if backward else 1  # a backward costs about two forwards (input and weight gradients)
    return rows_of(info.name, label, times, work, "GFLOP/s" if info.flops else "GB/s", peaks, threads)


def bench_step(case, torch, timing):
    contenders = {"ember": steps.ember_step(case)}
    if torch:
        contenders["torch"] = steps.torch_step(torch, case)
    times = time_interleaved(runnable(contenders), **timing)
    return rows_of("train_step", case.label, times, case.batch, "img/s", None, None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="first shape of each op, fewer rounds, NumPy only for matmul (BLAS)")
    parser.add_argument("--ops", default="", help="comma-separated op and step names (default: all); steps: "
                        + ", ".join(case.name for case in steps.STEPS))
    parser.add_argument("--json", default=os.path.join(OUT_DIR, "results.json"), help="where to write the results")
    parser.add_argument("--plot", default=os.path.join(OUT_DIR, "ratios.png"),
                        help="where to draw the speedups (needs matplotlib; '' for no plot)")
    parser.add_argument("--peak-seconds", type=float, default=None,
                        help="seconds per peak measurement (default 1, 0.2 with --quick)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    torch = _torch()
    wanted = set(filter(None, args.ops.split(",")))
    known = [info.name for info in OPS if info.bench] + [case.name for case in steps.STEPS]
    if wanted - set(known):
        parser.error(f"--ops: unknown {', '.join(sorted(wanted - set(known)))}; expected some of {', '.join(known)}")
    # --quick: shorter pauses and blocks and no NumPy reference backend (0.1-0.4 s a call on the large activation
    # and pooling shapes), to stay under a minute.
    timing = (dict(rounds=3, calls=2, settle=0.05, block=0.003) if args.quick
              else dict(rounds=7, calls=3, settle=0.1, block=0.01))
    threads = ember.get_num_threads()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # other work on the machine skews figures
    print(f"ember {ember.__version__} | {platform.processor() or platform.machine()} | threads {threads} | "
          f"numpy {np.__version__} | torch {torch.__version__ if torch else 'absent'}"
          + (f" | load average {load:.1f} on {os.cpu_count()} cores" if load is not None else ""))
    peaks = peak.measure(threads, args.peak_seconds or (0.2 if args.quick else 1.0))
    print(peak.describe(peaks))
    print(report.HEADER)
    rows = []
    for info, label, shapes, backward in op_cases(wanted, args.quick):
        for row in bench_op(info, label, shapes, backward, torch, timing, peaks, threads, not args.quick):
            print(report.format_row(row), flush=True)
            rows.append(row)
    overhead = None
    for case in steps.STEPS:
        if wanted and case.name not in wanted:
            continue
        # fit runs its steps back to back: blocks of 20 consecutive steps (of 3, the first steps after each pause,
        # whose caches and worker threads are cold, weighed as much as the steady ones)
        for row in bench_step(case, torch, dict(timing, calls=5 if args.quick else 20)):
            print(report.format_row(row), flush=True)
            rows.append(row)
        if case.name == "lenet5":
            overhead = steps.lenet5_overhead(10 if args.quick else 50)
    if overhead:
        print("\n".join(steps.describe_overhead(overhead)))

    seconds = time.perf_counter() - started
    command = " ".join(["bench/run.py"] + (sys.argv[1:] if argv is None else list(argv)))
    report.write_json(args.json, {
        "date": time.strftime("%Y-%m-%d %H:%M"), "command": command, "threads": threads, "load_average": load,
        "numpy": np.__version__, "torch": torch.__version__ if torch else None, "peaks": peaks, "rows": rows,
        "lenet5_overhead": overhead, "seconds": seconds})
    plotted = bool(args.plot) and report.plot_ratios(
        args.plot, rows, f"ember {ember.__version__}, {threads} threads, {time.strftime('%Y-%m-%d')}")
    print(f"wrote {args.json}" + (f" and {args.plot}" if plotted else "") + f" | bench took {seconds:.0f} s")
    return rows


if __name__ == "__main__":
    main()
