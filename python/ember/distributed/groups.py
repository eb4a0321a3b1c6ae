"""Process groups: the collectives on raw arrays, over MPI (or nothing, for a world of one).

Every collective is started non-blocking (`start_*` returns requests) and finished by `wait`, which polls the
requests against a deadline: a peer that died or hangs ends the job with a message (failure.abort_job) instead
of blocking forever. The blocking forms (`all_reduce`, `broadcast`, ...) are a start and a wait. Operations
are in place on C-contiguous, writeable arrays; the callers (collectives.py, buckets.py) guarantee that.
"""
import pickle
import time

import numpy as np

from .failure import abort_job

REDUCE_OPS = ("sum", "max", "min", "prod")
SPIN_SECONDS = 1e-3   # poll flat out this long (peers are usually in step), then yield the core between polls
POLL_SLEEP = 1e-4


class Group:
    """What LocalGroup and MPIGroup share: blocking forms and timing of the collectives."""

    rank, size, local_rank, local_size = 0, 1, 0, 1
    timeout = None

    def __init__(self):
        self.seconds = 0.0   # wall time inside collectives (start + wait): the bench's communication share
        self.calls = 0

    def all_reduce(self, array, op="sum", what="all_reduce"):
        self.wait([self.start_all_reduce(array, op)], what)
        return array

    def broadcast(self, array, root=0, what="broadcast"):
        self.wait([self.start_broadcast(array, root)], what)
        return array

    def all_gather(self, array, what="all_gather"):
        """(size,) + array.shape: every rank's `array`, in rank order."""
        out = np.empty((self.size,) + array.shape, array.dtype)
        self.wait([self.start_all_gather(array, out)], what)
        return out

    def barrier(self, what="barrier"):
        self.wait([self.start_barrier()], what)

    def broadcast_object(self, obj, root=0, what="broadcast_object"):
        """A picklable object from `root` to every rank (a length, then the bytes)."""
        payload = pickle.dumps(obj) if self.rank == root else b""
        length = self.broadcast(np.array([len(payload)], np.int64), root, what)
        buffer = np.frombuffer(payload, np.uint8).copy() if self.rank == root else np.empty(int(length[0]), np.uint8)
        self.broadcast(buffer, root, what)
        return obj if self.rank == root else pickle.loads(buffer.tobytes())

    def reset_stats(self):
        self.seconds, self.calls = 0.0, 0


class LocalGroup(Group):
    """A world of one process: every collective is the identity (all_gather a copy), and MPI is never loaded."""

    name = "local"

    def start_all_reduce(self, array, op):
        _check_op(op)
        return None

    def start_broadcast(self, array, root):
        _check_root(root, 1)
        return None

    def start_all_gather(self, array, out):
        out[0] = array
        return None

    def start_barrier(self):
        return None

    def wait(self, requests, what):
        self.calls += 1

    def abort(self, message):
        abort_job(None, message)


class MPIGroup(Group):
    """COMM_WORLD of an MPI job (mpi4py), with a deadline on every collective."""

    name = "mpi"

    def __init__(self, comm, timeout):
        super().__init__()
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)  # the ranks on this machine: one GPU / share of cores each
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.timeout = timeout
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}

    def _timed(self, start):
        t0 = time.perf_counter()
        request = start()
        self.seconds += time.perf_counter() - t0
        return request

    def start_all_reduce(self, array, op):
        _check_op(op)
        return self._timed(lambda: self.comm.Iallreduce(self._MPI.IN_PLACE, array, op=self._ops[op]))

    def start_broadcast(self, array, root):
        _check_root(root, self.size)
        return self._timed(lambda: self.comm.Ibcast(array, root=root))

    def start_all_gather(self, array, out):
        return self._timed(lambda: self.comm.Iallgather(array, out))

    def start_barrier(self):
        return self._timed(self.comm.Ibarrier)

    def wait(self, requests, what):
        """Poll `requests` until all complete; past the deadline, end the job naming `what`."""
        t0 = time.perf_counter()
        deadline = t0 + self.timeout
        testall = self._MPI.Request.Testall
        while not testall(requests):
            now = time.perf_counter()
            if now > deadline:
                self.abort(f"{what} on rank {self.rank} of {self.size} did not complete within {self.timeout:g} s "
                           f"(EMBER_DIST_TIMEOUT / init(timeout=...)): another rank has failed, hangs, or is not "
                           f"calling the same collectives in the same order. Ending all {self.size} ranks.")
            if now - t0 > SPIN_SECONDS:
                time.sleep(POLL_SLEEP)
        self.seconds += time.perf_counter() - t0
        self.calls += 1

    def abort(self, message):
        abort_job(self.comm, message)


def _check_op(op):
    if op not in REDUCE_OPS:
        raise ValueError(f"Invalid value for argument `op`. Expected one of {list(REDUCE_OPS)}. Received: op={op!r}")


def _check_root(root, size):
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < size:
        raise ValueError(f"Invalid value for argument `root`. Expected a rank in [0, {size}). Received: root={root!r}")
