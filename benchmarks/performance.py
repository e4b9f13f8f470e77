"""Performance report of the DMFT solver: roofline per phase, ratio to the baseline, scaling.

    python benchmarks/performance.py                 # everything (about 1 h on 2 quiet cores)
    python benchmarks/performance.py --only roofline baseline
    python benchmarks/performance.py --quick         # small sizes, a smoke run (1 min)

Sections (all measured in this one process, so that the machine's speed is the same for all):

machine    matrix-product rate (float64, float32), memory bandwidth (X @ w and X.T @ v),
           normal draws per second, sigmoid + log per element: the floors below use these.
roofline   one default solve at T = 500, N = 2e4 (GD, two clusters, alpha = 2, Delta = 0.5,
           eta = 0.2, R = 0.01); for each phase of a lagged iteration: FLOPs and bytes from the
           cost model of the code (:func:`cost_model`), the floor
           max(FLOPs / rate, bytes / bandwidth) + draws / draw rate + sigmoid-log time,
           the measured time and floor / time.
baseline   the deliberately straightforward implementation of the equations (naive_dmft.py; M_R
           from N_R = 1000 triangular solves) against the default solver, same N, at T = 500
           and T = 1000: seconds per iteration and the ratio, per steady-state iteration and
           for a whole 12-iteration solve.
solution   time to a solution at T = 100: gmmdmft's default solve against the baseline's damped
           Picard iteration, counted until its curve stays within max(2e-3, 3 sem) of gmmdmft's.
simulator  the simulator's seconds per step against two bare products (simulate_benchmark.py).
scaling    seconds per iteration (the causal burn-in sweep and a later lagged iteration, by
           phase) and peak memory of the default solver for T in {250, ..., 8000} at N = 1e4
           and T <= 4000 at N = 2e4 (T = 8000 there is the long section's solve), with
           exponents fitted to time ~ T^p N^q; and of response = "propagate"
           (today's N_R T^3 estimate) for T <= 1000 at N = 1e4, for the same-run ratio.
long       default solves at T = 2000 (t_max = 400) and T = 8000 (t_max = 1600), N = 2e4:
           wall time, iterations, status and peak memory.

Each solve of scaling and long runs in a child process, so that its peak memory is its own.

The report goes to standard output (Markdown) and, with --json FILE, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gmmdmft as g  # noqa: E402
from gmmdmft._validation import proc_bytes  # noqa: E402
from gmmdmft.dmft import solve_dmft  # noqa: E402
from gmmdmft.dmft.solver import PROBES_PER_DRAW  # noqa: E402
from naive_dmft import naive_dmft  # noqa: E402

PHASES = ("process", "noise", "memory", "M_C", "M_R", "two_time")
PROBLEM = dict(alpha=2.0, delta=0.5)


def training(T):
    return g.Training("gd", eta=0.2, t_max=0.2 * T, R=0.01)


# ------------------------------------------------------------------------------- the machine
def _best(f, repeat=3):
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_machine(quick=False):
    n = 1000 if quick else 2500
    out = {}
    for dt in ("float64", "float32"):
        A = np.random.default_rng(0).random((n, n)).astype(dt)
        out[f"gemm_{dt}_flops"] = 2 * n**3 / _best(lambda: A @ A)
    rows, cols = (4000, 4000) if quick else (8000, 8000)
    X = np.random.default_rng(1).random((rows, cols))
    w, v = np.ones(cols), np.ones(rows)
    out["bandwidth_bytes"] = 2 * X.nbytes / _best(lambda: (X @ w, X.T @ v))
    rng = np.random.default_rng(2)
    Z = np.empty((500, 20000))
    out["normals_per_s"] = Z.size / _best(lambda: rng.standard_normal(out=Z))
    x = np.random.default_rng(3).standard_normal(20000)

    def sig_log():
        for _ in range(50):
            np.log(expit(x))
    out["sigmoid_log_s_per_element"] = _best(sig_log) / (50 * x.size)
    return out


# ------------------------------------------------------------------------------- cost model
def cost_model(T, N, NR, block=64, rblock=128, rsub=32, g_item=4, response="propagate",
               picks=None, tri_block=128):
    """FLOPs, bytes, normal draws and sigmoid-log elements of one lagged iteration, per phase,
    counted from the loops of gmmdmft.dmft (lagged_sweep with time blocks ``block``; M_R by
    response_estimate with blocks ``rblock`` and sub-blocks ``rsub``, N_R = ``NR`` draws, or
    with ``response="probe"`` by probe_estimate with ``picks`` probes (default 2 N); the
    noise root's Cholesky and C(t, t) by equal_time, both timed as two_time)."""
    c = {p: dict(flops=0.0, bytes=0.0, normals=0.0, trans=0.0, dtype="float64") for p in PHASES}
    for K0 in range(0, T, block):
        K1 = min(T, K0 + block)
        B = K1 - K0
        c["noise"]["flops"] += 2.0 * B * K1 * N  # L[K0:K1, :K1] @ Z[:K1]
        c["noise"]["bytes"] += 8.0 * (K1 * N + B * N)
        c["memory"]["flops"] += 2.0 * B * K0 * N  # M_R[K0:K1, :K0] @ H[:K0]
        c["memory"]["bytes"] += 8.0 * (K0 * N + B * N)
        for k in range(K0, K1):  # the in-block memory sum: a matrix-vector product per step
            c["process"]["flops"] += 2.0 * (k - K0) * N
            c["process"]["bytes"] += 8.0 * (k - K0) * N
    c["noise"]["normals"] = float(T * N)
    # per step and draw: ~16 float64 passes (r, loss terms, F and D stores, the update of h)
    c["process"]["bytes"] += 16.0 * 8 * T * N
    c["process"]["flops"] += 30.0 * T * N
    c["process"]["trans"] = float(T * N)
    c["M_C"]["flops"] = 1.0 * N * T * (T + 1)  # F F^T, one triangle
    c["M_C"]["bytes"] = 8.0 * T * N
    # M_R: per draw, blocked propagation of G (T+1, T) and the weighted sum over draws
    mr = c["M_R"]
    mr["dtype"] = "float32" if g_item == 4 else "float64"
    per = 0.0
    byt = 0.0
    for K0 in range(0, T, rblock):
        K1 = min(T, K0 + rblock)
        for J0 in range(0, K0, rblock):
            J1 = min(K0, J0 + rblock)
            per += 2.0 * (K1 - K0) * (K0 - J0) * (J1 - J0)
        for S0 in range(K0, K1, rsub):
            S1 = min(K1, S0 + rsub)
            per += 2.0 * (S1 - S0) * (S0 - K0) * S0
            byt += g_item * (S0 - K0) * S0  # the skinny product reads these rows of G
            for k in range(S0, S1):
                per += 2.0 * (k - S0) * k + 2.0 * k  # in-sub-block product, a_k G[k]
                byt += g_item * ((k - S0) * k + 3 * k)  # G rows read, G[k] read, G[k+1] r/w
    per += 3.0 * T * T  # the weighted sum D_k G[k, j] D_j
    byt += g_item * 2.0 * T * T
    mr["flops"], mr["bytes"] = per * NR, byt * NR
    if response == "probe":
        mr["flops"], mr["bytes"] = probe_cost(T, 2 * N if picks is None else picks, block,
                                              tri_block, g_item)
    # the Cholesky factor of M_C (the next noise root) and one triangular solve with T + 1
    # right-hand sides for C(t, t)
    c["two_time"]["flops"] = T**3 / 3.0 + float(T + 1) ** 3
    c["two_time"]["bytes"] = 8.0 * 4 * T * T
    return c


def probe_cost(T, P, block=64, tri_block=128, item=4):
    """FLOPs and bytes of probe_estimate with P probes: the tangents' memory sum (one product
    per block of ``block`` steps, a matrix-vector product per step inside a block), the
    update a_k x[k] + D_k w_k, and the estimate over the lower triangle by blocks of kick
    times."""
    flops = byt = 0.0
    for K0 in range(0, T, block):
        K1 = min(T, K0 + block)
        flops += 2.0 * (K1 - K0) * K0 * P
        byt += item * (K0 + K1 - K0) * P
        for k in range(K0, K1):
            flops += (2.0 * (k - K0) + 6.0) * P
            byt += item * ((k - K0) + 5.0) * P
    for J0 in range(0, T, tri_block):
        J1 = min(T, J0 + tri_block)
        flops += 2.0 * (T - J0) * (J1 - J0) * P
        byt += item * (T - J0) * P
    byt += 3.0 * item * T * P  # gathering D, drawing the signs, weighting
    return flops, byt


def floors(cost, machine):
    out = {}
    for p, c in cost.items():
        rate = machine[f"gemm_{c['dtype']}_flops"]
        out[p] = (max(c["flops"] / rate, c["bytes"] / machine["bandwidth_bytes"])
                  + c["normals"] / machine["normals_per_s"]
                  + c["trans"] * machine["sigmoid_log_s_per_element"])
    return out


# ------------------------------------------------------------------------------- sections
def _seconds(timing: dict) -> float:
    """Total seconds of one entry of stats["timing_per_iteration"] (its phases; not its kind)."""
    return sum(v for k, v in timing.items() if k != "kind")


def lagged_times(result, skip=2):
    """Median seconds per phase over the lagged iterations after the first ``skip`` iterations
    (the first lagged one also pays for the first touch of its buffers), without the last one
    (which has no next iteration to estimate M_R for)."""
    its = [t for t in result.stats["timing_per_iteration"][skip:-1] if t["kind"] == "lagged"]
    return {p: statistics.median(t.get(p, 0.0) for t in its) for p in PHASES}


def roofline(machine, T, N, NR, iterations, response="probe"):
    problem = g.Problem(**PROBLEM)
    r = solve_dmft(problem, training(T), samples=N, response_samples=NR, max_iter=iterations,
                   tol=0, progress=False, response=response)
    meas = lagged_times(r)
    cost = cost_model(T, N, NR, response=response, picks=PROBES_PER_DRAW * N)
    flo = floors(cost, machine)
    rows = []
    for p in PHASES:
        c = cost[p]
        rows.append(dict(phase=p, gflop=c["flops"] / 1e9, gbyte=c["bytes"] / 1e9, dtype=c["dtype"],
                         seconds=meas[p], floor=flo[p], fraction=flo[p] / meas[p] if meas[p] else None,
                         gflops=c["flops"] / meas[p] / 1e9 if meas[p] else None))
    first = r.stats["timing_per_iteration"][0]
    return dict(T=T, N=N, NR=NR, response=response, rows=rows, total=sum(meas.values()),
                floor=sum(flo.values()), first_iteration=_seconds(first),
                wall=r.stats["wall_time"], iterations=iterations)


def baseline(T, N, NR, solve_iterations=12, naive_iterations=2):
    """The straightforward implementation against gmmdmft's default solver at the same T and N
    (the baseline's M_R from N_R exact triangular solves): seconds per iteration (gmmdmft: the
    median lagged iteration of a ``solve_iterations`` solve) and for the whole solve."""
    problem = g.Problem(**PROBLEM)
    t0 = time.perf_counter()
    _, tm = naive_dmft(problem, training(T), samples=N, response_samples=NR,
                       iterations=naive_iterations)
    per_it = (time.perf_counter() - t0) / naive_iterations
    t0 = time.perf_counter()
    r = solve_dmft(problem, training(T), samples=N, max_iter=solve_iterations, tol=0,
                   progress=False)
    solve_ours = time.perf_counter() - t0
    fast = sum(lagged_times(r).values())
    return dict(T=T, N=N, NR=NR, baseline_per_iteration=per_it,
                baseline_phases={k: v / naive_iterations for k, v in tm.items()},
                ours_per_iteration=fast, ratio_per_iteration=per_it / fast,
                ours_first_iteration=_seconds(r.stats["timing_per_iteration"][0]),
                solve_iterations=solve_iterations, ours_solve=solve_ours,
                baseline_solve=solve_iterations * per_it,
                ratio_solve=solve_iterations * per_it / solve_ours)


def scaling(Ts, Ns, NR, propagate_Ts=(), iterations=4, max_TN=None):
    """Seconds per iteration (the causal burn-in and the median later lagged one, by phase)
    of the default solver for every T and N (with T N <= ``max_TN``: the largest T at the
    largest N is the long section's solve), and of response = "propagate" (N_R = ``NR``) at
    the first N for the T in ``propagate_Ts``; exponents fitted to time ~ T^p N^q per phase."""
    cells = []
    runs = [(T, N, "probe") for N in Ns for T in Ts if max_TN is None or T * N <= max_TN]
    runs += [(T, Ns[0], "propagate") for T in propagate_Ts]
    for T, N, response in runs:
        cells.append(in_child(_scaling_cell, T, N, NR, response, iterations))
        print(f"  scaling T={T} N={N} {response}: first {cells[-1]['first']:.2f} s, "
              f"lagged {cells[-1]['lagged']:.2f} s", file=sys.stderr, flush=True)
    fits = {}
    for label, T_min in (("all", 0), ("T >= 1000", 1000)):
        use = [c for c in cells if c["response"] == "probe" and c["T"] >= T_min]
        logs = np.array([[1.0, math.log(c["T"]), math.log(c["N"])] for c in use])
        fits[label] = {}
        for key in ("first", "lagged", *PHASES):
            y = np.array([c[key] if key in ("first", "lagged") else c["phases"][key] for c in use])
            if len(use) >= 3 and np.all(y > 0):
                coef, *_ = np.linalg.lstsq(logs, np.log(y), rcond=None)
                fits[label][key] = dict(p_T=float(coef[1]), q_N=float(coef[2]))
    return dict(NR=NR, cells=cells, fits=fits, iterations=iterations)


def _scaling_cell(T, N, NR, response, iterations):
    r = solve_dmft(g.Problem(**PROBLEM), training(T), samples=N, response_samples=NR,
                   max_iter=iterations, tol=0, progress=False, response=response)
    lag = lagged_times(r)
    return dict(T=T, N=N, response=response, first=_seconds(r.stats["timing_per_iteration"][0]),
                lagged=sum(lag.values()), phases=lag)


def _child(fn, args, queue):
    out = fn(*args)
    out["peak"] = _peak_rss()
    queue.put(out)


def in_child(fn, *args):
    """fn(*args) (a dict) in a spawned process, with that process's peak memory ("peak")."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def time_to_solution(N, NR, T=100, picard=40):
    problem = g.Problem(**PROBLEM)
    t0 = time.perf_counter()
    ref = solve_dmft(problem, training(T), samples=N, response_samples=NR, progress=False)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves, _ = naive_dmft(problem, training(T), samples=N, response_samples=NR, iterations=picard,
                           record=True)
    t_slow = time.perf_counter() - t0
    gaps = [float(np.max(np.abs(c - ref.gen_error))) for c in curves["history"]]
    tol = max(2e-3, 3 * float(np.max(ref.gen_error_sem)))
    settled = next((i + 1 for i in range(len(gaps)) if max(gaps[i:]) < tol), None)
    return dict(T=T, N=N, NR=NR, ours=t_fast, ours_iterations=ref.stats["iterations"],
                ours_max_sem=float(np.max(ref.gen_error_sem)), tol=tol, picard=picard,
                baseline_total=t_slow, settled=settled, gaps=gaps[::5],
                baseline_needed=None if settled is None else t_slow * settled / picard)


def simulator(quick):
    import contextlib
    import io

    import simulate_benchmark
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        simulate_benchmark.main(["--d", *(["300"] if quick else ["500", "2000", "8000"]),
                                 "--seeds", "4", "--repeat", "2" if quick else "3", "--fig1"])
    return buf.getvalue()


def _peak_rss() -> int:
    """Peak resident memory of this process in bytes: VmHWM (per address space, so a spawned
    child does not inherit its parent's peak, which getrusage's ru_maxrss does on Linux)."""
    peak = proc_bytes("/proc/self/status", "VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _long_solve(T, N):
    problem = g.Problem(**PROBLEM)
    t0 = time.perf_counter()
    r = solve_dmft(problem, training(T), samples=N, progress=False)
    wall = time.perf_counter() - t0
    per = [_seconds(t) for t in r.stats["timing_per_iteration"]]
    return dict(T=T, N=N, wall=wall, iterations=r.stats["iterations"], status=r.status,
                max_gen_error_sem=r.stats["max_gen_error_sem"], first_iteration=per[0],
                later_median=statistics.median(per[1:]) if len(per) > 1 else float("nan"),
                load=_load(), gen_error_final=float(r.gen_error[-1]),
                gen_error_final_sem=float(r.gen_error_sem[-1]))


def _load():
    """The 1-minute load average (the machine is shared: a busy one slows every phase)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None


def long_run(T, N):
    """A default solve in a child process (so that its peak memory is its own)."""
    return in_child(_long_solve, T, N)


# ------------------------------------------------------------------------------- report
def report(res):
    m = res.get("machine")
    if m:
        print("## Machine (measured in this run)\n")
        print(f"- matrix product: float64 {m['gemm_float64_flops'] / 1e9:.0f} GFLOP/s, "
              f"float32 {m['gemm_float32_flops'] / 1e9:.0f} GFLOP/s")
        print(f"- memory bandwidth (X @ w + X.T @ v, float64): {m['bandwidth_bytes'] / 1e9:.1f} GB/s")
        print(f"- normal draws: {m['normals_per_s'] / 1e6:.0f} M/s; sigmoid + log: "
              f"{m['sigmoid_log_s_per_element'] * 1e9:.1f} ns per element\n")
    r = res.get("roofline")
    if r:
        print(f"## Roofline: one lagged iteration, T = {r['T']}, N = {r['N']}, M_R by "
              f"{r['response']}\n")
        print("| phase | GFLOP | GB | dtype | GFLOP/s | seconds | floor s | floor/time |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in r["rows"]:
            gf = f"{row['gflops']:.0f}" if row["gflops"] else "-"
            fr = f"{row['fraction']:.2f}" if row["fraction"] else "-"
            print(f"| {row['phase']} | {row['gflop']:.2f} | {row['gbyte']:.2f} | {row['dtype']} | {gf} "
                  f"| {row['seconds']:.3f} | {row['floor']:.3f} | {fr} |")
        print(f"| total | | | | | {r['total']:.3f} | {r['floor']:.3f} | {r['floor'] / r['total']:.2f} |")
        print(f"\nfirst (causal burn-in) iteration: {r['first_iteration']:.2f} s\n")
    for b in res.get("baseline", []):
        print(f"## Against the straightforward implementation (T = {b['T']}, N = {b['N']}; its "
              f"M_R from N_R = {b['NR']} triangular solves, gmmdmft's default probes)\n")
        print(f"- per iteration: baseline {b['baseline_per_iteration']:.2f} s "
              f"({', '.join(f'{k} {v:.2f}' for k, v in b['baseline_phases'].items())}), "
              f"gmmdmft {b['ours_per_iteration']:.3f} s: ratio {b['ratio_per_iteration']:.1f}")
        print(f"- a {b['solve_iterations']}-iteration solve: baseline {b['baseline_solve']:.1f} s "
              f"({b['solve_iterations']} x its iteration), gmmdmft {b['ours_solve']:.1f} s (measured; "
              f"causal burn-in {b['ours_first_iteration']:.2f} s + {b['solve_iterations'] - 1} lagged): "
              f"ratio {b['ratio_solve']:.1f}\n")
    ts = res.get("solution")
    if ts:
        print(f"## Time to a solution (T = {ts['T']}, N = {ts['N']}, N_R = {ts['NR']})\n")
        print(f"- gmmdmft default: {ts['ours']:.1f} s, {ts['ours_iterations']} iterations, max gen_error "
              f"sem {ts['ours_max_sem']:.1e}")
        if ts["settled"] is None:
            print(f"- baseline: not within {ts['tol']:.1e} of it after {ts['picard']} iterations "
                  f"({ts['baseline_total']:.1f} s); gap every 5 iterations {np.round(ts['gaps'], 4).tolist()}\n")
        else:
            print(f"- baseline: within {ts['tol']:.1e} of it from iteration {ts['settled']} on: "
                  f"{ts['baseline_needed']:.1f} s, ratio {ts['baseline_needed'] / ts['ours']:.1f}\n")
    if res.get("simulator"):
        print("## Simulator: seconds per step and seed against two bare products\n")
        print("```\n" + res["simulator"].rstrip() + "\n```\n")
    s = res.get("scaling")
    if s:
        print(f"## Scaling: seconds per iteration (median lagged iteration of a {s['iterations']}-"
              f"iteration solve; propagate rows with N_R = {s['NR']})\n")
        print("| T | N | M_R by | first (causal burn-in) | later (lagged) | process | noise | memory "
              "| M_C | M_R | two_time | peak GiB |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in s["cells"]:
            ph = c["phases"]
            print(f"| {c['T']} | {c['N']:.0e} | {c['response']} | {c['first']:.2f} | {c['lagged']:.2f} | "
                  + " | ".join(f"{ph[p]:.2f}" for p in PHASES) + f" | {c['peak'] / 2**30:.2f} |")
        for label, fit in s["fits"].items():
            print(f"\nfitted time ~ T^p N^q (probe cells, {label}):",
                  "; ".join(f"{k} p = {v['p_T']:.2f}, q = {v['q_N']:.2f}" for k, v in fit.items()))
        pairs = [(c, d) for c in s["cells"] for d in s["cells"] if c["response"] == "probe"
                 and d["response"] == "propagate" and c["T"] == d["T"] and c["N"] == d["N"]]
        if pairs:
            print("\nprobe against propagate, same run (later iteration; M_R phase): "
                  + "; ".join(f"T = {c['T']}: {d['lagged'] / c['lagged']:.1f}x, "
                              f"M_R {d['phases']['M_R'] / max(c['phases']['M_R'], 1e-9):.1f}x"
                              for c, d in pairs))
        print()
    for lr in res.get("long", []):
        print(f"## Long horizon: T = {lr['T']} (t_max = {0.2 * lr['T']:g}), N = {lr['N']}, default solver\n")
        print(f"- wall {lr['wall']:.0f} s ({lr['wall'] / 60:.1f} min), {lr['iterations']} iterations "
              f"(first {lr['first_iteration']:.1f} s, later median {lr['later_median']:.1f} s), status "
              f"{lr['status']}, max gen_error sem {lr['max_gen_error_sem']:.2g}, peak memory "
              f"{lr['peak'] / 2**30:.2f} GiB; gen_error(t_max) {lr['gen_error_final']:.4f} +- "
              f"{lr['gen_error_final_sem']:.4f}; load average {lr['load']}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=["machine", "roofline", "baseline", "solution",
                                                  "simulator", "scaling", "long"])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    q = args.quick
    T, N, NR = (100, 4000, 200) if q else (500, 20000, 1000)
    res = dict(version=g.__version__, numpy=np.__version__, python=platform.python_version(),
               machine_name=platform.machine(), quick=q, load_start=_load())
    only = set(args.only) | {"machine"}
    res["machine"] = measure_machine(q)
    if "roofline" in only:
        res["roofline"] = roofline(res["machine"], T, N, NR, iterations=5 if q else 7)
    if "baseline" in only:
        res["baseline"] = [baseline(Tb, N, NR) for Tb in ((50, 100) if q else (500, 1000))]
    if "solution" in only:
        res["solution"] = time_to_solution(N, NR, T=50 if q else 100, picard=10 if q else 40)
    if "simulator" in only:
        res["simulator"] = simulator(q)
    if "scaling" in only:
        res["scaling"] = scaling([50, 100, 200] if q else [250, 500, 1000, 2000, 4000, 8000],
                                 [2000, 4000] if q else [10**4, 2 * 10**4], 100 if q else 1000,
                                 propagate_Ts=[50, 100] if q else [250, 500, 1000],
                                 max_TN=None if q else 8000 * 10**4)
    if "long" in only:
        res["long"] = [long_run(Tl, Nl) for Tl, Nl in (((200, 2000),) if q else ((2000, 20000), (8000, 20000)))]
    res["load_end"] = _load()
    report(res)
    print(f"load average (1 min) at the start {res['load_start']}, at the end {res['load_end']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
