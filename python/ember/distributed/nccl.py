"""The GPU wire: an NCCL communicator through CuPy's bindings, one process per GPU.

Built on the first collective on a CuPy array (or at `init(backend="nccl")`): rank 0 makes NCCL's unique id,
the host group (MPI; nothing for a world of one) broadcasts it, and every rank joins with ncclCommInitRank on
the GPU of its local rank. Collectives are enqueued on CuPy's current stream, so they order with the kernels
around them; `wait` polls an event recorded after them against the same deadline as the MPI collectives, and on
a timeout aborts the NCCL communicator before ending the job.

CuPy is imported here only, and only when a GPU array meets a collective: the CPU path never needs it.
Untested on this project's CI (no GPU there); see the distributed tests for what runs where.
"""
import time

from .groups import POLL_SLEEP, Group, _check_op, _check_root


def _load_cupy():
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError:
        raise RuntimeError("ember.distributed: collectives on GPU tensors use NCCL through CuPy, which is not "
                           "installed. Install it (pip install 'ember[cuda]') or keep the tensors on the CPU.") \
            from None
    if not getattr(nccl, "available", False):
        raise RuntimeError("ember.distributed: this CuPy was built without NCCL; install a CuPy wheel with NCCL "
                           "(cupy-cuda13x) to reduce GPU tensors across processes.")
    return cupy, nccl


class NcclGroup(Group):
    """NCCL over the same ranks as `host` (an MPIGroup or LocalGroup), which carries the unique id."""

    name = "nccl"
    timeout = property(lambda self: self.host.timeout)  # init(timeout=...) later changes both wires

    def __init__(self, host):
        super().__init__()
        cupy, nccl = _load_cupy()
        self._cupy, self._nccl = cupy, nccl
        self.host = host
        self.rank, self.size = host.rank, host.size
        self.local_rank, self.local_size = host.local_rank, host.local_size
        devices = cupy.cuda.runtime.getDeviceCount()
        if host.local_size > devices:
            raise RuntimeError(f"ember.distributed: {host.local_size} ranks on this machine but {devices} GPU(s); "
                               f"NCCL needs one process per GPU (mpiexec -n {devices} per machine).")
        self.device_id = host.local_rank
        cupy.cuda.Device(self.device_id).use()
        unique_id = nccl.get_unique_id() if self.rank == 0 else None
        unique_id = host.broadcast_object(unique_id, 0, "NCCL unique id broadcast")
        self.comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self._dtypes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
                        "int8": nccl.NCCL_INT8, "uint8": nccl.NCCL_UINT8, "int32": nccl.NCCL_INT32,
                        "int64": nccl.NCCL_INT64}
        self._ops = {"sum": nccl.NCCL_SUM, "prod": nccl.NCCL_PROD, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    def _dtype(self, array):
        code = self._dtypes.get(array.dtype.name)
        if code is None:
            raise TypeError(f"ember.distributed (NCCL): arrays of dtype {array.dtype} cannot be reduced; expected "
                            f"one of {sorted(self._dtypes)}")
        if array.device.id != self.device_id:
            raise ValueError(f"ember.distributed (NCCL): rank {self.rank} owns GPU {self.device_id} but the tensor "
                             f"is on GPU {array.device.id}; call ember.distributed.init() before making GPU tensors")
        return code

    def _enqueue(self, launch):
        t0 = time.perf_counter()
        stream = self._cupy.cuda.get_current_stream()
        launch(stream.ptr)
        event = self._cupy.cuda.Event(disable_timing=True)
        event.record(stream)
        self.seconds += time.perf_counter() - t0
        return event

    def start_all_reduce(self, array, op):
        _check_op(op)
        dtype, ptr = self._dtype(array), array.data.ptr
        return self._enqueue(lambda s: self.comm.allReduce(ptr, ptr, array.size, dtype, self._ops[op], s))

    def start_broadcast(self, array, root):
        _check_root(root, self.size)
        dtype = self._dtype(array)
        return self._enqueue(lambda s: self.comm.bcast(array.data.ptr, array.size, dtype, root, s))

    def start_all_gather(self, array, out):
        dtype = self._dtype(array)
        return self._enqueue(lambda s: self.comm.allGather(array.data.ptr, out.data.ptr, array.size, dtype, s))

    def start_barrier(self):
        self._token = self._cupy.zeros(1, self._cupy.float32)  # NCCL has no barrier: a one-element all-reduce
        return self.start_all_reduce(self._token, "sum")

    def all_gather(self, array, what="all_gather"):
        out = self._cupy.empty((self.size,) + array.shape, array.dtype)
        self.wait([self.start_all_gather(array, out)], what)
        return out

    def wait(self, requests, what):
        t0 = time.perf_counter()
        deadline = t0 + self.timeout
        for event in requests:
            while not event.done:
                self.comm.check_async_error()  # a peer's failure surfaces here as an NcclError
                if time.perf_counter() > deadline:
                    self.comm.abort()
                    self.host.abort(f"{what} (NCCL) on rank {self.rank} of {self.size} did not complete within "
                                    f"{self.timeout:g} s: another rank has failed or hangs. Ending all ranks.")
                time.sleep(POLL_SLEEP)
        self.seconds += time.perf_counter() - t0
        self.calls += 1

    def abort(self, message):
        self.comm.abort()
        self.host.abort(message)
