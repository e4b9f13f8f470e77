"""Reproduce the paper's Figs. 1-4: panel files -> jobs -> cached results -> figures and tables.

This module only orchestrates; the numbers come from :func:`gmmdmft.simulate` and
:func:`gmmdmft.dmft.solve_dmft`, the drawing from :mod:`gmmdmft.plotting` (matplotlib, imported
only when a figure is drawn).

Panels
    A panel is a TOML file (the eight of the paper ship in ``gmmdmft/panels/``): a title, the
    base ``[problem]`` and ``[training]`` parameters, ``t_max``, the ``[simulation]`` and
    ``[dmft]`` settings, ``[plot]`` options, a list of ``[[curves]]`` (each overrides any
    problem/training key, and the simulated ``d`` and ``seeds``) and ``[quick]`` overrides for
    ``--quick``. See ``panels/fig1-left.toml`` for every key.
Jobs
    Each curve is one DMFT solve plus one simulation per simulated d; each of these is a
    :class:`Job`, identified by :func:`cache_key` (:func:`gmmdmft.io.content_key`: sha256 of
    the job's kind, problem, training, method options and package version). Identical jobs of
    different panels run once.
Cache
    ``OUT/cache/<key>.csv`` + ``.json`` (written atomically by :func:`gmmdmft.io.write_result`
    when the job finishes, the sidecar last): a finished job is reused by every later run, an
    interrupted run resumes, ``recompute=True`` ignores the cache.
Outputs per panel
    ``OUT/<panel>.png`` and ``.pdf``, ``OUT/<panel>/`` with each curve's CSV + JSON,
    ``OUT/<panel>.json`` (manifest: curves, parameters, cache keys, version) and the rows of
    ``OUT/summary.csv`` (largest |DMFT - simulation| gap in gen_error per curve).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import datetime as _dt
import gc
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from . import __version__
from ._compute import compute
from ._pool import process_pool, single_blas_threads, stop_pool
from ._validation import ParameterError, check_choice, check_int, check_real
from .io import (check_output_dir, content_key, jsonable, read_result, read_toml, write_atomic,
                 write_result)
from .model import Problem, reference_error, reference_label
from .result import CSV_COLUMNS, Result
from .training import Training

PANELS = ("fig1-left", "fig1-right", "fig2-left", "fig2-right",
          "fig3-left", "fig3-right", "fig4-left", "fig4-right")
FIGURES = {str(i): tuple(p for p in PANELS if p.startswith(f"fig{i}-")) for i in range(1, 5)}
FIGURES["all"] = PANELS

# ------------------------------------------------------------------------------- panel schema
# key -> kind: "real", "int", "str", "bool", "reals" (list of reals), "int|ints", "table", ...
PROBLEM_KEYS = {"clusters": "int", "alpha": "real", "delta": "real", "lam": "real",
                "loss": "str", "L": "real"}
TRAINING_KEYS = {"algorithm": "str", "eta": "real", "R": "real", "b": "real", "tau": "real",
                 "inv_tau": "real"}
SIMULATION_KEYS = {"d": "int|ints", "seeds": "int|ints", "seed0": "int", "every": "int",
                   "dtype": "str", "error_bars": "str"}
DMFT_KEYS = {"samples": "int", "response_samples": "int", "max_iter": "int", "tol": "real",
             "seed": "int", "m0": "real", "d": "int"}
PLOT_KEYS = {"ylim": "reals", "xlim": "reals", "inset_ylim": "reals", "inset_bounds": "reals",
             "legend_loc": "str", "legend_anchor": "reals", "marker_dt": "real", "xscale": "str", "figsize": "reals"}
CURVE_KEYS = {"label": "str", **PROBLEM_KEYS, **TRAINING_KEYS, "d": "int|ints",
              "seeds": "int|ints"}
QUICK_KEYS = {"t_max": "real", "simulation": "table", "dmft": "table", "plot": "table"}
TOP_KEYS = {"title": "str", "caption": "str", "notes": "str", "varied": "str",
            "legend_title": "str", "inset": "str", "reference": "str", "t_max": "real",
            "problem": "table", "training": "table", "simulation": "table", "dmft": "table",
            "plot": "table", "curves": "tables", "quick": "table"}
REQUIRED_TOP = ("title", "varied", "t_max", "problem", "training", "curves")
INSETS = ("train_accuracy", "norm", "none")
REFERENCES = ("auto", "none")
ERROR_BARS = ("all", "largest", "none")
XSCALES = ("linear", "log", "symlog")

# cost model: seconds on one core of the 2-core development machine (measured Nov 2026 with
# one BLAS thread). Only the ratios matter for the scheduling (longest first); the progress
# bar's ETA comes from the measured rate.
SIM_COST_PER_ENTRY_STEP = 0.7e-9    # two mat-vecs with the n x d data matrix, per entry
SIM_COST_PER_STEP = 1e-4            # Python overhead per step
SIM_COST_PER_ENTRY_SETUP = 3e-8     # drawing the data matrix, per entry
DMFT_COST_T2N = 1.2e-9              # process, noise and M_C: per T^2 N per iteration
DMFT_COST_T3NR = 3e-11              # M_R re-estimate (BLAS-3 responses): per T^3 N_R per iteration
DMFT_COST_CAUSAL_T3 = 64 * 1e-10    # the first (causal) sweep's M_R from 64 draws, per T^3
DMFT_COST_PER_STEP = 2e-4           # per time step per iteration


@dataclass(frozen=True)
class Job:
    """One computation: a DMFT solve or a simulation at one parameter point."""

    kind: str  # "dmft" or "simulate"
    problem: Problem
    training: Training
    options: dict
    key: str
    cost: float

    def payload(self) -> dict:
        """Plain data for a worker process."""
        return dict(kind=self.kind, problem=self.problem.params(),
                    training=self.training.params(), options=dict(self.options), key=self.key)

    def describe(self) -> str:
        tr = self.training
        what = tr.algorithm + ("" if tr.algorithm == "gd" else f" b={tr.b:g}")
        if tr.tau is not None:
            what += f" 1/tau={1 / tr.tau:g}"
        extra = f" d={self.options['d']}" if self.kind == "simulate" else ""
        return (f"{self.kind} clusters={self.problem.clusters} {what} lam={self.problem.lam:g} "
                f"R={tr.R:g} eta={tr.eta:g}{extra}")


@dataclass
class Curve:
    """One curve of a panel: its parameters, its DMFT job and its simulation jobs (one per d)."""

    label: str
    problem: Problem
    training: Training
    dmft: Job
    sims: list  # [(d, Job)]
    error_bar_d: tuple  # the d's drawn with error bars


@dataclass
class Panel:
    name: str
    source: str
    title: str
    varied: str
    legend_title: str
    inset: str
    reference: str
    t_max: float
    curves: list
    plot: dict
    quick: bool
    caption: str = ""
    notes: str = ""
    spec: dict = field(default_factory=dict)

    @property
    def reference_value(self) -> float | None:
        if self.reference == "none":
            return None
        return reference_error(self.curves[0].problem)

    @property
    def reference_label(self) -> str:
        return reference_label(self.curves[0].problem)


# --------------------------------------------------------------------------------- cache key
# sha256 of a canonical JSON of (kind, problem, training, method options, version); the names
# of the cache files, so its format is fixed
cache_key = content_key


def estimate_cost(kind: str, problem: Problem, training: Training, options: dict) -> float:
    """Estimated seconds on one core (see the constants above)."""
    T = training.steps
    if kind == "simulate":
        d = options["d"]
        entries = max(1, round(problem.alpha * d)) * d
        per_seed = (T * (SIM_COST_PER_ENTRY_STEP * entries + SIM_COST_PER_STEP)
                    + SIM_COST_PER_ENTRY_SETUP * entries)
        return options["seeds"] * per_seed + 0.01
    N, NR, it = options["samples"], options["response_samples"], options["max_iter"]
    sweep = DMFT_COST_T2N * T * T * N + DMFT_COST_PER_STEP * T
    return (it * sweep + DMFT_COST_CAUSAL_T3 * T**3
            + (it - 1) * DMFT_COST_T3NR * T**3 * NR + 0.01)


# ------------------------------------------------------------------------------ panel loading
def builtin_panel_path(name: str):
    """The shipped TOML file of panel ``name`` (a :mod:`importlib.resources` traversable)."""
    return resources.files("gmmdmft").joinpath("panels", f"{name}.toml")


def panel_names(which: str) -> tuple[str, ...]:
    """Panels of figure ``which`` (``"1"`` ... ``"4"`` or ``"all"``)."""
    if which not in FIGURES:
        raise ParameterError(f"figure = {which!r} is not one of: 1, 2, 3, 4, all")
    return FIGURES[which]


def _check_value(where: str, key: str, kind: str, value):
    """Type check one TOML value; ranges are checked by Problem, Training and the solvers."""
    try:
        if kind == "real":
            return check_real(key, value)
        if kind == "int":
            return check_int(key, value)
        if kind == "str":
            if not isinstance(value, str):
                raise ParameterError(f"{key} = {value!r} must be a string")
            return value
        if kind == "reals":
            if not isinstance(value, list) or not value:
                raise ParameterError(f"{key} = {value!r} must be a list of numbers")
            return [check_real(key, v) for v in value]
        if kind == "int|ints":
            if isinstance(value, list):
                if not value:
                    raise ParameterError(f"{key} = [] must not be empty")
                return [check_int(key, v, lo=1) for v in value]
            return check_int(key, value, lo=1)
        if kind == "table":
            if not isinstance(value, dict):
                raise ParameterError(f"{key} must be a table ([{key}])")
            return value
        if kind == "tables":
            if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
                raise ParameterError(f"{key} must be a non-empty list of tables ([[{key}]])")
            return value
    except ParameterError as e:
        raise ParameterError(f"{where}: {e}") from None
    raise AssertionError(kind)  # pragma: no cover


def _check_table(where: str, table: dict, schema: dict, section: str) -> dict:
    out = {}
    for k, v in table.items():
        if k not in schema:
            allowed = ", ".join(schema)
            raise ParameterError(f"{where}: unknown key {k!r} in {section} (allowed: {allowed})")
        out[k] = _check_value(f"{where}: {section}", k, schema[k], v)
    return out


def read_panel_file(path) -> tuple[str, dict, str]:
    """(name, raw TOML dict, source label) of a panel given by built-in name or file path."""
    if isinstance(path, str) and path in PANELS:
        res = builtin_panel_path(path)
        return path, tomllib.loads(res.read_text(encoding="utf-8")), f"gmmdmft/panels/{path}.toml"
    p = Path(path)
    raw = read_toml(p, f"panel {str(path)!r}")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", p.stem).strip("-.") or "panel"
    return name, raw, str(p)


def load_panel(path, *, quick: bool = False) -> Panel:
    """Read and validate a panel (built-in name or TOML path) and build its jobs.

    Every check (unknown keys, types, parameter ranges of every curve) happens here, before any
    compute; errors are :class:`ParameterError` with one line naming the file and the curve.
    """
    name, raw, source = read_panel_file(path)
    where = f"panel {source!r}"
    top = _check_table(where, raw, TOP_KEYS, "the top level")
    for k in REQUIRED_TOP:
        if k not in top:
            raise ParameterError(f"{where}: key {k!r} is missing")
    problem0 = _check_table(where, top["problem"], PROBLEM_KEYS, "[problem]")
    training0 = _check_table(where, top["training"], TRAINING_KEYS, "[training]")
    sim0 = _check_table(where, top.get("simulation", {}), SIMULATION_KEYS, "[simulation]")
    dmft0 = _check_table(where, top.get("dmft", {}), DMFT_KEYS, "[dmft]")
    plot = _check_table(where, top.get("plot", {}), PLOT_KEYS, "[plot]")
    quick_t = _check_table(where, top.get("quick", {}), QUICK_KEYS, "[quick]")
    quick_sim = _check_table(where, quick_t.get("simulation", {}), SIMULATION_KEYS, "[quick.simulation]")
    quick_dmft = _check_table(where, quick_t.get("dmft", {}), DMFT_KEYS, "[quick.dmft]")
    quick_plot = _check_table(where, quick_t.get("plot", {}), PLOT_KEYS, "[quick.plot]")
    if quick:
        plot = {**plot, **quick_plot}
    for key, choices in (("inset", INSETS), ("reference", REFERENCES)):
        if key in top:
            try:
                check_choice(key, top[key], choices)
            except ParameterError as e:
                raise ParameterError(f"{where}: {e}") from None
    for table, label in ((sim0, "[simulation]"), (quick_sim, "[quick.simulation]")):
        if "error_bars" in table:
            try:
                check_choice("error_bars", table["error_bars"], ERROR_BARS)
            except ParameterError as e:
                raise ParameterError(f"{where}: {label}: {e}") from None
    if "xscale" in plot:
        try:
            check_choice("xscale", plot["xscale"], XSCALES)
        except ParameterError as e:
            raise ParameterError(f"{where}: [plot]: {e}") from None
    for key, n in (("ylim", 2), ("xlim", 2), ("inset_ylim", 2), ("inset_bounds", 4), ("figsize", 2),
                   ("legend_anchor", 2)):
        if key in plot and len(plot[key]) != n:
            raise ParameterError(f"{where}: [plot]: {key} = {plot[key]} must have {n} numbers")
    if "marker_dt" in plot:
        try:
            check_real("marker_dt", plot["marker_dt"], lo=0, lo_open=True)
        except ParameterError as e:
            raise ParameterError(f"{where}: [plot]: {e}") from None

    t_max = quick_t.get("t_max", top["t_max"]) if quick else top["t_max"]
    sim = {**sim0, **(quick_sim if quick else {})}
    dm = {**dmft0, **(quick_dmft if quick else {})}
    error_bars = sim.get("error_bars", "all")

    curves = []
    labels = set()
    for i, raw_curve in enumerate(top["curves"]):
        cw = f"{where}: curve {i + 1}"
        c = _check_table(cw, raw_curve, CURVE_KEYS, "[[curves]]")
        if "label" not in c:
            raise ParameterError(f"{cw}: key 'label' is missing")
        cw = f"{where}: curve {c['label']!r}"
        if c["label"] in labels:
            raise ParameterError(f"{cw}: the label is used twice")
        labels.add(c["label"])
        try:
            curves.append(_build_curve(c, problem0, training0, sim, dm, t_max, error_bars,
                                       quick, quick_sim))
        except ParameterError as e:
            raise ParameterError(f"{cw}: {e}") from None

    return Panel(name=name, source=source, title=top["title"], varied=top["varied"],
                 legend_title=top.get("legend_title", top["varied"]),
                 inset=top.get("inset", "train_accuracy"), reference=top.get("reference", "auto"),
                 t_max=float(t_max), curves=curves, plot=plot, quick=quick,
                 caption=top.get("caption", ""), notes=top.get("notes", ""), spec=raw)


def _build_curve(c, problem0, training0, sim, dm, t_max, error_bars, quick, quick_sim) -> Curve:
    pkeys = {k: v for k, v in c.items() if k in PROBLEM_KEYS}
    tkeys = {k: v for k, v in c.items() if k in TRAINING_KEYS}
    tr = dict(training0)
    if "tau" in tkeys or "inv_tau" in tkeys:  # the curve's persistence time replaces the base's
        tr.pop("tau", None)
        tr.pop("inv_tau", None)
    tr.update(tkeys)
    if "tau" in tr and "inv_tau" in tr:
        raise ParameterError("give tau or inv_tau, not both")
    if "inv_tau" in tr:
        inv = check_real("inv_tau", tr.pop("inv_tau"), lo=0, lo_open=True)
        tr["tau"] = 1.0 / inv
    problem = Problem(**{**problem0, **pkeys})
    training = Training(**tr, t_max=t_max)

    # simulated dimensions and seeds: [simulation] < curve < [quick.simulation]
    ds = sim.get("d", 500)
    seeds = sim.get("seeds", 1)
    if "d" in c and not (quick and "d" in quick_sim):
        ds = c["d"]
    if "seeds" in c and not (quick and "seeds" in quick_sim):
        seeds = c["seeds"]
    ds = ds if isinstance(ds, list) else [ds]
    if isinstance(seeds, list):
        if len(seeds) != len(ds):
            raise ParameterError(f"seeds = {seeds} must have one entry per d = {ds}")
    else:
        seeds = [seeds] * len(ds)
    if len(set(ds)) != len(ds):
        raise ParameterError(f"d = {ds} lists a dimension twice")
    sims = []
    for d, n in zip(ds, seeds):
        opts = dict(d=int(d), seeds=int(n), seed0=int(sim.get("seed0", 0)),
                    every=check_int("every", sim.get("every", 1), lo=1),
                    dtype=sim.get("dtype", "float64"))
        check_int("seed0", opts["seed0"], lo=0)
        check_choice("dtype", opts["dtype"], ("float64", "float32"))
        sims.append((int(d), _job("simulate", problem, training, opts)))
    eb = {"all": tuple(ds), "largest": (max(ds),), "none": ()}[error_bars]

    opts = dict(samples=check_int("samples", dm.get("samples", 10000), lo=2),
                response_samples=check_int("response_samples", dm.get("response_samples", 1000), lo=2),
                max_iter=check_int("max_iter", dm.get("max_iter", 8), lo=1),
                tol=check_real("tol", dm.get("tol", 0.0), lo=0),
                seed=check_int("seed", dm.get("seed", 0), lo=0))
    if opts["response_samples"] > opts["samples"]:
        raise ParameterError(f"response_samples = {opts['response_samples']} is out of range: "
                             f"must be <= samples = {opts['samples']}")
    if "m0" in dm:
        m0 = check_real("m0", dm["m0"], lo=0)
        if m0 * m0 > training.R:
            raise ParameterError(f"m0 = {m0:g} is out of range: must be <= sqrt(R) = {math.sqrt(training.R):g}")
        opts["m0"] = m0
    elif problem.symmetric:
        # the symmetry breaking comes from the finite-d m(0) (sheet §6): that of the largest
        # simulated d unless [dmft] d says otherwise
        opts["d"] = check_int("d", dm.get("d", max(ds)), lo=1)
        if training.R == 0:
            raise ParameterError("R = 0 is out of range for three clusters: the DMFT needs "
                                 "m0 = sqrt(2R/(pi d)) > 0")
    return Curve(label=c["label"], problem=problem, training=training,
                 dmft=_job("dmft", problem, training, opts), sims=sims, error_bar_d=eb)


def _job(kind, problem, training, options) -> Job:
    return Job(kind=kind, problem=problem, training=training, options=options,
               key=cache_key(kind, problem, training, options),
               cost=estimate_cost(kind, problem, training, options))


def plan(panels) -> list[Job]:
    """The distinct jobs of ``panels``, longest (estimated) first."""
    jobs: dict[str, Job] = {}
    for panel in panels:
        for curve in panel.curves:
            for job in [curve.dmft] + [j for _, j in curve.sims]:
                jobs.setdefault(job.key, job)
    return sorted(jobs.values(), key=lambda j: -j.cost)


# ------------------------------------------------------------------------------------ running
def cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{key}.csv", cache_dir / f"{key}.json"


def is_cached(cache_dir: Path, key: str) -> bool:
    """A job is finished when its sidecar (renamed last) exists and names the key."""
    csv_path, json_path = cache_paths(cache_dir, key)
    if not (csv_path.is_file() and json_path.is_file()):
        return False
    try:
        return json.loads(json_path.read_text()).get("cache_key") == key
    except (OSError, ValueError):
        return False


def compute_job(payload: dict, cache_dir: str, command: str | None = None) -> dict:
    """Run one job and write its result to the cache (atomically); runs in a worker process."""
    problem = Problem(**payload["problem"])
    training = Training(**payload["training"])
    t0 = time.perf_counter()
    result = compute(payload["kind"], problem, training, payload["options"])
    wall = time.perf_counter() - t0
    csv_path, _ = cache_paths(Path(cache_dir), payload["key"])
    write_result(result, csv_path, command=command,
                 meta=dict(cache_key=payload["key"], job=payload))
    return dict(key=payload["key"], wall=wall, status=result.status, message=result.message)


@dataclass
class RunReport:
    jobs: int
    computed: int
    reused: int
    wall: float
    warnings: list


class JobError(ParameterError):
    """A job failed (e.g. diverged); the message names the job."""


def run_jobs(jobs, cache_dir: Path, *, recompute: bool = False, workers: int = 1,
             progress: bool | None = None, command: str | None = None,
             log: Callable[[str], None] | None = None) -> RunReport:
    """Compute the jobs not in the cache (all of them with ``recompute``), longest first.

    ``workers`` > 1 runs them in that many processes with one BLAS thread each; 1 runs them in
    this process. Each finished job is in the cache at once, so an interrupted run (Ctrl-C)
    keeps them and the next run resumes. One progress bar (total: estimated cost, with ETA).
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    workers = check_int("workers", workers, lo=1)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if recompute or not is_cached(cache_dir, j.key)]
    reused = len(jobs) - len(todo)
    warnings: list[str] = []
    t_start = time.perf_counter()
    total = sum(j.cost for j in todo)
    bar = tqdm(total=round(total, 1), desc="figures", unit="cost",
               disable=True if progress is False else None, leave=False,
               bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    done = 0
    failures: list[str] = []

    def finished(job: Job, info: dict | None, exc: BaseException | None):
        nonlocal done
        done += 1
        bar.set_description_str(f"figures: {done}/{len(todo)} jobs", refresh=False)
        bar.update(round(job.cost, 1))
        if exc is not None:
            failures.append(f"{job.describe()}: {' '.join(str(exc).split())}")
        elif info["status"] != 0:
            warnings.append(f"{job.describe()}: {info['message']}")

    bar.set_description_str(f"figures: 0/{len(todo)} jobs")
    try:
        if not todo:
            pass
        elif workers == 1 or len(todo) == 1:
            for job in todo:
                try:
                    info, exc = compute_job(job.payload(), str(cache_dir), command), None
                except (ParameterError, FloatingPointError, MemoryError) as e:
                    info, exc = None, e
                finished(job, info, exc)
        else:
            _run_pool(todo, cache_dir, min(workers, len(todo)), command, finished)
    except KeyboardInterrupt:
        bar.close()
        if log is not None:
            log(f"interrupted: {done} of {len(todo)} jobs finished in this run; finished jobs "
                f"are kept in {cache_dir} and the same command resumes")
        raise
    finally:
        bar.close()
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise JobError(f"a job failed: {failures[0]}{more}; finished jobs are kept in {cache_dir}")
    return RunReport(jobs=len(jobs), computed=len(todo), reused=reused,
                     wall=time.perf_counter() - t_start, warnings=warnings)


def _run_pool(todo, cache_dir, workers, command, finished) -> None:
    # one BLAS thread per worker (see gmmdmft._pool); the workers do not watch this process
    # (process_pool(..., watch_parent=True) would end them when it is killed)
    with single_blas_threads():
        pool = process_pool(workers)
        futures = {}
        try:
            futures = {pool.submit(compute_job, j.payload(), str(cache_dir), command): j
                       for j in todo}
            pending = set(futures)
            while pending:
                done_now, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in done_now:
                    try:
                        info, exc = fut.result(), None
                    except (ParameterError, FloatingPointError, MemoryError) as e:
                        info, exc = None, e
                    except cf.process.BrokenProcessPool as e:
                        info, exc = None, RuntimeError(f"a worker process died ({e}); too little memory?")
                    finished(futures[fut], info, exc)
        except BaseException:
            stop_pool(pool)
            del pool, futures  # let the pool's queues be finalised now, not at interpreter exit
            gc.collect()
            raise
        pool.shutdown(wait=True)


# ------------------------------------------------------------------------------------ results
def load_cached(cache_dir: Path, key: str) -> Result:
    """The :class:`Result` of a finished job, read back from the cache."""
    csv_path, _ = cache_paths(Path(cache_dir), key)
    data = read_result(csv_path)
    meta = data["meta"] or {}
    cols = {c: data[c] for c in CSV_COLUMNS}
    return Result(method=meta.get("method", "?"), params=meta.get("params", {}),
                  status=meta.get("status", 0), message=meta.get("message", ""),
                  stats=meta.get("stats", {}), **cols)


def compare(dmft: Result, sim: Result, t_max: float) -> dict:
    """Largest |DMFT - simulation| in gen_error at the simulation's times (<= t_max), matched
    to the DMFT's times; with the combined standard error there, and the largest gap over the
    second half of the horizon (long times)."""
    idx = np.searchsorted(dmft.t, sim.t)
    idx = np.clip(idx, 0, len(dmft.t) - 1)
    ok = np.isclose(dmft.t[idx], sim.t, rtol=0, atol=1e-9) & (sim.t <= t_max + 1e-9)
    if not ok.any():
        return dict(gap=float("nan"), t=float("nan"), dmft=float("nan"), sim=float("nan"),
                    sem=float("nan"), gap_late=float("nan"), t_late=float("nan"))
    t, ds, ss = sim.t[ok], dmft.gen_error[idx[ok]], sim.gen_error[ok]
    sem = np.sqrt(np.nan_to_num(sim.gen_error_sem[ok]) ** 2
                  + np.nan_to_num(dmft.gen_error_sem[idx[ok]]) ** 2)
    gap = np.abs(ds - ss)
    i = int(np.argmax(gap))
    late = t >= 0.5 * t_max
    j = int(np.flatnonzero(late)[np.argmax(gap[late])]) if late.any() else i
    return dict(gap=float(gap[i]), t=float(t[i]), dmft=float(ds[i]), sim=float(ss[i]),
                sem=float(sem[i]), gap_late=float(gap[j]), t_late=float(t[j]))


SUMMARY_COLUMNS = ("panel", "curve", "d", "max_gap", "t_at_max_gap", "dmft", "simulation",
                   "sem_combined", "gap_over_sem", "max_gap_late", "t_at_max_gap_late")


def _slug(text: str) -> str:
    text = text.replace("\\", "").replace("$", "")
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower() or "curve"


def write_panel(panel: Panel, cache_dir: Path, out: Path, *, draw: bool = True,
                command: str | None = None) -> tuple[dict, list[dict]]:
    """Curve files, manifest, figure (PNG + PDF) of one panel; returns (manifest, summary rows)."""
    cache_dir = Path(cache_dir)
    folder = out / panel.name
    folder.mkdir(parents=True, exist_ok=True)
    data = []
    rows = []
    manifest_curves = []
    for i, curve in enumerate(panel.curves, 1):
        slug = f"{i:02d}-{_slug(curve.label)}"
        dres = load_cached(cache_dir, curve.dmft.key)
        files = {}
        files["dmft"] = _copy_result(cache_dir, curve.dmft.key, folder / f"{slug}-dmft.csv")
        sims = []
        sim_entries = []
        for d, job in curve.sims:
            sres = load_cached(cache_dir, job.key)
            fname = _copy_result(cache_dir, job.key, folder / f"{slug}-sim-d{d}.csv")
            sims.append((d, sres))
            sim_entries.append(dict(d=d, cache_key=job.key, file=f"{panel.name}/{fname}",
                                    options=job.options, error_bars=d in curve.error_bar_d,
                                    wall_time=sres.stats.get("wall_time")))
        data.append((curve, dres, sims))
        # the gap: at the d with error bars (the largest of them), else the largest d
        gap_d = max(curve.error_bar_d) if curve.error_bar_d else max(d for d, _ in sims)
        sres = dict(sims)[gap_d]
        cmp = compare(dres, sres, panel.t_max)
        z = cmp["gap"] / cmp["sem"] if cmp["sem"] > 0 else float("nan")
        rows.append(dict(panel=panel.name, curve=curve.label, d=gap_d, max_gap=cmp["gap"],
                         t_at_max_gap=cmp["t"], dmft=cmp["dmft"], simulation=cmp["sim"],
                         sem_combined=cmp["sem"], gap_over_sem=z, max_gap_late=cmp["gap_late"],
                         t_at_max_gap_late=cmp["t_late"]))
        manifest_curves.append(dict(
            label=curve.label, problem=curve.problem.params(), training=curve.training.params(),
            dmft=dict(cache_key=curve.dmft.key, file=f"{panel.name}/{files['dmft']}",
                      options=curve.dmft.options, status=dres.status, message=dres.message,
                      m0=dres.params.get("m0"), wall_time=dres.stats.get("wall_time")),
            simulations=sim_entries, comparison=dict(d=gap_d, **cmp)))
    written = {f for c in manifest_curves for f in
               [c["dmft"]["file"]] + [s["file"] for s in c["simulations"]]}
    for stale in folder.iterdir():  # curve files of an earlier version of this panel
        if stale.suffix in (".csv", ".json") and stale.is_file() \
                and f"{panel.name}/{stale.with_suffix('.csv').name}" not in written:
            stale.unlink()
    ref = panel.reference_value
    manifest = dict(
        package="gmmdmft", version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        command=command, panel=panel.name, source=panel.source, title=panel.title,
        caption=panel.caption, notes=panel.notes, quick=panel.quick, varied=panel.varied,
        t_max=panel.t_max, inset=panel.inset,
        reference=None if ref is None else dict(kind=panel.reference_label, value=ref),
        figures=[f"{panel.name}.png", f"{panel.name}.pdf"], curves=manifest_curves)
    write_atomic(out / f"{panel.name}.json", json.dumps(jsonable(manifest), indent=2) + "\n")
    if draw:
        from . import plotting  # noqa: PLC0415 (matplotlib only when drawing)
        plotting.draw_panel(panel, data, out / f"{panel.name}.png", out / f"{panel.name}.pdf")
    return manifest, rows


def _copy_result(cache_dir: Path, key: str, dest: Path) -> str:
    src_csv, src_json = cache_paths(cache_dir, key)
    shutil.copyfile(src_csv, dest)
    shutil.copyfile(src_json, dest.with_suffix(".json"))
    return dest.name


def write_summary(out: Path, rows: list[dict]) -> Path:
    """``OUT/summary.csv``: the given panels' rows replace theirs, other panels' rows stay."""
    path = out / "summary.csv"
    panels = {r["panel"] for r in rows}
    old = []
    if path.is_file():
        try:
            with open(path, newline="") as f:
                old = [r for r in csv.DictReader(f) if r.get("panel") not in panels]
        except (OSError, csv.Error):
            old = []
    order = {p: i for i, p in enumerate(PANELS)}
    allrows = old + rows
    allrows.sort(key=lambda r: (order.get(r["panel"], len(PANELS)), r["panel"]))
    lines = [",".join(SUMMARY_COLUMNS)]
    for r in allrows:
        vals = []
        for c in SUMMARY_COLUMNS:
            v = r.get(c, "")
            if isinstance(v, float):
                v = "nan" if math.isnan(v) else f"{v:.6g}"
            v = str(v)
            if any(ch in v for ch in ',"\n'):
                v = '"' + v.replace('"', '""') + '"'
            vals.append(v)
        lines.append(",".join(vals))
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def format_summary(rows: list[dict]) -> str:
    """The summary rows as a fixed-width table."""
    head = f"{'panel':<11} {'curve':<28} {'d':>6} {'max gap':>8} {'at t':>6} {'sem':>8} {'gap/sem':>7} {'late gap':>8}"
    lines = [head]
    for r in rows:
        label = r["curve"].replace("$", "").replace("\\", "")
        lines.append(f"{r['panel']:<11} {label[:28]:<28} {r['d']:>6} {r['max_gap']:>8.4f} "
                     f"{r['t_at_max_gap']:>6.1f} {r['sem_combined']:>8.4f} {r['gap_over_sem']:>7.1f} "
                     f"{r['max_gap_late']:>8.4f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- entry point
@dataclass
class FigureReport:
    panels: list
    run: RunReport
    rows: list
    wall: float
    out: Path


def make_figures(which=(), panel_files=(), *, out="figures", quick: bool = False,
                 recompute: bool = False, workers: int | None = None, progress: bool | None = None,
                 draw: bool = True, command: str | None = None,
                 log: Callable[[str], None] | None = None) -> FigureReport:
    """Compute (or reuse) and draw the panels of the figures ``which`` and the ``panel_files``.

    Every input is checked before any compute: the panels (all curves' parameters), workers,
    the output directory (created when missing) and, when drawing, that matplotlib imports.
    """
    t0 = time.perf_counter()
    if workers is None:
        workers = os.cpu_count() or 1
    workers = check_int("workers", workers, lo=1)
    names: list = []
    for w in which:
        for n in panel_names(str(w)):
            if n not in names:
                names.append(n)
    names += [str(p) for p in panel_files]
    if not names:
        raise ParameterError("no panel: give a figure (1, 2, 3, 4 or all) or --panel FILE.toml")
    panels = [load_panel(n, quick=quick) for n in names]
    for n in names:  # a panel file is checked whole, its [quick] table and the full settings
        load_panel(n, quick=not quick)
    seen = {}
    for p in panels:
        if p.name in seen and seen[p.name] != p.source:
            raise ParameterError(f"panel name {p.name!r} is used by {seen[p.name]!r} and "
                                 f"{p.source!r}: rename one file")
        seen[p.name] = p.source
    if draw:
        try:
            import matplotlib  # noqa: F401, PLC0415
        except ImportError:
            raise ParameterError("drawing the figures needs matplotlib: pip install "
                                 "'gmmdmft[plot]' (or matplotlib)") from None
        from . import plotting  # noqa: PLC0415
        for p in panels:
            try:
                plotting.check_panel_text(p)
            except ValueError as e:
                raise ParameterError(f"panel {p.source!r}: {e}") from None
    out = check_output_dir(out, "out")
    cache_dir = out / "cache"
    check_output_dir(cache_dir, "cache")
    jobs = plan(panels)
    if log is not None:
        todo = [j for j in jobs if recompute or not is_cached(cache_dir, j.key)]
        est = sum(j.cost for j in todo)
        log(f"{len(panels)} panel(s), {len(jobs)} jobs: {len(todo)} to compute "
            f"(estimated {est / 60:.1f} core-minutes), {len(jobs) - len(todo)} from the cache "
            f"{cache_dir}; {min(workers, max(1, len(todo)))} worker(s)")
    report = run_jobs(jobs, cache_dir, recompute=recompute, workers=workers, progress=progress,
                      command=command, log=log)
    rows = []
    for p in panels:
        _, r = write_panel(p, cache_dir, out, draw=draw, command=command)
        rows += r
    write_summary(out, rows)
    return FigureReport(panels=[p.name for p in panels], run=report, rows=rows,
                        wall=time.perf_counter() - t0, out=out)


__all__ = ["FIGURES", "PANELS", "Curve", "FigureReport", "Job", "Panel", "cache_key",
           "compare", "estimate_cost", "load_panel", "make_figures", "plan", "run_jobs"]
