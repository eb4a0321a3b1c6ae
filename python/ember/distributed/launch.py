"""Which launcher started this process, read from its environment alone (no MPI is imported here).

    mpiexec / mpirun / srun   MPICH and Intel MPI (hydra) set PMI_RANK/PMI_SIZE, Open MPI OMPI_COMM_WORLD_*,
                              PMIx launchers PMIX_RANK, MVAPICH MV2_COMM_WORLD_*: the wire is MPI's COMM_WORLD.
    torchrun and the like     RANK / WORLD_SIZE / LOCAL_RANK: these say how many processes exist, not how to
                              reach them, so ember still needs an MPI job around them (see collectives.init).
    nothing                   a world of one process; MPI is never imported.
"""
import dataclasses

# (rank variable, size variable, local-rank variable) of each MPI family, most common first
MPI_VARIABLES = (
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_LOCAL_RANK"),
)


@dataclasses.dataclass(frozen=True)
class Launch:
    """launcher: "mpi", "env" (RANK/WORLD_SIZE) or None; rank/size/local_rank as the environment tells them
    (size None when an MPI launcher does not say it: COMM_WORLD will)."""

    launcher: object
    rank: int = 0
    size: object = 1
    local_rank: int = 0
    source: str = ""


def _int(environ, name, default=None):
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"ember.distributed: environment variable {name}={value!r} is not an integer") from None


def detect(environ):
    """The Launch that `environ` (a mapping such as os.environ) describes."""
    for rank_name, size_name, local_name in MPI_VARIABLES:
        if rank_name in environ:
            return Launch("mpi", _int(environ, rank_name), _int(environ, size_name),
                          _int(environ, local_name, 0), source=rank_name)
    if "RANK" in environ or "WORLD_SIZE" in environ:
        missing = [name for name in ("RANK", "WORLD_SIZE") if name not in environ]
        if missing:
            raise ValueError(f"ember.distributed: RANK and WORLD_SIZE must be set together; "
                             f"{missing[0]} is missing")
        rank, size = _int(environ, "RANK"), _int(environ, "WORLD_SIZE")
        if size < 1 or not 0 <= rank < size:
            raise ValueError(f"ember.distributed: expected 0 <= RANK < WORLD_SIZE; received RANK={rank}, "
                             f"WORLD_SIZE={size}")
        return Launch("env", rank, size, _int(environ, "LOCAL_RANK", 0), source="RANK/WORLD_SIZE")
    return Launch(None)
