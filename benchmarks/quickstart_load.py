"""The README Quick start, quiet and with both cores busy, before and after the BLAS thread rule.

    python benchmarks/quickstart_load.py            # d = 500 (the Quick start) and d = 4000
    python benchmarks/quickstart_load.py --quick    # d = 500 only, one repetition

The Quick start is ``gmmdmft simulate --algorithm persistent-sgd --b 0.3 --tau 1.6667 --alpha 2
--delta 0.5 --eta 0.2 --R 0.01 --t-max 100 --d 500 --seeds 10 --every 5``, run here as the
equivalent API call (the command adds a constant start-up time, the same in every row). d = 4000
runs the same problem with 2 seeds to t = 20 (the data matrix is 256 MB per seed), where the
products are memory-bound and a second BLAS thread may add bandwidth.

Each size is timed with three thread rules for the simulator's time loop, in the same process:
``before`` (no limit: the BLAS default, all threads, as before this rule), ``one`` (one BLAS
thread always) and ``rule`` (what :func:`gmmdmft.simulation.loop_blas_threads` chooses now), each
quiet and then "loaded": while two busy-loop processes (``python -c "while True: pass"``) keep
both cores busy. The printed ratios are loaded / quiet for each rule and rule / before; wall
times on a shared machine are noisy, so compare ratios from one run.
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

RULES = {
    "before": lambda problem, d, dtype: contextlib.nullcontext(),
    "one": lambda problem, d, dtype: one_blas_thread(),
    "rule": simulation.loop_blas_threads,
}


def quickstart(d: int, seeds: int, t_max: float):
    problem = g.Problem(alpha=2.0, delta=0.5)
    training = g.Training("persistent-sgd", b=0.3, tau=1.6667, eta=0.2, R=0.01, t_max=t_max)
    return problem, training, dict(d=d, seeds=seeds, every=5, progress=False)


def timed(rule: str, problem, training, keywords) -> float:
    original = simulation.loop_blas_threads
    simulation.loop_blas_threads = RULES[rule]
    try:
        t0 = time.perf_counter()
        g.simulate(problem, training, **keywords)
        return time.perf_counter() - t0
    finally:
        simulation.loop_blas_threads = original


# the "while True: pass", ending by itself when this script dies (getppid changes)
BUSY = f"import os\nwhile os.getppid() == {os.getpid()}: pass"


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


def measure(label, problem, training, keywords, repeats, loaded_repeats):
    """{(rule, condition): median seconds} for one size."""
    times = {}
    for condition in ("quiet", "loaded"):
        ctx = busy_cores(os.cpu_count() or 2) if condition == "loaded" else contextlib.nullcontext()
        with ctx:
            for rule in RULES:
                n = repeats if condition == "quiet" or rule != "before" else loaded_repeats
                runs = [timed(rule, problem, training, keywords) for _ in range(n)]
                times[rule, condition] = statistics.median(runs)
                print(f"  {label}: {rule:6s} {condition:6s} {' '.join(f'{x:.2f}' for x in runs)} s",
                      file=sys.stderr, flush=True)
    return times


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups on kill
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = 500 only, one repetition")
    args = ap.parse_args()
    sizes = [("d = 500, 10 seeds, t <= 100 (the Quick start)", quickstart(500, 10, 100.0))]
    if not args.quick:
        sizes.append(("d = 4000, 2 seeds, t <= 20", quickstart(4000, 2, 20.0)))
    repeats = 1 if args.quick else 3
    print(f"# Quick start under load ({os.cpu_count()} cores, load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; gmmdmft {g.__version__})\n")
    print("| case | rule | threads in the loop | quiet s | loaded s | loaded / quiet |")
    print("| --- | --- | --- | --- | --- | --- |")
    summary = []
    for label, (problem, training, keywords) in sizes:
        timed("rule", problem, training, dict(keywords, seeds=1))  # warm-up: imports, BLAS pool
        t = measure(label, problem, training, keywords, repeats, 1)
        chosen = simulation.loop_blas_threads(problem, keywords["d"], "float64")
        chosen = "all" if isinstance(chosen, contextlib.nullcontext) else "1"
        for rule in RULES:
            threads = {"before": "all", "one": "1", "rule": chosen}[rule]
            q, lo = t[rule, "quiet"], t[rule, "loaded"]
            print(f"| {label} | {rule} | {threads} | {q:.2f} | {lo:.2f} | {lo / q:.1f} |")
        summary.append((label, t))
    print()
    for label, t in summary:
        print(f"- {label}: loaded / quiet {t['before', 'loaded'] / t['before', 'quiet']:.1f} before, "
              f"{t['rule', 'loaded'] / t['rule', 'quiet']:.1f} with the rule (goal <= 5); "
              f"rule / before: quiet {t['rule', 'quiet'] / t['before', 'quiet']:.2f}, "
              f"loaded {t['rule', 'loaded'] / t['before', 'loaded']:.3f}; "
              f"one thread / all quiet {t['one', 'quiet'] / t['before', 'quiet']:.2f}")


if __name__ == "__main__":
    main()
