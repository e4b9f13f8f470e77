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
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .. import __version__
from .._validation import ParameterError, check_choice, check_int, check_real, one_line
from ..io import check_output_dir, read_toml
from ..model import Problem
from ..options import DMFTOptions, SimulationOptions
from ..training import Training
from .executors import connect, run_jobs
from .jobs import Job
from .store import DONE, FAILED, Store
from .summaries import SUMMARIES, read_table, summarize, write_table

__all__ = ["Point", "Spec", "SweepReport", "apply_overrides", "expand", "load_spec",
           "parse_spec", "read_table", "run_sweep", "summarize"]

PROBLEM_KEYS = tuple(Problem.specs())
TRAINING_KEYS = tuple(Training.specs())
BASE_KEYS = PROBLEM_KEYS + TRAINING_KEYS
OPTION_CLASSES = {"dmft": DMFTOptions, "simulate": SimulationOptions}
TOP_KEYS = ("title", "description", "method", "mode", "summaries", "on_invalid", "base", "vary",
            "dmft", "simulate")
METHODS = ("dmft", "simulate", "both")
MODES = ("grid", "zip")
ON_INVALID = ("error", "skip")
STATUSES = ("ok", "not_converged", "failed", "error", "skipped", "pending")


def _fmt_value(v) -> str:
    return repr(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------------------------ the spec
@dataclass
class Spec:
    """A validated sweep spec (see the module docstring)."""

    source: str
    base: dict
    vary: dict  # name -> list of values, in the spec's order
    mode: str = "grid"
    method: str = "dmft"
    dmft: dict = field(default_factory=dict)
    simulate: dict = field(default_factory=dict)
    summaries: tuple = tuple(SUMMARIES)
    on_invalid: str = "error"
    title: str = ""
    description: str = ""

    @property
    def methods(self) -> tuple[str, ...]:
        return ("dmft", "simulate") if self.method == "both" else (self.method,)

    def resolved(self) -> dict:
        """The spec as plain data (ranges expanded), for the table's JSON."""
        return dict(title=self.title, description=self.description, method=self.method,
                    mode=self.mode, summaries=list(self.summaries), on_invalid=self.on_invalid,
                    base=dict(self.base), vary={k: list(v) for k, v in self.vary.items()},
                    dmft=dict(self.dmft), simulate=dict(self.simulate))

    def columns(self) -> list[str]:
        cols = ["index", *self.vary, "method"]
        for s in self.summaries:
            cols += SUMMARIES[s]
        return cols + ["status", "message", "wall_time", "key"]


def apply_overrides(raw: dict, overrides, where: str = "--set") -> dict:
    """Merge ``KEY=VALUE`` overrides (TOML syntax, dotted keys: ``dmft.samples=500``,
    ``base.t_max=5``, ``vary.b=[0.3, 0.5]``) into a raw spec; a table value replaces a table."""
    out = json.loads(json.dumps(raw))  # deep copy of plain TOML data
    for item in overrides or ():
        if "=" not in item:
            raise ParameterError(f"{where} {item!r}: must be KEY=VALUE (e.g. dmft.samples=500)")
        try:
            parsed = tomllib.loads(item)
        except tomllib.TOMLDecodeError as e:
            raise ParameterError(f"{where} {item!r}: bad TOML: {one_line(e)} "
                                 "(strings need quotes: method='dmft')") from None
        _merge(out, parsed)
    return out


def _is_range(v) -> bool:
    return isinstance(v, dict) and "start" in v


def _merge(node: dict, new: dict) -> None:
    """Deep-merge ``new`` into ``node``; a complete range table replaces what was there."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(node.get(k), dict) and not _is_range(v):
            _merge(node[k], v)
        else:
            node[k] = v


def load_spec(path, overrides=()) -> Spec:
    """Read and validate a spec file (types, names, ranges; the points: :func:`expand`).
    Raises :class:`ParameterError` with one line naming the file and the key."""
    raw = apply_overrides(read_toml(path, f"spec {str(path)!r}"), overrides)
    return parse_spec(raw, source=str(path))


def parse_spec(raw: dict, source: str = "<spec>") -> Spec:
    """Validate a raw spec dict (as read from TOML) and return a :class:`Spec`."""
    where = f"spec {source!r}"

    def fail(msg):
        raise ParameterError(f"{where}: {msg}")

    def table(name):
        v = raw.get(name, {})
        if not isinstance(v, dict):
            fail(f"{name} must be a table ([{name}])")
        return v

    for k in raw:
        if k not in TOP_KEYS:
            fail(f"unknown key {k!r} at the top level (allowed: {', '.join(TOP_KEYS)})")
    for k in ("title", "description"):
        if k in raw and not isinstance(raw[k], str):
            fail(f"{k} = {raw[k]!r} must be a string")
    method, mode = raw.get("method", "dmft"), raw.get("mode", "grid")
    on_invalid = raw.get("on_invalid", "error")
    try:
        check_choice("method", method, METHODS)
        check_choice("mode", mode, MODES)
        check_choice("on_invalid", on_invalid, ON_INVALID)
    except ParameterError as e:
        fail(e)

    base = table("base")
    specs = {**Problem.specs(), **Training.specs()}
    for k, v in base.items():
        if k not in BASE_KEYS:
            fail(f"unknown key {k!r} in [base] (allowed: {', '.join(BASE_KEYS)})")
        if isinstance(v, dict) or (isinstance(v, list) and specs[k][1].kind not in ("reals", "ints")):
            fail(f"[base] {k} must be a single value (vary it in [vary])")
    vary: dict = {}
    for k, v in table("vary").items():
        if k not in BASE_KEYS:
            fail(f"unknown parameter {k!r} in [vary] (allowed: {', '.join(BASE_KEYS)})")
        vary[k] = _expand_values(k, v, fail, unique=mode == "grid")
    given = set(base) | set(vary)
    if "tau" in given and "inv_tau" in given:
        fail("tau and inv_tau are both given: use one of them")
    if mode == "zip" and vary:
        lengths = {k: len(v) for k, v in vary.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            fail(f"mode = 'zip' needs lists of equal length in [vary] ({shown} values)")

    summaries = raw.get("summaries", list(SUMMARIES))
    if not isinstance(summaries, list) or not summaries:
        fail(f"summaries = {summaries!r} must be a non-empty list of: {', '.join(SUMMARIES)}")
    for s in summaries:
        if s not in SUMMARIES:
            fail(f"summaries: unknown summary {s!r} (allowed: {', '.join(SUMMARIES)})")
    if len(set(summaries)) != len(summaries):
        fail("summaries: a name is given twice")

    spec = Spec(source=source, base=dict(base), vary=vary, mode=mode, method=method,
                summaries=tuple(summaries), on_invalid=on_invalid,
                title=raw.get("title", ""), description=raw.get("description", ""))
    for name, cls in OPTION_CLASSES.items():
        opts = table(name)
        if name in spec.methods:
            try:  # every option checked once, for all points
                cls.from_mapping(opts, f"[{name}]")
            except ParameterError as e:
                fail(e)
        else:
            for k in opts:
                if k not in cls.specs():
                    fail(f"[{name}]: unknown key {k!r} (allowed: {', '.join(cls.specs())})")
        setattr(spec, name, dict(opts))
    return spec


def _expand_values(name, v, fail, unique=True) -> list:
    """The list of values of one varied parameter (a list or a range table)."""
    shown = f"[vary] {name}"
    if isinstance(v, list):
        if not v:
            fail(f"{shown} = []: empty list of values")
        for x in v:
            if isinstance(x, dict):
                fail(f"{shown}: {x!r} is not a single value")
        values = [tuple(x) if isinstance(x, list) else x for x in v]
    elif isinstance(v, dict):
        if set(v) not in ({"start", "stop", "num"}, {"start", "stop", "step"}):
            fail(f"{shown} = {v}: a range needs exactly the keys start, stop and num (linspace) "
                 "or start, stop and step")
        try:
            start = check_real(f"{name}.start", v["start"])
            stop = check_real(f"{name}.stop", v["stop"])
            if "num" in v:
                num = check_int(f"{name}.num", v["num"])
                if num < 1:
                    fail(f"{shown}: empty range (num = {num}, must be >= 1)")
                values = [float(f"{x:.12g}") for x in np.linspace(start, stop, num)]
            else:
                step = check_real(f"{name}.step", v["step"])
                if step == 0:
                    fail(f"{shown}: step = 0 (must be nonzero)")
                n = math.floor((stop - start) / step + 1e-9) + 1
                if n < 1:
                    fail(f"{shown}: empty range (start = {start:g}, stop = {stop:g}, "
                         f"step = {step:g})")
                if n > 100000:
                    fail(f"{shown}: {n} values: too many")
                values = [float(f"{start + i * step:.12g}") for i in range(n)]
        except ParameterError as e:
            if str(e).startswith("spec "):
                raise
            fail(f"{shown}: {e}")
    else:
        fail(f"{shown} = {v!r} must be a list of values or a range "
             "{start, stop, num} / {start, stop, step}")
    seen = set()
    for x in values if unique else ():  # (zip: repeats are fine, identical points are not)
        k = json.dumps(x)
        if k in seen:
            fail(f"{shown}: value {_fmt_value(x)} appears twice")
        seen.add(k)
    return values


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
        vals = ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.values.items())
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
