"""conv2d lab: ember's cpu backend against PyTorch (NCHW, its default CPU path) and the NumPy reference.

    python dev/conv_bench.py [--threads 2] [--path winograd]
Times forward, backward-input and backward-weight for a few layers, in ms (best of several runs).
"""
import argparse
import time

import numpy as np

from ember import _C
from ember.backend import cpu, reference

LAYERS = {  # name: (N, H, W, C, KH, KW, O, stride, pad, groups)
    "vgg 3x3 128->128": (32, 28, 28, 128, 3, 3, 128, 1, 1, 1),
    "resnet 3x3 256->256": (32, 14, 14, 256, 3, 3, 256, 1, 1, 1),
    "3x3 64->64 56x56": (16, 56, 56, 64, 3, 3, 64, 1, 1, 1),
    "3x3 16->32 31x31": (32, 31, 31, 16, 3, 3, 32, 1, 0, 1),
    "lenet 5x5 1->6": (64, 28, 28, 1, 5, 5, 6, 1, 0, 1),
    "lenet 5x5 6->16": (64, 14, 14, 6, 5, 5, 16, 1, 0, 1),
    "1x1 256->64": (32, 28, 28, 256, 1, 1, 64, 1, 0, 1),
    "depthwise 3x3 128": (32, 28, 28, 128, 3, 3, 128, 1, 1, 128),
}


def best(fn, repeat=10):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts) * 1e3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference", action="store_true", help="also time the NumPy reference")
    p.add_argument("--path", default="auto", help="force a family: gemm, direct, rows, winograd or dot (set_conv2d_path)")
    args = p.parse_args()
    _C.set_num_threads(args.threads)
    _C.set_conv2d_path(args.path)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads={args.threads}  times in ms: ember fwd / bwd_in / bwd_w   torch fwd / bwd_in / bwd_w")
    for name, (n, h, w, c, kh, kw, o, s, pad, g) in LAYERS.items():
        x = rng.standard_normal((n, h, w, c), dtype=np.float32)
        wt = rng.standard_normal((kh, kw, c // g, o), dtype=np.float32)
        a = ((s, s), ((pad, pad), (pad, pad)), (1, 1), g)
        y = cpu.conv2d_forward(x, wt, *a)
        gy = rng.standard_normal(y.shape, dtype=np.float32)
        e = [best(lambda: cpu.conv2d_forward(x, wt, *a)), best(lambda: cpu.conv2d_backward_input(gy, wt, x.shape, *a)),
             best(lambda: cpu.conv2d_backward_weight(gy, x, wt.shape, *a))]
        flops = 2.0 * y.size * kh * kw * (c // g)
        line = f"{name:<22} {e[0]:8.2f} {e[1]:8.2f} {e[2]:8.2f}  ({flops / e[0] / 1e6:6.1f} GFLOP/s fwd)"
        if torch is not None:
            xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
            wt_t = torch.from_numpy(wt).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
            gyt = torch.from_numpy(gy).permute(0, 3, 1, 2).contiguous()
            fwd = lambda: torch.nn.functional.conv2d(xt, wt_t, stride=s, padding=pad, groups=g)
            with torch.no_grad():
                tf = best(fwd)
                yt = fwd()
            assert np.allclose(yt.permute(0, 2, 3, 1).numpy(), y, atol=1e-3 * np.sqrt(kh * kw * c))
            yt = fwd()
            gi = lambda: torch.autograd.grad(yt, xt, gyt, retain_graph=True)
            gw = lambda: torch.autograd.grad(yt, wt_t, gyt, retain_graph=True)
            line += f"   {tf:8.2f} {best(gi):8.2f} {best(gw):8.2f}"
        if args.reference:
            line += f"   ref fwd {best(lambda: reference.conv2d_forward(x, wt, *a), 2):8.2f}"
        print(line)


if __name__ == "__main__":
    main()
