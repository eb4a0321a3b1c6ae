"""ember.distributed in a world of one process (no launcher, no MPI): the API, its errors, and that distributed
training with one rank is exactly ordinary training."""
import sys

import numpy as np
import pytest

import ember
from ember import distributed as dist
from ember import layers
from ember.distributed import launch
from ember.distributed.buckets import GradientBuckets
from mpi_jobs import LAUNCHER_VARIABLES


@pytest.fixture(autouse=True)
def world_of_one(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    dist.shutdown()
    yield
    dist.shutdown()


# -- the launcher, from the environment ---------------------------------------------------------------------------
def test_no_launcher_is_a_world_of_one():
    assert launch.detect({}) == launch.Launch(None)


@pytest.mark.parametrize("environ, source", [
    ({"PMI_RANK": "1", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1"}, "PMI_RANK"),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     "OMPI_COMM_WORLD_RANK"),
])
def test_mpi_launchers_are_recognized(environ, source):
    assert launch.detect(environ) == launch.Launch("mpi", 1, 4, 1, source)


def test_torchrun_variables_are_recognized():
    found = launch.detect({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (found.launcher, found.rank, found.size, found.local_rank) == ("env", 3, 4, 1)


@pytest.mark.parametrize("environ, message", [
    ({"RANK": "0"}, "WORLD_SIZE is missing"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
])
def test_bad_launcher_variables_are_refused(environ, message):
    with pytest.raises(ValueError, match=message):
        launch.detect(environ)


def test_world_size_one_from_rank_variables_needs_no_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # importing it would fail
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    dist.init()
    assert dist.group().name == "local" and dist.world_size() == 1


@pytest.mark.parametrize("variables, message", [
    ({"PMI_RANK": "0", "PMI_SIZE": "2"}, r"started by an MPI launcher \(PMI_RANK is set\), but mpi4py is not"),
    ({"RANK": "0", "WORLD_SIZE": "2"}, "RANK/WORLD_SIZE say this job has 2 processes"),
])
def test_several_ranks_without_mpi4py_raise_with_the_install_command(monkeypatch, variables, message):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message) as error:
        dist.init()
    assert "pip install 'ember[distributed]'" in str(error.value)
    assert not dist.is_initialized()


# -- the process group ----------------------------------------------------------------------------------------------
def test_not_initialized_is_rank_zero_of_one():
    assert not dist.is_initialized()
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    with pytest.raises(RuntimeError, match="call ember.distributed.init"):
        dist.barrier()


def test_init_without_launcher_never_loads_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    dist.init()
    dist.init()  # idempotent
    assert dist.is_initialized() and dist.group().name == "local"
    assert (dist.rank(), dist.world_size()) == (0, 1)
    dist.barrier()


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": 0}, "Expected a positive number of seconds. Received: timeout=0"),
    ({"timeout": "soon"}, "Received: timeout='soon'"),
    ({"backend": "gloo"}, r"Expected one of \['auto', 'mpi', 'nccl'\]. Received: backend='gloo'"),
])
def test_bad_init_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dist.init(**kwargs)


def test_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("EMBER_DIST_TIMEOUT", "7.5")
    dist.init()
    assert dist.group().timeout == 7.5
    dist.init(timeout=3)
    assert dist.group().timeout == 3.0
    dist.shutdown()
    monkeypatch.setenv("EMBER_DIST_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="EMBER_DIST_TIMEOUT"):
        dist.init()


# -- collectives ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "mean", "avg", "max", "min", "prod"])
def test_all_reduce_of_one_rank_is_the_tensor_itself(op):
    dist.init()
    t = ember.tensor([1.5, -2.0, 3.0])
    assert dist.all_reduce(t, op) is t
    np.testing.assert_array_equal(t.numpy(), np.float32([1.5, -2.0, 3.0]))


def test_all_reduce_makes_a_strided_or_read_only_tensor_contiguous_in_place():
    dist.init()
    t = ember.Tensor(np.arange(6.0).reshape(2, 3).T)
    dist.all_reduce(t)
    assert t.numpy().flags.c_contiguous
    read_only = np.arange(3.0)
    read_only.flags.writeable = False
    r = ember.Tensor(read_only, dtype="float64")
    dist.all_reduce(r)
    np.testing.assert_array_equal(r.numpy(), [0.0, 1.0, 2.0])


@pytest.mark.parametrize("call, error, message", [
    (lambda: dist.all_reduce(ember.tensor([1.0]), "median"), ValueError, r"Expected one of \['sum'"),
    (lambda: dist.all_reduce(ember.tensor([1, 2]), "mean"), TypeError, "op='mean' needs a floating tensor"),
    (lambda: dist.all_reduce(ember.tensor([True]), "sum"), TypeError, "needs a numeric tensor; this one is bool"),
    (lambda: dist.all_reduce(np.ones(2)), TypeError, "all_reduce: expected an ember Tensor. Received: ndarray"),
    (lambda: dist.broadcast(ember.tensor([1.0]), root=1), ValueError, r"Expected a rank in \[0, 1\)"),
    (lambda: dist.all_gather([1.0]), TypeError, "all_gather: expected an ember Tensor"),
])
def test_bad_collective_calls_are_refused(call, error, message):
    dist.init()
    with pytest.raises(error, match=message):
        call()


def test_broadcast_and_all_gather_of_one_rank():
    dist.init()
    t = ember.tensor([[1.0, 2.0]])
    assert dist.broadcast(t, root=0) is t
    gathered = dist.all_gather(t)
    assert len(gathered) == 1 and gathered[0] is not t
    np.testing.assert_array_equal(gathered[0].numpy(), t.numpy())


def test_communication_stats_count_the_collectives():
    dist.init()
    dist.reset_communication_stats()
    dist.barrier()
    dist.all_reduce(ember.tensor([1.0]))
    stats = dist.communication_stats()
    assert stats["calls"] == 2 and stats["seconds"] >= 0.0


def test_gpu_tensors_without_cupy_get_the_install_command(monkeypatch):
    from ember.distributed import nccl

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match=r"NCCL through CuPy, which is not installed.*ember\[cuda\]"):
        nccl._load_cupy()


# -- gradient buckets and DistributedDataParallel -------------------------------------------------------------------
def test_buckets_split_by_size_and_scale_gradients_by_the_share():
    dist.init()
    params = [ember.tensor(np.ones(n), dtype="float64", requires_grad=True) for n in (3, 5, 2)]
    for i, p in enumerate(params[:2]):
        p.grad = ember.tensor(np.full(p.shape, i + 1.0), dtype="float64")
    buckets = GradientBuckets(params, bucket_bytes=48)  # 6 float64 a bucket: [2], [5], [3]
    assert [len(b.params) for b in buckets.buckets] == [1, 1, 1]
    extras = buckets.reduce(0.5, extras=(4.0,))
    assert extras.tolist() == [2.0]
    np.testing.assert_array_equal(params[0].grad.numpy(), np.full(3, 0.5))
    np.testing.assert_array_equal(params[1].grad.numpy(), np.full(5, 1.0))
    assert params[2].grad is None  # no rank had a gradient: it stays None (the optimizer skips it)


def test_buckets_hold_one_dtype_each():
    params = [ember.tensor(np.ones(2), dtype=d, requires_grad=True) for d in ("float32", "float32", "float64")]
    assert [len(b.params) for b in GradientBuckets(params).buckets] == [1, 2]  # reversed: float64 first


def test_buckets_refuse_a_gradient_of_the_wrong_shape():
    dist.init()
    p = ember.Tensor(np.ones(3), requires_grad=True, name="w")
    p.grad = ember.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"parameter w of shape \(3,\) has a gradient of shape \(4,\)"):
        GradientBuckets([p]).reduce(1.0)


def small_model():
    return ember.Sequential([ember.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])


def test_distributed_data_parallel_of_one_rank_trains_exactly_as_without_it():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    runs = []
    for wrap in (False, True):
        ember.manual_seed(0)
        model = small_model()
        net = dist.DistributedDataParallel(model, bucket_cap_mb=0.0001) if wrap else model
        optimizer = ember.optimizers.Adam(net.parameters(), learning_rate=0.01)
        for _ in range(3):
            loss = ember.losses.mean_squared_error(y, net(x, training=True)).mean()
            net.backward(loss) if wrap else loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_distributed_data_parallel_builds_a_model_on_its_first_call():
    model = ember.Sequential([layers.Dense(3)])  # no Input: no weights until called
    ddp = dist.DistributedDataParallel(model)
    out = ddp(np.ones((2, 5), np.float32), training=True)
    assert out.shape == (2, 3) and ddp.count_params() == 18  # attributes fall through to the model


def test_distributed_data_parallel_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match="expected a model"):
        dist.DistributedDataParallel([1, 2])


# -- fit(distributed=True) ---------------------------------------------------------------------------------------------
def fitted(distributed, tmp_path=None):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)).astype("float32"), rng.integers(0, 2, size=(30, 1))
    ember.manual_seed(0)
    model = ember.Sequential([ember.Input((4,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                              layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0, distributed=distributed)
    return model, history


def test_fit_distributed_with_one_rank_is_exactly_fit():
    plain, plain_history = fitted(False)
    one, one_history = fitted(True)
    assert one_history.history == plain_history.history
    for a, b in zip(plain.get_weights(), one.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert one._distributed is None  # the hooks are off again after fit


def test_fit_distributed_refuses_an_iterable_of_batches():
    model = small_model()
    model.compile("sgd", "mse")
    batches = ember.data.DataLoader(np.ones((4, 4), np.float32), np.ones((4, 1), np.float32), batch_size=2)
    with pytest.raises(ValueError, match=r"fit\(distributed=True\): `x` and `y` must be arrays"):
        model.fit(batches, distributed=True, verbose=0)


def test_rank_zero_writes_runs_the_write_in_a_world_of_one():
    assert dist.rank_zero_writes("save", lambda: 42) == 42


def test_other_ranks_neither_print_nor_write_csv(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(dist, "rank", lambda: 1)
    model = small_model()
    model.compile("sgd", "mse")
    log = tmp_path / "log.csv"
    callbacks = [ember.callbacks.CSVLogger(log), ember.callbacks.TerminateOnNaN()]
    model.fit(np.full((4, 4), np.nan, np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0,
              callbacks=callbacks)
    assert not log.exists()
    assert capsys.readouterr().out == ""


def test_fit_distributed_refuses_a_train_step_that_does_not_average_gradients():
    class OwnStep(ember.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs, training=None):
            return self.dense(inputs)

        def train_step(self, x, y):  # forgets self._distributed.sync_gradients
            loss = self.compute_loss(y, self(x, training=True))
            loss.backward()
            self.optimizer.step(self.trainable_weights)
            return float(loss.item())

    model = OwnStep()
    model.compile("sgd", "mse")
    with pytest.raises(RuntimeError, match="did not average the gradients"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), batch_size=2, verbose=0,
                  distributed=True)


def test_fit_distributed_refuses_x_and_y_of_different_lengths():
    model = small_model()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="`x` has 4 samples but `y` has 3"):
        model.fit(np.ones((4, 4), np.float32), np.ones((3, 1), np.float32), verbose=0, distributed=True)


def test_nccl_path_with_one_gpu_reduces_broadcasts_and_gathers_on_the_device():
    if not ember.cuda.is_available():  # CuPy may be installed without a driver: getDeviceCount would raise
        pytest.skip(f"the NCCL path needs a GPU (not on CPU-only CI): {ember.cuda.why_unavailable()}")
    import cupy
    dist.init(backend="nccl")
    t = ember.Tensor(cupy.arange(4, dtype=cupy.float32))
    assert dist.all_reduce(t, "mean") is t and t.device == "cuda:0"
    dist.broadcast(t, root=0)
    gathered = dist.all_gather(t)
    dist.barrier()
    np.testing.assert_array_equal(gathered[0].numpy(), np.arange(4, dtype=np.float32))
    assert dist.group_for(t._data).name == "nccl"
