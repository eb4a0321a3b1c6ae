"""Data-parallel training over several processes: MPI between CPUs, NCCL between GPUs; nothing home-made on the
wire. Launch one process per core group or GPU with the MPI launcher:

    mpiexec -n 2 python train.py          # the mpiexec of the `mpich` wheel: pip install 'ember[distributed]'

The Keras way: `model.fit(x, y, batch_size=64, epochs=10, distributed=True)` (64 is the global batch).
The tensor way: `ddp = ember.distributed.DistributedDataParallel(model)`, then `ddp.backward(loss)`.
Collectives on tensors: `init()`, `rank()`, `world_size()`, `barrier()`, `all_reduce(t, op="sum")`,
`broadcast(t, root=0)`, `all_gather(t)`. Without a launcher everything runs as a world of one process and MPI
is never imported. A rank that raises, dies or hangs ends the whole job with a message and a non-zero exit
code (collectives time out after `init(timeout=...)` / EMBER_DIST_TIMEOUT seconds, 300 by default).
"""
from .collectives import (all_gather, all_reduce, barrier, broadcast, communication_stats, group, init,
                          is_initialized, local_rank, rank, reset_communication_stats, shutdown, world_size)
from .ddp import DistributedDataParallel, average_weights, broadcast_weights
from .failure import DistributedTimeout
from .fit import rank_zero_writes

__all__ = ["init", "shutdown", "is_initialized", "rank", "world_size", "local_rank", "group", "barrier",
           "all_reduce", "broadcast", "all_gather", "DistributedDataParallel", "broadcast_weights",
           "average_weights", "rank_zero_writes", "communication_stats", "reset_communication_stats",
           "DistributedTimeout"]
