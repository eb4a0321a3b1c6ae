"""Two CPU ranks on this machine under mpiexec (rank_program.py): data-parallel training equals one process on
the full batches, ranks stay identical, and a rank that raises, dies or hangs ends the whole job."""
import pathlib
import sys

import pytest
from mpi_jobs import clean_environment, result_of, run_job

TOLERANCE = 1e-12  # float64: the only difference is the order of a few sums


@pytest.fixture(scope="module")
def equivalence(mpi_job, tmp_path_factory):
    job = mpi_job("equivalence", tmp_path_factory.mktemp("checkpoints"))
    return job, result_of(job)


@pytest.mark.parametrize("batch", ["batch8", "batch7"])  # 8: parts 4 + 4; 7: parts 4 + 3 (weighted average)
def test_fit_on_two_ranks_gives_the_weights_of_one_process_on_the_full_batches(equivalence, batch):
    _, result = equivalence
    assert result["world_size"] == 2 and result["ranks_seen"] == [0, 1]
    assert result["fit"][batch]["max_weight_difference"] <= TOLERANCE


@pytest.mark.parametrize("batch", ["batch8", "batch7"])
def test_fit_logs_are_the_losses_and_metrics_over_all_ranks(equivalence, batch):
    _, result = equivalence
    fit = result["fit"][batch]
    assert fit["log_keys"] == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert fit["max_log_difference"] <= TOLERANCE
    assert fit["histories_identical"]


def test_ranks_hold_identical_weights_after_fit(equivalence):
    _, result = equivalence
    assert result["fit"]["batch8"]["ranks_identical"] and result["fit"]["batch7"]["ranks_identical"]
    assert result["fit"]["batch_norm_ranks_identical"]  # moving statistics averaged over the ranks


def test_model_checkpoint_written_by_rank_zero_loads_on_every_rank(equivalence):
    _, result = equivalence
    assert result["fit"]["batch8"]["checkpoint_matches"] and result["fit"]["batch7"]["checkpoint_matches"]


def test_only_rank_zero_prints_the_progress(equivalence):
    job, _ = equivalence
    assert job.stdout.count("Epoch 1/3") == 2  # two verbose fits, printed by one rank each


def test_distributed_data_parallel_on_two_ranks_matches_one_process(equivalence):
    _, result = equivalence
    assert result["ddp"]["max_weight_difference"] <= TOLERANCE
    assert result["ddp"]["ranks_identical"]


@pytest.fixture(scope="module")
def collectives(mpi_job):
    return result_of(mpi_job("collectives"))


def test_collectives_on_two_ranks(collectives):
    result = collectives
    assert result["sum"] == [3.0, 17.0] and result["mean"] == [1.5, 8.5]
    assert result["max"] == [2.0, 10.0] and result["min"] == [1.0, 7.0] and result["prod"] == [2.0, 70.0]
    assert result["scalar_sum"] == 5.0
    assert result["strided_sum"] == [[1.0, 7.0], [3.0, 9.0], [5.0, 11.0]]
    assert result["int_max"] == [1, 5]
    assert result["broadcast_from_1"] == [1.0, 1.0]
    assert result["all_gather"] == [[[0.0, 0.5]], [[1.0, 1.5]]]


def test_a_save_that_fails_on_rank_zero_raises_on_every_rank(collectives):
    rank0, rank1 = collectives["failed_save"]
    assert rank0.startswith("FileNotFoundError")  # rank 0's own error
    assert rank1.startswith("RuntimeError: ember.distributed: save_weights failed on rank 0")


def test_an_exception_on_one_rank_ends_the_whole_job(mpi_job):
    job = mpi_job("raise", timeout=30)
    assert job.returncode != 0
    assert "rank 1 fails on purpose" in job.stderr
    assert "rank 1 of 2 raised an uncaught ValueError" in job.stderr
    assert "RESULT" not in job.stdout


def test_a_killed_rank_ends_the_whole_job(mpi_job):
    job = mpi_job("kill", timeout=30)
    assert job.returncode != 0
    assert "RESULT" not in job.stdout


def test_a_hanging_rank_makes_the_others_time_out_and_end_the_job(mpi_job):
    job = mpi_job("hang", timeout=30, EMBER_DIST_TIMEOUT="2")  # rank 1 sleeps 120 s: the timeout ends it
    assert job.returncode != 0
    assert "on rank 0 of 2 did not complete within 2 s" in job.stderr


def test_torchrun_style_variables_without_an_mpi_job_raise_a_clear_error(mpi_job):
    code = "import ember; ember.distributed.init()"
    job = run_job([sys.executable, "-c", code], clean_environment(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1"), 60)
    assert job.returncode != 0
    assert "RANK=1 and WORLD_SIZE=2 are set" in job.stderr and "mpiexec -n 2" in job.stderr


def test_distributed_digits_example_learns_on_two_ranks(mpi_job):
    pytest.importorskip("sklearn")
    example = pathlib.Path(__file__).resolve().parents[2] / "examples" / "distributed_digits.py"
    job = mpi_job(example, "--epochs", 6, "--verbose", 0, program=None, timeout=120)
    assert job.returncode == 0, job.stderr
    lines = [line for line in job.stdout.splitlines() if line.startswith("test accuracy")]
    assert len(lines) == 1  # printed by rank 0 only
    assert float(lines[0].split()[2]) >= 0.9  # 6 epochs; the full 40 reach the one-process 0.98-0.99
