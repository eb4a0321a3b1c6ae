"""The tensor API: creation, dtypes, attributes, conversions (NumPy, DLPack), Python protocols, backends.

Per-op numerics live in the op table (tests/test_ops.py); here each test pins one behaviour a user relies on.
"""
import numpy as np
import pytest

import ember
from ember import backend as backends


# -- ember.tensor: dtypes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [1.5, [1.0, 2.0], [[1.0], [2.0]], np.array([1.0, 2.0]), np.float64(3.0)],
                         ids=["float", "list", "nested", "float64_array", "float64_scalar"])
def test_floating_data_defaults_to_float32(data):
    assert ember.tensor(data).dtype == np.float32


@pytest.mark.parametrize("data", [3, [1, 2], np.array([1, 2], dtype=np.int64)], ids=["int", "list", "array"])
def test_integer_data_stays_int64(data):
    assert ember.tensor(data).dtype == np.int64


def test_bool_data_stays_bool():
    assert ember.tensor([True, False]).dtype == np.bool_


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype("float64"), ember.float64])
def test_dtype_given_as_numpy_dtype_or_its_name(dtype):
    t = ember.tensor([1, 2], dtype=dtype)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_explicit_dtype_overrides_the_float32_default():
    assert ember.tensor(np.array([1.0]), dtype="float64").dtype == np.float64
    assert ember.tensor([1.7, 2.2], dtype="int32").dtype == np.int32


def test_invalid_dtype_raises_type_error():
    with pytest.raises(TypeError, match="dtype"):
        ember.tensor([1.0], dtype="not_a_dtype")


def test_string_data_raises_type_error():
    with pytest.raises(TypeError):
        ember.tensor(["a", "b"])


def test_tensor_copies_its_input():
    source = np.array([1.0, 2.0], dtype=np.float32)
    t = ember.tensor(source)
    source[0] = 99.0
    assert t.numpy()[0] == 1.0


def test_requires_grad_on_an_integer_tensor_raises_type_error():
    with pytest.raises(TypeError):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        ember.tensor([1, 2]).requires_grad = True


def test_requires_grad_on_a_bool_tensor_raises_type_error():
    with pytest.raises(TypeError):
        ember.tensor([True], requires_grad=True)


# -- creation functions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, value", [(ember.zeros, 0.0), (ember.ones, 1.0)])
def test_zeros_and_ones_take_varargs_or_a_tuple_and_are_float32(make, value):
    for t in (make(2, 3), make((2, 3))):
        assert t.shape == (2, 3)
        assert t.dtype == np.float32
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value))


def test_zeros_with_dtype_and_requires_grad():
    t = ember.zeros(3, dtype="float64", requires_grad=True)
    assert t.dtype == np.float64
    assert t.requires_grad


def test_negative_shape_raises_value_error():
    with pytest.raises(ValueError):
        ember.zeros(2, -1)


def test_full_fills_with_the_value_and_infers_dtype():
    t = ember.full((2, 2), 7.5)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 7.5))
    assert ember.full((3,), 4).dtype == np.int64
    assert ember.full(3, 4.0, dtype="float64").dtype == np.float64


def test_arange_matches_numpy_with_int64_for_ints_and_float32_for_floats():
    t = ember.arange(5)
    assert t.dtype == np.int64
    np.testing.assert_array_equal(t.numpy(), np.arange(5))
    f = ember.arange(0.0, 1.0, 0.25)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(ember.arange(2, 8, 3).numpy(), [2, 5])


def test_rand_is_float32_uniform_on_zero_one():
    t = ember.rand(1000)
    assert t.dtype == np.float32 and t.shape == (1000,)
    values = t.numpy()
    assert values.min() >= 0.0 and values.max() < 1.0
    assert 0.4 < values.mean() < 0.6


def test_randn_is_float32_standard_normal():
    ember.manual_seed(0)
    values = ember.randn(100, 100).numpy()
    assert values.dtype == np.float32
    assert abs(values.mean()) < 0.05
    assert abs(values.std() - 1.0) < 0.05


@pytest.mark.parametrize("make", [ember.rand, ember.randn])
def test_manual_seed_makes_random_tensors_repeatable(make):
    ember.manual_seed(123)
    first = make(4, 5).numpy()
    ember.manual_seed(123)
    second = make(4, 5).numpy()
    ember.manual_seed(124)
    other = make(4, 5).numpy()
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_manual_seed_makes_dropout_masks_repeatable():
    x = ember.ones(1000)
    ember.manual_seed(7)
    first = ember.ops.dropout(x, 0.5).numpy()
    ember.manual_seed(7)
    second = ember.ops.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1 / (1 - rate)


def test_manual_seed_rejects_negative_seed():
    with pytest.raises(ValueError):
        ember.manual_seed(-1)


def test_zeros_like_and_ones_like_keep_shape_and_dtype():
    ints = ember.tensor([[1, 2, 3]])
    doubles = ember.tensor([1.0, 2.0], dtype="float64")
    assert ember.zeros_like(ints).dtype == np.int64
    np.testing.assert_array_equal(ember.zeros_like(ints).numpy(), [[0, 0, 0]])
    assert ember.ones_like(doubles).dtype == np.float64
    np.testing.assert_array_equal(ember.ones_like(doubles).numpy(), [1.0, 1.0])


def test_like_functions_accept_a_dtype_override():
    t = ember.tensor([1.0, 2.0])
    assert ember.zeros_like(t, dtype="float64").dtype == np.float64
    assert ember.full_like(t, 3, dtype="int32").dtype == np.int32


def test_full_like_fills_with_the_value():
    t = ember.full_like(ember.zeros(2, 3), 2.5)
    assert t.shape == (2, 3) and t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), 2.5))


def test_randn_like_keeps_shape_and_dtype_and_follows_the_seed():
    t = ember.zeros(3, 4, dtype="float64")
    ember.manual_seed(5)
    first = ember.randn_like(t)
    ember.manual_seed(5)
    second = ember.randn_like(t)
    assert first.shape == (3, 4) and first.dtype == np.float64
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_created_tensors_do_not_require_grad_by_default():
    for t in (ember.tensor([1.0]), ember.zeros(2), ember.ones(2), ember.rand(2), ember.randn(2), ember.full(2, 1.0)):
        assert t.requires_grad is False


# -- attributes -------------------------------------------------------------------------------------------------
def test_attributes_of_a_new_tensor():
    t = ember.tensor(np.zeros((2, 3, 4)), requires_grad=True)
    assert t.shape == (2, 3, 4)
    assert isinstance(t.shape, tuple)
    assert t.ndim == 3
    assert t.dtype == np.float32
    assert t.device == "cpu"
    assert t.requires_grad is True
    assert t.grad is None


def test_zero_dim_tensor_has_empty_shape():
    t = ember.tensor(2.0)
    assert t.shape == () and t.ndim == 0


# -- conversions ------------------------------------------------------------------------------------------------
def test_numpy_returns_the_values_as_an_ndarray():
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    array = t.numpy()
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, [[1.0, 2.0], [3.0, 4.0]])


def test_np_asarray_of_a_tensor():
    t = ember.tensor([1, 2, 3])
    array = np.asarray(t)
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.int64
    np.testing.assert_array_equal(array, [1, 2, 3])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_item_returns_a_python_scalar():
    value = ember.tensor([[2.5]]).item()
    assert type(value) is float and value == 2.5
    assert type(ember.tensor(3).item()) is int


def test_item_of_a_multi_element_tensor_raises_value_error():
    with pytest.raises(ValueError):
        ember.tensor([1.0, 2.0]).item()


def test_detach_shares_storage_and_drops_the_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.requires_grad is False and d.is_leaf
    d[0] = 100.0  # d does not require grad: assignment is in place, into y's storage
    assert y.numpy()[0] == 100.0


def test_to_cpu_keeps_the_values():
    t = ember.tensor([1.0, 2.0])
    moved = t.to("cpu")
    assert moved.device == "cpu"
    np.testing.assert_array_equal(moved.numpy(), t.numpy())


def test_to_an_invalid_device_raises_value_error():
    with pytest.raises(ValueError):
        ember.tensor([1.0]).to("tpu")


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.float16, "int32"])
def test_to_dtype_converts(dtype):
    t = ember.tensor([1.0, 2.0]).to(dtype=dtype)
    assert t.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), [1, 2])


def test_data_setter_replaces_values_in_place_keeping_dtype():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    p.data = np.array([3.0, 4.0])  # float64 values are stored as the tensor's float32
    assert p.dtype == np.float32 and p.requires_grad and p.is_leaf
    np.testing.assert_array_equal(p.numpy(), [3.0, 4.0])


def test_data_setter_rejects_a_new_shape():
    p = ember.tensor([1.0, 2.0])
    with pytest.raises(ValueError):
        p.data = np.zeros(3)


# -- DLPack -----------------------------------------------------------------------------------------------------
def test_numpy_from_dlpack_shares_memory_with_the_tensor():
    t = ember.tensor([1.0, 2.0, 3.0])
    array = np.from_dlpack(t)
    np.testing.assert_array_equal(array, [1.0, 2.0, 3.0])
    t[1] = 20.0
    assert array[1] == 20.0


def test_ember_from_dlpack_of_numpy_shares_memory_and_keeps_dtype():
    array = np.arange(4.0)
    t = ember.from_dlpack(array)
    assert t.dtype == np.float64 and t.shape == (4,)
    array[0] = -1.0
    assert t.numpy()[0] == -1.0


def test_dlpack_round_trip_through_numpy():
    t = ember.tensor([[1, 2], [3, 4]], dtype="int32")
    back = ember.from_dlpack(np.from_dlpack(t))
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back.numpy(), t.numpy())


def test_dlpack_round_trip_through_torch():
    torch = pytest.importorskip("torch")
    t = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    as_torch = torch.from_dlpack(t)
    assert as_torch.dtype == torch.float32
    np.testing.assert_array_equal(as_torch.numpy(), t.numpy())
    as_torch[0, 0] = 10.0  # shared memory: the write shows through
    assert t.numpy()[0, 0] == 10.0
    back = ember.from_dlpack(torch.arange(3, dtype=torch.float64))
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back.numpy(), [0.0, 1.0, 2.0])


# -- NumPy interplay and Python protocols -----------------------------------------------------------------------
def test_tensor_opts_out_of_numpy_ufuncs():
    assert ember.Tensor.__array_ufunc__ is None


@pytest.mark.parametrize("apply", [lambda a, t: a + t, lambda a, t: a * t, lambda a, t: a - t],
                         ids=["add", "multiply", "subtract"])
def test_ndarray_op_tensor_returns_a_tensor(apply):
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = ember.tensor([10.0, 20.0])
    out = apply(a, t)
    assert isinstance(out, ember.Tensor)
    np.testing.assert_array_equal(out.numpy(), apply(a, t.numpy()))


def test_ndarray_plus_tensor_records_the_gradient():
    t = ember.tensor([1.0, 2.0], requires_grad=True)
    (np.array([5.0, 6.0]) + t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0])


def test_repr_shows_values_and_dtype():
    text = repr(ember.tensor([1.5, 2.5]))
    assert text.startswith("tensor(")
    assert "1.5" in text and "2.5" in text
    assert "float32" in text


def test_repr_shows_requires_grad_on_leaves_and_the_op_on_results():
    x = ember.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn" in repr(x * 2)
    assert "requires_grad" not in repr(ember.tensor([1.0]))


def test_len_is_the_first_dimension():
    assert len(ember.zeros(4, 2)) == 4


def test_len_of_a_zero_dim_tensor_raises_type_error():
    with pytest.raises(TypeError):
        len(ember.tensor(1.0))


def test_iteration_yields_the_rows_as_tensors():
    rows = list(ember.tensor([[1, 2], [3, 4], [5, 6]]))
    assert len(rows) == 3
    assert all(isinstance(r, ember.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[2].numpy(), [5, 6])


def test_bool_of_a_single_element_tensor():
    assert bool(ember.tensor([1.0])) is True
    assert bool(ember.tensor(0.0)) is False


def test_bool_of_a_multi_element_tensor_raises():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(ember.tensor([1.0, 2.0]))
    with pytest.raises(ValueError):
        if ember.tensor([1.0, 2.0]) > 0:
            pass


def test_float_and_int_of_a_single_element_tensor():
    assert float(ember.tensor([2.5])) == 2.5
    assert int(ember.tensor(7)) == 7


def test_tensors_hash_by_identity():
    a, b = ember.tensor([1.0]), ember.tensor([1.0])
    assert len({a, b}) == 2


# -- backend switching ------------------------------------------------------------------------------------------
@pytest.fixture
def restore_backend():
    previous = ember.get_backend()
    yield
    ember.set_backend(previous)


@pytest.fixture
def two_backends(monkeypatch, restore_backend):
    """Two distinct backend names to switch between: the real pair when the native module is built, otherwise
    the reference registered a second time under another name (so that "restored" is observable without _C)."""
    if backends.native_available():
        return "cpu", "reference"
    monkeypatch.setattr(backends, "_NAMES", backends._NAMES + ("reference_alias",))
    monkeypatch.setitem(backends._loaded, "reference_alias", backends.get("reference"))
    return "reference_alias", "reference"


def test_default_backend_is_a_known_name():
    assert ember.get_backend() in ("reference", "cpu")


def test_set_backend_changes_get_backend(restore_backend):
    ember.set_backend("reference")
    assert ember.get_backend() == "reference"


def test_unknown_backend_raises_value_error_listing_the_known_ones(restore_backend):
    before = ember.get_backend()
    with pytest.raises(ValueError) as info:
        ember.set_backend("tpu")
    message = str(info.value)
    assert "tpu" in message and "reference" in message and "cpu" in message
    assert ember.get_backend() == before


def test_use_backend_switches_inside_and_restores_after(two_backends):
    outer, inner = two_backends
    ember.set_backend(outer)
    with ember.use_backend(inner):
        assert ember.get_backend() == inner
    assert ember.get_backend() == outer


def test_use_backend_restores_after_an_exception(two_backends):
    outer, inner = two_backends
    ember.set_backend(outer)
    with pytest.raises(KeyError):
        with ember.use_backend(inner):
            raise KeyError("boom")
    assert ember.get_backend() == outer


def test_use_backend_with_an_unknown_name_raises_and_keeps_the_current(restore_backend):
    before = ember.get_backend()
    with pytest.raises(ValueError):
        with ember.use_backend("tpu"):
            pass
    assert ember.get_backend() == before


def test_ops_run_on_the_selected_backend(monkeypatch, restore_backend):
    reference = backends.get("reference")
    calls = []

    def spy(a, b):
        calls.append((a.shape, b.shape))
        return np.matmul(a, b)

    monkeypatch.setattr(reference, "matmul", spy)
    with ember.use_backend("reference"):
        ember.ones(2, 3) @ ember.ones(3, 4)
    assert calls == [((2, 3), (3, 4))]
