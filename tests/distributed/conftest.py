"""The `mpi_job` fixture: rank_program.py under mpiexec, skipped (saying why) without mpi4py or mpiexec."""
import importlib.util
import sys

import pytest
from mpi_jobs import PROGRAM, clean_environment, find_mpiexec, run_job


@pytest.fixture(scope="session")
def mpi_job():
    """`mpi_job(scenario, *args, ranks=2, timeout=60, **env)`: rank_program.py SCENARIO ARGS under mpiexec;
    with `program=None`, the first argument is the script to run."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'ember[distributed]')")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec: neither beside this Python (the mpich wheel) nor on PATH")

    def run(*args, ranks=2, timeout=60, program=PROGRAM, **env):
        script = [str(program)] if program else []
        command = [mpiexec, "-n", str(ranks), sys.executable, *script, *map(str, args)]
        return run_job(command, clean_environment(**env), timeout)

    return run
