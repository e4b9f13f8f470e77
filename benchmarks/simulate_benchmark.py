"""Simulator benchmark: time per step and per seed, seeds advanced together or one at a time,
against two bare matrix-vector products with the same (stacked) data.

    python benchmarks/simulate_benchmark.py                   # d = 500, 2000, 8000 (alpha = 2)
    python benchmarks/simulate_benchmark.py --d 500 --fig1    # also the Fig. 1 left command
    python benchmarks/simulate_benchmark.py --d 8000 --seeds 2 --algorithms gd --dtypes float32

For each d, dtype and algorithm it runs ``gmmdmft.simulate`` twice on the same seeds: with the
default grouping (``seeds_together`` chosen from the memory and cache sizes, or --seeds-together)
and with ``seeds_together=1``. Columns:

* ``S``: seeds advanced together; ``together``, ``one``: s/step/seed (``stats["time_per_step"]``)
  of the two runs;
* ``bare S``: s/step/seed of ``X @ w`` and ``X.T @ v`` on the stack of S data matrices
  (``np.matmul`` on the stack, as in the simulation), ``bare 1``: the same on one X, both
  measured here in the same process;
* ``ratio``: together / bare S (the per-step overhead of the grouped run), ``ratio 1``:
  one / bare 1.

Each time is the fastest of --repeat runs (interleaved), which filters out other load.

The data draw is not a step and is not timed. Share the machine with nothing else, or set
``OPENBLAS_NUM_THREADS=1``: a BLAS thread that waits for a busy core makes products 10-100x slower.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gmmdmft as g
from gmmdmft.simulation import make_data


def stacked_data(problem, d, seeds, dtype):
    """The data matrices of seeds 0 ... seeds-1, stacked (seeds x n x d)."""
    n = max(1, int(round(problem.alpha * d)))
    X = np.empty((seeds, n, d), dtype=dtype)
    for i in range(seeds):
        make_data(problem, d, np.random.default_rng(i), out=X[i])
    return X


def bare_products(X, steps):
    """Seconds per step and per stacked matrix of h = X w and X^T v (batched np.matmul)."""
    S, n, d = X.shape
    w = np.full((S, d), 1.0 / d, dtype=X.dtype)
    v = np.full((S, n), 1.0 / n, dtype=X.dtype)
    h = np.empty((S, n), dtype=X.dtype)
    grad = np.empty((S, d), dtype=X.dtype)
    np.matmul(X, w[:, :, None], out=h[:, :, None])  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        np.matmul(X, w[:, :, None], out=h[:, :, None])
        np.matmul(v[:, None, :], X, out=grad[:, None, :])
    return (time.perf_counter() - t0) / (steps * S)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="*", default=[500, 2000, 8000])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seeds-together", type=int, default=None,
                    help="group size of the grouped run (default: simulate's automatic choice)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per run (default: ~1e9 / (seeds n d), between 5 and 200)")
    ap.add_argument("--every", type=int, default=1, help="record every k-th step")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each measurement, interleaved; the fastest is printed")
    ap.add_argument("--dtypes", nargs="*", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--algorithms", nargs="*", default=["gd", "persistent-sgd"],
                    choices=["gd", "persistent-sgd"])
    ap.add_argument("--fig1", action="store_true", help="time the Fig. 1 left persistent-SGD run")
    args = ap.parse_args(argv)
    problem = g.Problem(alpha=2, delta=0.5)
    print(f"{'d':>6} {'dtype':>8} {'algorithm':>15} {'S':>3} {'together':>9} {'one':>9} "
          f"{'bare S':>9} {'bare 1':>9} {'ratio':>6} {'ratio 1':>7}")
    for d in args.d:
        n = max(1, int(round(problem.alpha * d)))
        steps = args.steps or int(np.clip(1e9 / (args.seeds * n * d), 5, 200))
        for dtype in args.dtypes:
            kw = dict(d=d, seeds=args.seeds, every=args.every, dtype=dtype, progress=False)
            best = {}  # (algorithm, together?) -> fastest s/step/seed
            for _ in range(args.repeat):
                for algorithm in args.algorithms:
                    extra = dict(b=0.3, tau=1 / 0.6) if algorithm == "persistent-sgd" else {}
                    training = g.Training(algorithm, eta=0.2, t_max=0.2 * steps, **extra)
                    for key, st in ((True, args.seeds_together), (False, 1)):
                        stats = g.simulate(problem, training, seeds_together=st, **kw).stats
                        t = stats["time_per_step"]
                        best[algorithm, key] = min(best.get((algorithm, key), t), t)
                        if key:
                            S = stats["seeds_together"]
            X = stacked_data(problem, d, S, dtype)
            bare = min(bare_products(X, steps) for _ in range(args.repeat))
            bare1 = min(bare_products(X[:1], steps) for _ in range(args.repeat))
            del X
            for algorithm in args.algorithms:
                t, t1 = best[algorithm, True], best[algorithm, False]
                print(f"{d:>6} {dtype:>8} {algorithm:>15} {S:>3} {t:9.2e} {t1:9.2e} {bare:9.2e} "
                      f"{bare1:9.2e} {t / bare:6.2f} {t1 / bare1:7.2f}", flush=True)
    if args.fig1:
        training = g.Training("persistent-sgd", eta=0.2, t_max=100, R=0.01, b=0.3, tau=1 / 0.6)
        t0 = time.perf_counter()
        res = g.simulate(problem, training, d=500, seeds=10, every=5, progress=False)
        print(f"\nFig. 1 left (persistent SGD b = 0.3, d = 500, 10 seeds, t <= 100, "
              f"{res.stats['seeds_together']} together): {time.perf_counter() - t0:.2f} s wall, "
              f"final gen_error {res.gen_error[-1]:.4f} +- {res.gen_error_sem[-1]:.4f}")


if __name__ == "__main__":
    main()
