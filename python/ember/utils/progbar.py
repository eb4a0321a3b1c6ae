"""A Keras-style progress bar that suits where it prints: live in a terminal or notebook, one line per epoch
in a log file (no flood of carriage returns)."""
import sys
import time


def _interactive(stream):
    if "ipykernel" in sys.modules:  # Jupyter renders carriage returns in place
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


class Progbar:
    """`update(step, logs)` after each batch; `finish(logs)` at the end of the epoch.

    verbose=1: a bar redrawn in place when interactive, else the epoch's last line only; verbose=2: that last
    line only; verbose=0: nothing.
    """

    def __init__(self, target, verbose=1, width=30, stream=None, min_interval=0.05):
        self.target, self.verbose, self.width = target, verbose, width
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and _interactive(self.stream)
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.min_interval = min_interval

    def _line(self, step, logs):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(step, 1)
        if self.target:
            filled = int(self.width * step / self.target)
            bar = "=" * max(filled - 1, 0) + (">" if step < self.target else "=") * (filled > 0)
            head = f"{step:>{len(str(self.target))}}/{self.target} [{bar:<{self.width}}]"
        else:
            head = f"{step}"
        timing = f"{elapsed:.0f}s {per_step * 1e3:.0f}ms/step"
        tail = format_logs(logs)
        return f"{head} - {timing}" + (f" - {tail}" if tail else "")

    def update(self, step, logs=None):
        if not self.live:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.min_interval and step != self.target:
            return
        self.last_draw = now
        self.stream.write("\r" + self._line(step, logs or {}) + "\033[K")
        self.stream.flush()

    def finish(self, logs=None):
        if self.verbose == 0:
            return
        line = self._line(self.target or 0, logs or {})
        self.stream.write(("\r" + line + "\033[K\n") if self.live else line + "\n")
        self.stream.flush()
