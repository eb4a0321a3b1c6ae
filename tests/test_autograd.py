"""Autograd semantics: backward, accumulation, graph lifetime, grad mode, graph shapes, dtypes, indexing.

Gradients here are checked against hand computations on small graphs; per-op gradchecks live in the op table.
"""
import numpy as np
import pytest

import ember


def leaf(values, dtype="float32"):
    return ember.tensor(values, dtype=dtype, requires_grad=True)


def grad_of(t):
    assert t.grad is not None, "expected a gradient, found none"
    return t.grad.numpy()


# -- backward ---------------------------------------------------------------------------------------------------
def test_backward_of_a_scalar_fills_grad_of_the_leaves():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0, 6.0])


def test_grad_is_a_tensor_of_the_leafs_shape():
    w = leaf(np.ones((3, 2)))
    (w * 3.0).sum().backward()
    assert isinstance(w.grad, ember.Tensor)
    assert w.grad.shape == (3, 2)
    assert w.grad.requires_grad is False


def test_leaves_not_requiring_grad_get_no_grad():
    x = leaf([1.0, 2.0])
    c = ember.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None


def test_non_scalar_backward_without_gradient_raises_runtime_error():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError):
        y.backward()


def test_non_scalar_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(ember.tensor([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(grad_of(x), [2.0, 40.0, 600.0])


def test_explicit_gradient_may_be_an_ndarray():
    x = leaf([1.0, 2.0])
    (x * 3).backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(grad_of(x), [3.0, -3.0])


def test_explicit_gradient_of_the_wrong_shape_raises_value_error():
    y = leaf([1.0, 2.0, 3.0]) * 2
    with pytest.raises(ValueError):
        y.backward(ember.ones(2))
    with pytest.raises(ValueError):
        y.backward(ember.ones(3, 1))


def test_backward_on_a_tensor_without_a_graph_raises_runtime_error():
    with pytest.raises(RuntimeError):
        (ember.tensor([1.0, 2.0]) * 2).sum().backward()


# -- accumulation and graph lifetime ----------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0 + 2.0, 3.0 + 4.0])


def test_setting_grad_to_none_zeroes_it():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(grad_of(x), [5.0, 5.0])


def test_second_backward_through_a_freed_graph_raises_mentioning_retain_graph():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_through_a_shared_freed_subgraph_raises():
    x = leaf([1.0, 2.0])
    h = x * x
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(grad_of(x), [4.0, 8.0])


def test_the_first_backward_leaves_the_grad_even_when_the_graph_is_freed():
    x = leaf([3.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError):
        loss.backward()
    np.testing.assert_allclose(grad_of(x), [6.0])


# -- grad mode --------------------------------------------------------------------------------------------------
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with ember.no_grad():
        y = x * 2 + 1
    assert y.requires_grad is False
    assert y.is_leaf
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_restores_grad_mode_on_exit_and_on_error():
    assert ember.is_grad_enabled()
    with ember.no_grad():
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()
    with pytest.raises(KeyError):
        with ember.no_grad():
            raise KeyError("boom")
    assert ember.is_grad_enabled()


def test_enable_grad_inside_no_grad_records_again():
    x = leaf([1.0])
    with ember.no_grad():
        with ember.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_results_of_leaves_without_requires_grad_do_not_require_grad():
    y = ember.tensor([1.0]) * ember.tensor([2.0])
    assert y.requires_grad is False


def test_requires_grad_cannot_be_turned_off_on_a_non_leaf():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError):
        y.requires_grad = False


# -- graph shapes -----------------------------------------------------------------------------------------------
def test_tensor_used_twice_gets_the_summed_gradient():
    x = leaf([3.0])
    (x * x).sum().backward()  # d(x^2)/dx = 2x
    np.testing.assert_allclose(grad_of(x), [6.0])


def test_diamond_graph_sums_both_paths():
    x = leaf([1.0, 2.0])
    a = x * 2
    b = x + 1
    (a * b).sum().backward()  # d(2x (x + 1))/dx = 4x + 2
    np.testing.assert_allclose(grad_of(x), [6.0, 10.0])


def test_deep_diamond_through_a_shared_intermediate():
    x = leaf([2.0])
    h = x * x  # used by both branches
    y = h * 3 + h * h  # dy/dx = (3 + 2h) * 2x
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [(3 + 2 * 4.0) * 2 * 2.0])


def test_long_chain_does_not_hit_the_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [1.0])


@pytest.mark.parametrize("shape_a, shape_b", [((3, 1), (4,)), ((2, 3), ()), ((1, 3), (2, 1)), ((2, 3), (1, 3))])
def test_broadcast_gradients_reduce_to_each_operands_shape(shape_a, shape_b):
    a = leaf(np.ones(shape_a))
    b = leaf(np.ones(shape_b))
    (a * b).sum().backward()
    out_size = int(np.prod(np.broadcast_shapes(shape_a, shape_b)))
    assert a.grad.shape == shape_a
    assert b.grad.shape == shape_b
    # each element of an operand is used out_size / its size times, each time with gradient 1 (the other is 1)
    np.testing.assert_allclose(grad_of(a), np.full(shape_a, out_size / max(int(np.prod(shape_a)), 1)))
    np.testing.assert_allclose(grad_of(b), np.full(shape_b, out_size / max(int(np.prod(shape_b)), 1)))


def test_broadcast_gradient_weights_by_the_other_operand():
    x = leaf([[1.0], [2.0]])  # (2, 1)
    bias = leaf([10.0, 20.0, 30.0])  # (3,)
    w = ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ((x + bias) * w).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[6.0], [15.0]])
    np.testing.assert_allclose(grad_of(bias), [5.0, 7.0, 9.0])


# -- dtypes -----------------------------------------------------------------------------------------------------
def test_gradient_dtype_is_the_leafs_dtype_when_mixed_with_float64_constants():
    x = leaf([1.0, 2.0])  # float32
    c = np.array([0.5, 0.25], dtype=np.float64)
    y = x * c
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(grad_of(x), [0.5, 0.25])


def test_gradient_dtype_through_a_float64_intermediate():
    w = leaf([2.0])
    x = leaf([1.0, 2.0])
    h = x * np.float64(3.0) * np.array([1.0, 1.0])  # float64 on the way
    (h * w).sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    np.testing.assert_allclose(grad_of(w), [9.0])


def test_float64_leaf_gets_a_float64_gradient():
    x = leaf([1.0, 2.0], dtype="float64")
    (x * ember.tensor([1.0, 1.0])).sum().backward()  # mixed with a float32 tensor
    assert x.grad.dtype == np.float64


def test_to_dtype_is_differentiable_and_casts_the_gradient_back():
    x = leaf([1.0, 2.0])
    y = x.to(dtype="float64")
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(grad_of(x), [2.0, 4.0])


# -- detach and .data -------------------------------------------------------------------------------------------
def test_detach_stops_the_gradient():
    x = leaf([3.0])
    (x.detach() * x).sum().backward()  # the detached factor is a constant: d/dx = x, not 2x
    np.testing.assert_allclose(grad_of(x), [3.0])


def test_weight_update_through_data_is_not_recorded():
    p = leaf([1.0, 2.0])
    (p * p).sum().backward()
    with ember.no_grad():
        p.data = p.data - 0.5 * p.grad
    assert p.is_leaf and p.requires_grad
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    p.grad = None
    (p + 1).sum().backward()  # the old graph plays no part
    np.testing.assert_allclose(grad_of(p), [1.0, 1.0])


# -- setitem ----------------------------------------------------------------------------------------------------
def test_setitem_under_no_grad_writes_in_place_into_a_leaf_that_requires_grad():
    x = leaf([1.0, 2.0, 3.0])
    view = x.detach()
    with ember.no_grad():
        x[1] = 20.0
    assert x.is_leaf and x.requires_grad
    np.testing.assert_array_equal(x.numpy(), [1.0, 20.0, 3.0])
    np.testing.assert_array_equal(view.numpy(), [1.0, 20.0, 3.0])  # same storage: truly in place


def test_setitem_on_a_tensor_not_requiring_grad_is_in_place():
    t = ember.zeros(2, 3)
    view = t.detach()
    t[:, 1] = ember.tensor([5.0, 6.0])
    assert t.requires_grad is False
    np.testing.assert_array_equal(view.numpy(), [[0.0, 5.0, 0.0], [0.0, 6.0, 0.0]])


def test_setitem_on_a_leaf_requiring_grad_raises_runtime_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError):
        x[0] = 5.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_setitem_on_a_non_leaf_gives_gradients_to_old_values_and_assigned_value():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    v = leaf([10.0, 20.0])
    y = x * 2
    y[1:3] = v * 3
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    loss = (y * weights).sum()  # y = [2 x0, 3 v0, 3 v1, 2 x3]
    np.testing.assert_allclose(y.numpy(), [2.0, 30.0, 60.0, 8.0])
    loss.backward()
    np.testing.assert_allclose(grad_of(x), [2.0, 0.0, 0.0, 8.0])  # overwritten elements get nothing
    np.testing.assert_allclose(grad_of(v), [3.0 * 2.0, 3.0 * 3.0])


def test_setitem_with_a_broadcast_value_sums_its_gradient():
    x = leaf(np.ones((3, 2)))
    s = leaf(5.0)
    y = x * 1
    y[:, 0] = s
    weights = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    (y * weights).sum().backward()
    np.testing.assert_allclose(grad_of(s), 1.0 + 3.0 + 5.0)
    np.testing.assert_allclose(grad_of(x), [[0.0, 2.0], [0.0, 4.0], [0.0, 6.0]])


def test_setitem_of_a_value_requiring_grad_into_a_plain_tensor_builds_a_graph():
    y = ember.zeros(3)
    v = leaf([7.0])
    y[1:2] = v
    assert y.requires_grad
    (y * ember.tensor([1.0, 4.0, 9.0])).sum().backward()
    np.testing.assert_allclose(grad_of(v), [4.0])


def test_setitem_keeps_values_saved_by_earlier_ops():
    x = leaf([1.0, 2.0])
    y = x * 1
    z = y * y  # saves y's values [1, 2] for its backward
    y[0] = 100.0
    z.sum().backward()
    np.testing.assert_allclose(grad_of(x)[1], 4.0)  # 2 y1, with y1 the value z saw


def test_setitem_does_not_change_gradients_of_ops_recorded_before_it():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 1
    z = y * 3  # recorded before the assignment: depends on all of the old y
    y[0] = 0.0
    (z.sum() + y.sum()).backward()  # d/dx = 3 (through z) + [0, 1, 1] (through the new y)
    np.testing.assert_allclose(grad_of(x), [3.0, 4.0, 4.0])


# -- indexing ---------------------------------------------------------------------------------------------------
def test_basic_slice_gradient_is_scattered_into_zeros():
    x = leaf(np.arange(6.0).reshape(2, 3))
    (x[:, 1:] * 2).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[0.0, 2.0, 2.0], [0.0, 2.0, 2.0]])


def test_repeated_integer_indices_accumulate_their_gradients():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    x[[0, 2, 0, 0]].sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 0.0, 1.0, 0.0])


def test_repeated_integer_array_indices_weighted_by_the_upstream_gradient():
    x = leaf(np.zeros((3, 2)))
    rows = ember.tensor([2, 0, 2])
    picked = x[rows]  # (3, 2)
    (picked * ember.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])  # np.add.at semantics


def test_repeated_coordinate_pairs_accumulate():
    x = leaf(np.zeros((2, 2)))
    x[np.array([1, 1, 0]), np.array([0, 0, 1])].sum().backward()
    np.testing.assert_allclose(grad_of(x), [[0.0, 1.0], [2.0, 0.0]])


def test_boolean_mask_gradient_goes_to_the_selected_elements():
    x = leaf([-1.0, 2.0, -3.0, 4.0])
    selected = x[x > 0]
    np.testing.assert_array_equal(selected.numpy(), [2.0, 4.0])
    (selected * ember.tensor([10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(grad_of(x), [0.0, 10.0, 0.0, 100.0])


def test_boolean_mask_as_ndarray_over_rows():
    x = leaf(np.ones((3, 2)))
    (x[np.array([True, False, True])] * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), [[3.0, 3.0], [0.0, 0.0], [3.0, 3.0]])


def test_an_op_with_several_outputs_gets_each_outputs_gradient_or_none():
    from ember.autograd import record_outputs

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def backward(grads):
        seen.append([None if g is None else g.tolist() for g in grads])
        return [sum(g for g in grads if g is not None)]

    double, triple = record_outputs("pair", [ember.Tensor._wrap(x.numpy() * 2), ember.Tensor._wrap(x.numpy() * 3)],
                                    [x], backward)
    (triple * 5).sum().backward(retain_graph=True)
    assert seen == [[None, [5.0, 5.0]]]
    (double + triple).sum().backward()
    assert seen[1] == [[1.0, 1.0], [1.0, 1.0]]  # both outputs' gradients reach the node's one backward call
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


def test_set_grad_enabled_nests_restores_and_decorates():
    x = ember.tensor(np.ones(3), requires_grad=True)
    off = ember.no_grad()
    with off:
        with off:  # one object entered twice restores in order
            assert not ember.is_grad_enabled()
        assert not ember.is_grad_enabled()
        with ember.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()

    @ember.no_grad()
    def doubled(t):
        return t * 2

    assert not doubled(x).requires_grad and (x * 2).requires_grad
    with pytest.raises(ValueError):
        with ember.set_grad_enabled(False):
            raise ValueError("restored on the way out")
    assert ember.is_grad_enabled()
