"""Randomized comparison of ember.backend.cpu (the _C kernels) against ember.backend.reference, in float64
(tight) and float32 (loose), plus central finite differences of the native forwards for the native
backwards, and every GEMM micro-kernel. A lab script, not part of the test suite:

    python dev/check_cpu_backend.py [--trials 200] [--seed 0]
"""
import argparse
import itertools

import numpy as np

from ember import _C
from ember.backend import cpu, reference as ref


def close(name, got, want, dtype, ctx):
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.shape, want.shape, got.dtype, ctx)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (name, "NaN pattern", ctx)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(got[np.isinf(got)], want[np.isinf(got)]), (name, "inf pattern", ctx)
        finite = np.isfinite(want)
        err = np.max(np.abs(got[finite] - want[finite]) / (1 + np.abs(want[finite])), initial=0)
    assert err < tol, (name, err, ctx)


def rand_conv(rng):
    groups = int(rng.choice([1, 1, 1, 2, 3, -1]))  # -1: depthwise
    cg = int(rng.integers(1, 5))
    c = cg * groups if groups > 0 else int(rng.integers(1, 9))
    if groups < 0:
        groups, cg = c, 1
    og = int(rng.integers(1, 5))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    if rng.random() < 0.2:
        kh = kw = 1
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    pads = [int(v) for v in rng.integers(0, 4, size=4)] if rng.random() < 0.7 else [0, 0, 0, 0]
    if rng.random() < 0.2:
        sh = sw = 1
        pads = [0, 0, 0, 0]
    n = int(rng.integers(1, 4))
    h = max(int(rng.integers(1, 12)), dh * (kh - 1) + 1 - pads[0] - pads[1])
    w = max(int(rng.integers(1, 12)), dw * (kw - 1) + 1 - pads[2] - pads[3])
    return (n, h, w, c), (kh, kw, cg, og * groups), (sh, sw), ((pads[0], pads[1]), (pads[2], pads[3])), (dh, dw), groups


def check_conv(rng, trials):
    for t in range(trials):
        xs, ws, strides, padding, dilation, groups = rand_conv(rng)
        for dtype in (np.float64, np.float32):
            x = rng.standard_normal(xs).astype(dtype)
            w = rng.standard_normal(ws).astype(dtype)
            args = (strides, padding, dilation, groups)
            ctx = (xs, ws, args)
            y = cpu.conv2d_forward(x, w, *args)
            close("conv2d_forward", y, ref.conv2d_forward(x, w, *args), dtype, ctx)
            gy = rng.standard_normal(y.shape).astype(dtype)
            close("conv2d_backward_input", cpu.conv2d_backward_input(gy, w, xs, *args),
                  ref.conv2d_backward_input(gy, w, xs, *args), dtype, ctx)
            close("conv2d_backward_weight", cpu.conv2d_backward_weight(gy, x, ws, *args),
                  ref.conv2d_backward_weight(gy, x, ws, *args), dtype, ctx)
        if t < 30:  # finite differences of the native forward, float64
            x = rng.standard_normal(xs)
            w = rng.standard_normal(ws)
            gy = rng.standard_normal(cpu.conv2d_forward(x, w, *args).shape)
            f = lambda x_, w_: np.sum(cpu.conv2d_forward(x_, w_, *args) * gy)
            fd_check("conv2d dx", lambda v: f(v, w), x, cpu.conv2d_backward_input(gy, w, xs, *args), rng)
            fd_check("conv2d dw", lambda v: f(x, v), w, cpu.conv2d_backward_weight(gy, x, ws, *args), rng)
    print("conv2d ok")


def fd_check(name, f, x, grad, rng, samples=6, eps=1e-6):
    for _ in range(samples):
        idx = tuple(int(rng.integers(0, s)) for s in x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (f(xp) - f(xm)) / (2 * eps)
        assert abs(num - grad[idx]) < 1e-6 * (1 + abs(num)), (name, idx, num, grad[idx])


def check_pool(rng, trials):
    for _ in range(trials):
        pool = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        strides = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pads = [int(rng.integers(0, p + 1)) for p in (pool[0], pool[0], pool[1], pool[1])]
        padding = ((pads[0], pads[1]), (pads[2], pads[3]))
        n, c = int(rng.integers(1, 4)), int(rng.choice([1, 3, 5, 70, 130]))
        h = max(int(rng.integers(1, 10)), pool[0] - pads[0] - pads[1])
        w = max(int(rng.integers(1, 10)), pool[1] - pads[2] - pads[3])
        for dtype in (np.float64, np.float32):
            x = rng.standard_normal((n, h, w, c)).astype(dtype)
            if rng.random() < 0.5:  # ties and NaNs and infinities
                x = np.round(x).astype(dtype)
                x[rng.random(x.shape) < 0.05] = np.nan
                x[rng.random(x.shape) < 0.05] = -np.inf
            ctx = (x.shape, pool, strides, padding)
            y = cpu.max_pool2d_forward(x, pool, strides, padding)
            close("max_pool2d_forward", y, ref.max_pool2d_forward(x, pool, strides, padding), dtype, ctx)
            gy = rng.standard_normal(y.shape).astype(dtype)
            close("max_pool2d_backward", cpu.max_pool2d_backward(gy, x, pool, strides, padding),
                  ref.max_pool2d_backward(gy, x, pool, strides, padding), dtype, ctx)
            x = np.nan_to_num(x, nan=0.5, neginf=-3.0)
            close("avg_pool2d_forward", cpu.avg_pool2d_forward(x, pool, strides, padding),
                  ref.avg_pool2d_forward(x, pool, strides, padding), dtype, ctx)
            close("avg_pool2d_backward", cpu.avg_pool2d_backward(gy, x.shape, pool, strides, padding),
                  ref.avg_pool2d_backward(gy, x.shape, pool, strides, padding), dtype, ctx)
    print("pool2d ok")


def check_activation(rng):
    for dtype, name, size in itertools.product((np.float64, np.float32), ref.activation.NAMES, (0, 1, 7, 100003)):
        x = (rng.standard_normal(size) * 5).astype(dtype)
        x[: min(size, 6)] = np.array([0.0, -0.0, np.nan, 1e4, -1e4, np.inf])[: min(size, 6)]
        alpha = 0.3
        y = cpu.activation_forward(name, x, alpha)
        close(name, y, ref.activation_forward(name, x, alpha), dtype, size)
        gy = rng.standard_normal(size).astype(dtype)
        close(name + "'", cpu.activation_backward(name, x, y, gy, alpha),
              ref.activation_backward(name, x, y, gy, alpha), dtype, size)
    x = rng.standard_normal((3, 4, 5))
    for axis in (0, 1, 2, -1):
        for fwd, bwd in (("softmax_forward", "softmax_backward"), ("log_softmax_forward", "log_softmax_backward")):
            xx = x * 1e3 if axis == 1 else x
            y = getattr(cpu, fwd)(xx, axis)
            close(fwd, y, getattr(ref, fwd)(xx, axis), np.float64, axis)
            gy = rng.standard_normal(y.shape)
            close(bwd, getattr(cpu, bwd)(y, gy, axis), getattr(ref, bwd)(y, gy, axis), np.float64, axis)
    print("activations ok")


def check_matmul(rng):
    for kernel in ("generic", "avx2", "avx512"):
        try:
            _C.set_gemm_kernel(kernel)
        except ValueError:
            continue
        for sa, sb in [((5, 3), (3, 4)), ((2, 1, 7, 9), (3, 9, 2)), ((4, 30, 1), (1, 70)), ((1, 3), (6, 3, 0)),
                       ((2, 3, 130, 70), (70, 33))]:
            for dtype in (np.float64, np.float32):
                a = rng.standard_normal(sa).astype(dtype)
                b = rng.standard_normal(sb).astype(dtype)
                close("matmul", cpu.matmul(a, b), ref.matmul(a, b), dtype, (kernel, sa, sb))
                close("matmul^T", cpu.matmul(b.swapaxes(-1, -2), a.swapaxes(-1, -2)),
                      ref.matmul(b.swapaxes(-1, -2), a.swapaxes(-1, -2)), dtype, (kernel, sa, sb))
    _C.set_gemm_kernel("auto")
    assert cpu.matmul(np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)).tolist() == [[10, 13], [28, 40]]
    print("matmul ok")


def check_thread_independence(rng):
    x = rng.standard_normal((4, 17, 19, 24)).astype(np.float32)
    w = rng.standard_normal((3, 3, 24, 40)).astype(np.float32)
    args = ((1, 2), ((1, 1), (2, 0)), (1, 1), 1)
    results = []
    for nt in (1, 2, 3):
        _C.set_num_threads(nt)
        y = cpu.conv2d_forward(x, w, *args)
        gy = np.ones_like(y)
        results.append((y, cpu.conv2d_backward_weight(gy, x, w.shape, *args),
                        cpu.conv2d_backward_input(gy, w, x.shape, *args)))
    _C.set_num_threads(0)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            assert np.array_equal(a, b)
    print("thread-count independence ok")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    check_matmul(rng)
    check_activation(rng)
    check_pool(rng, args.trials)
    check_conv(rng, args.trials)
    check_thread_independence(rng)
