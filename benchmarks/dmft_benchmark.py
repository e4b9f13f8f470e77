"""DMFT benchmark: time per phase and per iteration, against the straightforward baseline.

    python benchmarks/dmft_benchmark.py            # T = 100, 250, 500
    python benchmarks/dmft_benchmark.py --T 100    # one horizon

Two clusters, GD, alpha = 2, Delta = 0.5, lam = 0, eta = 0.2, R = 0.01. For each T it runs
``gmmdmft.solve_dmft`` (3 iterations: the causal sweep and two re-estimates of M_R) and the
baseline of ``naive_dmft.py`` (2 damped Picard iterations) with the same N and N_R, in the same
process, and prints seconds per iteration in each phase and the ratio baseline/gmmdmft. Per
iteration is not the whole story: the baseline's Picard iteration needs tens of iterations to
converge over the horizon (measured below at T = 100), the causal sweep needs none, so the
last table compares the time to a solution.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gmmdmft as g  # noqa: E402
from gmmdmft.dmft import solve_dmft  # noqa: E402
from naive_dmft import naive_dmft  # noqa: E402

PHASES = ("process", "noise", "M_C", "M_R", "two_time")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="*", default=[100, 250, 500])
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--response-samples", type=int, default=1000)
    ap.add_argument("--picard-iterations", type=int, default=40,
                    help="baseline iterations for the time-to-solution check at T = 100")
    args = ap.parse_args(argv)
    problem = g.Problem(alpha=2, delta=0.5)
    N, NR = args.samples, args.response_samples
    print(f"N = {N} draws, N_R = {NR} response draws; seconds per iteration\n")
    print(f"{'T':>5} {'impl':>9} " + " ".join(f"{p:>9}" for p in PHASES) + f" {'total':>9} {'ratio':>7}")
    for T in args.T:
        training = g.Training("gd", eta=0.2, t_max=0.2 * T, R=0.01)
        t0 = time.perf_counter()
        fast = solve_dmft(problem, training, samples=N, response_samples=NR, max_iter=3, tol=0,
                          progress=False)
        fast_it = (time.perf_counter() - t0) / 3
        t0 = time.perf_counter()
        _, slow_tm = naive_dmft(problem, training, samples=N, response_samples=NR, iterations=2)
        slow_it = (time.perf_counter() - t0) / 2
        ft = {p: fast.stats["timing"][p] / 3 for p in PHASES}
        st = {p: slow_tm[p] / 2 for p in PHASES}
        print(f"{T:>5} {'gmmdmft':>9} " + " ".join(f"{ft[p]:9.3f}" for p in PHASES) + f" {fast_it:9.3f}")
        print(f"{T:>5} {'baseline':>9} " + " ".join(f"{st[p]:9.3f}" for p in PHASES)
              + f" {slow_it:9.3f} {slow_it / fast_it:7.1f}")
        sys.stdout.flush()

    # time to a solution at T = 100: the baseline's Picard iteration against gmmdmft's default
    T = 100
    training = g.Training("gd", eta=0.2, t_max=0.2 * T, R=0.01)
    t0 = time.perf_counter()
    ref = solve_dmft(problem, training, samples=N, response_samples=NR, progress=False)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves, _ = naive_dmft(problem, training, samples=N, response_samples=NR,
                           iterations=args.picard_iterations, record=True)
    t_slow = time.perf_counter() - t0
    gaps = [float(np.max(np.abs(c - ref.gen_error))) for c in curves["history"]]
    tol = max(2e-3, 3 * float(np.max(ref.gen_error_sem)))
    settled = next((i + 1 for i in range(len(gaps)) if max(gaps[i:]) < tol), None)
    print(f"\ntime to solution, T = {T}: gmmdmft default {t_fast:.1f} s "
          f"({ref.stats['iterations']} iterations, max gen_error sem {np.max(ref.gen_error_sem):.1e})")
    if settled is None:
        print(f"baseline: not within {tol:.1e} of it after {len(gaps)} iterations "
              f"({t_slow:.1f} s); gaps {np.round(gaps[::5], 4)}")
    else:
        t_needed = t_slow * settled / len(gaps)
        print(f"baseline: within {tol:.1e} of it from iteration {settled} on, i.e. {t_needed:.1f} s; "
              f"ratio {t_needed / t_fast:.1f}")


if __name__ == "__main__":
    main()
