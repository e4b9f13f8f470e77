"""The README Quick start, quiet and with both cores busy, with all BLAS threads and with one.

    python benchmarks/quickstart_load.py                 # d = 500 (the Quick start) and d = 4000
    python benchmarks/quickstart_load.py --sizes 500     # the Quick start only
    python benchmarks/quickstart_load.py --repeats 5     # more interleaved rounds
    python benchmarks/quickstart_load.py --products      # the bare products X @ w + X.T @ v

The Quick start is ``gmmdmft simulate --algorithm persistent-sgd --b 0.3 --tau 1.6667 --alpha 2
--delta 0.5 --eta 0.2 --R 0.01 --t-max 100 --d 500 --seeds 10 --every 5``, run here as the
equivalent API call (the command adds a constant start-up time). d = 4000 runs the same problem
with 2 seeds to t = 20 (the data matrix is 256 MB per seed): there the products are
memory-bound and a second BLAS thread may add bandwidth.

Two settings of the simulator's time loop are timed in the same process, interleaved round by
round: ``all`` (no limit: the BLAS default, which is what the simulator did before it limited
its loop, "before") and ``one`` (one BLAS thread). :func:`gmmdmft.simulation.loop_blas_threads`
picks one of the two by the size of X ("rule", "after"). Each is timed quiet and "loaded": while
two busy-loop processes (the issue's ``python -c "while True: pass"``) keep both cores busy.
Printed: the fastest and the median of the rounds (wall seconds of ``simulate``, and of its
time loop alone), the load average at the start of each condition, and the ratios loaded /
quiet before and after, and one / all. On a shared machine compare the ratios of one run, and
prefer the fastest of the rounds (other processes only ever slow a round down).

``--products`` times the two products of a step alone, X @ w + X.T @ v with X of 2d x d, with
one BLAS thread and with all, 30 interleaved rounds per size: where the rule's threshold
(:data:`gmmdmft.simulation.ALL_THREADS_FROM`) comes from.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time

import gmmdmft as g
from gmmdmft import simulation
from gmmdmft._blas import one_blas_thread

SETTINGS = {
    "all": lambda problem, d, dtype: contextlib.nullcontext(),
    "one": lambda problem, d, dtype: one_blas_thread(),
}
# the "while True: pass", ending by itself when this script dies (getppid changes)
BUSY = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
# a setting whose first round takes this many times the other's is not repeated (the "before"
# setting at d = 500 takes minutes a run on a busy machine: one round shows it)
SLOW = 5.0


def case(d: int):
    problem = g.Problem(alpha=2.0, delta=0.5)
    seeds, t_max = (10, 100.0) if d <= 1000 else (2, 20.0)
    training = g.Training("persistent-sgd", b=0.3, tau=1.6667, eta=0.2, R=0.01, t_max=t_max)
    label = f"d = {d}, {seeds} seeds, t <= {t_max:g}" + (" (the Quick start)" if d == 500 else "")
    return label, problem, training, dict(d=d, seeds=seeds, every=5, progress=False)


def timed(setting: str, problem, training, keywords) -> tuple[float, float]:
    """(wall seconds of simulate, seconds of its time loop) with the loop's BLAS ``setting``."""
    original = simulation.loop_blas_threads
    simulation.loop_blas_threads = SETTINGS[setting]
    try:
        t0 = time.perf_counter()
        r = g.simulate(problem, training, **keywords)
        return time.perf_counter() - t0, r.stats["step_time"]
    finally:
        simulation.loop_blas_threads = original


@contextlib.contextmanager
def busy_cores(n: int):
    """``n`` busy-loop processes for the duration of the block (ended by their pid)."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them reach the scheduler's steady state
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def measure(label, problem, training, keywords, repeats):
    """{(setting, condition): list of (wall, loop) seconds}, and the load average per condition."""
    runs = {(s, c): [] for s in SETTINGS for c in ("quiet", "loaded")}
    load = {}
    for condition in ("quiet", "loaded"):
        load[condition] = os.getloadavg()[0]
        ctx = busy_cores(os.cpu_count() or 2) if condition == "loaded" else contextlib.nullcontext()
        with ctx:
            for _ in range(repeats):
                for setting in SETTINGS:
                    done = runs[setting, condition]
                    others = [w for s, c in runs if s != setting and c == condition
                              for w, _ in runs[s, c]]
                    if done and others and done[0][0] > SLOW * min(others):
                        continue
                    done.append(timed(setting, problem, training, keywords))
                    print(f"  {label}: {setting} {condition} {done[-1][0]:.2f} s "
                          f"(loop {done[-1][1]:.2f} s)", file=sys.stderr, flush=True)
    return runs, load


def products(sizes=(1000, 1500, 2000, 2800, 4000, 8000), rounds: int = 30) -> None:
    """The bare products of a step, one BLAS thread against all, interleaved."""
    import numpy as np
    print("| d | X MB | all threads ms: fastest / median | one thread ms: fastest / median "
          "| one / all (fastest) |")
    print("| --- | --- | --- | --- | --- |")
    for d in sizes:
        X = np.random.default_rng(0).standard_normal((2 * d, d))
        w, v = np.ones(d), np.ones(2 * d)
        runs = {"all": [], "one": []}
        for _ in range(rounds):
            for setting, ctx in (("all", contextlib.nullcontext), ("one", one_blas_thread)):
                with ctx():
                    t0 = time.perf_counter()
                    X @ w
                    X.T @ v
                    runs[setting].append(1e3 * (time.perf_counter() - t0))
        a, o = runs["all"], runs["one"]
        print(f"| {d} | {X.nbytes / 2**20:.0f} | {min(a):.2f} / {statistics.median(a):.2f} | "
              f"{min(o):.2f} / {statistics.median(o):.2f} | {min(o) / min(a):.2f} |", flush=True)
        del X


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups on kill
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,4000", help="values of d (comma-separated)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds per condition")
    ap.add_argument("--products", action="store_true", help="time the bare products only")
    args = ap.parse_args()
    if args.products:
        print(f"# X @ w + X.T @ v, one BLAS thread against all ({os.cpu_count()} cores, load "
              f"average {os.getloadavg()[0]:.1f})\n")
        products()
        return
    sizes = [int(v) for v in args.sizes.split(",")]
    print(f"# Quick start under load ({os.cpu_count()} cores, gmmdmft {g.__version__}, "
          f"{args.repeats} interleaved rounds)\n")
    print("`python benchmarks/quickstart_load.py " + " ".join(sys.argv[1:]) + "`\n")
    print("| case | threads in the loop | load avg | quiet s: fastest / median (loop) "
          "| loaded s: fastest / median (loop) | loaded / quiet |")
    print("| --- | --- | --- | --- | --- | --- |")
    notes = []
    for d in sizes:
        label, problem, training, keywords = case(d)
        timed("one", problem, training, dict(keywords, seeds=1))  # warm-up: imports, BLAS pool
        runs, load = measure(label, problem, training, keywords, args.repeats)
        chosen = simulation.loop_blas_threads(problem, d, "float64")
        chosen = "all" if isinstance(chosen, contextlib.nullcontext) else "one"
        best = {k: min(w for w, _ in v) for k, v in runs.items()}
        for setting in SETTINGS:
            cells = []
            for condition in ("quiet", "loaded"):
                v = runs[setting, condition]
                cells.append(f"{best[setting, condition]:.2f} / "
                             f"{statistics.median(w for w, _ in v):.2f} "
                             f"({min(lp for _, lp in v):.2f})")
            tag = {"all": "all (before)", "one": "1"}[setting]
            if setting == chosen:
                tag += ", the rule (after)"
            print(f"| {label} | {tag} | {load['quiet']:.1f} / {load['loaded']:.1f} | {cells[0]} | "
                  f"{cells[1]} | {best[setting, 'loaded'] / best[setting, 'quiet']:.1f} |")
        notes.append(
            f"- {label}: loaded / quiet {best['all', 'loaded'] / best['all', 'quiet']:.1f} "
            f"before, {best[chosen, 'loaded'] / best[chosen, 'quiet']:.1f} after (goal <= 5); "
            f"one thread / all: quiet {best['one', 'quiet'] / best['all', 'quiet']:.2f}, "
            f"loaded {best['one', 'loaded'] / best['all', 'loaded']:.3f} (fastest rounds); "
            f"the rule picks {chosen}")
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
