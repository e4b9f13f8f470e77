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
* the same nodes with N draws each (the node average with N per node) against the default
  N/K share per node, and the CPU-time ratios to one plain solve;
* with ``--rules``: the convergence check that chose the rule and K (:func:`rules`).

Run: ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=src python validation/m0average.py [--rules fig2,fig4] [--cases fig2,fig3,fig4]
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

# single-threaded BLAS: on shared cores a BLAS thread waiting for a busy core makes the small
# products of these runs 10-100x slower
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
CASES = {
    "fig2": dict(title="Fig. 2 (left), GD", problem=dict(clusters=3, alpha=3, delta=0.05, L=0.7, lam=0.1),
                 training=dict(algorithm="gd", eta=0.2, t_max=30, R=0.01), d=1000, seeds=40,
                 window=(3, 8), spread_times=(3.5, 4.5, 6)),
    "fig3": dict(title="Fig. 3 (left), persistent SGD b = 1/tau = 0.3",
                 problem=dict(clusters=3, alpha=2, delta=0.05, L=0.7, lam=0.0),
                 training=dict(algorithm="persistent-sgd", b=0.3, inv_tau=0.3, eta=0.2, t_max=40, R=1.0),
                 d=2000, seeds=20, window=(3, 16), spread_times=(8, 10, 12, 14, 16, 20)),
    "fig4": dict(title="Fig. 4 (right), GD R = 5", problem=dict(clusters=3, alpha=3, delta=0.1, L=0.7, lam=0.0),
                 training=dict(algorithm="gd", eta=0.1, t_max=50, R=5.0), d=1000, seeds=40,
                 window=(1, 10), spread_times=(2, 6, 8, 10, 20, 40)),
}
# the panels' DMFT options (src/gmmdmft/panels/*.toml)
DMFT = dict(samples=10000, response_samples=1000, max_iter=8, tol=0.0, seed=0)
CACHE = os.path.join("out", "validation-cache")


def cached(name, compute):
    path = os.path.join(CACHE, name + ".pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            value, cost = pickle.load(f)
        return value, cost if isinstance(cost, tuple) else Cost(cost)
    t0, c0 = time.perf_counter(), time.process_time()
    value = compute()
    cost = Cost(time.perf_counter() - t0, time.process_time() - c0)
    os.makedirs(CACHE, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump((value, cost), f)
    return value, cost


class Cost(tuple):
    """(wall, cpu) seconds; the machine is shared, so ratios use the CPU time of this process."""

    def __new__(cls, wall, cpu=float("nan")):
        if isinstance(wall, tuple):  # unpickling passes the tuple itself
            wall, cpu = wall
        return super().__new__(cls, (wall, cpu))

    wall = property(lambda self: self[0])
    cpu = property(lambda self: self[1])

    def __str__(self):
        return f"{self.cpu:.1f} s CPU ({self.wall:.1f} s wall)"


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


def at_own_m0(avg, m0):
    """The gen_error curve of the m0 average's nodes interpolated to each |m0| (linear in log
    m0 at each time; the end nodes beyond the ends): (len(m0), times)."""
    v = np.log(avg.extras["m0_nodes"])
    x = avg.extras["node_gen_error"]
    vv = np.log(np.maximum(m0, 1e-300))
    out = np.empty((len(m0), x.shape[1]))
    for k in range(x.shape[1]):
        out[:, k] = np.interp(vv, v, x[:, k])
    return out


def breaking_time(t, curve, level=0.25):
    below = np.flatnonzero(curve < level)
    return t[below[0]] if below.size else np.nan


def report(key, args):
    case = CASES[key]
    problem, training = g.Problem(**case["problem"]), g.Training(**case["training"])
    d, R = case["d"], training.R
    tag = f"{key}-d{d}"
    K = default_m0_nodes(problem)
    N, NR = DMFT["samples"], DMFT["response_samples"]
    (t, runs), t_sim = cached(f"{tag}-sims{case['seeds']}", seeds_of(case, problem, training))
    plain, t_plain = cached(f"{tag}-plain", lambda: g.solve_dmft(problem, training, d=d, progress=False, **DMFT))
    avg, t_avg = cached(f"{tag}-avg{K}", lambda: solve_dmft_m0_average(
        problem, training, d=d, m0_nodes=K, progress=False, **DMFT))
    # the node average with N draws per node: the same call with K N draws to share
    full, t_full = cached(f"{tag}-avg{K}-N{N}each", lambda: solve_dmft_m0_average(
        problem, training, d=d, m0_nodes=K, progress=False,
        **dict(DMFT, samples=K * N, response_samples=K * NR, seed=1)))
    variants = {"mean-m0": plain, "m0-avg N/K": avg, "m0-avg N each": full}
    gen = runs[:, 0]
    S = gen.shape[0]
    sim_mean, sim_sem = gen.mean(0), gen.std(0, ddof=1) / math.sqrt(S)
    idx = np.searchsorted(plain.t, t - 1e-9)  # simulations and DMFT both record every step
    print(f"## {case['title']}: d = {d}, {S} seeds, t <= {training.t_max:g}\n")
    print(f"problem {problem.params()}\n\ntraining {training.params()}\n")
    print(f"DMFT options {DMFT}. mean-m0: one solve at m0 = sqrt(2R/(pi d)) = "
          f"{plain.params['m0']:.5g}. m0-avg N/K: the default m0 average over |m(0)|, "
          f"m(0) ~ N(0, R/d), K = {K} nodes m0_k = "
          f"{', '.join(f'{m:.3g}' for m in avg.extras['m0_nodes'])}, sharing the N = {N} draws "
          f"({avg.stats['node_samples'][0]} per node). m0-avg N each: the same nodes with "
          f"N = {N} draws each (samples = {K * N}).\n")
    for name, res in variants.items():
        if res is not plain:
            print(f"* {name}: nodes at the solver's noise floor: {res.stats['floor_nodes']} "
                  f"(weight {res.stats['floor_weight']:.3f}); node breaking times (eps < 0.25): "
                  + ", ".join(f"{breaking_time(res.t, x):.1f}" for x in res.extras["node_gen_error"]))
    print("\nCriterion at every recorded time: |gap| <= 0.01 + 2.5 SEM, SEM = sqrt(sem_sim^2 + "
          "sem_dmft^2); z = gap / SEM.\n")
    table = {}
    for name, res in variants.items():
        gap = res.gen_error[idx] - sim_mean
        sig = np.hypot(sim_sem, res.gen_error_sem[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sig > 0, gap / sig, 0.0)
        excess = np.abs(gap) - (0.01 + 2.5 * sig)
        table[name] = (gap, z, excess <= 0)
        j = int(np.argmax(excess))
        w = (t >= case["window"][0]) & (t <= case["window"][1])
        print(f"* {name}: {int((excess > 0).sum())} of {len(t)} recorded times fail; largest "
              f"|gap| - (0.01 + 2.5 SEM) = {excess[j]:+.4f} at t = {t[j]:g}; in the window "
              f"t in {list(case['window'])}: largest |gap| {np.abs(gap[w]).max():.4f}, largest "
              f"|z| {np.abs(z[w]).max():.1f}")
    lo, hi = case["window"]
    print(f"\nEvery recorded time in the breaking window t in [{lo}, {hi}], then every 10th step:\n")
    print("| t | sim | sem | " + " | ".join(f"{n} | gap | z" for n in variants) + " |")
    print("|---" * (3 + 3 * len(variants)) + "|")
    for i in range(len(t)):
        if lo - 1e-9 <= t[i] <= hi + 1e-9 or i % 10 == 0:
            cells = []
            for name, res in variants.items():
                gap, z, ok = table[name]
                cells.append(f"{res.gen_error[idx[i]]:.4f} | {gap[i]:+.4f} | {z[i]:+.1f}"
                             + ("" if ok[i] else " FAIL"))
            print(f"| {t[i]:.1f} | {sim_mean[i]:.4f} | {sim_sem[i]:.4f} | " + " | ".join(cells) + " |")
    spread(case, t, gen, idx, {k: v for k, v in variants.items() if v is not plain})
    explained(case, t, gen, runs, idx, full, R, d, S, sim_mean)
    print(f"\nCost (CPU seconds of this process; the 2 cores are shared with other jobs, so wall "
          f"times mostly measure them): simulations {t_sim.wall:.0f} s wall; mean-m0 solve "
          f"{t_plain}; m0-avg N/K {t_avg} = {t_avg.cpu / t_plain.cpu:.2f} plain solves; "
          f"m0-avg N each (~ K full solves, plus the floor solve) {t_full} = "
          f"{t_full.cpu / t_plain.cpu:.2f} plain solves; N/K against N each: "
          f"{t_avg.cpu / t_full.cpu:.2f}.\n")
    d_ = avg.gen_error - full.gen_error
    sg = np.hypot(avg.gen_error_sem, full.gen_error_sem)
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = np.where(sg > 0, d_ / sg, 0.0)
    j = int(np.argmax(np.abs(zz)))
    print(f"Accuracy of the N/K share against N per node (two independent estimates of the same "
          f"average): largest |z| {abs(zz[j]):.2f} at t = {avg.t[j]:g} (difference {d_[j]:+.4f}); "
          f"largest |difference| {np.abs(d_).max():.4f}; rms z over the {len(zz)} steps "
          f"{math.sqrt(np.mean(zz ** 2)):.2f}; largest sem: N/K {np.nanmax(avg.gen_error_sem):.4f}, "
          f"N each {np.nanmax(full.gen_error_sem):.4f}, mean-m0 {np.nanmax(plain.gen_error_sem):.4f}.\n")
    for K2 in args.nodes:
        other, t_other = cached(f"{tag}-avg{K2}-N{N}each", lambda: solve_dmft_m0_average(
            problem, training, d=d, m0_nodes=K2, progress=False,
            **dict(DMFT, samples=K2 * N, response_samples=K2 * NR, seed=2)))
        diff = other.gen_error - full.gen_error
        sig = np.hypot(other.gen_error_sem, full.gen_error_sem)
        ds = other.extras["gen_error_spread"] - full.extras["gen_error_spread"]
        dss = np.hypot(other.extras["gen_error_spread_sem"], full.extras["gen_error_spread_sem"])
        i, j = int(np.argmax(np.abs(diff))), int(np.argmax(np.abs(ds)))
        print(f"* K = {K2} against K = {K} (N draws per node both): largest |mean difference| "
              f"{abs(diff[i]):.4f} at t = {plain.t[i]:g} (combined sem {sig[i]:.4f}); largest "
              f"|spread difference| {abs(ds[j]):.4f} at t = {plain.t[j]:g} (combined sem "
              f"{dss[j]:.4f}); cost {t_other}")
    print()


def spread(case, t, gen, idx, variants):
    sd, sd_err = bootstrap_sd(gen)
    print("\nPredicted seed spread (sd of the DMFT across the law of |m(0)|) against the measured "
          "sd over seeds (its error: bootstrap over seeds; the law of a seed's eps is far from "
          "normal during the breaking):\n")
    print("| t | measured sd | +- | " + " | ".join(f"{n} | +- | ratio" for n in variants) + " |")
    print("|---" * (3 + 3 * len(variants)) + "|")
    for s_ in sorted({3.0, 4.0, 5.0, *case.get("spread_times", ())}):
        i = int(np.argmin(abs(t - s_)))
        cells = []
        for res in variants.values():
            p, pe = res.extras["gen_error_spread"][idx[i]], res.extras["gen_error_spread_sem"][idx[i]]
            cells.append(f"{p:.4f} | {pe:.4f} | {p / sd[i] if sd[i] > 0 else float('nan'):.2f}")
        print(f"| {t[i]:g} | {sd[i]:.4f} | {sd_err[i]:.4f} | " + " | ".join(cells) + " |")


def explained(case, t, gen, runs, idx, avg, R, d, S, sim_mean):
    """Does m(0) explain the seeds? The DMFT at each seed's own |m(0)| (paired), and the
    breaking times against log|m(0)|."""
    u = runs[:, 3, 0] / math.sqrt(R / d)
    own = at_own_m0(avg, u * math.sqrt(R / d))[:, idx]  # (seed, recorded time)
    paired = gen - own
    pm, ps = paired.mean(0), paired.std(0, ddof=1) / math.sqrt(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        pz = np.where(ps > 0, pm / ps, 0.0)
    print("\nThe DMFT at each seed's own |m(0)| (m0-avg N each: the node curves interpolated "
          "linearly in log m0 at each time, the end nodes beyond them). The paired difference "
          "seed - DMFT(own m0) removes the sampling of m(0) from the comparison; its sd is the "
          "seed-to-seed noise that m(0) does not explain (plus the interpolation).\n")
    print("| t | sim mean | DMFT at own m0 | paired diff | +- | sim sd | sd of DMFT at own m0 | "
          "sd of paired diff |")
    print("|---|---|---|---|---|---|---|---|")
    for s_ in sorted({3.0, 4.0, 5.0, *case.get("spread_times", ())}):
        i = int(np.argmin(abs(t - s_)))
        print(f"| {t[i]:g} | {sim_mean[i]:.4f} | {own[:, i].mean():.4f} | {pm[i]:+.4f} | "
              f"{ps[i]:.4f} | {gen[:, i].std(ddof=1):.4f} | {own[:, i].std(ddof=1):.4f} | "
              f"{paired[:, i].std(ddof=1):.4f} |")
    j = int(np.argmax(np.abs(pz)))
    print(f"\nPaired difference over all {len(t)} recorded times: largest |z| {abs(pz[j]):.1f} at "
          f"t = {t[j]:g} ({pm[j]:+.4f} +- {ps[j]:.4f}); largest |difference| "
          f"{np.abs(pm).max():.4f} at t = {t[int(np.argmax(np.abs(pm)))]:g}.")
    tb = np.array([breaking_time(t, c) for c in gen])
    ok = np.isfinite(tb)
    print(f"\nSeeds' |m(0)|/sqrt(R/d): mean {u.mean():.3f} (law {math.sqrt(2 / math.pi):.3f}), "
          f"sd {u.std(ddof=1):.3f} (law {math.sqrt(1 - 2 / math.pi):.3f}).")
    if ok.sum() > 2:
        slope, icpt = np.polyfit(np.log(u[ok]), tb[ok], 1)
        corr = np.corrcoef(np.log(u[ok]), tb[ok])[0, 1]
        resid = tb[ok] - (icpt + slope * np.log(u[ok]))
        nodes = avg.extras["m0_nodes"] / math.sqrt(R / d)
        tbn = np.array([breaking_time(avg.t, c) for c in avg.extras["node_gen_error"]])
        okn = np.isfinite(tbn) & ~np.isin(np.arange(len(tbn)), avg.stats["floor_nodes"])
        ns, ni = np.polyfit(np.log(nodes[okn]), tbn[okn], 1) if okn.sum() > 1 else (np.nan, np.nan)
        print(f"Breaking time t_b (first time eps_gen < 0.25), simulations: t_b = {icpt:.2f} "
              f"{slope:+.2f} log|u| (corr {corr:+.2f}: m(0) explains {100 * corr ** 2:.0f}% of the "
              f"variance of t_b; residual sd {resid.std(ddof=2):.2f}, sd of t_b "
              f"{tb[ok].std(ddof=1):.2f}, {int((~ok).sum())} seeds unbroken at t_max); DMFT "
              f"nodes (N each, those above the noise floor): t_b = {ni:.2f} {ns:+.2f} log u.")


def rules(key):
    """The convergence check of the rule: the DMFT on a grid of v = log(m0/sqrt(R/d)) with the
    same solver seed at every point (common random numbers: the curves are smooth in v),
    interpolated in v (monotone cubic; constant beyond the grid) and integrated over the exact
    law of v (density sqrt(2/pi) exp(v - e^(2v)/2)) as the reference; each rule's error on the
    mean and on the spread is the largest over the recorded times."""
    from scipy.interpolate import PchipInterpolator
    from scipy.special import ndtri, roots_genlaguerre

    from gmmdmft.dmft.m0law import half_normal_rule

    case = CASES[key]
    problem, training = g.Problem(**case["problem"]), g.Training(**case["training"])
    d, R = case["d"], training.R
    vs = np.arange(-8.0, 2.51, 0.5)
    opts = dict(DMFT, samples=5000, response_samples=500)

    def grid():
        return np.array([g.solve_dmft(problem, training, m0=math.sqrt(R / d) * math.exp(v),
                                      progress=False, **opts).gen_error for v in vs])
    curves, cost = cached(f"{key}-d{d}-rulegrid", grid)
    f = PchipInterpolator(vs, curves, axis=0, extrapolate=False)

    def F(v):
        return f(np.clip(v, vs[0], vs[-1]))
    vf = np.linspace(-60, 4, 200001)
    dens = np.exp(vf - np.exp(2 * vf) / 2)
    wf = dens / dens.sum()
    Ff = F(vf)
    mean = wf @ Ff
    sd = np.sqrt(np.maximum(wf @ (Ff - mean) ** 2, 0))

    def gauss_log(K):  # the Gauss rule of the law of v itself (Stieltjes on the fine grid)
        x, w = vf, wf
        a, b = np.zeros(K), np.zeros(K)
        p_prev, p, n_prev, n = np.zeros_like(x), np.ones_like(x), 1.0, 1.0
        for k in range(K):
            a[k] = w @ (x * p * p) / n
            p_prev, p = p, (x - a[k]) * p - (b[k] * p_prev if k else 0)
            n_prev, n = n, w @ (p * p)
            if k + 1 < K:
                b[k + 1] = n / n_prev
        from scipy.linalg import eigh_tridiagonal
        nodes, vec = eigh_tridiagonal(a, np.sqrt(b[1:]))
        return nodes, vec[0] ** 2

    def gauss_s(K):  # the positive half of Gauss-Hermite = generalized Laguerre in u^2/2
        x, w = roots_genlaguerre(K, -0.5)
        return 0.5 * np.log(2 * x), w / w.sum()

    def midpoint_q(K):
        return np.log(ndtri(0.5 + 0.5 * (np.arange(K) + 0.5) / K)), np.full(K, 1.0 / K)

    def legendre_q(K):
        u, w = half_normal_rule(K)
        return np.log(u), w
    print(f"## Convergence of the rule ({case['title']}, d = {d})\n")
    print(f"DMFT gen_error at m0 = sqrt(R/d) e^v for v = {vs[0]:g} ... {vs[-1]:g} step 0.5 "
          f"({len(vs)} solves, {opts}, one seed: {cost}); reference: the monotone cubic "
          "interpolant in v integrated over the law of v. Largest error over the recorded "
          "times, of the mean and of the spread (the reference mean runs from 0.5 to 0.04 and "
          f"its spread reaches {sd.max():.3f}).\n")
    print("| rule | " + " | ".join(f"K = {K}" for K in (3, 5, 8, 10, 12, 16)) + " |")
    print("|---" * 7 + "|")
    for name, rule in (("Gauss-Legendre in the CDF (the default)", legendre_q),
                       ("midpoint in the CDF", midpoint_q), ("Gauss in log abs u", gauss_log),
                       ("Gauss in u^2 (half Gauss-Hermite)", gauss_s)):
        cells = []
        for K in (3, 5, 8, 10, 12, 16):
            v, w = rule(K)
            Fk = F(v)
            mu = w @ Fk
            sk = np.sqrt(np.maximum(w @ (Fk - mu) ** 2, 0))
            cells.append(f"{np.abs(mu - mean).max():.4f} / {np.abs(sk - sd).max():.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="fig2,fig3,fig4")
    ap.add_argument("--nodes", default="", help="other K to compare with the default")
    ap.add_argument("--rules", default="", help="cases for the convergence check of the rule")
    args = ap.parse_args(argv)
    args.nodes = [int(k) for k in args.nodes.split(",") if k]
    print("# Validation: the DMFT averaged over the law of m(0)\n")
    env = " ".join(f"{k}={os.environ[k]}" for k in BLAS_ENV if k in os.environ)
    print(f"Command: `{env + ' ' if env else ''}PYTHONPATH=src python validation/m0average.py "
          + " ".join(sys.argv[1:]) + "`\n")
    print(f"gmmdmft {g.__version__}\n")
    for key in [k for k in args.rules.split(",") if k]:
        rules(key)
    for key in [k for k in args.cases.split(",") if k]:
        report(key, args)


if __name__ == "__main__":
    main()
