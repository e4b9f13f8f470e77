"""Why the squared hinge at lam = 0 fails validation/open_model.py: the DMFT iterations, one by one.

    PYTHONPATH=src nice -n 5 python validation/hinge_iterations.py > validation/hinge_iterations.md

Two clusters, squared-hinge loss, GD, alpha = 2, Delta = 0.5, eta = 0.2, R = 0.01, t <= 50
(T = 250). The solve_dmft iteration is run step by step (its internal loop, so that each
iteration's own curves can be printed; solve_dmft returns their mean after the burn-in) under
several settings, and each iteration's eps_gen, |w|^2/d and training loss at t = 10 ... 50 are
printed next to finite-d simulations (d = 2000 and 4000, 4 seeds). In a converging iteration
these numbers settle within their Monte-Carlo scatter; here they wander (the training loss at
late times stays well above the simulations', where every margin has passed 1 and GD stops).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import gmmdmft as g
from gmmdmft._backend import get_backend
from gmmdmft.dmft.solver import _options, _Solver

TIMES = (10, 20, 30, 40, 50)
VARIANTS = {
    "default (20000 draws, 1000 response draws, float32)": dict(lam=0.0, kw={}),
    "response draws 4000, float64": dict(lam=0.0, kw=dict(response_samples=4000,
                                                          response_dtype="float64")),
    "80000 draws, 4000 response draws": dict(lam=0.0, kw=dict(samples=80000,
                                                              response_samples=4000)),
    "all-causal sweeps (lagged = false)": dict(lam=0.0, kw=dict(lagged=False)),
    "eta = 0.1": dict(lam=0.0, kw={}, eta=0.1),
    "damping 0.5": dict(lam=0.0, kw=dict(damping=0.5)),
    "damping 0.3, 20 iterations": dict(lam=0.0, kw=dict(damping=0.3, max_iter=20)),
    "lam = 0.01 (default options)": dict(lam=0.01, kw={}),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def training(eta=0.2):
    return g.Training("gd", eta=eta, R=0.01, t_max=float(max(TIMES)))


def row(values, fmt):
    return " | ".join(fmt % v for v in values)


def main():
    print("# Squared hinge, lam = 0: the DMFT iterations one by one\n")
    print("```\nPYTHONPATH=src nice -n 5 python validation/hinge_iterations.py > "
          "validation/hinge_iterations.md\n```\n")
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    head = " | ".join(f"t={t}" for t in TIMES)
    print("## Simulations\n")
    for lam in (0.0, 0.01):
        for d in (2000, 4000):
            log(f"simulate lam={lam} d={d}")
            problem = g.Problem(loss="squared-hinge", lam=lam)
            r = g.simulate(problem, training(), d=d, seeds=4, every=5, progress=False)
            idx = [int(np.argmin(np.abs(r.t - t))) for t in TIMES]
            print(f"lam = {lam:g}, d = {d}, 4 seeds\n")
            print(f"| | {head} |\n|---|" + "---|" * len(TIMES))
            print(f"| eps | {row([r.gen_error[i] for i in idx], '%.4f')} |")
            print(f"| sem | {row([r.gen_error_sem[i] for i in idx], '%.4f')} |")
            print(f"| norm | {row([r.norm[i] for i in idx], '%.2f')} |")
            print(f"| train loss | {row([r.train_loss[i] for i in idx], '%.5f')} |\n")
    print("## DMFT iterations (iterations 1-2 are the burn-in solve_dmft discards)\n")
    for label, v in VARIANTS.items():
        log(f"dmft: {label}")
        problem = g.Problem(loss="squared-hinge", lam=v["lam"])
        tr = training(v.get("eta", 0.2))
        options = _options(problem, tr, None, dict(dict(tol=0.0, max_iter=8), **v["kw"]))
        solver = _Solver(problem, tr, options, 0.0, get_backend(None, "cpu"), None)
        idx = [int(round(t / tr.eta)) for t in TIMES]
        t0 = time.perf_counter()
        print(f"### {label}\n")
        print(f"| iteration | eps: {head} | norm: {head} | train loss at t=50 |")
        print("|---|" + "---|" * (2 * len(TIMES) + 1))
        while not solver.done:
            solver.iterate()
            gen, loss, _, _, norm = solver.runs[-1]
            print(f"| {len(solver.runs)} | {row(gen[idx], '%.4f')} | {row(norm[idx], '%.2f')} | "
                  f"{loss[idx[-1]]:.5f} |", flush=True)
        print(f"\n({time.perf_counter() - t0:.0f} s)\n")


if __name__ == "__main__":
    main()
