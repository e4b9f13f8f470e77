"""Simulator benchmark: time per step against two bare matrix-vector products with the same X.

    python benchmarks/simulate_benchmark.py                 # d = 500, 2000, 8000 (alpha = 2)
    python benchmarks/simulate_benchmark.py --d 500 --fig1  # also the Fig. 1 left command

Each simulated step does h = X w and X^T g plus O(n + d) work; the ratio printed is (time per
step of ``gmmdmft.simulate``) / (time of ``X @ w`` + ``X.T @ v`` on the same X), both measured
here, in the same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gmmdmft as g
from gmmdmft.simulation import make_data


def bare_products(X, steps):
    w = np.ones(X.shape[1]) / X.shape[1]
    v = np.ones(X.shape[0]) / X.shape[0]
    t0 = time.perf_counter()
    for _ in range(steps):
        h = X @ w
        w = X.T @ (v + 1e-3 * h) * 1e-3 + w
    return (time.perf_counter() - t0) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, nargs="*", default=[500, 2000, 8000])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--fig1", action="store_true", help="time the Fig. 1 left persistent-SGD run")
    args = ap.parse_args(argv)
    problem = g.Problem(alpha=2, delta=0.5)
    print(f"{'d':>6} {'algorithm':>15} {'s/step':>10} {'bare s/step':>12} {'ratio':>6}")
    for d in args.d:
        X, _, _ = make_data(problem, d, np.random.default_rng(0))
        bare = bare_products(X, args.steps)
        del X
        for training in (g.Training("gd", eta=0.2, t_max=0.2 * args.steps),
                         g.Training("persistent-sgd", eta=0.2, t_max=0.2 * args.steps, b=0.3, tau=1 / 0.6)):
            res = g.simulate(problem, training, d=d, seeds=1, every=1, progress=False)
            # the data draw is not a step: time the steps only through the matvec share
            per_step = res.stats["time_per_step"]
            print(f"{d:>6} {training.algorithm:>15} {per_step:10.2e} {bare:12.2e} {per_step / bare:6.2f}")
    if args.fig1:
        training = g.Training("persistent-sgd", eta=0.2, t_max=100, R=0.01, b=0.3, tau=1 / 0.6)
        t0 = time.perf_counter()
        res = g.simulate(problem, training, d=500, seeds=10, every=5, progress=False)
        print(f"\nFig. 1 left (persistent SGD b = 0.3, d = 500, 10 seeds, t <= 100): "
              f"{time.perf_counter() - t0:.2f} s wall, final gen_error {res.gen_error[-1]:.4f} "
              f"+- {res.gen_error_sem[-1]:.4f}")


if __name__ == "__main__":
    main()
