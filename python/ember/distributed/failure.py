"""Ending the whole job when one rank fails, instead of leaving the others blocked in a collective.

Three ways a rank can fail, and what ends the job:
- it raises and nobody catches it: the excepthook installed by `init` prints the traceback, then MPI_Abort;
- it dies (killed, segfault): the launcher (mpiexec) sees it and kills the other ranks;
- it hangs or skips a collective: the others' collectives time out (`init(timeout=...)`,
  EMBER_DIST_TIMEOUT) and abort.
MPI_Abort makes the launcher exit non-zero. MPICH's Abort may return before the launcher has killed the
process, so `abort_job` exits at once after it: nothing of the failed program runs on.
"""
import os
import sys
import time
import traceback

EXIT_CODE = 1
# MPI_Abort tears the launcher's output forwarding down at once: without a pause, the message just written
# (and the traceback before it) is sometimes lost (about one run in six with MPICH's hydra).
FORWARD_SECONDS = 0.3


class DistributedTimeout(RuntimeError):
    """A collective did not complete within the timeout (raised only where no MPI job is there to abort)."""


def abort_job(comm, message, exit_code=EXIT_CODE):
    """Print `message` (prefixed with the op's package) on stderr, then end every rank of `comm`'s job."""
    sys.stdout.flush()
    sys.stderr.write(f"ember.distributed: {message}\n")
    sys.stderr.flush()
    if comm is None:
        raise DistributedTimeout(message)
    time.sleep(FORWARD_SECONDS)
    comm.Abort(exit_code)
    os._exit(exit_code)


def install_excepthook(comm, rank, size):
    """Make an uncaught exception on this rank abort all `size` ranks (after the usual traceback)."""
    previous = sys.excepthook

    def abort_on_uncaught(kind, value, tb):
        try:
            previous(kind, value, tb)
        except Exception:  # a broken hook must not keep the job alive
            traceback.print_exception(kind, value, tb)
        abort_job(comm, f"rank {rank} of {size} raised an uncaught {kind.__name__}: {value}. "
                        f"Ending all {size} ranks (MPI_Abort).")

    sys.excepthook = abort_on_uncaught
    return previous
