"""The digits CNN (ember.demo's LeNet-5) trained data-parallel over MPI ranks.

    mpiexec -n 2 python examples/distributed_digits.py [--epochs 40] [--batch-size 32]
    python examples/distributed_digits.py              # the same program as one process

Every rank loads the whole dataset; `fit(..., distributed=True)` gives each rank its half of every global
batch of 32, sums the gradients over the ranks, and keeps the replicas identical, so the hyperparameters of
the one-process demo carry over unchanged. Only rank 0 prints. The mpiexec is the one of the `mpich` wheel
(pip install 'ember[distributed]'), next to your python.
"""
import argparse
import time

import ember
from ember import distributed
from ember.demo import lenet5


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch, shared by the ranks")
    parser.add_argument("--verbose", type=int, default=2, help="0 silent, 1 progress bar, 2 one line per epoch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    distributed.init()
    rank, ranks = distributed.rank(), distributed.world_size()
    ember.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = ember.datasets.digits(test_size=0.2, seed=args.seed)
    model = lenet5()
    steps_per_epoch = len(x_train) // args.batch_size + (len(x_train) % args.batch_size >= ranks)
    learning_rate = ember.schedules.CosineDecay(2e-3, decay_steps=args.epochs * steps_per_epoch)
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ember.manual_seed(args.seed + rank)  # each rank its own augmentation and dropout; weights come from rank 0
    if rank == 0:
        print(f"ember {ember.__version__}: LeNet-5 on the digits over {ranks} rank(s), "
              f"{ember.get_num_threads()} thread(s) each, global batch {args.batch_size}")

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=args.verbose,
              distributed=True)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)  # the same weights, so the same figure, on every rank
    if rank == 0:
        print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) | training {seconds:.1f} s, "
              f"{len(x_train) * args.epochs / seconds:,.0f} images/s over {ranks} rank(s)")
    return accuracy


if __name__ == "__main__":
    main()
