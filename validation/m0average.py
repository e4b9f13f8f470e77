"""Validation of the m0-averaged DMFT (docs/finite-size.md): the three symmetric-model panels
of the paper whose seed averages differ from the mean-m0 DMFT during the symmetry breaking.

For each case: the seed-averaged simulation (each seed its own ``gmmdmft.simulate`` call, which
gives the same numbers as one call with all seeds), the plain DMFT at the mean
|m(0)| = sqrt(2R/(pi d)), the m0-averaged DMFT (default nodes), and

* the gap of each DMFT to the seed average at every recorded time, with z = gap / sqrt(sem_sim^2
  + sem_dmft^2) and the criterion |gap| <= 0.01 + 2.5 sqrt(sem_sim^2 + sem_dmft^2);
* the predicted seed spread (extras["gen_error_spread"]) against the sample standard deviation
  over seeds (its error by bootstrap over seeds: the law is far from normal during the breaking);
* whether m(0) explains the seeds: each seed's breaking time (first time eps_gen < 0.25) against
  log|m(0)|, and the DMFT nodes' breaking times against log m0_k;
* with ``--cost``: the K nodes solved with the full N each (the node average with N per node)
  against the default N/K-share per node, and the wall-time ratios to one plain solve.

Run: ``PYTHONPATH=src python validation/m0average.py [--cases fig2,fig3,fig4] [--cost]
[--nodes K1,K2] > validation/m0average.md``. Results are cached under out/validation-cache.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time

import numpy as np

import gmmdmft as g
from gmmdmft.dmft.m0average import default_m0_nodes, solve_dmft_m0_average
from gmmdmft.result import OBSERVABLES

CASES = {
    "fig2": dict(title="Fig. 2 (left), GD", problem=dict(clusters=3, alpha=3, delta=0.05, L=0.7, lam=0.1),
                 training=dict(algorithm="gd", eta=0.2, t_max=30, R=0.01), d=1000, seeds=40,
                 window=(3, 8)),
    "fig3": dict(title="Fig. 3 (left), persistent SGD b = 1/tau = 0.3",
                 problem=dict(clusters=3, alpha=2, delta=0.05, L=0.7, lam=0.0),
                 training=dict(algorithm="persistent-sgd", b=0.3, inv_tau=0.3, eta=0.2, t_max=40, R=1.0),
                 d=2000, seeds=20, window=(3, 12)),
    "fig4": dict(title="Fig. 4 (right), GD R = 5", problem=dict(clusters=3, alpha=3, delta=0.1, L=0.7, lam=0.0),
                 training=dict(algorithm="gd", eta=0.1, t_max=50, R=5.0), d=1000, seeds=40,
                 window=(1, 8)),
}
# the panels' DMFT options (src/gmmdmft/panels/*.toml)
DMFT = dict(samples=10000, response_samples=1000, max_iter=8, tol=0.0, seed=0)
CACHE = os.path.join("out", "validation-cache")


def cached(name, compute):
    path = os.path.join(CACHE, name + ".pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    t0 = time.perf_counter()
    value = compute()
    wall = time.perf_counter() - t0
    os.makedirs(CACHE, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump((value, wall), f)
    return value, wall


def seeds_of(case, problem, training):
    """(times, runs[seed, observable, time]): one simulate call per seed."""
    def compute():
        runs = []
        for s in range(case["seeds"]):
            r = g.simulate(problem, training, d=case["d"], seeds=1, seed0=s, progress=False)
            runs.append([getattr(r, o) for o in OBSERVABLES])
        return r.t, np.array(runs)
    return compute


def bootstrap_sd(x, reps=2000, seed=0):
    """Sample sd over seeds (axis 0) and its bootstrap standard error."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    boots = np.array([x[rng.integers(0, n, n)].std(axis=0, ddof=1) for _ in range(reps)])
    return x.std(axis=0, ddof=1), boots.std(axis=0, ddof=1)


def breaking_time(t, curve, level=0.25):
    below = np.flatnonzero(curve < level)
    return t[below[0]] if below.size else np.nan


def report(key, args):
    case = CASES[key]
    problem, training = g.Problem(**case["problem"]), g.Training(**case["training"])
    d, R = case["d"], training.R
    tag = f"{key}-d{d}"
    (t, runs), t_sim = cached(f"{tag}-sims{case['seeds']}", seeds_of(case, problem, training))
    plain, t_plain = cached(f"{tag}-plain", lambda: g.solve_dmft(problem, training, d=d, progress=False, **DMFT))
    K = default_m0_nodes(problem)
    avg, t_avg = cached(f"{tag}-avg{K}", lambda: solve_dmft_m0_average(
        problem, training, d=d, m0_nodes=K, progress=False, **DMFT))
    gen = runs[:, 0]
    S = gen.shape[0]
    sim_mean, sim_sem = gen.mean(0), gen.std(0, ddof=1) / math.sqrt(S)
    # the DMFT records every step; the simulations every step too (every = 1)
    idx = np.searchsorted(plain.t, t - 1e-9)
    print(f"## {case['title']}: d = {d}, {S} seeds, t <= {training.t_max:g}\n")
    print(f"problem {problem.params()}\n\ntraining {training.params()}\n")
    print(f"DMFT options {DMFT}; mean-m0 curve at m0 = sqrt(2R/(pi d)) = {plain.params['m0']:.5g}; "
          f"m0 average over |m(0)|, m(0) ~ N(0, R/d), K = {K} nodes m0_k = "
          f"{', '.join(f'{m:.3g}' for m in avg.extras['m0_nodes'])}\n")
    rows, fails = [], {"mean-m0": 0, "m0-average": 0}
    worst = {"mean-m0": (0, 0), "m0-average": (0, 0)}
    for i, k in enumerate(idx):
        row = [t[i], sim_mean[i], sim_sem[i]]
        for name, res in (("mean-m0", plain), ("m0-average", avg)):
            gap = res.gen_error[k] - sim_mean[i]
            sig = math.hypot(sim_sem[i], res.gen_error_sem[k])
            ok = abs(gap) <= 0.01 + 2.5 * sig
            fails[name] += not ok
            excess = abs(gap) - (0.01 + 2.5 * sig)
            if excess > worst[name][1] or worst[name] == (0, 0):
                worst[name] = (t[i], excess)
            row += [res.gen_error[k], gap, gap / sig if sig > 0 else (0.0 if gap == 0 else math.inf), ok]
        rows.append(row)
    print("Criterion at every recorded time: |gap| <= 0.01 + 2.5 SEM, SEM = sqrt(sem_sim^2 + sem_dmft^2).\n")
    for name in fails:
        print(f"* {name}: {fails[name]} of {len(rows)} recorded times fail; largest |gap| - "
              f"(0.01 + 2.5 SEM) = {worst[name][1]:+.4f} at t = {worst[name][0]:g}")
    lo, hi = case["window"]
    print(f"\nEvery recorded time in the breaking window t in [{lo}, {hi}], then every 10th step:\n")
    print("| t | sim | sem | mean-m0 | gap | z | ok | m0-avg | gap | z | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for j, r in enumerate(rows):
        if lo - 1e-9 <= r[0] <= hi + 1e-9 or j % 10 == 0:
            print(f"| {r[0]:.1f} | {r[1]:.4f} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:+.4f} | {r[5]:+.1f} | "
                  f"{'y' if r[6] else 'NO'} | {r[7]:.4f} | {r[8]:+.4f} | {r[9]:+.1f} | {'y' if r[10] else 'NO'} |")
    # spread
    sd, sd_err = bootstrap_sd(gen)
    print("\nPredicted seed spread (sd across the law of |m(0)|) against the measured sd over seeds "
          "(error: bootstrap over seeds):\n")
    print("| t | measured sd | +- | predicted | +- | ratio |")
    print("|---|---|---|---|---|---|")
    for s in sorted({3.0, 4.0, 5.0, *case.get("spread_times", ())}):
        i = int(np.argmin(abs(t - s)))
        k = idx[i]
        p, pe = avg.extras["gen_error_spread"][k], avg.extras["gen_error_spread_sem"][k]
        print(f"| {t[i]:g} | {sd[i]:.4f} | {sd_err[i]:.4f} | {p:.4f} | {pe:.4f} | "
              f"{p / sd[i] if sd[i] > 0 else float('nan'):.2f} |")
    # does m(0) explain the seeds?
    u = runs[:, 3, 0] / math.sqrt(R / d)
    tb = np.array([breaking_time(t, c) for c in gen])
    ok = np.isfinite(tb)
    print(f"\nm(0) and the breaking time t_b (first time eps_gen < 0.25): seeds' |m(0)|/sqrt(R/d) "
          f"mean {u.mean():.3f} (law {math.sqrt(2 / math.pi):.3f}), sd {u.std(ddof=1):.3f} "
          f"(law {math.sqrt(1 - 2 / math.pi):.3f}).")
    if ok.sum() > 2:
        slope, icpt = np.polyfit(np.log(u[ok]), tb[ok], 1)
        corr = np.corrcoef(np.log(u[ok]), tb[ok])[0, 1]
        resid = tb[ok] - (icpt + slope * np.log(u[ok]))
        nodes = avg.extras["m0_nodes"] / math.sqrt(R / d)
        tbn = np.array([breaking_time(plain.t, c) for c in avg.extras["node_gen_error"]])
        okn = np.isfinite(tbn)
        ns, ni = np.polyfit(np.log(nodes[okn]), tbn[okn], 1) if okn.sum() > 1 else (np.nan, np.nan)
        print(f"Simulations: t_b = {icpt:.3f} {slope:+.3f} log|u| (corr {corr:+.3f}, residual sd "
              f"{resid.std(ddof=2):.3f}, sd of t_b {tb[ok].std(ddof=1):.3f}, {int((~ok).sum())} seeds "
              f"unbroken at t_max); DMFT nodes: t_b = {ni:.3f} {ns:+.3f} log(m0/sqrt(R/d)) "
              f"(node t_b: {', '.join(f'{x:.1f}' for x in tbn)}).")
    print(f"\nWall times (this run, 2 shared cores, not comparable across cases): simulations "
          f"{t_sim:.0f} s, mean-m0 solve {t_plain:.1f} s, m0 average (K = {K}) {t_avg:.1f} s "
          f"= {t_avg / t_plain:.2f} plain solves.\n")
    if args.cost:
        cost(key, tag, problem, training, d, K, plain, avg, t_plain, t_avg)
    for K2 in args.nodes:
        other, t_other = cached(f"{tag}-avg{K2}", lambda: solve_dmft_m0_average(
            problem, training, d=d, m0_nodes=K2, progress=False, **DMFT))
        diff = other.gen_error - avg.gen_error
        sig = np.hypot(other.gen_error_sem, avg.gen_error_sem)
        ds = other.extras["gen_error_spread"] - avg.extras["gen_error_spread"]
        i = int(np.argmax(np.abs(diff)))
        j = int(np.argmax(np.abs(ds)))
        print(f"* K = {K2} against K = {K}: largest |mean difference| {abs(diff[i]):.4f} at t = "
              f"{plain.t[i]:g} (combined sem {sig[i]:.4f}); largest |spread difference| "
              f"{abs(ds[j]):.4f} at t = {plain.t[j]:g}; wall {t_other:.1f} s")
    print()


def cost(key, tag, problem, training, d, K, plain, avg, t_plain, t_avg):
    """The K nodes each with the full N: the node average with N per node."""
    def full():
        from gmmdmft.dmft.m0average import combine, m0_average_nodes
        o = g.DMFTOptions(d=d, m0_average=True, m0_nodes=K, **DMFT)
        m0, w = m0_average_nodes(problem, training, o)
        rs = [g.solve_dmft(problem, training, m0=float(m), progress=False,
                           **dict(DMFT, seed=1000 + k)) for k, m in enumerate(m0)]
        return combine(rs, w)
    (curves, extras), t_full = cached(f"{tag}-full{K}", full)
    diff = avg.gen_error - curves["gen_error"]
    sig = np.hypot(avg.gen_error_sem, curves["gen_error_sem"])
    z = np.where(sig > 0, diff / np.where(sig > 0, sig, 1), 0)
    i = int(np.argmax(np.abs(z)))
    ds = avg.extras["gen_error_spread"] - extras["gen_error_spread"]
    dsig = np.hypot(avg.extras["gen_error_spread_sem"], extras["gen_error_spread_sem"])
    j = int(np.argmax(np.abs(ds)))
    print(f"Cost and accuracy of the N/K share: K = {K} nodes with N = {DMFT['samples']} draws each "
          f"took {t_full:.1f} s = {t_full / t_plain:.2f} plain solves; the default (draws shared "
          f"by weight) {t_avg:.1f} s = {t_avg / t_plain:.2f} plain solves = {t_avg / t_full:.2f} "
          f"of the K full solves. Averaged gen_error, shared against full: largest |z| "
          f"{abs(z[i]):.2f} at t = {plain.t[i]:g} (difference {diff[i]:+.4f}, combined sem "
          f"{sig[i]:.4f}); rms z over all times {np.sqrt(np.mean(z ** 2)):.2f}; sem of the "
          f"average: shared max {np.nanmax(avg.gen_error_sem):.4f}, full max "
          f"{np.nanmax(curves['gen_error_sem']):.4f}. Spread, shared against full: largest "
          f"|difference| {abs(ds[j]):.4f} at t = {plain.t[j]:g} (combined sem {dsig[j]:.4f}).\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="fig2,fig3,fig4")
    ap.add_argument("--cost", action="store_true", help="also the K full solves (slow)")
    ap.add_argument("--nodes", default="", help="other K to compare with the default")
    args = ap.parse_args(argv)
    args.nodes = [int(k) for k in args.nodes.split(",") if k]
    print("# Validation: the DMFT averaged over the law of m(0)\n")
    print("Command: `PYTHONPATH=src python validation/m0average.py " + " ".join(sys.argv[1:]) + "`\n")
    print(f"gmmdmft {g.__version__}\n")
    for key in args.cases.split(","):
        report(key, args)


if __name__ == "__main__":
    main()
