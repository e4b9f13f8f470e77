"""Validation of the flow limit (eta -> 0) and of persistent SGD's batch chains (issue 11, items
3 and 4). Prints the Markdown report committed as validation/flow.md.

    python validation/flow.py                 # everything (cached runs are reused)
    python validation/flow.py --stage sims    # only the d = 4000 simulations (the long part)

Runs are cached (one pickle per simulation seed and per DMFT solve) under --cache, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import warnings

import numpy as np

import gmmdmft as g
from gmmdmft.schedules import BatchChainWarning

PROBLEM = g.Problem(clusters=2, alpha=2.0, delta=0.5, lam=0.0)
R, INV_TAU = 0.01, 0.6
# must-show 1: the flow limit of persistent SGD at t <= 30 against d = 4000 simulations
FLOW_T, FLOW_BS, FLOW_TOL = 30.0, (0.1, 0.3), {0.1: 0.002, 0.3: 0.001}
SIM_D, SIM_ETA, SIM_SEEDS, SIM_EVERY = 4000, 0.02, 10, 5
SIM_CHAIN = "exact"  # valid at every eta; at eta = 0.02 the linear chain is valid too
# must-show 2: the clipped chain at the paper's Fig. 1 (left) point
FIG1 = dict(b=0.1, eta=0.2, t_max=100.0)
FIG1_SIMS = ((500, 100), (1000, 50), (2000, 25))  # (d, seeds)


def psgd(b, eta, t_max, chain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchChainWarning)
        return g.Training(algorithm="persistent-sgd", b=b, inv_tau=INV_TAU, eta=eta, R=R,
                          t_max=t_max, batch_chain=chain)


def cached(cache, name, compute):
    """compute() once, then from cache/name.pkl."""
    path = os.path.join(cache, name + ".pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    t0 = time.perf_counter()
    value = compute()
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(value, f)
    os.replace(tmp, path)
    return value


def seed_curves(cache, tag, training, d, seeds, every):
    """Per-seed curves (observable -> (seeds, times) array) and the times, one cached
    simulation per seed."""
    runs = [cached(cache, f"sim-{tag}-d{d}-s{s}",
                   lambda s=s: g.simulate(PROBLEM, training, d=d, seeds=1, seed0=s, every=every,
                                          progress=False))
            for s in range(seeds)]
    curves = {o: np.array([getattr(r, o) for r in runs]) for o in g.result.OBSERVABLES}
    return runs[0].t, curves


def mean_sem(a):
    return a.mean(axis=0), a.std(axis=0, ddof=1) / np.sqrt(a.shape[0])


def stage_sims(cache):
    for b in FLOW_BS:
        seed_curves(cache, f"flow-b{b}", psgd(b, SIM_ETA, FLOW_T, SIM_CHAIN), SIM_D, SIM_SEEDS,
                    SIM_EVERY)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), ".cache"))
    ap.add_argument("--stage", default="all", choices=("sims", "all"))
    args = ap.parse_args(argv)
    os.makedirs(args.cache, exist_ok=True)
    stage_sims(args.cache)


if __name__ == "__main__":
    main()
