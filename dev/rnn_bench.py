"""LSTM / GRU forward and forward+backward: ember's native kernels vs torch.nn.LSTM / nn.GRU (CPU, float32).

    python dev/rnn_bench.py            # runs each engine in its own process (their thread pools spin)
    python dev/rnn_bench.py ember|torch

Input is batch-first (B, T, I) as the layers take it; ember's time includes the transposes to and from its
time-major kernels, as ember.ops pays them. torch's backward computes the same gradients (x, h0, weights).
"""
import json
import subprocess
import sys
import time

import numpy as np

SHAPES = [(50, 64, 128, 256), (100, 32, 32, 128), (20, 4, 128, 512)]  # (T, B, I, H)
THREADS = 2


def best_ms(fn, min_time=1.0):
    fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.min(times))  # the least disturbed run: this machine is shared


def run_ember():
    import ember._C as C
    from ember.backend import cpu
    C.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    out = {}
    for cell in ("lstm", "gru"):
        g = 4 if cell == "lstm" else 3
        for (T, B, I, H) in SHAPES:
            x = rng.standard_normal((B, T, I), dtype=np.float32)
            h0 = np.zeros((B, H), np.float32)
            W = (rng.standard_normal((I, g * H)) * 0.1).astype(np.float32)
            U = (rng.standard_normal((H, g * H)) * 0.1).astype(np.float32)
            gy = rng.standard_normal((B, T, H), dtype=np.float32)
            if cell == "lstm":
                b = np.zeros(4 * H, np.float32)

                def fwd():
                    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
                    h, c, gates = cpu.lstm_forward(xt, h0, h0, W, U, b, None)
                    return xt, h, c, gates, np.ascontiguousarray(h.transpose(1, 0, 2))

                def fwd_bwd():
                    xt, h, c, gates, _ = fwd()
                    ght = np.ascontiguousarray(gy.transpose(1, 0, 2))
                    grads = cpu.lstm_backward(ght, np.zeros_like(ght), xt, h0, h0, W, U, None, h, c, gates)
                    return np.ascontiguousarray(grads[0].transpose(1, 0, 2))
            else:
                b = np.zeros((2, 3 * H), np.float32)

                def fwd():
                    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
                    h, gates = cpu.gru_forward(xt, h0, W, U, b, True, None)
                    return xt, h, gates, np.ascontiguousarray(h.transpose(1, 0, 2))

                def fwd_bwd():
                    xt, h, gates, _ = fwd()
                    ght = np.ascontiguousarray(gy.transpose(1, 0, 2))
                    grads = cpu.gru_backward(ght, xt, h0, W, U, b, True, None, h, gates)
                    return np.ascontiguousarray(grads[0].transpose(1, 0, 2))
            out[f"{cell} {T},{B},{I},{H}"] = (best_ms(fwd), best_ms(fwd_bwd))
    return out


def run_torch():
    import torch
    torch.set_num_threads(THREADS)
    out = {}
    for cell in ("lstm", "gru"):
        for (T, B, I, H) in SHAPES:
            mod = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H, batch_first=True)
            x = torch.randn(B, T, I)
            gy = torch.randn(B, T, H)

            def fwd():
                with torch.no_grad():
                    return mod(x)[0]

            def fwd_bwd():
                xr = x.detach().requires_grad_(True)
                y = mod(xr)[0]
                y.backward(gy)
                return xr.grad

            out[f"{cell} {T},{B},{I},{H}"] = (best_ms(fwd), best_ms(fwd_bwd))
    return out


def main():
    if len(sys.argv) > 1:
        print(json.dumps(run_ember() if sys.argv[1] == "ember" else run_torch()))
        return
    res = {}
    for engine in ("torch", "ember"):
        text = subprocess.run([sys.executable, __file__, engine], capture_output=True, text=True, check=True).stdout
        res[engine] = json.loads(text.strip().splitlines()[-1])
        time.sleep(1)
    print(f"{'case (T,B,I,H)':24s} {'torch fwd':>10s} {'ember fwd':>10s} {'ratio':>6s} "
          f"{'torch f+b':>10s} {'ember f+b':>10s} {'ratio':>6s}   (ms, best of runs; ratio = torch / ember)")
    for key, (tf, tfb) in res["torch"].items():
        ef, efb = res["ember"][key]
        print(f"{key:24s} {tf:10.2f} {ef:10.2f} {tf / ef:6.2f} {tfb:10.2f} {efb:10.2f} {tfb / efb:6.2f}")


if __name__ == "__main__":
    main()
