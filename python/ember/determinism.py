"""Deterministic algorithms: `ember.use_deterministic(True)` asks every op for bit-reproducible results.

On the CPU every kernel already is: reductions run in a fixed order whatever the thread count, and all
randomness comes from the seeded generator (`ember.manual_seed`). So the switch only records the mode there.
A GPU kernel may not be (atomics that add in arrival order, algorithms picked by timing). Such a kernel is
declared once, at backend import, with `register_nondeterministic(op, device, why)`, and the backend calls
`check(op, device)` before launching it: under deterministic mode that raises a RuntimeError naming the op,
instead of returning results that differ from run to run.

The mode is process-wide (as torch.use_deterministic_algorithms), not per thread.
"""
from . import device as _device

_enabled = False
_NONDETERMINISTIC = {}  # (op, device type) -> why the kernel is not deterministic


class _Restore:
    """Returned by `use_deterministic`: a context manager that puts the previous mode back on exit."""

    def __init__(self, previous):
        self._previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self._previous
        return False


def use_deterministic(mode=True):
    """Require (True) or stop requiring (False) deterministic kernels, from now on, process-wide.

    Also usable as `with ember.use_deterministic(True): ...`, which restores the previous mode afterwards.
    """
    global _enabled
    if not isinstance(mode, bool):
        raise TypeError(f"Invalid value for argument `mode`. Expected True or False. Received: mode={mode!r}")
    previous, _enabled = _enabled, mode
    return _Restore(previous)


def are_deterministic_algorithms_enabled():
    """Whether `use_deterministic(True)` is in force."""
    return _enabled


def _device_type(device):
    return _device.parse(device).split(":")[0]


def register_nondeterministic(op, device, why):
    """Declare that `op`'s kernel on `device` ("cuda", "cuda:1", "cpu") gives run-to-run different results."""
    _NONDETERMINISTIC[(str(op), _device_type(device))] = str(why)


def unregister_nondeterministic(op, device):
    """Take back a declaration (a deterministic kernel replaced the old one)."""
    _NONDETERMINISTIC.pop((str(op), _device_type(device)), None)


def check(op, device):
    """Raise RuntimeError if deterministic mode is on and `op` has no deterministic kernel on `device`.

    Backends call it before launching a kernel they registered with `register_nondeterministic`.
    """
    if not _enabled:
        return
    kind = _device_type(device)
    why = _NONDETERMINISTIC.get((str(op), kind))
    if why is not None:
        raise RuntimeError(f"{op}: there is no deterministic implementation of this op on {kind} ({why}), and "
                           f"ember.use_deterministic(True) requires one. Run it on the CPU, or call "
                           f"ember.use_deterministic(False) to accept run-to-run differences.")
