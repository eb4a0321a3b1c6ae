"""The fused native Adam update (ember._C.adam_update, and adam_update_many for all of a step's parameters in one call)
against the NumPy update it replaces: the same operations in the same order, so the same bits, for Adam, AdamW and
AMSGrad in float32 and float64, with parameters at different step counts; and the argument checks."""
import numpy as np
import pytest

import ember
from ember import _C, backend
from ember.optimizers import Adam, AdamW


def run(optimizer_class, dtype, backend_name, steps=6, **kwargs):
    rng = np.random.default_rng(0)
    with backend.use_backend(backend_name):
        p = ember.tensor(rng.standard_normal((33, 17)).astype(dtype), requires_grad=True)
        q = ember.tensor(rng.standard_normal(5).astype(dtype), requires_grad=True)
        r = ember.tensor(rng.standard_normal((4, 3)).astype(dtype), requires_grad=True)
        opt = optimizer_class([p, q, r], learning_rate=0.01, **kwargs)
        for step in range(steps):
            p.grad = ember.tensor(rng.standard_normal((17, 33)).astype(dtype).T)  # a transposed (strided) gradient
            q.grad = ember.tensor(rng.standard_normal(5).astype(dtype) * 1e-4)
            # r skips every third step: its own step count (bias corrections) falls behind the others'
            r.grad = None if step % 3 == 1 else ember.tensor(rng.standard_normal((4, 3)).astype(dtype))
            opt.step()
        return p.numpy(), q.numpy(), r.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer_class, kwargs", [(Adam, {}), (Adam, {"amsgrad": True}), (AdamW, {}),
                                                     (Adam, {"epsilon": 0.0, "beta_1": 0.5})])
def test_native_adam_gives_the_numpy_update_bit_for_bit(gemm_kernel, optimizer_class, kwargs, dtype):
    native = run(optimizer_class, dtype, "cpu", **kwargs)
    reference = run(optimizer_class, dtype, "reference", **kwargs)
    for got, expected in zip(native, reference):
        np.testing.assert_array_equal(got, expected)


def test_the_native_update_moves_the_parameters_and_the_slots():
    p, g = np.ones(8, np.float32), np.full(8, 0.5, np.float32)
    m, v = np.zeros(8, np.float32), np.zeros(8, np.float32)
    _C.adam_update(p, g, m, v, None, 0.9, 0.999, 1e-7, 0.01 / 0.1, 0.001)
    np.testing.assert_allclose(m, 0.05, rtol=1e-6)
    np.testing.assert_allclose(v, 0.00025, rtol=1e-6)
    np.testing.assert_allclose(p, 1 - 0.01, rtol=1e-5)  # the first step moves by lr whatever the gradient's size


def test_nan_in_v_max_propagates_as_numpy_maximum_does():
    p, g = np.ones(3), np.array([1.0, np.nan, 2.0])
    m, v, v_max = np.zeros(3), np.zeros(3), np.array([np.nan, 0.0, 0.0])
    _C.adam_update(p, g, m, v, v_max, 0.9, 0.999, 1e-7, 0.1, 0.001)
    assert np.isnan(v_max[:2]).all() and not np.isnan(v_max[2]) and np.isnan(p[:2]).all()


def test_bad_arguments_name_the_kernel_and_the_shapes():
    p, m, v = np.zeros(4, np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"adam_update: grad has shape \(5,\), expected the parameter.s \(4,\)"):
        _C.adam_update(p, np.zeros(5, np.float32), m, v, None, 0.9, 0.999, 1e-7, 0.1, 0.001)
    with pytest.raises(TypeError, match="adam_update"):
        _C.adam_update(p, np.zeros(4, np.float64), m, v, None, 0.9, 0.999, 1e-7, 0.1, 0.001)
    with pytest.raises(ValueError, match="adam_update"):
        _C.adam_update(p, p, m, v, None, 0.9, 0.999, 1e-7, 0.1, 0.001)  # the gradient aliasing the parameter
    with pytest.raises(ValueError, match="adam_update"):
        _C.adam_update(p, np.zeros(4, np.float32), m, m, None, 0.9, 0.999, 1e-7, 0.1, 0.001)
    with pytest.raises(ValueError, match="adam_update"):
        _C.adam_update(np.zeros(8, np.float32)[::2], np.zeros(4, np.float32), m, v, None, 0.9, 0.999, 1e-7, 0.1,
                       0.001)


def _slots(*shapes, dtype=np.float32):
    rng = np.random.default_rng(1)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]  # params, grads, m, v


def test_the_many_form_gives_each_parameter_the_single_updates_bits():
    params, grads, ms, vs = _slots((7, 3), (5,), (1,))
    v_maxs = [np.abs(v) for v in vs]
    single = [[a.copy() for a in group] for group in (params, grads, ms, vs, v_maxs)]
    lr_t, bias_2 = [0.1, 0.2, 0.3], [0.5, 0.25, 0.125]
    _C.adam_update_many(params, grads, ms, vs, v_maxs, 0.9, 0.999, 1e-7, lr_t, bias_2)
    for i in range(3):
        _C.adam_update(*(group[i] for group in single), 0.9, 0.999, 1e-7, lr_t[i], bias_2[i])
        for got, expected in zip((params, ms, vs, v_maxs), (single[0], single[2], single[3], single[4])):
            np.testing.assert_array_equal(got[i], expected[i])


def test_the_many_form_checks_every_parameter_before_updating_any():
    params, grads, ms, vs = _slots((4,), (4,))
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match=r"adam_update_many: grad has shape \(3,\), expected the parameter.s \(4,\)"):
        _C.adam_update_many(params, [grads[0], grads[1][:3]], ms, vs, None, 0.9, 0.999, 1e-7, [0.1, 0.1], [0.5, 0.5])
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)
    with pytest.raises(ValueError, match="adam_update_many: expected params, grads, m, v, lr_t and bias_2 of one "
                                         "length, got 2, 2, 2, 2, 1 and 2"):
        _C.adam_update_many(params, grads, ms, vs, None, 0.9, 0.999, 1e-7, [0.1], [0.5, 0.5])
    with pytest.raises(ValueError, match="adam_update_many: output `param` overlaps input `param`"):
        _C.adam_update_many([params[0], params[0]], grads, ms, vs, None, 0.9, 0.999, 1e-7, [0.1, 0.1], [0.5, 0.5])
    with pytest.raises(TypeError, match="adam_update_many"):
        _C.adam_update_many(params, [grads[0], grads[1].astype(np.float64)], ms, vs, None, 0.9, 0.999, 1e-7,
                            [0.1, 0.1], [0.5, 0.5])
