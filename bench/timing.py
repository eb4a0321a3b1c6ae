"""Timing contenders side by side: alternating settled blocks in one process, median per call."""
import statistics
import time


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


def time_interleaved(contenders, rounds, calls=3, settle=0.1, warmup=0.02, block=0.0):
    """Median seconds per call of each contender, measured in alternating blocks.

    Each round gives every contender one block: a pause (so that the previous library's worker threads, which
    spin for a while after each call, go to sleep and leave the cores free), warm-up calls for at least `warmup`
    seconds (two at least), then `calls` timed calls. Alternating blocks keep slow drifts of a shared machine from
    favouring anyone. The warm-up is timed rather than counted: after the pause, a virtual machine's idle core
    takes milliseconds to come back (on the 2-vCPU Zen 3 VM, a 256^3 matmul's first two calls after 0.1 s idle
    took 2-6 ms each, the next ones 0.4 ms, in every library), and a single warm-up call left sub-millisecond ops
    timing that wake-up instead of themselves.

    A block times at least `calls` calls and at least `block` seconds of them (the warm-up's pace sets the count):
    three calls of a 0.4 ms op sampled a noisy machine's slow spells so sparsely that one op's median moved by
    half between runs (LeNet's 6->16 fwd+bwd, 0.36 against 0.53 ms), where a 20 ms op's three calls were plenty.
    """
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(settle)
            start, warm = time.perf_counter(), 0
            while warm < 2 or time.perf_counter() - start < warmup:
                fn()
                warm += 1
            pace = (time.perf_counter() - start) / warm
            for _ in range(max(calls, min(1000, int(block / pace)))):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in samples.items()}
