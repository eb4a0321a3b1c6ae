"""Learning-rate schedules: callables `schedule(step) -> float` that an optimizer evaluates at its `iterations`.

The formulas are Keras 3's (`keras.optimizers.schedules`), written out in each docstring; `step` counts optimizer
updates from 0. Any callable taking the step works as a schedule; subclassing `LearningRateSchedule` adds
`get_config`/`from_config` so that an optimizer's config round-trips.
"""
import math


def _invalid(name, expected, value):
    return ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value}")


def _number(name, value, expected, accept):
    if isinstance(value, bool):
        raise _invalid(name, expected, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(name, expected, value) from None
    if not accept(number):  # NaN fails every comparison, so it lands here too
        raise _invalid(name, expected, value)
    return number


def _rate(name, value):
    return _number(name, value, "a non-negative float", lambda x: 0.0 <= x < math.inf)


def _steps(name, value):
    return _number(name, value, "a positive number of steps", lambda x: 0.0 < x < math.inf)


class LearningRateSchedule:
    """Base of the schedules: `__call__(step)` gives the learning rate after `step` updates."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`; with `staircase=True` the exponent is
    floored, so the rate drops every `decay_steps` steps (Keras `ExponentialDecay`)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.decay_rate = _rate("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        exponent = float(step) / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate ** exponent

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`, the ratio floored when `staircase`
    (Keras `InverseTimeDecay`)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.decay_rate = _rate("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        ratio = float(step) / self.decay_steps
        if self.staircase:
            ratio = math.floor(ratio)
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class StepDecay(LearningRateSchedule):
    """`initial_learning_rate * gamma ** (step // step_size)`: torch's `StepLR` counted in optimizer steps
    (the same as `ExponentialDecay(initial_learning_rate, step_size, gamma, staircase=True)`)."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1, name="StepDecay"):
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.step_size = int(_steps("step_size", step_size))
        self.gamma = _rate("gamma", gamma)
        self.name = name

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (int(step) // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size,
                "gamma": self.gamma, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` while `step <= boundaries[0]`, `values[i]` while `boundaries[i-1] < step <= boundaries[i]`,
    `values[-1]` after the last boundary (Keras `PiecewiseConstantDecay`)."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"Invalid value for argument `values`. Expected one more value than boundaries "
                             f"({len(boundaries) + 1}). Received: values={values}")
        if any(not earlier < later for earlier, later in zip(boundaries, boundaries[1:])):
            raise _invalid("boundaries", "strictly increasing steps", boundaries)
        self.boundaries = [float(b) for b in boundaries]
        self.values = [_rate("values", v) for v in values]
        self.name = name

    def __call__(self, step):
        step = float(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """`(initial - end) * (1 - s / decay_steps) ** power + end` with `s = min(step, decay_steps)`; with `cycle`,
    `decay_steps` is instead multiplied by `ceil(step / decay_steps)` (Keras `PolynomialDecay`; power=1 is a
    linear decay)."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.end_learning_rate = _rate("end_learning_rate", end_learning_rate)
        self.power = _number("power", power, "a positive float", lambda x: 0.0 < x < math.inf)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step, decay_steps = float(step), self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        fraction = step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return span * (1.0 - fraction) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Keras 3 `CosineDecay`, with its optional linear warmup.

    Without warmup (`warmup_target=None`): `initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`
    with `s = min(step, decay_steps)`.
    With warmup: for `step < warmup_steps` the rate rises linearly,
    `initial + (warmup_target - initial) * step / warmup_steps`; after it, the cosine above decays from
    `warmup_target` with `s = min(step, warmup_steps + decay_steps) - warmup_steps`.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps("decay_steps", decay_steps)
        self.alpha = _number("alpha", alpha, "a float in [0, 1]", lambda x: 0.0 <= x <= 1.0)
        self.warmup_target = None if warmup_target is None else _rate("warmup_target", warmup_target)
        self.warmup_steps = _number("warmup_steps", warmup_steps, "a non-negative number of steps",
                                    lambda x: 0.0 <= x < math.inf)
        self.name = name

    def _decay(self, step, decay_from):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return ((1.0 - self.alpha) * cosine + self.alpha) * decay_from

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + delta * step / self.warmup_steps
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class LinearWarmup(LearningRateSchedule):
    """A linear rise from `initial_learning_rate` to `after` over `warmup_steps`, then `after(step - warmup_steps)`.

    `after` is a float or a schedule (the warmup ends at `after(0)`); e.g.
    `LinearWarmup(ExponentialDecay(1e-3, 1000, 0.5), warmup_steps=100)`.
    """

    def __init__(self, after, warmup_steps, initial_learning_rate=0.0, name="LinearWarmup"):
        self.after = after if callable(after) else _rate("after", after)
        self.warmup_steps = _steps("warmup_steps", warmup_steps)
        self.initial_learning_rate = _rate("initial_learning_rate", initial_learning_rate)
        self.name = name

    def _after(self, step):
        return float(self.after(step)) if callable(self.after) else self.after

    def __call__(self, step):
        step = float(step)
        if step < self.warmup_steps:
            target = self._after(0)
            return self.initial_learning_rate + (target - self.initial_learning_rate) * step / self.warmup_steps
        return self._after(step - self.warmup_steps)

    def get_config(self):
        after = serialize(self.after) if callable(self.after) else self.after
        return {"after": after, "warmup_steps": self.warmup_steps,
                "initial_learning_rate": self.initial_learning_rate, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = deserialize(config["after"])
        return cls(**config)


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, StepDecay, PiecewiseConstantDecay,
                                            PolynomialDecay, CosineDecay, LinearWarmup)}


def serialize(schedule):
    """`{"class_name": ..., "config": ...}` for a schedule (what optimizers put in their config)."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize: expected a LearningRateSchedule, got {type(schedule).__name__}. "
                        f"Plain callables have no config; subclass LearningRateSchedule to save one.")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    """The schedule that `serialize` described; `custom_objects` maps further class names to classes."""
    known = dict(_SCHEDULES, **(custom_objects or {}))
    name = config.get("class_name")
    if name not in known:
        raise ValueError(f"Unknown learning rate schedule: {name!r}. Known schedules: {', '.join(sorted(known))}")
    return known[name].from_config(config.get("config", {}))
