"""Parameter sweeps: a TOML spec -> points -> jobs -> the store -> one table.

Spec (TOML)
    ``[base]``: the keys of :class:`~gmmdmft.Problem` and :class:`~gmmdmft.Training` (as in
    ``gmmdmft simulate --config``; plug-ins as import paths, mixtures as ``centers``,
    ``weights``, ``labels`` lists). ``[vary]``: parameter -> list of values, or a range
    ``{start, stop, num}`` (linspace, both ends included) or ``{start, stop, step}`` (stop
    included when hit). ``mode``: ``"grid"`` (every combination) or ``"zip"`` (lists of equal
    length, taken together). ``method``: ``"dmft"``, ``"simulate"`` or ``"both"``. ``[dmft]``
    and ``[simulate]``: the keys of :class:`~gmmdmft.DMFTOptions` and
    :class:`~gmmdmft.SimulationOptions` (defaults as there). ``summaries``: names from
    :data:`~gmmdmft.runs.summaries.SUMMARIES`. ``on_invalid``: ``"error"`` (a point that fails
    validation stops the sweep before any compute) or ``"skip"`` (kept as a row with status
    ``skipped`` and its message).
Points
    Every point's job (:class:`~gmmdmft.runs.jobs.Job`) is built and validated before anything
    runs; its key names its entry in the store ``OUT/points``. ``[dmft] d`` sets m0 only for the
    points whose model has the w -> -w symmetry and is left out of the others' keys.
Table
    ``OUT/sweep.csv`` and ``OUT/sweep.parquet``: one row per point with the varied parameters,
    the method, the summaries, status (``ok``, ``not_converged``, ``failed``, ``error``,
    ``skipped``, ``pending``), message, wall time and key; ``OUT/sweep.json``: the resolved spec,
    the columns and the counts of the last run.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import __version__
from .._validation import ParameterError, check_int, one_line
from ..io import check_output_dir
from ..model import Problem
from ..training import Training
from .executors import connect, run_jobs
from .jobs import Job
from .specs import (OPTION_CLASSES, PROBLEM_KEYS, TRAINING_KEYS, Spec, apply_overrides,
                    fmt_value, load_spec, parse_spec)
from .store import DONE, FAILED, Store
from .summaries import read_table, summarize, write_table

__all__ = ["Point", "Spec", "SweepReport", "apply_overrides", "expand", "load_spec",
           "parse_spec", "read_table", "run_sweep", "summarize"]

STATUSES = ("ok", "not_converged", "failed", "error", "skipped", "pending")


# ---------------------------------------------------------------------------------- the points
@dataclass(frozen=True)
class Point:
    """One computation of the sweep: a method at one parameter point (``job`` None when
    ``invalid`` holds its validation message)."""

    index: int
    values: dict  # the varied parameters (names as in [vary]) -> value
    method: str
    job: Job | None
    invalid: str | None = None

    @property
    def key(self) -> str:
        return self.job.key if self.job is not None else ""

    def describe(self) -> str:
        vals = ", ".join(f"{k}={fmt_value(v)}" for k, v in self.values.items())
        return f"point {self.index} ({self.method}{': ' + vals if vals else ''})"


def _point_job(method: str, spec: Spec, params: dict) -> Job:
    problem = Problem(**{k: v for k, v in params.items() if k in PROBLEM_KEYS})
    training = Training(**{k: v for k, v in params.items() if k in TRAINING_KEYS})
    opts = dict(getattr(spec, method))
    if method == "dmft" and not problem.symmetric:
        opts.pop("d", None)  # only symmetric models start from the finite-d m0
    job = Job(method, problem, training, OPTION_CLASSES[method](**opts))
    job.validate()
    return job


def expand(spec: Spec) -> list[Point]:
    """Every point of the sweep, each validated before any compute.

    A point that fails validation raises :class:`ParameterError` naming it (or, with
    ``on_invalid = "skip"``, is returned with its message in ``invalid``).
    """
    names = list(spec.vary)
    if not names:
        combos = [()]
    elif spec.mode == "grid":
        combos = list(itertools.product(*(spec.vary[k] for k in names)))
    else:
        combos = list(zip(*(spec.vary[k] for k in names)))
    points: list[Point] = []
    seen: dict[str, Point] = {}
    for combo in combos:
        values = dict(zip(names, combo))
        for method in spec.methods:
            index = len(points)
            try:
                job = _point_job(method, spec, {**spec.base, **values})
            except ParameterError as e:
                p = Point(index, values, method, None, invalid=one_line(e))
                if spec.on_invalid == "error":
                    raise ParameterError(f"spec {spec.source!r}: {p.describe()}: {one_line(e)} "
                                         "(fix the values, or set on_invalid = \"skip\")") from None
                points.append(p)
                continue
            p = Point(index, values, method, job)
            if job.key in seen:
                raise ParameterError(f"spec {spec.source!r}: {p.describe()} is the same "
                                     f"computation as {seen[job.key].describe()}")
            seen[job.key] = p
            points.append(p)
    return points


# ------------------------------------------------------------------------------------ running
@dataclass
class SweepReport:
    points: int
    computed: int
    reused: int
    failed: int
    errors: int
    skipped: int
    not_converged: int
    wall: float
    engine: str
    files: list
    rows: list


def build_rows(store: Store, spec: Spec, points, errors: dict) -> list[dict]:
    """One row per point, from the store (``errors``: key -> message of points whose worker
    kept failing in this run)."""
    cols = spec.columns()
    rows = []
    for p in points:
        row = dict.fromkeys(cols, math.nan)
        row.update(index=p.index, method=p.method, key=p.key or None,
                   **{k: list(v) if isinstance(v, tuple) else v for k, v in p.values.items()})
        state = store.state(p.key) if p.job is not None else None
        if p.invalid is not None:
            row.update(status="skipped", message=p.invalid, wall_time=math.nan)
        elif p.key in errors:
            row.update(status="error", message=errors[p.key], wall_time=math.nan)
        elif state == DONE:
            res = store.load(p.key)
            row.update(status="ok" if res.status == 0 else "not_converged", message=res.message,
                       wall_time=res.stats.get("wall_time"), **summarize(res, spec.summaries))
        elif state == FAILED:
            rec = store.failure(p.key)
            row.update(status="failed", message=rec.get("message", ""),
                       wall_time=rec.get("wall_time"))
        else:
            row.update(status="pending", message="not computed yet: run the same command again")
        if row.get("wall_time") is None:
            row["wall_time"] = math.nan
        rows.append(row)
    return rows


def run_sweep(spec: Spec, out, *, scheduler: str | None = None, workers: int | None = None,
              retries: int = 2, retry_failed: bool = False, overrides: dict | None = None,
              progress: bool | None = None, command: str | None = None,
              log: Callable[[str], None] | None = None) -> SweepReport:
    """Compute the missing points of ``spec`` and write the table to ``out``.

    ``scheduler``: address of a Dask scheduler (``tcp://host:port``); ``workers``: local
    worker processes (default: the number of cores; 1 runs in this process); ``retries``: times
    a point is run again after a non-deterministic failure; ``retry_failed``: also recompute
    the points stored as failed; ``overrides``: DMFT options applied to every DMFT point
    (backend, device: they do not change the keys).
    """
    log = log or (lambda msg: None)
    if scheduler is None and workers is not None:
        check_int("local_workers", workers, lo=1)
    points = expand(spec)
    if overrides:
        points = [p if p.job is None or p.method != "dmft" else
                  Point(p.index, p.values, p.method, Job(p.job.method, p.job.problem,
                        p.job.training, p.job.options.replace(**overrides)))
                  for p in points]
    client = connect(scheduler) if scheduler is not None else None  # fails before any file
    try:
        out = check_output_dir(out, name="out")
    except BaseException:
        if client is not None:
            client.close()
        raise
    store = Store(out / "points")
    runnable = [p for p in points if p.job is not None]
    t_start = time.perf_counter()
    log(f"sweep: {len(points)} points ({len(points) - len(runnable)} skipped as invalid)")

    def write(state: str, report=None):
        errors = report.errors if report is not None else {}
        rows = build_rows(store, spec, points, errors)
        by = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
        meta = dict(package="gmmdmft", version=__version__,
                    created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    command=command, source=spec.source, spec=spec.resolved(),
                    varied=list(spec.vary), methods=list(spec.methods),
                    summaries=list(spec.summaries), columns=spec.columns(), points=len(points),
                    counts=by, last_run=dict(
                        engine=report.engine if report else "", state=state,
                        computed=report.computed if report else 0,
                        reused=report.reused if report else 0,
                        wall_time=time.perf_counter() - t_start))
        return rows, by, write_table(out, spec.columns(), rows, meta)

    try:
        report = run_jobs([p.job for p in runnable], store, workers=workers, scheduler=client,
                          retries=retries, retry_failed=retry_failed, progress=progress,
                          command=command, log=log, desc="sweep")
    except BaseException:
        try:
            write("interrupted")
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    finally:
        if client is not None:
            client.close()
    rows, by, files = write("complete" if not report.errors else "incomplete", report)
    if not any(f.suffix == ".parquet" for f in files):
        log("note: pyarrow is not installed, so no Parquet table was written "
            "(pip install 'gmmdmft[sweep]')")
    return SweepReport(points=len(points), computed=report.computed, reused=report.reused,
                       failed=by["failed"], errors=by["error"], skipped=by["skipped"],
                       not_converged=by["not_converged"], wall=time.perf_counter() - t_start,
                       engine=report.engine, files=files, rows=rows)


def point_state(out, point: Point) -> str | None:
    """``"done"``, ``"failed"`` or None, for ``--dry-run`` (the store is not created)."""
    directory = Path(out) / "points"
    if point.job is None or not directory.is_dir():
        return None
    return Store(directory).state(point.key)
