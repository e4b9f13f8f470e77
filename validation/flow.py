"""Validation of the flow limit (eta -> 0) and of persistent SGD's batch chains (issue 11, items
3 and 4). Prints the Markdown report committed as validation/flow.md.

    python validation/flow.py                 # everything (cached runs are reused)
    python validation/flow.py --stage sims    # only the d = 4000 simulations (the long part)

Runs are cached (one pickle per simulation seed and per DMFT solve) under --cache, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import math
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
FIG1_T = (0.2, 1, 2, 5, 10, 20, 40, 60, 80, 100)
# the DMFT: the flow-limit ladder eta = 0.2, 0.1, 0.05, 0.025 (order from the finest three)
LADDER_ETA, LADDER = 0.2, 4
DMFT_OPTIONS = g.DMFTOptions(samples=10000, response_samples=1000, max_iter=10, tol=0.0, seed=0)
FIG1_DMFT = g.DMFTOptions(samples=20000, response_samples=1000, max_iter=12, tol=0.0, seed=0)
REPORT_T = (0.2, 0.4, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30)
SGD_B, SGD_T, SGD_D, SGD_SEEDS = 0.5, 4.0, 1000, 4


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
    """The d = 4000, eta = 0.02 simulations of must-show 1 (the long part)."""
    return {b: seed_curves(cache, f"flow-b{b}", psgd(b, SIM_ETA, FLOW_T, SIM_CHAIN), SIM_D,
                           SIM_SEEDS, SIM_EVERY) for b in FLOW_BS}


def reassemble(flow):
    """The flow-limit Result rebuilt from its stored rungs (curves and errors on the coarse grid)
    with the current extrapolation code, so that a cached ladder reports what this version of
    :func:`gmmdmft.extrapolation.flow_limit` makes of it."""
    from gmmdmft.extrapolation import flow_limit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchChainWarning)
        training = g.Training.from_mapping(flow.params["training"])
    rungs = []
    for r in flow.stats["rungs"]:
        curves = {o: r["curves"][o] for o in g.result.OBSERVABLES}
        curves.update({o + "_sem": r["sems"][o] for o in g.result.OBSERVABLES})
        rungs.append(g.Result(t=flow.t, method="dmft", params=r["params"], status=r["status"],
                              message=r["message"], stats=dict(wall_time=r["wall_time"]),
                              **curves))
    # options stored by this or an earlier version (fields added since take their defaults)
    opts = g.DMFTOptions.from_mapping({k: flow.params[k] for k in g.DMFTOptions.specs()
                                       if k in flow.params}).params()
    return flow_limit(lambda tr, j: rungs[j], training, len(rungs), method=flow.method,
                      options_params=opts)


def stage_dmft(cache):
    """The flow limits (ladder eta = 0.2 ... 0.025, the order measured on the finest three) and
    the plain linear-chain solves next to them."""
    out = {}
    for b in FLOW_BS:
        tr = psgd(b, LADDER_ETA, FLOW_T, "exact")
        flow = cached(cache, f"dmft-flow-b{b}", lambda tr=tr: g.solve_dmft_flow_limit(
            PROBLEM, tr, DMFT_OPTIONS, eta_ladder=LADDER, progress=False))
        plain = {}
        for eta in (0.2, 0.1):
            if psgd_valid(b, eta, "linear"):
                plain[eta] = cached(cache, f"dmft-linear-b{b}-eta{eta}", lambda eta=eta: g.solve_dmft(
                    PROBLEM, psgd(b, eta, FLOW_T, "linear"), DMFT_OPTIONS, seed=10, progress=False))
        out[b] = reassemble(flow), plain
    return out


def stage_linear_ladders(cache):
    """The flow limit again from linear-chain ladders (3 rungs from the largest eta at which the
    linear chain is valid): another discretisation with the same limit, and a larger step
    effect, so that its order can be measured."""
    out = {}
    for b in FLOW_BS:
        eta0 = LADDER_ETA if psgd_valid(b, LADDER_ETA, "linear") else LADDER_ETA / 2
        tr = psgd(b, eta0, FLOW_T, "linear")
        out[b] = reassemble(cached(cache, f"dmft-flow-linear-b{b}", lambda tr=tr:
                                   g.solve_dmft_flow_limit(PROBLEM, tr, DMFT_OPTIONS,
                                                           eta_ladder=3, seed=100,
                                                           progress=False)))
    return out


def stage_fig1(cache):
    """The clipped (and, for comparison, the exact) chain at the paper's Fig. 1 (left) point:
    DMFT and simulations of the same rule."""
    out = {}
    for chain in ("clipped", "exact"):
        tr = psgd(FIG1["b"], FIG1["eta"], FIG1["t_max"], chain)
        dmft = cached(cache, f"fig1-dmft-{chain}", lambda tr=tr: g.solve_dmft(
            PROBLEM, tr, FIG1_DMFT, progress=False))
        sims = {}
        for d, seeds in (FIG1_SIMS if chain == "clipped" else FIG1_SIMS[:1]):
            sims[d] = cached(cache, f"fig1-sim-{chain}-d{d}", lambda tr=tr, d=d, seeds=seeds:
                             g.simulate(PROBLEM, tr, d=d, seeds=seeds, progress=False))
        out[chain] = dmft, sims
    return out


def stage_sgd(cache):
    """Classical SGD at fixed b as eta -> 0: the batch noise averages out and the dynamics tend
    to GD at time b t (lam = 0). Same data and initialisation (same seeds) for both."""
    runs = {}
    for eta in (0.2, 0.02):
        runs[eta] = (
            cached(cache, f"sgd-eta{eta}", lambda eta=eta: g.simulate(
                PROBLEM, g.Training(algorithm="sgd", b=SGD_B, eta=eta, R=R, t_max=SGD_T), d=SGD_D,
                seeds=SGD_SEEDS, every=int(round(1 / eta)), progress=False)),
            cached(cache, f"gd-eta{eta}", lambda eta=eta: g.simulate(
                PROBLEM, g.Training(eta=eta, R=R, t_max=SGD_B * SGD_T), d=SGD_D,
                seeds=SGD_SEEDS, every=int(round(SGD_B / eta)), progress=False)))
    return runs


def sgd_section(runs):
    lines = ["## Classical SGD has no stochastic flow limit", "",
             f"SGD with b = {SGD_B} against GD at time b t (same data and initial weights: the "
             f"same seeds), d = {SGD_D}, {SGD_SEEDS} seeds, lam = 0. As eta -> 0 SGD's batch "
             "noise averages out and it becomes the b-weighted full-batch flow, which is why "
             "`eta_limit` refuses `sgd` with b < 1.", "",
             "| eta | t (SGD) | SGD norm | GD norm at b t | SGD gen_error | GD gen_error at b t |",
             "| --- | --- | --- | --- | --- | --- |"]
    for eta, (sgd, gd) in runs.items():
        for k in range(1, len(sgd.t)):
            lines.append(f"| {eta:g} | {sgd.t[k]:g} | {fmt(sgd.norm[k], sgd.norm_sem[k], 3)} | "
                         f"{fmt(gd.norm[k], gd.norm_sem[k], 3)} | "
                         f"{fmt(sgd.gen_error[k], sgd.gen_error_sem[k])} | "
                         f"{fmt(gd.gen_error[k], gd.gen_error_sem[k])} |")
    return lines


def psgd_valid(b, eta, chain):
    try:
        psgd(b, eta, 1.0, chain)
        return True
    except g.ParameterError:
        return False


# ----------------------------------------------------------------------------- the report
def fmt(x, s=None, digits=4):
    if s is None:
        return f"{x:.{digits}f}"
    return f"{x:.{digits}f} ± {s:.{digits}f}"


def coarse_order(flow):
    """The order measured on the three coarsest rungs of a ladder (a diagnostic): p, its
    standard error and the signal-to-noise ratio of the finest difference."""
    from gmmdmft.extrapolation import measure_ratio
    rungs = flow.stats["rungs"][:3]
    y = np.array([r["curves"]["gen_error"] for r in rungs])
    s = np.array([r["sems"]["gen_error"] for r in rungs])
    rho, rho_sem, snr = measure_ratio(y, s)
    if not rho > 0:
        return math.nan, math.nan, snr, ", ".join(f"{r['eta']:g}" for r in rungs)
    p = math.log2(rho)
    return p, rho_sem / (rho * math.log(2)), snr, ", ".join(f"{r['eta']:g}" for r in rungs)


def flow_section(b, sims, flow, plain, linear):
    t_sim, curves = sims
    y_sim, s_sim = mean_sem(curves["gen_error"])
    tc = flow.t
    idx = np.searchsorted(t_sim, tc - 1e-9)
    assert np.allclose(t_sim[idx], tc, atol=1e-9)
    y_sim, s_sim = y_sim[idx], s_sim[idx]
    Y, err = flow.gen_error, flow.gen_error_sem
    mc = flow.stats["mc_sem"]["gen_error"]
    resid = flow.stats["residual"]["gen_error"]
    rungs = flow.stats["rungs"]
    tol = FLOW_TOL[b]
    sem = np.hypot(s_sim, err)
    sem_mc = np.hypot(s_sim, mc)
    gap = np.abs(Y - y_sim)
    ratio = gap / (tol + 2 * sem)
    ratio_mc = gap / (tol + 2 * sem_mc)
    k = slice(1, None)  # t = 0 is 0.5 in both by construction
    lines = [f"### b = {b}, 1/tau = {INV_TAU}", ""]
    st = flow.stats
    etas = ", ".join(f"{r['eta']:g}" for r in rungs)
    steps = ", ".join(str(r["steps"]) for r in rungs)
    walls = ", ".join(f"{r['wall_time']:.0f}" for r in rungs)
    lines.append(f"- flow limit: {flow.message} (status {flow.status}); rungs eta = {etas} "
                 f"(T = {steps}; {walls} s)")
    lines.append(f"- measured order p = {st['order']:.3f} ± {st['order_sem']:.3f} "
                 f"(finest three rungs), used p = {st['order_used']:.3f}; largest error bar "
                 f"{np.max(err):.5f} = MC {mc[np.argmax(err)]:.5f} (+) residual "
                 f"{resid[np.argmax(err)]:.5f} at t = {tc[np.argmax(err)]:g}")
    lines.append(f"- simulations: d = {SIM_D}, eta = {SIM_ETA}, batch_chain = {SIM_CHAIN}, "
                 f"{curves['gen_error'].shape[0]} seeds")
    worst = 1 + int(np.argmax(ratio[k]))
    lines.append(f"- **every coarse time 0.2 <= t <= {FLOW_T:g} ({len(tc) - 1} times): "
                 f"max |flow - sim| / ({tol} + 2 SEM) = {ratio[k].max():.2f} "
                 f"({'PASS' if ratio[k].max() <= 1 else 'FAIL'}; worst at t = {tc[worst]:g}: "
                 f"gap {gap[worst]:.5f}, SEM {sem[worst]:.5f})**; with the flow's Monte-Carlo "
                 f"error only (no residual) in the SEM: {ratio_mc[k].max():.2f}")
    lines.append(f"- SEM = sqrt(sem_sim^2 + err_flow^2); largest |flow - sim| = {gap[k].max():.5f}; "
                 f"mean signed flow - sim = {np.mean((Y - y_sim)[k]):+.5f}")
    if len(rungs) > 3:
        p, ps, snr, etas3 = coarse_order(flow)
        lines.append(f"- diagnostic: the order measured on the coarsest three rungs ({etas3}) is "
                     f"p = {p:.2f} ± {ps:.2f} (finest difference {snr:.1f} of its errors)")
    step = int(round(LADDER_ETA / linear.params["training"]["eta"]))
    yl, el = linear.gen_error[::step], linear.gen_error_sem[::step]
    zl = np.abs(yl - Y)[k] / np.hypot(el, err)[k]
    rl = (np.abs(yl - y_sim) / (tol + 2 * np.hypot(s_sim, el)))[k]
    etas_l = ", ".join(f"{e:g}" for e in linear.params["eta_ladder_etas"])
    lines.append(f"- the same limit from a linear-chain ladder (eta = {etas_l}): {linear.message};"
                 f" max |flow_linear - flow_exact| = {np.max(np.abs(yl - Y)[k]):.5f} (max "
                 f"{zl.max():.1f} combined error bars); against the simulations max |gap| / (tol + "
                 f"2 SEM) = {rl.max():.2f}")
    for eta, res in sorted(plain.items()):
        y = res.gen_error[::int(round(LADDER_ETA / eta))]
        lines.append(f"- plain DMFT, linear chain, eta = {eta:g}: max |plain - flow| = "
                     f"{np.max(np.abs(y - Y)):.5f}, max |plain - sim| = "
                     f"{np.max(np.abs(y - y_sim)):.5f}")
    for r in rungs[:2]:
        y = r["curves"]["gen_error"]
        lines.append(f"- plain DMFT, exact chain, eta = {r['eta']:g} (rung): max |plain - flow| = "
                     f"{np.max(np.abs(y - Y)):.5f}, max |plain - sim| = "
                     f"{np.max(np.abs(y - y_sim)):.5f}")
    lines += ["", "gen_error (± standard errors; flow: its error bar)", ""]
    head = ["t", f"sim eta={SIM_ETA}", "flow limit", "MC / resid", "gap/(tol+2SEM)"]
    head += [f"exact eta={r['eta']:g}" for r in rungs]
    head += [f"linear eta={eta:g}" for eta in sorted(plain)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * len(head))
    for t in REPORT_T:
        j = int(np.argmin(np.abs(tc - t)))
        row = [f"{tc[j]:g}", fmt(y_sim[j], s_sim[j]), fmt(Y[j], err[j]),
               f"{mc[j]:.4f} / {resid[j]:.4f}", f"{ratio[j]:.2f}"]
        row += [fmt(r["curves"]["gen_error"][j], r["sems"]["gen_error"][j]) for r in rungs]
        for eta in sorted(plain):
            res = plain[eta]
            jj = j * int(round(LADDER_ETA / eta))
            row.append(fmt(res.gen_error[jj], res.gen_error_sem[jj]))
        lines.append("| " + " | ".join(row) + " |")
    return lines, bool(ratio[k].max() <= 1)


def fig1_section(fig1, flow=None, linear01=None):
    dmft, sims = fig1["clipped"]
    ex_dmft, ex_sims = fig1["exact"]
    tr = dmft.params["training"]
    sched = psgd(tr["b"], tr["eta"], tr["t_max"], "clipped")
    p01, p10 = sched.switch_probabilities
    lines = ["## Clipped chain at the paper's Fig. 1 (left) point", "",
             f"b = {FIG1['b']}, 1/tau = {INV_TAU}, eta = {FIG1['eta']}, t <= {FIG1['t_max']:g}: "
             f"the linear rule gives P(1->0) = eta(1-b)/(b tau) = "
             f"{FIG1['eta'] * (1 - FIG1['b']) * INV_TAU / FIG1['b']:g} > 1. Clipped: (p01, p10) = "
             f"({p01:g}, {p10:g}), stationary batch fraction {sched.schedule.stationary_fraction:.5f}"
             f" (every stay in the batch lasts exactly one step). Exact: (p01, p10) = "
             f"({', '.join(f'{p:.5f}' for p in psgd(0.1, 0.2, 1.0, 'exact').switch_probabilities)}),"
             " fraction 0.1.", "",
             f"- DMFT (clipped): {dmft.message}; DMFT (exact): {ex_dmft.message}",
             "- gap = DMFT - simulation of the same rule; z = gap / sqrt(sem_dmft^2 + sem_sim^2)",
             ""]
    ds = sorted(sims)
    head = ["t", "DMFT clipped"] + [f"sim d={d} ({sims[d].params['seeds']} seeds)" for d in ds]
    head += [f"gap (z) d={d}" for d in ds]
    head += ["DMFT exact", f"sim exact d={sorted(ex_sims)[0]}", "gap (z) exact",
             "clipped - exact (DMFT)"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * len(head))
    zmax = {d: 0.0 for d in ds}
    de = sorted(ex_sims)[0]
    for t in FIG1_T:
        k = int(round(t / FIG1["eta"]))
        row = [f"{t:g}", fmt(dmft.gen_error[k], dmft.gen_error_sem[k])]
        gaps = []
        for d in ds:
            s = sims[d]
            row.append(fmt(s.gen_error[k], s.gen_error_sem[k]))
            gap = dmft.gen_error[k] - s.gen_error[k]
            z = gap / np.hypot(dmft.gen_error_sem[k], s.gen_error_sem[k])
            gaps.append(f"{gap:+.4f} ({z:+.1f})")
        row += gaps
        se = ex_sims[de]
        gap = ex_dmft.gen_error[k] - se.gen_error[k]
        z = gap / np.hypot(ex_dmft.gen_error_sem[k], se.gen_error_sem[k])
        row += [fmt(ex_dmft.gen_error[k], ex_dmft.gen_error_sem[k]),
                fmt(se.gen_error[k], se.gen_error_sem[k]), f"{gap:+.4f} ({z:+.1f})",
                f"{dmft.gen_error[k] - ex_dmft.gen_error[k]:+.4f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    T = len(dmft.t)
    for d in ds:
        s = sims[d]
        z = (dmft.gen_error - s.gen_error)[1:] / np.hypot(dmft.gen_error_sem, s.gen_error_sem)[1:]
        gap = np.abs(dmft.gen_error - s.gen_error)[1:]
        lines.append(f"- d = {d}: over all {T - 1} steps, max |gap| = {gap.max():.4f}, "
                     f"max |z| = {np.max(np.abs(z)):.1f}, rms z = {np.sqrt(np.mean(z * z)):.2f}, "
                     f"mean gap {np.mean((dmft.gen_error - s.gen_error)[1:]):+.4f}")
    s = ex_sims[de]
    z = (ex_dmft.gen_error - s.gen_error)[1:] / np.hypot(ex_dmft.gen_error_sem, s.gen_error_sem)[1:]
    lines.append(f"- exact chain, d = {de}: max |gap| = "
                 f"{np.max(np.abs(ex_dmft.gen_error - s.gen_error)[1:]):.4f}, max |z| = "
                 f"{np.max(np.abs(z)):.1f}, rms z = {np.sqrt(np.mean(z * z)):.2f}")
    lines.append(f"- clipped vs exact DMFT: max |difference| = "
                 f"{np.max(np.abs(dmft.gen_error - ex_dmft.gen_error)):.4f}")
    if flow is not None:  # which eta = 0.2 process is the paper's flow (b = 0.1, t <= 30)?
        n = len(flow.t)
        lines += ["", f"Against the flow limit of b = {FIG1['b']} (above, t <= {flow.t[-1]:g}): "
                  "max |DMFT at eta = 0.2 - flow| and where"]
        for name, r in (("clipped", dmft), ("exact", ex_dmft)):
            gap = np.abs(r.gen_error[:n] - flow.gen_error)
            lines.append(f"- {name}: {gap.max():.4f} at t = {flow.t[np.argmax(gap)]:g}; at t = 5, "
                         f"10, 30: {gap[25]:.4f}, {gap[50]:.4f}, {gap[min(150, n - 1)]:.4f}")
        if linear01 is not None:
            y = linear01.gen_error[::2][:n]
            gap = np.abs(y - flow.gen_error)
            lines.append(f"- linear at eta = 0.1 (the panel's present b = 0.1 curve): "
                         f"{gap.max():.4f} at t = {flow.t[np.argmax(gap)]:g}")
    return lines


def describe(o):
    return (f"{o.samples} draws, {o.max_iter} iterations (the last {o.max_iter - 2} averaged), "
            f"response_samples {o.response_samples}")


def report(sims, dmft, fig1, sgd, linear):
    lines = ["Command: `python validation/flow.py > validation/flow.md` "
             f"(gmmdmft {g.__version__}; cached runs under validation/.cache)", "",
             "# Flow limit (eta -> 0) and persistent SGD's batch chains", "",
             f"Two clusters, alpha = {PROBLEM.alpha:g}, Delta = {PROBLEM.delta:g}, lam = "
             f"{PROBLEM.lam:g}, logistic loss, R = {R}; persistent SGD with 1/tau = {INV_TAU}. "
             f"DMFT of the flow-limit ladders: {describe(DMFT_OPTIONS)}; at the Fig. 1 point: "
             f"{describe(FIG1_DMFT)}.", "",
             "## Flow limit of persistent SGD against simulations at eta = 0.02", "",
             f"Ladder eta = {LADDER_ETA}, ..., {LADDER_ETA / 2 ** (LADDER - 1):g} "
             f"({LADDER} rungs, batch_chain = exact: valid at every eta, so b = 0.1 has an "
             "eta = 0.2 rung); the order is measured on the finest three and the curve is put "
             "on the eta = 0.2 grid. Tolerance: |flow - sim| <= tol + 2 SEM at every coarse "
             "time, tol = 0.002 (b = 0.1) and 0.001 (b = 0.3). (Ladders are cached; their "
             "extrapolation is re-run on the stored rungs with the current code.)", ""]
    ok = True
    for b in FLOW_BS:
        sec, passed = flow_section(b, sims[b], *dmft[b], linear[b])
        ok &= passed
        lines += sec + [""]
    flow01, plain01 = dmft.get(0.1, (None, {}))
    lines += fig1_section(fig1, flow01, plain01.get(0.1))
    lines += [""] + sgd_section(sgd)
    all_expected = all(f.stats["order_used"] == 1.0 for f in
                       [dmft[b][0] for b in FLOW_BS] + [linear[b] for b in FLOW_BS])
    lines += ["", f"Overall flow-limit must-show: {'PASS' if ok else 'FAIL'}", "",
              "## Reading", "",
              ("- The measured order: " + ("" if all_expected else "(NOTE: some ladders used their "
               "measured order; the text below describes the committed run) ") +
               "the step effect between the finest rungs is below the DMFT's "
              "Monte-Carlo errors at these draws for the exact chain (its curves at eta = 0.2 are "
              "already within a few 1e-3 of the limit), and the linear-chain ladders give orders "
              "that are unresolved or too imprecise to use (see their lines), so every ladder here "
              "used the expected order 1 (the rule of docs/flow-limit.md, \"Extrapolation\"); the "
              "exact and linear ladders, two different discretisations, agree on the limit within "
              "their error bars."),
              "- Which chain Fig. 1 (left) should use at eta = 0.2 for b = 0.1: `exact`. It keeps "
              "the stated b = 0.1 and tau (the rates of the flow), is valid at eta = 0.2, and its "
              "eta = 0.2 curve is the closest to the flow limit (the paper's theory) of the curves "
              "compared above (clipped at eta = 0.2, linear at eta = 0.1); `clipped` is another process (batch fraction 0.1071, every "
              "stay in the batch one step long), self-consistent (DMFT = simulations of the same "
              "rule) but off the flow by up to 0.02 near t = 1; use it only for a literal "
              "re-execution of the paper's rule, with its fraction in the caption."]
    return "\n".join(lines)


def quick():
    global FLOW_T, SIM_D, SIM_SEEDS, FIG1, FIG1_SIMS, FIG1_T, DMFT_OPTIONS, REPORT_T, FIG1_DMFT
    FLOW_T, SIM_D, SIM_SEEDS = 2.0, 100, 3
    FIG1, FIG1_SIMS, FIG1_T = dict(FIG1, t_max=4.0), ((50, 4), (100, 3)), (0.2, 1, 2, 4)
    DMFT_OPTIONS = DMFT_OPTIONS.replace(samples=1000, response_samples=100, max_iter=4)
    FIG1_DMFT = DMFT_OPTIONS
    REPORT_T = (0.2, 1, 2)
    global SGD_D
    SGD_D = 100


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), ".cache"))
    ap.add_argument("--stage", default="all", choices=("sims", "dmft", "linear", "fig1", "all"))
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes to check the script (numbers meaningless)")
    args = ap.parse_args(argv)
    if args.quick:
        quick()
        args.cache += "-quick"
    os.makedirs(args.cache, exist_ok=True)
    if args.stage == "sims":
        stage_sims(args.cache)
        return
    if args.stage == "dmft":
        stage_dmft(args.cache)
        return
    if args.stage == "linear":
        stage_linear_ladders(args.cache)
        return
    if args.stage == "fig1":
        stage_fig1(args.cache)
        return
    fig1 = stage_fig1(args.cache)
    dmft = stage_dmft(args.cache)
    sims = stage_sims(args.cache)
    sgd = stage_sgd(args.cache)
    linear = stage_linear_ladders(args.cache)
    print(report(sims, dmft, fig1, sgd, linear))


if __name__ == "__main__":
    main()
