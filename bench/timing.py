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
