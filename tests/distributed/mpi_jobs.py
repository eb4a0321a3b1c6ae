"""Starting MPI jobs from the tests: the `mpiexec` of the mpich wheel (next to the Python that runs the tests),
else one on PATH. The `mpi_job` fixture (conftest.py) skips, saying why, when mpi4py or mpiexec is missing."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

PROGRAM = pathlib.Path(__file__).resolve().parent / "rank_program.py"
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK",
                      "RANK", "WORLD_SIZE", "LOCAL_RANK", "EMBER_DIST_TIMEOUT")


def find_mpiexec():
    beside_python = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


def clean_environment(**extra):
    """This environment without launcher variables (as a fresh shell would have), one thread per rank."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def run_job(command, env, timeout):
    """Run `command` in its own session; past `timeout` kill the whole job (launcher and ranks) and fail."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{' '.join(command)} was still running after {timeout} s")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def result_of(job):
    """The `RESULT {json}` line rank 0 printed; fails with the job's output when there is none."""
    for line in job.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    pytest.fail(f"no RESULT line (exit code {job.returncode})\nstdout:\n{job.stdout}\nstderr:\n{job.stderr}")
