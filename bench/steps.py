"""End-to-end training steps (forward, loss, backward, Adam update) in ember and in PyTorch eager, and the share of
ember's LeNet-5 step that is spent outside its native kernels.

Each network is written the way its library's users write it: ember NHWC through ember.Sequential and
Model.train_step (what fit runs per batch; no metrics compiled), PyTorch NCHW with nn.Sequential and
torch.optim.Adam. Both see the same fixed batch of random data at every step.
"""
import cProfile
import pstats
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import ember
from ember import _C, layers


def ember_lenet5(size=28, channels=(6, 16), units=(120, 84)):
    """LeNet-5 on 28x28x1 (a padded first layer, as the original on 32x32): the widths are arguments so that the
    overhead count can build the same graph at toy size."""
    return ember.Sequential([
        ember.Input((size, size, 1)),
        layers.Conv2D(channels[0], 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(channels[1], 5, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(units[0], activation="relu"),
        layers.Dense(units[1], activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def torch_lenet5(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def ember_binary_classifier():
    """examples/binary_image_classifier.py's network (the classic Keras tutorial's three-conv convnet)."""
    return ember.Sequential([
        ember.Input((64, 64, 3)),
        layers.Conv2D(16, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])


def torch_binary_classifier(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 6 * 6, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1))


@dataclass
class StepCase:
    name: str
    batch: int
    image: tuple  # (H, W, C)
    classes: int  # 1: binary labels of shape (batch, 1)
    ember_model: Callable
    ember_loss: str
    torch_model: Callable
    torch_loss: Callable  # torch -> loss module (on logits)

    @property
    def label(self):
        return f"{self.name} {self.batch}x" + "x".join(map(str, self.image))

    def data(self, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.batch,) + self.image).astype(np.float32)
        if self.classes == 1:
            return x, (rng.random((self.batch, 1)) < 0.5).astype(np.float32)
        return x, rng.integers(0, self.classes, self.batch)


STEPS = [
    StepCase("lenet5", 64, (28, 28, 1), 10, ember_lenet5, "sparse_categorical_crossentropy", torch_lenet5,
             lambda torch: torch.nn.CrossEntropyLoss()),
    StepCase("binary_classifier", 32, (64, 64, 3), 1, ember_binary_classifier, "binary_crossentropy",
             torch_binary_classifier, lambda torch: torch.nn.BCEWithLogitsLoss()),
]


def ember_step(case, model=None, data=None):
    """A zero-argument callable doing one training step of `case` in ember (on the current backend)."""
    ember.utils.set_random_seed(0)
    model = model or case.ember_model()
    model.compile(optimizer=ember.optimizers.Adam(), loss=case.ember_loss)
    x, y = data or case.data()
    return lambda: model.train_step(x, y)


def torch_step(torch, case):
    """The same step in PyTorch eager: NCHW input, loss on logits (its fused form), Adam."""
    torch.manual_seed(0)
    model = case.torch_model(torch)
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = case.torch_loss(torch)
    x, y = case.data()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# -- where ember's LeNet-5 step spends its time ---------------------------------------------------------------------

def _time_native_calls(step, steps):
    """(seconds per step, seconds per step inside ember._C, _C calls per step), by wrapping every function of
    ember._C in a timer for the duration (the backends look them up on the module at each call)."""
    names = [n for n in dir(_C) if not n.startswith("_") and callable(getattr(_C, n))]
    originals = {n: getattr(_C, n) for n in names}
    spent, calls = [0.0], [0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
                calls[0] += 1
        return wrapper

    try:
        for n in names:
            setattr(_C, n, timed(originals[n]))
        step()
        spent[0], calls[0] = 0.0, 0
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = time.perf_counter() - start
    finally:
        for n, fn in originals.items():
            setattr(_C, n, fn)
    return total / steps, spent[0] / steps, calls[0] / steps


def _top_python_functions(step, steps, count=5):
    """The Python functions with the most own time (cProfile, which slows Python code: read the ranks, not the
    absolute times)."""
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [step() for _ in range(steps)])
    stats = pstats.Stats(profiler).stats
    rows = [(tottime / steps, f"{file.rsplit('/ember/', 1)[-1]}:{line} {fn}", ncalls / steps)
            for (file, line, fn), (_, ncalls, tottime, _, _) in stats.items() if file != "~"]
    return sorted(rows, reverse=True)[:count]


def lenet5_overhead(steps):
    """Where ember's LeNet-5 step goes: native kernels (ember._C), Python, and NumPy work outside the kernels.

    Python's share is the per-step cost of the same graph at toy size (batch 1, 12x12 input, 1 channel, 1 unit),
    where kernels and NumPy have next to nothing to do, less that toy step's own kernel time; the NumPy share is
    what is left of the real step (bias adds, gradient sums, loss and Adam arithmetic run by NumPy from Python).
    """
    case = STEPS[0]
    step = ember_step(case)
    total, native, calls = _time_native_calls(step, steps)
    toy_x = np.random.default_rng(0).standard_normal((1, 12, 12, 1)).astype(np.float32)
    toy = ember_step(case, ember_lenet5(12, (1, 1), (1, 1)), (toy_x, np.array([3])))
    toy_total, toy_native, _ = _time_native_calls(toy, steps)
    python = min(toy_total - toy_native, total - native)
    return {"step_ms": total * 1e3, "native_ms": native * 1e3, "native_calls": calls, "python_ms": python * 1e3,
            "numpy_ms": (total - native - python) * 1e3, "python_share": python / total,
            "python_us_per_native_call": python / calls * 1e6,
            "top_python": [{"ms": t * 1e3, "function": f, "calls": n}
                           for t, f, n in _top_python_functions(step, steps)]}


def describe_overhead(o):
    step = o["step_ms"]
    lines = [f"ember LeNet-5 step (batch 64): {step:.2f} ms = {o['native_ms']:.2f} ms in {o['native_calls']:.0f} "
             f"ember._C kernel calls ({o['native_ms'] / step:.0%}) + {o['python_ms']:.2f} ms Python "
             f"({o['python_share']:.0%}; {o['python_us_per_native_call']:.0f} us per kernel call, from the same "
             f"graph at toy size) + {o['numpy_ms']:.2f} ms NumPy outside the kernels ({o['numpy_ms'] / step:.0%})",
             "  most own time in Python functions (NumPy operators they run included; cProfile, which inflates "
             "Python: ms per step, calls per step):"]
    lines += [f"    {row['ms']:6.3f} ms {row['calls']:5.0f}x {row['function']}" for row in o["top_python"]]
    return lines
