"""SGEMM/DGEMM lab: ember._C.gemm (each micro-kernel) against numpy.matmul (OpenBLAS), GFLOP/s.

    python dev/gemm_bench.py [--sizes 256 512 1024 2048] [--dtype float32] [--threads 2] [--kernels auto]
Imports ember._C, or _C from build/dev when run against a direct cmake build (EMBER_C_DIR=build/dev).
"""
import argparse
import os
import sys
import time

import numpy as np

if os.environ.get("EMBER_C_DIR"):
    sys.path.insert(0, os.environ["EMBER_C_DIR"])
    import _C
else:
    from ember import _C


def best_time(fn, min_time=0.3, repeat=5):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = 0
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 > min_time / repeat:
                break
        times.append((time.perf_counter() - t0) / n)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--kernels", nargs="+", default=["auto"])
    p.add_argument("--trans", default="nn", help="nn, nt, tn or tt: which operands are transposed views")
    args = p.parse_args()
    _C.set_num_threads(args.threads)
    dt = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} dtype={dt} features={_C.cpu_features()['gemm_kernel']}")
    print(f"{'n':>6} {'numpy':>9} " + " ".join(f"{k:>9}" for k in args.kernels) + "  (GFLOP/s)")
    for n in args.sizes:
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        if args.trans[0] == "t":
            a = np.ascontiguousarray(a.T).T
        if args.trans[1] == "t":
            b = np.ascontiguousarray(b.T).T
        out = np.empty((1, n, n), dt)
        flops = 2.0 * n**3
        row = [flops / best_time(lambda: np.matmul(a, b)) / 1e9]
        for k in args.kernels:
            _C.set_gemm_kernel(k)
            row.append(flops / best_time(lambda: _C.gemm(a[None], b[None], out)) / 1e9)
            err = np.abs(out[0] - a.astype(np.float64) @ b).max()
            assert err < (1e-2 if dt == np.float32 else 1e-9) * np.sqrt(n), err
        _C.set_gemm_kernel("auto")
        print(f"{n:>6} " + " ".join(f"{v:>9.1f}" for v in row))


if __name__ == "__main__":
    main()
