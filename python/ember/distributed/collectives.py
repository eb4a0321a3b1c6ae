"""The process group of this job and the collectives on ember tensors (in place where torch.distributed is).

A process that never calls `init` is a world of one: rank 0 of 1. `init` reads the launcher from the
environment (launch.py): under mpiexec the wire is MPI's COMM_WORLD (mpi4py); CPU arrays always travel over
MPI, CuPy arrays over NCCL (nccl.py, made on first use). Collectives are not recorded by autograd.
"""
import os

import numpy as np

from ..tensor import Tensor
from . import launch as _launch
from .failure import install_excepthook
from .groups import REDUCE_OPS, LocalGroup, MPIGroup

DEFAULT_TIMEOUT = 300.0
BACKENDS = ("auto", "mpi", "nccl")
OPS = REDUCE_OPS + ("mean", "avg")
SIGNATURE_DIMS = 32

_group = None        # LocalGroup or MPIGroup: CPU arrays, metadata, barriers
_gpu_group = None    # NcclGroup, on the first CuPy array (unless backend="mpi")
_backend = "auto"
_previous_excepthook = None


# -- the process group ------------------------------------------------------------------------------------------
def init(timeout=None, backend="auto"):
    """Join this job's process group (idempotent; a second call only updates `timeout`).

    timeout: seconds any collective may wait for the other ranks before the whole job is ended (default: the
    EMBER_DIST_TIMEOUT environment variable, else 300). backend: "auto" (MPI for CPU tensors, NCCL for GPU
    tensors), "mpi" (CPU tensors only), "nccl" (also build the NCCL communicator now).
    Under several ranks, an uncaught exception on any rank ends all of them (MPI_Abort), and when
    OMP_NUM_THREADS is unset the native kernels get this machine's cores divided among its ranks.
    """
    global _group, _backend, _previous_excepthook
    if backend not in BACKENDS:
        raise ValueError(f"Invalid value for argument `backend`. Expected one of {list(BACKENDS)}. "
                         f"Received: backend={backend!r}")
    if _group is not None:
        if timeout is not None:
            _group.timeout = _timeout(timeout)
        return
    timeout = _timeout(timeout)
    launch = _launch.detect(os.environ)
    if launch.launcher is None or (launch.launcher == "env" and launch.size == 1):
        group = LocalGroup()
        group.timeout = timeout
    else:
        group = _mpi_group(launch, timeout)
    _group, _backend = group, backend
    if group.size > 1:
        _previous_excepthook = install_excepthook(group.comm, group.rank, group.size)
        _share_cores(group.local_size)
    if backend == "nccl":
        _gpu()


def _timeout(value):
    source = "timeout"
    if value is None:
        value, source = os.environ.get("EMBER_DIST_TIMEOUT", DEFAULT_TIMEOUT), "EMBER_DIST_TIMEOUT"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"Invalid value for `{source}`. Expected a positive number of seconds. "
                         f"Received: {source}={value!r}")
    return seconds


def _mpi_group(launch, timeout):
    try:
        from mpi4py import MPI
    except ImportError:
        if launch.launcher == "mpi":
            reason = f"this process was started by an MPI launcher ({launch.source} is set)"
        else:
            reason = f"RANK/WORLD_SIZE say this job has {launch.size} processes, and ember talks between them over MPI"
        raise RuntimeError(f"ember.distributed: {reason}, but mpi4py is not installed. "
                           f"Install it with: pip install 'ember[distributed]'") from None
    comm = MPI.COMM_WORLD
    if launch.launcher == "env" and (comm.Get_size(), comm.Get_rank()) != (launch.size, launch.rank):
        raise RuntimeError(
            f"ember.distributed: RANK={launch.rank} and WORLD_SIZE={launch.size} are set (torchrun or a similar "
            f"launcher), but this process is not rank {launch.rank} of an MPI job of {launch.size} processes (MPI "
            f"sees {comm.Get_size()}). ember moves data over MPI (and NCCL bootstrapped over MPI), never its own "
            f"sockets: launch with `mpiexec -n {launch.size} python your_script.py`.")
    return MPIGroup(comm, timeout)


def _share_cores(ranks_on_this_machine):
    """Give each rank its share of the cores: N ranks each running all cores' threads would oversubscribe."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    from .. import backend, set_num_threads

    if backend.native_available():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        set_num_threads(max(1, cores // ranks_on_this_machine))


def _gpu():
    global _gpu_group
    if _gpu_group is None:
        from .nccl import NcclGroup

        _gpu_group = NcclGroup(group())
    return _gpu_group


def shutdown():
    """Forget the process group (MPI itself is finalized by mpi4py at exit); `init` may be called again."""
    global _group, _gpu_group, _previous_excepthook
    import sys

    if _previous_excepthook is not None:
        sys.excepthook, _previous_excepthook = _previous_excepthook, None
    _group = _gpu_group = None


def is_initialized():
    return _group is not None


def group():
    """The current process group; `init()` it first."""
    if _group is None:
        raise RuntimeError("ember.distributed: call ember.distributed.init() first (fit(distributed=True) and "
                           "DistributedDataParallel call it for you)")
    return _group


def group_for(array):
    """The group that carries `array`: MPI (or local) for NumPy arrays, NCCL for CuPy arrays."""
    if isinstance(array, (np.ndarray, np.generic)):
        return group()
    if _backend == "mpi":
        raise TypeError("ember.distributed: init(backend='mpi') carries CPU tensors only; GPU tensors need "
                        "backend 'auto' or 'nccl'")
    return _gpu()


def rank():
    """This process's rank (0 when not initialized: a world of one)."""
    return _group.rank if _group is not None else 0


def world_size():
    return _group.size if _group is not None else 1


def local_rank():
    """The rank among the processes on this machine (which GPU this process drives)."""
    return _group.local_rank if _group is not None else 0


def communication_stats():
    """{"seconds": wall time spent inside collectives so far, "calls": how many}, over MPI and NCCL."""
    groups = [g for g in (_group, _gpu_group) if g is not None]
    return {"seconds": sum(g.seconds for g in groups), "calls": sum(g.calls for g in groups)}


def reset_communication_stats():
    for g in (_group, _gpu_group):
        if g is not None:
            g.reset_stats()


# -- collectives on tensors -------------------------------------------------------------------------------------
def in_place_buffer(tensor):
    """The tensor's array, made C-contiguous and writeable (a copy, put back into the tensor) when it is not:
    what a collective can fill in place."""
    array = tensor._data
    writeable = getattr(array.flags, "writeable", True)  # CuPy arrays are always writeable and have no such flag
    if isinstance(array, np.generic) or not (array.flags.c_contiguous and writeable):
        array = tensor._xp.array(array, copy=True, order="C")
        tensor._data = array
    return array


def _buffer(tensor, op_name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"ember.distributed.{op_name}: expected an ember Tensor. Received: {type(tensor).__name__}")
    return in_place_buffer(tensor)


def all_reduce(tensor, op="sum"):
    """Reduce `tensor` over all ranks, in place; every rank gets the result. Returns `tensor`.

    op: "sum", "mean" (or "avg"), "max", "min", "prod". "mean" needs a floating tensor.
    """
    if op not in OPS:
        raise ValueError(f"Invalid value for argument `op`. Expected one of {list(OPS)}. Received: op={op!r}")
    array = _buffer(tensor, "all_reduce")
    if array.dtype.kind not in "fiu" or (op in ("mean", "avg") and array.dtype.kind != "f"):
        expected = "a floating tensor" if op in ("mean", "avg") else "a numeric tensor"
        raise TypeError(f"ember.distributed.all_reduce: op={op!r} needs {expected}; this one is {array.dtype} "
                        f"of shape {array.shape}")
    carrier = group_for(array)
    mean = op in ("mean", "avg")
    carrier.all_reduce(array, "sum" if mean else op, what=f"all_reduce(shape={array.shape}, op={op!r})")
    if mean:
        array /= carrier.size
    return tensor


def _signature(array):
    """(ndim, dtype character code, dims padded with -1) as int64: what every rank's tensor must agree on."""
    if array.ndim > SIGNATURE_DIMS:
        raise ValueError(f"ember.distributed: tensors of more than {SIGNATURE_DIMS} dimensions are not supported; "
                         f"received shape {array.shape}")
    dims = list(array.shape) + [-1] * (SIGNATURE_DIMS - array.ndim)
    return np.array([array.ndim, ord(array.dtype.char)] + dims, np.int64)


def _describe(signature):
    ndim = int(signature[0])
    return f"shape {tuple(int(d) for d in signature[2:2 + ndim])} and dtype {np.dtype(chr(signature[1])).name}"


def broadcast(tensor, root=0):
    """Copy root's `tensor` into every rank's `tensor` (same shape and dtype on every rank), in place."""
    array = _buffer(tensor, "broadcast")
    carrier = group_for(array)
    host = group()
    mine = _signature(array)
    theirs = host.broadcast(mine.copy(), root, what="broadcast (shape check)")
    if not np.array_equal(mine, theirs):
        raise ValueError(f"ember.distributed.broadcast: rank {host.rank} holds a tensor of {_describe(mine)}, but "
                         f"the root (rank {root}) holds {_describe(theirs)}; every rank must pass a tensor of the "
                         f"root's shape and dtype")
    carrier.broadcast(array, root, what=f"broadcast(shape={array.shape}, root={root})")
    return tensor


def all_gather(tensor):
    """Every rank's `tensor` (same shape and dtype on all ranks), as a list in rank order; new tensors."""
    array = _buffer(tensor, "all_gather")
    carrier = group_for(array)
    signatures = group().all_gather(_signature(array), what="all_gather (shape check)")
    if not all(np.array_equal(s, signatures[0]) for s in signatures):
        listed = ", ".join(f"rank {r}: {_describe(s)}" for r, s in enumerate(signatures))
        raise ValueError(f"ember.distributed.all_gather: the tensors differ in shape or dtype ({listed}); "
                         f"expected the same on every rank")
    gathered = carrier.all_gather(array, what=f"all_gather(shape={array.shape})")
    return [Tensor._wrap(gathered[r]) for r in range(carrier.size)]


def barrier():
    """Wait until every rank has reached this call (within the timeout)."""
    group().barrier()
