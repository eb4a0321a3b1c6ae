"""ember.optimizers: each update rule against a plain NumPy transcription of its formula (float64, 100 steps),
against torch.optim when torch is installed, clipping, arguments, config, and both ways of calling an optimizer."""
import numpy as np
import pytest

import ember
from ember.optimizers import SGD, Adam, AdamW, RMSprop, clip_grad_norm, clip_grad_value, get
from ember.optimizers import deserialize, schedules, serialize

SHAPES = [(3, 4), (5,), (), (1,)]  # a matrix, a vector, a 0-d scalar and a one-element vector
STEPS = 100


def _rng_arrays(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in SHAPES]


TARGETS = _rng_arrays(1)
CURVATURES = [np.abs(a) + 0.5 for a in _rng_arrays(2)]


def make_params(dtype="float64"):
    return [ember.tensor(a, dtype=dtype, requires_grad=True) for a in _rng_arrays(0)]


def loss_of(params, constant=np.asarray):
    """A fixed loss with a different curvature per coordinate plus a quartic, so gradients change every step.
    `constant` makes the targets and curvatures of the params' kind (torch.tensor for torch's)."""
    total = 0.0
    for p, target, curvature in zip(params, TARGETS, CURVATURES):
        total = total + (((p - constant(target)) ** 2) * constant(curvature)).sum() + 0.1 * (p ** 4).sum()
    return total


def run_against_reference(optimizer, reference, steps=STEPS, tol=1e-12):
    """Step `optimizer` and the NumPy `reference(index, param, grad, t)` on the same gradients; compare each step."""
    params = optimizer.params
    expected = [p.numpy().copy() for p in params]
    for t in range(1, steps + 1):
        loss_of(params).backward()
        grads = [p.grad.numpy().copy() for p in params]
        optimizer.step()
        optimizer.zero_grad()
        expected = [reference(i, e, g, t) for i, (e, g) in enumerate(zip(expected, grads))]
        for p, e in zip(params, expected):
            np.testing.assert_allclose(p.numpy(), e, rtol=tol, atol=tol, err_msg=f"step {t}")
    return params


# -- textbook formulas, one state dict per parameter index --------------------------------------------------------
def sgd_reference(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    velocity = {}

    def step(i, p, g, t):
        p = p - lr * weight_decay * p
        if momentum == 0.0:
            return p - lr * g
        velocity[i] = momentum * velocity.get(i, 0.0) - lr * g
        return p + momentum * velocity[i] - lr * g if nesterov else p + velocity[i]
    return step


def adam_reference(lr, beta_1, beta_2, epsilon, amsgrad=False, weight_decay=0.0):
    m, v, v_max = {}, {}, {}

    def step(i, p, g, t):
        p = p - lr * weight_decay * p
        m[i] = beta_1 * m.get(i, 0.0) + (1 - beta_1) * g
        v[i] = beta_2 * v.get(i, 0.0) + (1 - beta_2) * g ** 2
        m_hat = m[i] / (1 - beta_1 ** t)
        if amsgrad:
            v_max[i] = np.maximum(v_max.get(i, 0.0), v[i])
            v_hat = v_max[i] / (1 - beta_2 ** t)
        else:
            v_hat = v[i] / (1 - beta_2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return step


def rmsprop_reference(lr, rho, epsilon, momentum=0.0, centered=False):
    v, average, buffer = {}, {}, {}

    def step(i, p, g, t):
        v[i] = rho * v.get(i, 0.0) + (1 - rho) * g ** 2
        mean_square = v[i]
        if centered:
            average[i] = rho * average.get(i, 0.0) + (1 - rho) * g
            mean_square = v[i] - average[i] ** 2
        increment = lr * g / (np.sqrt(mean_square) + epsilon)
        if momentum:
            buffer[i] = momentum * buffer.get(i, 0.0) + increment
            increment = buffer[i]
        return p - increment
    return step


REFERENCE_CASES = {
    "sgd": (lambda ps: SGD(ps, learning_rate=0.01), sgd_reference(0.01)),
    "sgd_momentum": (lambda ps: SGD(ps, 0.01, momentum=0.9), sgd_reference(0.01, 0.9)),
    "sgd_nesterov": (lambda ps: SGD(ps, 0.01, momentum=0.9, nesterov=True), sgd_reference(0.01, 0.9, True)),
    "sgd_weight_decay": (lambda ps: SGD(ps, 0.01, momentum=0.5, weight_decay=0.1),
                         sgd_reference(0.01, 0.5, weight_decay=0.1)),
    "adam": (lambda ps: Adam(ps, learning_rate=0.01), adam_reference(0.01, 0.9, 0.999, 1e-7)),
    "adam_amsgrad": (lambda ps: Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, amsgrad=True),
                     adam_reference(0.02, 0.8, 0.99, 1e-6, amsgrad=True)),
    "adamw": (lambda ps: AdamW(ps, learning_rate=0.01, weight_decay=0.1),
              adam_reference(0.01, 0.9, 0.999, 1e-7, weight_decay=0.1)),
    "rmsprop": (lambda ps: RMSprop(ps, learning_rate=0.01), rmsprop_reference(0.01, 0.9, 1e-7)),
    "rmsprop_centered_momentum": (lambda ps: RMSprop(ps, 0.01, rho=0.8, momentum=0.9, centered=True),
                                  rmsprop_reference(0.01, 0.8, 1e-7, momentum=0.9, centered=True)),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_update_matches_textbook_formula_for_100_steps(case):
    make_optimizer, reference = REFERENCE_CASES[case]
    run_against_reference(make_optimizer(make_params()), reference)


# -- torch.optim as an oracle ---------------------------------------------------------------------------------------
TORCH_CASES = {
    "sgd_momentum": (lambda ps: SGD(ps, lr=0.01, momentum=0.9), ("SGD", dict(lr=0.01, momentum=0.9))),
    "sgd_nesterov": (lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
                     ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True))),
    "adam": (lambda ps: Adam(ps, lr=0.01, eps=1e-8), ("Adam", dict(lr=0.01, eps=1e-8))),
    "adam_amsgrad": (lambda ps: Adam(ps, lr=0.01, eps=1e-8, amsgrad=True),
                     ("Adam", dict(lr=0.01, eps=1e-8, amsgrad=True))),
    "adamw": (lambda ps: AdamW(ps, lr=0.01, eps=1e-8, weight_decay=0.1),
              ("AdamW", dict(lr=0.01, eps=1e-8, weight_decay=0.1))),
    "rmsprop": (lambda ps: RMSprop(ps, lr=0.01, rho=0.99, eps=1e-8), ("RMSprop", dict(lr=0.01, alpha=0.99, eps=1e-8))),
    "rmsprop_centered_momentum": (lambda ps: RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.9, centered=True),
                                  ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, eps=1e-7))),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_update_matches_torch_optim_for_100_steps(case):
    torch = pytest.importorskip("torch")
    make_optimizer, (torch_name, torch_args) = TORCH_CASES[case]
    params = make_params()
    optimizer = make_optimizer(params)
    torch_params = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    torch_optimizer = getattr(torch.optim, torch_name)(torch_params, **torch_args)
    for _ in range(STEPS):
        loss_of(params).backward()
        optimizer.step()
        optimizer.zero_grad()
        loss_of(torch_params, torch.tensor).backward()
        torch_optimizer.step()
        torch_optimizer.zero_grad()
    for p, q in zip(params, torch_params):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_update_keeps_float32_and_changes_the_array_in_place():
    params = make_params("float32")
    arrays = [p._data for p in params]
    optimizer = Adam(params, learning_rate=0.1)
    loss_of(params).backward()
    optimizer.step()
    assert all(p._data is a and p.dtype == np.float32 for p, a in zip(params, arrays))
    assert all(p.grad is not None for p in params)  # step leaves grads alone; zero_grad clears them


# -- clipping -------------------------------------------------------------------------------------------------------
def one_sgd_step(grads, **clip):
    """Parameters at zero after one SGD step with lr=1: minus the clipped gradients."""
    params = [ember.zeros(len(g), dtype="float64") for g in grads]
    SGD(learning_rate=1.0, **clip).apply_gradients(zip([np.array(g, dtype=float) for g in grads], params))
    return [-p.numpy() for p in params]


def test_clipvalue_clips_each_element():
    clipped = one_sgd_step([[3.0, -4.0, 0.5]], clipvalue=1.0)
    np.testing.assert_allclose(clipped[0], [1.0, -1.0, 0.5])


def test_clipnorm_clips_each_gradient_by_its_own_norm():
    clipped = one_sgd_step([[3.0, 4.0], [0.3, 0.4]], clipnorm=1.0)
    np.testing.assert_allclose(clipped[0], [0.6, 0.8])
    np.testing.assert_allclose(clipped[1], [0.3, 0.4])


def test_global_clipnorm_scales_all_gradients_by_their_joint_norm():
    clipped = one_sgd_step([[3.0, 4.0], [0.0, 12.0]], global_clipnorm=1.0)  # global norm 13
    np.testing.assert_allclose(clipped[0], [3 / 13, 4 / 13])
    np.testing.assert_allclose(clipped[1], [0.0, 12 / 13])
    unclipped = one_sgd_step([[3.0, 4.0], [0.0, 12.0]], global_clipnorm=20.0)
    np.testing.assert_allclose(unclipped[1], [0.0, 12.0])


def test_only_one_clipping_argument_is_allowed():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        SGD(clipnorm=1.0, clipvalue=1.0)


def params_with_grads(*grads):
    params = []
    for g in grads:
        p = ember.zeros(len(g), dtype="float64", requires_grad=True)
        p.grad = ember.tensor(np.array(g, dtype=float), dtype="float64")
        params.append(p)
    return params


def test_clip_grad_norm_scales_in_place_and_returns_the_total_norm():
    params = params_with_grads([3.0, 4.0], [0.0, 12.0])
    total = clip_grad_norm(iter(params), max_norm=6.5)
    assert total.item() == pytest.approx(13.0)
    scale = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.numpy(), [3 * scale, 4 * scale], rtol=1e-15)
    untouched = params_with_grads([3.0, 4.0])
    assert clip_grad_norm(untouched, 10.0).item() == pytest.approx(5.0)
    np.testing.assert_array_equal(untouched[0].grad.numpy(), [3.0, 4.0])


def test_clip_grad_norm_infinity_norm_is_the_largest_magnitude():
    params = params_with_grads([3.0, -4.0], [1.0, 2.0])
    assert clip_grad_norm(params, 2.0, norm_type=float("inf")).item() == pytest.approx(4.0)
    np.testing.assert_allclose(params[0].grad.numpy(), np.array([3.0, -4.0]) * 2.0 / (4.0 + 1e-6))


def test_clip_grad_norm_raises_on_a_non_finite_norm_only_when_asked():
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm(params_with_grads([np.nan, 1.0]), 1.0, error_if_nonfinite=True)
    assert np.isnan(clip_grad_norm(params_with_grads([np.nan, 1.0]), 1.0).item())


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    grads = [np.arange(6.0).reshape(2, 3) - 2.0, np.array([7.0, -1.0])]
    params = params_with_grads(*[g.ravel() for g in grads])
    torch_params = [torch.zeros(g.size, dtype=torch.float64, requires_grad=True) for g in grads]
    for q, g in zip(torch_params, grads):
        q.grad = torch.tensor(g.ravel())
    for norm_type in (2.0, 1.0, float("inf")):
        expected = torch.nn.utils.clip_grad_norm_(torch_params, 3.0, norm_type=norm_type)
        assert clip_grad_norm(params, 3.0, norm_type=norm_type).item() == pytest.approx(expected.item(), rel=1e-12)
        for p, q in zip(params, torch_params):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_clips_in_place():
    params = params_with_grads([3.0, -0.5, -7.0])
    clip_grad_value(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [1.0, -0.5, -1.0])


# -- arguments ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: SGD(learning_rate=-1), "Invalid value for argument `learning_rate`. Expected a non-negative float or "
                                    "a schedule. Received: learning_rate=-1"),
    (lambda: Adam(lr="fast"), "Received: learning_rate=fast"),
    (lambda: SGD(momentum=1.5), "Invalid value for argument `momentum`. Expected a float in [0, 1]. "
                                "Received: momentum=1.5"),
    (lambda: Adam(beta_1=1.0), "Invalid value for argument `beta_1`. Expected a float in [0, 1)."),
    (lambda: Adam(betas=(0.9,)), "Invalid value for argument `betas`. Expected a pair (beta_1, beta_2)."),
    (lambda: Adam(epsilon=-1e-8), "Invalid value for argument `epsilon`. Expected a non-negative float."),
    (lambda: RMSprop(rho=float("nan")), "Invalid value for argument `rho`."),
    (lambda: SGD(clipnorm=0), "Invalid value for argument `clipnorm`. Expected a positive float or None."),
    (lambda: AdamW(weight_decay=None), "Invalid value for argument `weight_decay`."),
    (lambda: Adam(weight_decay=-0.1), "Invalid value for argument `weight_decay`."),
    (lambda: Adam(momentum=0.9), "Argument(s) not recognized: {'momentum': 0.9}"),
    (lambda: Adam([]), "empty parameter list"),
])
def test_bad_arguments_raise_keras_style_value_errors(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_params_must_be_an_iterable_of_tensors():
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(ember.zeros(3, requires_grad=True))
    with pytest.raises(TypeError, match="Parameter groups"):
        SGD([{"params": []}])


def test_params_generator_is_stored_as_a_list_without_duplicates():
    w = ember.zeros(3, requires_grad=True)
    optimizer = SGD(p for p in [w, w])
    assert len(optimizer.params) == 1 and optimizer.params[0] is w


def test_get_by_name_object_and_dict():
    assert isinstance(get("adam"), Adam) and isinstance(get("RMSprop"), RMSprop) and isinstance(get("AdamW"), AdamW)
    optimizer = SGD(learning_rate=0.3)
    assert get(optimizer) is optimizer and get(None) is None
    assert get(serialize(optimizer)).get_config() == optimizer.get_config()


def test_unknown_optimizer_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="Known optimizers: adam, adamw, rmsprop, sgd"):
        get("adagrad2")


@pytest.mark.parametrize("optimizer", [
    SGD(learning_rate=0.1, momentum=0.9, nesterov=True, clipnorm=1.0),
    Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5), amsgrad=True, weight_decay=0.01),
    AdamW(learning_rate=schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10), global_clipnorm=2.0),
    RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True, clipvalue=0.5, name="my_rmsprop"),
], ids=lambda o: type(o).__name__)
def test_get_config_round_trips(optimizer):
    config = optimizer.get_config()
    again = type(optimizer).from_config(config)
    assert again.get_config() == config
    assert deserialize(serialize(optimizer)).get_config() == config


# -- the two ways in ------------------------------------------------------------------------------------------------
def test_zero_grad_sets_grads_to_none_or_zeros():
    params = make_params()
    optimizer = SGD(params)
    loss_of(params).backward()
    optimizer.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in params)
    optimizer.zero_grad()
    assert all(p.grad is None for p in params)


def test_params_whose_grad_is_none_are_skipped():
    a, b = ember.ones(2, dtype="float64", requires_grad=True), ember.ones(2, dtype="float64", requires_grad=True)
    optimizer = Adam([a, b], learning_rate=0.1)
    (a * 3.0).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
    assert np.all(a.numpy() < 1.0)
    assert optimizer.state_dict()["state"][1] == {} and optimizer.iterations == 1


def test_keras_way_step_with_params_and_apply_gradients_agree():
    first, second = make_params(), make_params()
    by_step, by_apply = Adam(learning_rate=0.05), Adam(learning_rate=0.05)
    for _ in range(5):
        loss_of(first).backward()
        by_step.step(first)
        for p in first:
            p.grad = None
        grads = []
        loss_of(second).backward()
        for i, p in enumerate(second):  # alternate Tensor and NumPy gradients
            grads.append(p.grad if i % 2 else p.grad.numpy())
            p.grad = None
        by_apply.apply_gradients(zip(grads, second))
    for p, q in zip(first, second):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert by_step.iterations == by_apply.iterations == 5


def test_keras_apply_takes_grads_and_variables():
    w = ember.zeros(2, dtype="float64")
    SGD(learning_rate=0.5).apply([np.array([1.0, -2.0])], [w])
    np.testing.assert_allclose(w.numpy(), [-0.5, 1.0])


def test_step_without_any_params_is_an_error():
    with pytest.raises(ValueError, match="no parameters"):
        SGD().step()


def test_gradient_of_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a parameter of shape \(2,\)"):
        SGD().apply_gradients([(np.zeros(3), ember.zeros(2))])


def test_state_is_kept_per_parameter_across_calls():
    a, b = ember.zeros(1, dtype="float64"), ember.zeros(1, dtype="float64")
    optimizer = SGD(learning_rate=1.0, momentum=0.5)
    optimizer.apply_gradients([(np.ones(1), a)])
    optimizer.apply_gradients([(np.ones(1), b)])
    optimizer.apply_gradients([(np.ones(1), a)])  # a's velocity: -1, then 0.5 * -1 - 1 = -1.5
    np.testing.assert_allclose(a.numpy(), [-2.5])
    np.testing.assert_allclose(b.numpy(), [-1.0])


def test_learning_rate_is_readable_and_settable():
    optimizer = SGD(learning_rate=0.1)
    assert optimizer.learning_rate == 0.1
    optimizer.learning_rate = 0.02
    assert optimizer.learning_rate == optimizer.lr == 0.02
    optimizer.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert optimizer.learning_rate == 1.0
    with pytest.raises(ValueError, match="learning_rate"):
        optimizer.learning_rate = -0.5


def test_step_with_closure_returns_its_loss():
    params = make_params()
    optimizer = SGD(params, lr=0.01)

    def closure():
        optimizer.zero_grad()
        loss = loss_of(params)
        loss.backward()
        return loss

    first = optimizer.step(closure).item()
    assert optimizer.step(closure).item() < first


def test_state_dict_round_trip_continues_the_same_trajectory():
    uninterrupted, resumed = make_params(), make_params()
    one, two = Adam(uninterrupted, learning_rate=0.05), Adam(resumed, learning_rate=0.05)
    for t in range(6):
        for params, optimizer in ((uninterrupted, one), (resumed, two)):
            loss_of(params).backward()
            optimizer.step()
            optimizer.zero_grad()
        if t == 2:
            saved = two.state_dict()
            two = Adam(resumed, learning_rate=0.05)
            two.load_state_dict(saved)
    for p, q in zip(uninterrupted, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_excluded_variables_get_no_weight_decay():
    w, b = ember.ones(2, dtype="float64"), ember.Tensor(np.ones(2), dtype="float64", name="dense/bias")
    optimizer = AdamW(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.apply_gradients([(np.zeros(2), w), (np.zeros(2), b)])
    np.testing.assert_allclose(w.numpy(), [0.95, 0.95])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])


# -- a real fit -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, learning_rate", [("sgd", 0.1), ("adam", 0.05), ("adamw", 0.05), ("rmsprop", 0.02)])
def test_each_optimizer_fits_a_linear_regression(name, learning_rate):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    x, y = ember.tensor(x, dtype="float32"), ember.tensor(y, dtype="float32")
    w, b = ember.zeros((3, 1), requires_grad=True), ember.zeros(1, requires_grad=True)
    optimizer = get(name)
    optimizer.learning_rate = learning_rate
    losses = []
    for _ in range(150):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        optimizer.step([w, b])
        w.grad = b.grad = None
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


@pytest.mark.parametrize("make", [lambda lr: ember.optimizers.Adam(lr), lambda lr: ember.optimizers.SGD(lr),
                                  lambda lr: ember.optimizers.RMSprop(lr)])
def test_a_positional_number_is_the_learning_rate_as_in_keras(make):
    opt = make(0.25)
    assert opt.learning_rate == 0.25 and opt.params is None


def test_a_positional_schedule_is_the_learning_rate_as_in_keras():
    schedule = ember.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert ember.optimizers.Adam(schedule)._learning_rate is schedule
