"""Sweep benchmarks: wall time of a small sweep with 1 vs 2 workers, and DMFT warm starts.

    python benchmarks/sweep_benchmark.py workers       # 4 DMFT points: 1 worker, 2, Dask 2
    python benchmarks/sweep_benchmark.py warm-start    # cold vs init=neighbour's kernels

``workers`` runs ``gmmdmft sweep`` on ``examples/sweep-psgd-b-tau.toml`` restricted to one
value of 1/tau and a shorter horizon (``--t-max``, default 20), in a temporary directory:
in-process (1 worker), ``--local-workers 2``, and on a two-worker Dask LocalCluster
(``--scheduler``). ``warm-start`` solves persistent SGD at (b, 1/tau) = (0.3, 0.6) with the
kernels returned, then two neighbours (1/tau = 0.8; b = 0.4) cold and with ``init=`` that
solution, same seed, one BLAS thread, and prints times, iterations and the largest difference
of the curves in units of their Monte-Carlo error. Run it on a quiet machine: the numbers are
wall times.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sweep-psgd-b-tau.toml"


def workers(t_max: float) -> None:
    base = [sys.executable, "-m", "gmmdmft", "sweep", str(EXAMPLE), "-q",
            "--set", f"base.t_max={t_max}", "--set", "vary.inv_tau=[0.5]"]
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))

    def run(name, extra):
        out = tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(base + ["--out", str(out)] + extra, check=True)
        wall = time.perf_counter() - t0
        pts = [round(float(r["wall_time"]), 1) for r in csv.DictReader(open(out / "sweep.csv"))]
        load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
        print(f"{name:32s} {wall:6.1f} s  (per point {pts}; load average {load})", flush=True)
        return wall

    try:
        w1 = run("1 worker (in process)", ["--local-workers", "1"])
        w2 = run("2 local worker processes", ["--local-workers", "2"])
        from dask.distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            wd = run("Dask LocalCluster, 2 workers", ["--scheduler", cluster.scheduler_address])
        print(f"speed-up over 1 worker: local pool {w1 / w2:.2f}x, Dask {w1 / wd:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def warm_start(t_max: float) -> None:
    import numpy as np

    import gmmdmft as g

    p = g.Problem(alpha=2, delta=0.5)

    def tr(b, inv_tau):
        return g.Training("persistent-sgd", eta=0.2, t_max=t_max, R=0.01, b=b, tau=1 / inv_tau)

    t0 = time.perf_counter()
    A = g.solve_dmft(p, tr(0.3, 0.6), return_kernels=True, progress=False)
    print(f"neighbour (0.3, 0.6): {time.perf_counter() - t0:.1f} s, {A.stats['iterations']} it")
    for b, inv_tau in ((0.3, 0.8), (0.4, 0.6)):
        t0 = time.perf_counter()
        cold = g.solve_dmft(p, tr(b, inv_tau), seed=1, progress=False)
        tc = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = g.solve_dmft(p, tr(b, inv_tau), seed=1, init=A, progress=False)
        tw = time.perf_counter() - t0
        diff = np.abs(cold.gen_error - warm.gen_error)[1:]
        sem = np.hypot(cold.gen_error_sem, warm.gen_error_sem)[1:]
        print(f"({b}, {inv_tau}): cold {tc:.1f} s ({cold.stats['iterations']} it), warm {tw:.1f} s "
              f"({warm.stats['iterations']} it); max |cold - warm| = {diff.max():.1e} "
              f"= {np.max(diff / sem):.2f} sem")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("workers", "warm-start"))
    ap.add_argument("--t-max", type=float, default=None)
    args = ap.parse_args()
    if args.what == "workers":
        workers(args.t_max or 20.0)
    else:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads (imported late)
        warm_start(args.t_max or 30.0)


if __name__ == "__main__":
    main()
