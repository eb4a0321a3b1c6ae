"""The machine's measured limits, for the "% of peak" column: the FMA peak (a register-only multiply-add loop on
the GEMM's ISA) and the copy bandwidth (a parallel memcpy of arrays 4x the size of a usual L3), each on 1 thread
and on the bench's thread count, measured by ember._C (csrc/cpu/peak.cpp) in the same process as the entries."""
from ember import _C

COPY_BYTES = 128 << 20  # per array: src + dst are 256 MiB, far past any L3 this bench runs on


def measure(threads, seconds):
    """{"fma_gflops": {threads: GFLOP/s}, "copy_gbs": {threads: GB/s}, "isa": the FMA loop's ISA} for 1 thread
    and `threads`; each figure the best window (FMA) or best pass (copy) within `seconds`."""
    counts = sorted({1, threads})
    return {"fma_gflops": {t: _C.measure_fma_peak(seconds, t) for t in counts},
            "copy_gbs": {t: _C.measure_copy_bandwidth(COPY_BYTES, seconds, t) for t in counts},
            "isa": _C.gemm_kernel()}


def percent_of_peak(peaks, unit, rate, threads):
    """`rate` as a percentage of the FMA peak (GFLOP/s rows) or the copy bandwidth (GB/s rows) at `threads`;
    None for other units (images/s)."""
    key = {"GFLOP/s": "fma_gflops", "GB/s": "copy_gbs"}.get(unit)
    return None if key is None else 100.0 * rate / peaks[key][threads]


def describe(peaks):
    """One line for the table's header."""
    fma = ", ".join(f"{g:.0f} GFLOP/s on {t} thread{'s' * (t > 1)}" for t, g in peaks["fma_gflops"].items())
    copy = ", ".join(f"{g:.1f} GB/s on {t} thread{'s' * (t > 1)}" for t, g in peaks["copy_gbs"].items())
    return f"measured peak: FMA ({peaks['isa']}) {fma} | copy {copy}"
