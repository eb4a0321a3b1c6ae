"""Each kernel family builds only the table of the ISA in use. A table's builder is compiled with its ISA's flags
and may use them (GCC filled the AVX-512 activation table with a zmm store: SIGILL on an AVX2-only CPU, on the first
sigmoid). So, in a fresh process that chooses an ISA before any kernel runs, a pass through every family must build
that ISA's tables and no other: this catches an eager build on any machine that has the wider ISA."""
import subprocess
import sys
import textwrap

import pytest

from ember import _C

EVERY_FAMILY = textwrap.dedent(
    """
    import sys
    import numpy as np
    import ember
    from ember import _C, ops

    _C.set_gemm_kernel(sys.argv[1])
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        t = lambda *shape: ember.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        x, wide = t(2, 9, 9, 3), t(2, 9, 9, 32)
        outs = [
            ops.sigmoid(x), ops.tanh(x), ops.elu(x), ops.softmax(x), ops.log_softmax(x),
            ops.max_pool2d(x, 2), ops.avg_pool2d(x, 2),
            ops.conv2d(x, t(3, 3, 3, 4)), ops.conv2d(wide, t(3, 3, 32, 32), padding="same"),
        ]
        seq, h = t(2, 5, 3), t(2, 4)
        outs += [ops.simple_rnn(seq, h, t(3, 4), t(4, 4)), ops.lstm(seq, h, t(2, 4), t(3, 16), t(4, 16)),
                 ops.gru(seq, h, t(3, 12), t(4, 12))]
        for out in outs:
            (out[0] if isinstance(out, (tuple, list)) else out).sum().backward()
    print(",".join(_C.isa_tables_built()))
    """
)


def _usable_isas():
    features = _C.cpu_features()
    usable = {"generic": True, "avx2": features["avx2"] and features["fma"],
              "avx512": all(features[f] for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl"))}
    return [isa for isa in features["compiled_kernels"] if usable[isa]]


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_only_the_chosen_isa_tables_are_built(isa):
    if isa not in _usable_isas():
        pytest.skip(f"this CPU or build has no {isa} kernels")
    run = subprocess.run([sys.executable, "-c", EVERY_FAMILY, isa], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == isa
