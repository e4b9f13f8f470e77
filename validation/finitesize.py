"""Validation of the finite-size fit x(t; d) = x_inf(t) + a(t)/d (docs/finite-size.md, "The 1/d
fit"): two clusters, GD, where the 1/d law is the leading correction.

Simulations at d = 250, 500, 1000, 2000 (disjoint seed ranges; more seeds at small d, where a
seed is cheap and the seed-to-seed scatter is large), the weighted least-squares fit at every
recorded time, and x_inf against the DMFT: gap, combined error sqrt(inf_sem^2 + sem_dmft^2)
and z. chi^2 per time has 2 degrees of freedom.

Run: ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=src python validation/finitesize.py > validation/finitesize.md``
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

import gmmdmft as g
from gmmdmft.finitesize import finite_size

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PROBLEM = dict(alpha=2.0, delta=0.5, lam=0.0)
TRAINING = dict(algorithm="gd", eta=0.2, t_max=20.0, R=0.01)
DS = (250, 500, 1000, 2000)
SEEDS = (400, 200, 100, 50)
DMFT = dict(samples=160000, response_samples=8000, max_iter=12, tol=0.0, seed=0)
NAMES = ("gen_error", "train_loss", "norm", "m")


def main():
    problem, training = g.Problem(**PROBLEM), g.Training(**TRAINING)
    c0, t0 = time.process_time(), time.perf_counter()
    r = finite_size(problem, training, ds=DS, seeds=SEEDS, dmft=g.DMFTOptions(**DMFT),
                    progress=False)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print("# Validation: the finite-size fit eps(t; d) = eps_inf(t) + a(t)/d\n")
    env = " ".join(f"{k}={os.environ[k]}" for k in BLAS_ENV if k in os.environ)
    print(f"Command: `{env + ' ' if env else ''}PYTHONPATH=src python validation/finitesize.py "
          + " ".join(sys.argv[1:]) + "`\n")
    print(f"gmmdmft {g.__version__}; problem {problem.params()}; training {training.params()}; "
          f"d = {list(DS)} with seeds {list(SEEDS)} (disjoint ranges); DMFT {DMFT}; "
          f"{cpu:.0f} s CPU ({wall:.0f} s wall, 2 shared cores)\n")
    for name in NAMES:
        fit = r.fits[name]
        gap, sigma, z = r.gap(name)
        k = slice(1, None)  # t = 0: exact (gen_error 1/2 on average, m and norm by the law)
        p = fit.p_values()[k]
        print(f"## {name}\n")
        print(f"Over the {len(r.t) - 1} recorded times t > 0: mean chi^2 {fit.mean_chi2:.2f} "
              f"(dof {fit.dof}); fraction with p < 0.05: {np.mean(p < 0.05):.2f}; "
              f"|z| of eps_inf - DMFT: max {np.nanmax(np.abs(z[k])):.2f}, rms "
              f"{math.sqrt(np.nanmean(z[k] ** 2)):.2f}, fraction > 2: "
              f"{np.nanmean(np.abs(z[k]) > 2):.2f}. The largest d alone: |z| of x(d = {DS[-1]}) - "
              f"DMFT max {largest_d_z(r, name):.2f}.\n")
        print("| t | " + " | ".join(f"d = {d}" for d in DS) + " | x_inf | +- | a | +- | chi^2 | "
              "DMFT | gap | z |")
        print("|---" * (len(DS) + 9) + "|")
        step = max(1, round(1.0 / training.eta))
        for i in range(0, len(r.t), step):
            sims = " | ".join(f"{getattr(s, name)[i]:.5f} +- {getattr(s, name + '_sem')[i]:.5f}"
                              for s in r.simulations)
            kd = int(np.searchsorted(r.dmft.t, r.t[i] - 1e-9))
            print(f"| {r.t[i]:g} | {sims} | {fit.inf[i]:.5f} | {fit.inf_sem[i]:.5f} | "
                  f"{fit.a[i]:+.3f} | {fit.a_sem[i]:.3f} | {fit.chi2[i]:.2f} | "
                  f"{getattr(r.dmft, name)[kd]:.5f} | {gap[i]:+.5f} | {z[i]:+.2f} |")
        print()


def largest_d_z(r, name):
    s = r.simulations[-1]
    k = np.searchsorted(r.dmft.t, r.t - 1e-9)
    diff = getattr(s, name) - getattr(r.dmft, name)[k]
    sig = np.hypot(getattr(s, name + "_sem"), getattr(r.dmft, name + "_sem")[k])
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmax(np.abs(diff[1:] / sig[1:])))


if __name__ == "__main__":
    main()
