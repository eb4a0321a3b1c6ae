"""ember.schedules: values at chosen steps against the Keras formulas written out by hand, config round trips,
bad arguments, and an optimizer reading its schedule at `iterations` on every update."""
import math

import numpy as np
import pytest

import ember
from ember import schedules
from ember.optimizers import SGD, Adam


def test_exponential_decay():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for step in (0, 5, 10, 25):
        assert schedule(step) == pytest.approx(0.1 * 0.5 ** (step / 10), rel=1e-15)
    stairs = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [stairs(s) for s in (0, 9, 10, 19, 20)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_inverse_time_decay():
    schedule = schedules.InverseTimeDecay(1.0, decay_steps=4, decay_rate=0.5)
    assert schedule(6) == pytest.approx(1.0 / (1.0 + 0.5 * 1.5))
    stairs = schedules.InverseTimeDecay(1.0, decay_steps=4, decay_rate=0.5, staircase=True)
    assert stairs(6) == pytest.approx(1.0 / 1.5)


def test_step_decay_is_staircase_exponential_decay():
    schedule = schedules.StepDecay(0.1, step_size=3, gamma=0.1)
    same = schedules.ExponentialDecay(0.1, 3, 0.1, staircase=True)
    assert [schedule(s) for s in range(10)] == pytest.approx([same(s) for s in range(10)])
    assert schedule(2) == 0.1 and schedule(3) == pytest.approx(0.01)


def test_piecewise_constant_decay_boundaries_belong_to_the_earlier_value():
    schedule = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in (0, 10, 11, 20, 21, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_polynomial_decay_linear_and_cycled():
    schedule = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.1)
    assert [schedule(s) for s in (0, 5, 10, 50)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    squared = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, power=2.0)
    assert squared(5) == pytest.approx(0.25)
    cycled = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    assert cycled(15) == pytest.approx(1.0 - 15 / 20)  # decay_steps stretched to 10 * ceil(15 / 10)


def test_cosine_decay_without_warmup():
    schedule = schedules.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    for step in (0, 3, 5, 10):
        cosine = 0.5 * (1 + math.cos(math.pi * step / 10))
        assert schedule(step) == pytest.approx((1 - 0.1) * cosine + 0.1, rel=1e-15)
    assert schedule(50) == pytest.approx(0.1)  # held at alpha * initial after decay_steps


def test_cosine_decay_with_linear_warmup():
    schedule = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=5)
    assert [schedule(s) for s in (0, 1, 2.5, 5)] == pytest.approx([0.0, 0.2, 0.5, 1.0])
    assert schedule(10) == pytest.approx(0.5)  # half way through the cosine, from warmup_target
    assert schedule(15) == pytest.approx(0.0, abs=1e-15) and schedule(100) == pytest.approx(0.0, abs=1e-15)


def test_linear_warmup_into_a_schedule():
    after = schedules.ExponentialDecay(0.1, 10, 0.5)
    schedule = schedules.LinearWarmup(after, warmup_steps=4, initial_learning_rate=0.02)
    assert [schedule(s) for s in (0, 2, 4, 14)] == pytest.approx([0.02, 0.06, 0.1, 0.05])
    assert schedules.LinearWarmup(0.5, warmup_steps=2)(1) == pytest.approx(0.25)


ALL = [
    schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
    schedules.InverseTimeDecay(0.1, 10, 0.5),
    schedules.StepDecay(0.1, 5, 0.5),
    schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]),
    schedules.PolynomialDecay(0.1, 100, 0.001, power=2.0, cycle=True),
    schedules.CosineDecay(0.0, 100, alpha=0.1, warmup_target=0.1, warmup_steps=10),
    schedules.LinearWarmup(schedules.CosineDecay(0.1, 100), warmup_steps=10),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trips_and_gives_the_same_values(schedule):
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert [again(s) for s in range(0, 130, 7)] == [schedule(s) for s in range(0, 130, 7)]


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "Invalid value for argument `decay_steps`. Expected a "
                                                      "positive number of steps. Received: decay_steps=0"),
    (lambda: schedules.CosineDecay(-1.0, 10), "Invalid value for argument `initial_learning_rate`."),
    (lambda: schedules.CosineDecay(1.0, 10, alpha=2.0), "Invalid value for argument `alpha`. Expected a float in "
                                                        "[0, 1]."),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), "Expected one more value than boundaries"),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), "strictly increasing"),
    (lambda: schedules.deserialize({"class_name": "Nope", "config": {}}), "Known schedules: CosineDecay"),
])
def test_bad_arguments_raise_value_errors(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_optimizer_uses_the_scheduled_rate_at_each_step():
    schedule = schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.1, 0.01])
    w = ember.zeros(1, dtype="float64")
    optimizer = SGD(learning_rate=schedule)
    taken = []
    for step in range(7):
        assert optimizer.learning_rate == schedule(step) and optimizer.iterations == step
        before = w.numpy().copy()
        optimizer.apply_gradients([(np.ones(1), w)])  # a unit gradient moves w by exactly -lr
        taken.append(float((before - w.numpy())[0]))
    assert taken == pytest.approx([schedule(s) for s in range(7)], rel=1e-12)


def test_any_callable_of_the_step_is_a_schedule():
    w = ember.zeros(1, dtype="float64")
    optimizer = Adam(learning_rate=lambda step: 0.1 / (step + 1))
    optimizer.apply_gradients([(np.ones(1), w)])
    assert optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(TypeError, match="plain callable"):
        optimizer.get_config()


def test_schedules_are_reachable_from_optimizers():
    from ember.optimizers import schedules as via_optimizers

    assert via_optimizers is schedules
