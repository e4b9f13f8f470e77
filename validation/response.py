"""Estimates of the response kernel M_R: the probe estimate against today's propagated one.

    python validation/response.py                       # everything (hours on 2 shared cores)
    python validation/response.py --only stein mr       # the quick sections
    python validation/response.py --sims FILE.npz       # reuse (or write) the long simulations

Problem: GD, two clusters, alpha = 2, Delta = 0.5, lam = 0, eta = 0.2, R = 0.01, N = 2e4.
Sections (the printed Markdown is committed as validation/response.md):

stein   the Gaussian integration-by-parts route on the square loss, where G is deterministic
        and known exactly (T = 250): the noise of <F z^T>, of Q = <D_k G[k, j]> after the
        triangular solve with the Cholesky factor of M_C, and of M_R after the backward
        identity that restores the D_j factor; the identity itself with the exact Q; the probe
        estimate from the same N draws.
mr      at T = 500, one lagged sweep's D paths; reference: the exact average over all N draws
        of the propagated responses (float64). Extra error of each estimate against it
        (repeated with fresh randomness): entries, row sums, and C(t, t) computed with it;
        seconds per estimate (same run).
solver  solves with either estimate (tol = 0, 12 iterations, seeds 0 and 1 at T = 500, seed 0 at
        T = 2000): per-iteration spread of gen_error (the replicas after the 2 burn-in ones),
        lag-1 autocorrelation, the means and their difference in units of the combined
        standard error, seconds per lagged iteration.
long    the default solve at T = 2000 (t_max = 400) against simulations at d = 4000 (24 seeds):
        |difference| <= 0.003 + 2 combined SEM at every recorded time, status, wall time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular

import gmmdmft as g
from gmmdmft._backend import get_backend
from gmmdmft.dmft import solver as S
from gmmdmft.dmft.draws import pick_response_draws
from gmmdmft.dmft.exact import solve_square_gd
from gmmdmft.dmft.kernels import equal_time
from gmmdmft.dmft.lagged import lagged_sweep, noise_root
from gmmdmft.dmft.response import probe_estimate, response_estimate

ETA, N = 0.2, 20000


def training(T):
    return g.Training("gd", eta=ETA, t_max=ETA * T, R=0.01)


def _load():
    return float(Path("/proc/loadavg").read_text().split()[0])


# ------------------------------------------------------------------------------ stein
def stein(T=250):
    """Stein's identity <F_k z_l> = eta sqrt(Delta) (Q L)[k, l] (xi = L z, L the Cholesky factor
    of M_C), then M_R[k, j] = (alpha Delta / eta) (a_j Q[k, j] - Q[k, j-1]
    + eta^2 sum_{j<i<k} M_R[i, j] Q[k, i]) from the backward form of the response."""
    p = g.Problem(alpha=2, delta=0.5, loss="square")
    tr = training(T)
    alpha, Delta = p.alpha, p.delta
    ex = solve_square_gd(p, tr).extras
    K = {k: ex[k] for k in ("lamhat", "mu", "M_C", "M_R")}
    work = {}
    new, *_ = lagged_sweep(p, tr, K, np.ones(T), N, 0.0, np.random.default_rng(0), "float64",
                           work=work)
    F, Z = np.array(work["F"]), np.array(work["Z"])
    L, causal = noise_root(K["M_C"])
    G = K["M_R"] / (alpha * Delta**2)  # D = 1: the exact response
    low = np.tril_indices(T, -1)
    lowj = tuple(a[low[1] > 0] for a in low)

    def rel(a, b, idx=low):
        return math.sqrt(np.sum((a - b)[idx] ** 2) / np.sum(b[idx] ** 2))

    S_ = F @ Z.T / N
    S_exact = ETA * math.sqrt(Delta) * np.tril(G, -1) @ L
    Q = np.tril(solve_triangular(L.T, S_.T, lower=False).T / (ETA * math.sqrt(Delta)), -1)
    a0 = 1 - ETA * (p.lam + new["lamhat"])

    def identity(Q):
        prev = np.zeros_like(Q)
        prev[:, 1:] = Q[:, :-1]
        return np.tril((alpha * Delta / ETA) * (a0[None, :] * Q - prev
                                                + Q @ (ETA**2 * np.tril(K["M_R"], -1))), -1)

    probe = probe_estimate(p, tr, new["lamhat"], K["M_R"], np.ones((T, N)),
                           np.random.default_rng(1), "float64")
    d = np.diagonal(L)
    print(f"## Stein (integration by parts), square loss, T = {T}, N = {N}\n")
    print(f"- Cholesky factor of M_C: diagonal from {d.min():.2e} to {d.max():.2e} "
          f"(ratio {d.max() / d.min():.1e}; causal root: {causal})")
    print(f"- <F z^T>: relative error {rel(S_, S_exact):.3f} (its Monte-Carlo noise)")
    print(f"- Q = <F z^T> L^-1 / (eta sqrt(Delta)): relative error {rel(Q, G):.3g}")
    print(f"- backward identity with the exact Q: relative error {rel(identity(G), K['M_R'], lowj):.1e} "
          "(j >= 1; j = 0 needs the response to h(0))")
    print(f"- M_R from the Stein Q: relative error {rel(identity(Q), K['M_R'], lowj):.3g}")
    print(f"- M_R from the probe estimate, same N: relative error {rel(probe, K['M_R']):.3f}\n")


# ------------------------------------------------------------------------------ mr
def mr_section(T=500, reps=4):
    p = g.Problem(alpha=2, delta=0.5)
    tr = training(T)
    r = g.solve_dmft(p, tr, samples=N, max_iter=5, tol=0, return_kernels=True, progress=False)
    K = {k: r.extras[k] for k in ("lamhat", "mu", "M_C", "M_R")}
    new, m, *_, D = lagged_sweep(p, tr, K, np.ones(T), N, 0.0, np.random.default_rng(1),
                                 "float32", work={})
    D = np.array(D)
    lamhat, MR = new["lamhat"], new["M_R"]
    root = noise_root(new["M_C"])[0]
    t0 = time.perf_counter()
    ref = response_estimate(p, tr, lamhat, MR, D.astype(np.float64), "float64")
    t_ref = time.perf_counter() - t0
    low = np.tril_indices(T, -1)
    norm_ref = equal_time(p, tr, dict(new, M_R=ref), m, 0.0, root)
    score = np.einsum("kn,kn->n", D, D)

    def metrics(M):
        e = (M - ref)[low]
        norm = equal_time(p, tr, dict(new, M_R=M), m, 0.0, root)
        return dict(entries=math.sqrt(np.sum(e**2) / np.sum(ref[low] ** 2)),
                    rows=math.sqrt(np.mean((M.sum(1) - ref.sum(1)) ** 2) / np.mean(ref.sum(1) ** 2)),
                    norm=float(np.max(np.abs(norm / norm_ref - 1))))

    def propagate(NR):
        def f(rng):
            pick, w = pick_response_draws(score, NR, rng)
            return response_estimate(p, tr, lamhat, MR, D[:, pick], "float32", weights=w)
        return f

    def probe(P, importance=True):
        def f(rng):
            if importance:
                pick, w = pick_response_draws(score, P * N, rng)
            else:
                pick, w = np.repeat(np.arange(N), P), None
            return probe_estimate(p, tr, lamhat, MR, D, rng, "float32", weights=w, pick=pick)
        return f

    print(f"## M_R at T = {T}, N = {N}: extra error against the exact average over the same draws\n")
    print(f"Reference: all {N} draws propagated in float64 ({t_ref:.0f} s). Errors are relative "
          f"RMS over {reps} repetitions: of the entries (j < k), of the row sums, and the largest "
          "relative change of C(t, t) computed with the estimate instead of the reference.\n")
    print("| estimate | seconds | entries | row sums | C(t, t) |")
    print("| --- | --- | --- | --- | --- |")
    cases = [("propagate, N_R = 1000 (importance-sampled)", propagate(1000)),
             ("propagate, N_R = 250", propagate(250)),
             ("probe, 1 per draw, uniform", probe(1, importance=False)),
             ("probe, 1 per draw (N picks)", probe(1)),
             ("probe, 2 per draw (2N picks, the default)", probe(2)),
             ("probe, 4 per draw", probe(4))]
    for name, f in cases:
        out, secs = [], []
        for s in range(reps):
            t0 = time.perf_counter()
            M = f(np.random.default_rng(100 + s))
            secs.append(time.perf_counter() - t0)
            out.append(metrics(M))
        rms = {k: math.sqrt(np.mean([o[k] ** 2 for o in out])) for k in out[0]}
        print(f"| {name} | {np.median(secs):.2f} | {rms['entries']:.3f} | {rms['rows']:.4f} | "
              f"{rms['norm']:.4f} |")
    print()


# ------------------------------------------------------------------------------ solver
def run_solver(T, response, seed, iters=12):
    """The solver's replicas (curves per iteration) and seconds per iteration."""
    p = g.Problem(alpha=2, delta=0.5)
    o = g.DMFTOptions(samples=N, response=response, seed=seed, max_iter=iters, tol=0)
    sol = S._Solver(p, training(T), o, 0.0, get_backend(None, "cpu"), None)
    while not sol.done:
        sol.iterate()
    secs = [sum(v for k, v in t.items() if k != "kind") for t in sol.per_iteration]
    return np.array(sol.runs), secs


def solver_section(cases):
    print("## Solver: gen_error with either estimate (12 iterations, the last 10 averaged)\n")
    print("sd: spread of one replica (iteration); ac1: lag-1 autocorrelation of the replicas; "
          "mean +- sem: the solver's result at that time.\n")
    print("| T | M_R by | seed | s per later iteration | t | mean +- sem | sd | ac1 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    means = {}
    for T, response, seed in cases:
        runs, secs = run_solver(T, response, seed)
        gen = runs[S.BURN_IN:, 0]
        for k in (T // 4, T // 2, T):
            x = gen[:, k]
            xc = x - x.mean()
            ac = float(np.sum(xc[1:] * xc[:-1]) / np.sum(xc * xc))
            sem = x.std(ddof=1) / math.sqrt(len(x))
            means.setdefault((T, k), []).append((response, x.mean(), sem))
            print(f"| {T} | {response} | {seed} | {np.median(secs[2:-1]):.1f} | {k * ETA:g} | "
                  f"{x.mean():.5f} +- {sem:.5f} | {x.std(ddof=1):.5f} | {ac:.2f} |", flush=True)
    print("\nDifference of the means (probe - propagate) over the combined sem:\n")
    for (T, k), rows in means.items():
        a = [(mu, s) for r, mu, s in rows if r == "probe"]
        b = [(mu, s) for r, mu, s in rows if r == "propagate"]
        if a and b:
            ma, sa = np.mean([x for x, _ in a]), math.sqrt(sum(s * s for _, s in a)) / len(a)
            mb, sb = np.mean([x for x, _ in b]), math.sqrt(sum(s * s for _, s in b)) / len(b)
            print(f"- T = {T}, t = {k * ETA:g}: {ma - mb:+.5f} = {(ma - mb) / math.hypot(sa, sb):+.2f} sigma")
    print()


# ------------------------------------------------------------------------------ long
def simulations(T, d, seeds, path):
    if path is not None and Path(path).exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    p = g.Problem(alpha=2, delta=0.5)
    r = g.simulate(p, training(T), d=d, seeds=seeds, every=10, progress=False)
    out = dict(t=r.t, gen_error=r.gen_error, gen_error_sem=r.gen_error_sem, d=d, seeds=seeds,
               time_per_step=r.stats["time_per_step"])
    if path is not None:
        np.savez(path, **out)
    return out


def long_section(T=2000, d=4000, seeds=24, sims=None):
    p = g.Problem(alpha=2, delta=0.5)
    load0 = _load()
    t0 = time.perf_counter()
    r = g.solve_dmft(p, training(T), progress=False)
    wall = time.perf_counter() - t0
    load1 = _load()
    sim = simulations(T, d, seeds, sims)
    idx = np.searchsorted(r.t, sim["t"] - 1e-9)
    diff = r.gen_error[idx] - sim["gen_error"]
    sem = np.hypot(r.gen_error_sem[idx], sim["gen_error_sem"])
    excess = np.abs(diff) - (0.003 + 2 * sem)
    print(f"## Default solve at T = {T} (t_max = {T * ETA:g}) against simulations (d = {int(sim['d'])}, "
          f"{int(sim['seeds'])} seeds)\n")
    print(f"- solve: {wall:.0f} s ({wall / 60:.1f} min; load average {load0} before, {load1} after), "
          f"{r.stats['iterations']} iterations, status {r.status} ({r.message}), largest gen_error "
          f"sem {r.stats['max_gen_error_sem']:.2g}")
    print(f"- |DMFT - simulation| <= 0.003 + 2 SEM at {int(np.sum(excess <= 0))} of {excess.size} "
          f"recorded times; largest |difference| {np.max(np.abs(diff)):.4f} (t = "
          f"{sim['t'][np.argmax(np.abs(diff))]:g}), largest excess over the bound {np.max(excess):+.4f}")
    for t in (50, 100, 200, 300, 400):
        i = int(np.argmin(np.abs(sim["t"] - t)))
        print(f"  - t = {sim['t'][i]:g}: DMFT {r.gen_error[idx[i]]:.4f} +- {r.gen_error_sem[idx[i]]:.4f}, "
              f"simulation {sim['gen_error'][i]:.4f} +- {sim['gen_error_sem'][i]:.4f}")
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=["stein", "mr", "solver", "long"])
    ap.add_argument("--sims", default=None, help="npz file of the long simulations (read if it "
                    "exists, else written)")
    args = ap.parse_args(argv)
    print(f"`python validation/response.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
          f" (gmmdmft {g.__version__}; load average at the start {_load()})\n")
    if "stein" in args.only:
        stein()
    if "mr" in args.only:
        mr_section()
    if "solver" in args.only:
        solver_section([(500, "probe", 0), (500, "propagate", 0), (500, "probe", 1),
                        (500, "propagate", 1), (2000, "probe", 0), (2000, "propagate", 0)])
    if "long" in args.only:
        long_section(sims=args.sims)
    print(f"load average at the end {_load()}")


if __name__ == "__main__":
    main()
