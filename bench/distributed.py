"""Data-parallel scaling of the digits CNN (ember.demo's LeNet-5): 1 process vs 2 MPI ranks on this machine.

    python bench/distributed.py [--epochs 5] [--batch-sizes 32,128] [--rounds 3]

Each configuration is a fresh job (`mpiexec -n N python bench/distributed.py --worker ...`, the mpiexec of the
mpich wheel): one untimed warm-up epoch, then `--epochs` timed epochs of fit(distributed=True). The
configurations run in turn, `--rounds` times, and each keeps its best round (the machine may be shared). Reported:
training images/s (all ranks together), the speedup over one process with as many threads as the machine has
cores, and the communication share: wall time inside collectives (gradient buckets, log reduction, epoch
order) over training time, averaged over the ranks. That time includes waiting for the slower rank, so it
is an upper bound on what the wire itself costs.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time


def worker(args):
    import ember
    from ember import distributed
    from ember.demo import lenet5

    distributed.init()
    ember.utils.set_random_seed(0)
    (x, y), _ = ember.datasets.digits(test_size=0.2, seed=0)
    model = lenet5()
    model.compile(optimizer=ember.optimizers.Adam(learning_rate=2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, distributed=True)  # warm-up: not timed
    distributed.barrier()
    distributed.reset_communication_stats()
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, distributed=True)
    seconds = time.perf_counter() - start
    stats = distributed.communication_stats()
    shares = distributed.all_gather(ember.tensor([stats["seconds"] / seconds, stats["calls"]], dtype="float64"))
    if distributed.rank() == 0:
        print("RESULT " + json.dumps({
            "ranks": distributed.world_size(), "threads": ember.get_num_threads(), "batch": args.batch_size,
            "images_per_s": len(x) * args.epochs / seconds,
            "comm_share": sum(s.numpy()[0] for s in shares) / len(shares),
            "collectives_per_step": float(shares[0].numpy()[1]) / (args.epochs * -(-len(x) // args.batch_size))}))


def mpiexec():
    beside = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("bench/distributed.py: no mpiexec; pip install 'ember[distributed]'")
    return found


def run(ranks, threads, batch_size, epochs):
    command = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", "--batch-size", str(batch_size),
               "--epochs", str(epochs)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    job = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    for line in job.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.exit(f"bench/distributed.py: {' '.join(command)} failed ({job.returncode}):\n{job.stdout}\n{job.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--batch-sizes", default="32,128", help="global batch sizes to measure")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration; the best is kept")
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import ember

    cores = len(os.sched_getaffinity(0))
    configurations = [(1, cores), (1, 1), (2, max(1, cores // 2))]
    print(f"ember {ember.__version__} | digits LeNet-5 (ember.demo) | {args.epochs} timed epochs after one "
          f"warm-up, best of {args.rounds} rounds | {cores} cores | load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'ranks':>5} {'threads/rank':>12} {'global batch':>12} {'images/s':>10} {'speedup':>8} "
          f"{'comm share':>10} {'collectives/step':>16}")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        best = {}
        for _ in range(args.rounds):
            for config in configurations:
                r = run(*config, batch_size, args.epochs)
                if config not in best or r["images_per_s"] > best[config]["images_per_s"]:
                    best[config] = r
        baseline = best[configurations[0]]["images_per_s"]
        for config in configurations:
            r = best[config]
            print(f"{r['ranks']:>5} {r['threads']:>12} {r['batch']:>12} {r['images_per_s']:>10,.0f} "
                  f"{r['images_per_s'] / baseline:>8.2f} {100 * r['comm_share']:>9.1f}% "
                  f"{r['collectives_per_step']:>16.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
