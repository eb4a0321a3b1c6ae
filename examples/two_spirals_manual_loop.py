"""The PyTorch-style way: a small dense network learns two interleaved spirals with a hand-written SGD loop.

    python examples/two_spirals_manual_loop.py [--epochs 60] [--backend cpu|reference]

Everything here is ember's tensor API: ember.tensor, ops, loss.backward(), an update under no_grad.
Prints the loss falling, the test accuracy and the training speed.
"""
import argparse
import time

import numpy as np

import ember
from ember import ops


def spirals(n_per_class, rng, noise=0.15):
    """Two interleaved spirals in the plane: a task no linear model solves."""
    t = np.sqrt(rng.random(n_per_class)) * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / np.pi
    x = np.concatenate([arm, -arm]) + noise * rng.standard_normal((2 * n_per_class, 2)) / 3
    y = np.concatenate([np.zeros(n_per_class, np.int64), np.ones(n_per_class, np.int64)])
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


def init_params(sizes):
    """Weights scaled for tanh (Glorot-uniform), zero biases."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(ember.tensor((ember.rand(fan_in, fan_out).numpy() * 2 - 1) * limit, requires_grad=True))
        params.append(ember.zeros(fan_out, requires_grad=True))
    return params


def forward(params, x):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = ops.tanh(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


def cross_entropy(logits, labels):
    """Mean negative log-likelihood of the true classes, from log_softmax (stable for any logit size)."""
    picked = ops.log_softmax(logits, axis=-1)[np.arange(len(labels)), labels]
    return -picked.mean()


def accuracy(params, x, y):
    with ember.no_grad():
        return float((forward(params, ember.tensor(x)).numpy().argmax(axis=1) == y).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--backend", default=None, help="cpu (native kernels, default) or reference (NumPy)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.backend:
        ember.set_backend(args.backend)

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = spirals(1000, rng)
    x_test, y_test = spirals(500, rng)
    params = init_params([2, 64, 64, 2])
    print(f"ember {ember.__version__} on backend '{ember.get_backend()}': 2-64-64-2 tanh network, two spirals, "
          f"{len(y_train)} train / {len(y_test)} test points, SGD with momentum 0.9")

    velocity = [np.zeros(p.shape, np.float32) for p in params]
    start, seen = time.perf_counter(), 0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(y_train))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            batch = order[i:i + args.batch_size]
            loss = cross_entropy(forward(params, ember.tensor(x_train[batch])), y_train[batch])
            loss.backward()
            with ember.no_grad():
                for p, v in zip(params, velocity):
                    v *= 0.9
                    v -= args.lr * p.grad.numpy()
                    p.data = p.data + v
                    p.grad = None
            total += loss.item() * len(batch)
            seen += len(batch)
        if epoch == 1 or epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {total / len(order):.4f}  train accuracy {accuracy(params, x_train, y_train):.3f}")
    elapsed = time.perf_counter() - start
    print(f"test accuracy {accuracy(params, x_test, y_test):.3f}  |  {seen / elapsed:,.0f} samples/s "
          f"({elapsed:.1f} s training)")


if __name__ == "__main__":
    main()
