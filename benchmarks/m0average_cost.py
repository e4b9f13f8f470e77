"""Cost of the m0-averaged DMFT against one plain solve and against K full solves, in the same
run (docs/finite-size.md, "Cost").

    OPENBLAS_NUM_THREADS=1 python benchmarks/m0average_cost.py              # Fig. 2 (left) GD, t <= 30
    OPENBLAS_NUM_THREADS=1 python benchmarks/m0average_cost.py --t-max 50 --repeat 2

Each of the three computations (plain solve at the mean m0; the m0 average with its default
shares of the N draws; the K nodes with N draws each) is timed --repeat times, interleaved, and
the fastest CPU time of this process is kept (the machine may be shared: wall time then
measures the other jobs). Ratios: m0 average / plain, m0 average / K full solves.
"""

from __future__ import annotations

import argparse
import time

import gmmdmft as g
from gmmdmft.dmft.m0average import (default_m0_nodes, m0_average_nodes,
                                    solve_dmft_m0_average)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-max", type=float, default=30.0)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--response-samples", type=int, default=1000)
    ap.add_argument("--max-iter", type=int, default=8)
    ap.add_argument("--nodes", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    problem = g.Problem(clusters=3, alpha=3, delta=0.05, L=0.7, lam=0.1)
    training = g.Training("gd", eta=0.2, t_max=a.t_max, R=0.01)
    K = a.nodes or default_m0_nodes(problem)
    opts = dict(samples=a.samples, response_samples=a.response_samples, max_iter=a.max_iter,
                tol=0.0, d=1000)
    m0, _ = m0_average_nodes(problem, training, g.DMFTOptions(m0_average=True, m0_nodes=K, **opts))
    full_opts = dict(opts, d=None)
    runs = {
        "plain": lambda: g.solve_dmft(problem, training, progress=False, **opts),
        "m0 average": lambda: solve_dmft_m0_average(problem, training, m0_average=True,
                                                    m0_nodes=K, progress=False, **opts),
        "K full": lambda: [g.solve_dmft(problem, training, m0=float(m), progress=False,
                                        **full_opts) for m in m0],
    }
    best = {k: float("inf") for k in runs}
    for _ in range(a.repeat):
        for name, run in runs.items():
            c0 = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - c0)
    print(f"T = {training.steps} steps, N = {a.samples}, response_samples = "
          f"{a.response_samples}, max_iter = {a.max_iter}, K = {K}; fastest CPU seconds of "
          f"{a.repeat}:")
    for name, t in best.items():
        print(f"  {name:11s} {t:8.2f} s")
    print(f"m0 average / plain = {best['m0 average'] / best['plain']:.2f}; "
          f"m0 average / K full = {best['m0 average'] / best['K full']:.2f}; "
          f"K full / plain = {best['K full'] / best['plain']:.2f}")


if __name__ == "__main__":
    main()
