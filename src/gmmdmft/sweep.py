"""Parameter sweeps: a TOML spec -> points -> content-addressed results -> one table.

This module only orchestrates; the numbers come from :func:`gmmdmft.simulate` and
:func:`gmmdmft.solve_dmft` (imported where the points run), the phase-diagram drawing from
matplotlib (imported only by :func:`plot_sweep`).

Spec (TOML)
    ``[base]``: problem and training keys as in ``gmmdmft simulate --config`` (clusters, alpha,
    delta, lam, L, loss, algorithm, eta, b, tau, R, t_max), plus ``inv_tau`` = 1/tau.
    ``[vary]``: parameter -> list of values, or a range ``{start, stop, num}`` (linspace, both
    ends included) or ``{start, stop, step}`` (stop included when hit). ``mode``: ``"grid"``
    (every combination) or ``"zip"`` (lists of equal length, taken together). ``method``:
    ``"dmft"``, ``"simulate"`` or ``"both"``. ``[dmft]`` and ``[simulate]``: options of the
    solver and the simulator. ``summaries``: names from :data:`SUMMARIES`. ``on_invalid``:
    ``"error"`` (default: a point that fails validation stops the sweep before any compute) or
    ``"skip"`` (it is kept in the table with status ``skipped`` and its message).
Points
    Every point's :class:`~gmmdmft.Problem` and :class:`~gmmdmft.Training` are built, and its
    method options checked, before anything runs. A point is identified by :func:`point_key`
    (:func:`gmmdmft.io.content_key`, as the figure command's jobs): sha256 of a canonical JSON
    of (method, problem, training, method options, package version).
Storage
    ``OUT/points/<key>.csv`` + ``.json`` (the curves, written atomically by
    :func:`gmmdmft.io.write_result`, the sidecar last) or ``OUT/points/<key>.failed.json`` (a
    deterministic failure: divergence or a parameter error, with its message). A point with one
    of these files is finished and is never computed again; results are written by the client
    as each point arrives, so killing the client loses only the points still running.
Table
    ``OUT/sweep.csv`` and ``OUT/sweep.parquet`` (pyarrow): one row per point with the varied
    parameters, the method, the summaries, status, message, wall time and key; ``OUT/sweep.json``:
    the resolved spec, the column names and the counts of the last run. All written atomically.
Running
    In this process (1 worker), on a local process pool (one BLAS thread per worker), or on a
    Dask cluster (``dask.distributed.Client(address)``), each with one progress bar over points.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import datetime as _dt
import inspect
import io
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
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
from ._validation import DivergenceError, ParameterError, check_choice, check_int, check_real, one_line
from .io import check_output_dir, content_key, read_result, read_toml, write_atomic, write_result
from .model import Problem
from .training import Training

__all__ = ["SUMMARIES", "Point", "Spec", "SweepReport", "compute_point", "expand", "load_spec",
           "plot_sweep", "point_key", "read_table", "run_sweep", "summarize"]

PROBLEM_KEYS = ("clusters", "alpha", "delta", "lam", "L", "loss")
TRAINING_KEYS = ("algorithm", "eta", "b", "tau", "R", "t_max")
BASE_KEYS = PROBLEM_KEYS + TRAINING_KEYS + ("inv_tau",)
TOP_KEYS = ("title", "description", "method", "mode", "summaries", "on_invalid", "base", "vary",
            "dmft", "simulate")
METHODS = ("dmft", "simulate", "both")
MODES = ("grid", "zip")
ON_INVALID = ("error", "skip")
# option -> kind; defaults come from the signatures of simulate() and solve_dmft()
DMFT_OPTIONS = {"samples": "int", "response_samples": "int", "damping": "real", "max_iter": "int",
                "tol": "real", "seed": "int", "m0": "real", "d": "int"}
SIMULATE_OPTIONS = {"d": "int", "seeds": "int", "seed0": "int", "every": "int", "dtype": "str"}
SIMULATE_DEFAULTS = {"d": 500}  # simulate() has no default d; the CLI's

# summary name -> its columns in the table
SUMMARIES = {
    "min_gen_error": ("min_gen_error", "min_gen_error_sem", "t_min_gen_error"),
    "final_gen_error": ("final_gen_error", "final_gen_error_sem"),
    "t_train_accuracy_1": ("t_train_accuracy_1",),
    "final_norm": ("final_norm", "final_norm_sem"),
}
SUMMARY_HELP = {
    "min_gen_error": "minimum of gen_error over time (early stopping), its error and its time",
    "final_gen_error": "gen_error at t_max and its error",
    "t_train_accuracy_1": "first time train_accuracy reaches 1 (NaN if never)",
    "final_norm": "norm |w|^2/d at t_max and its error",
}
# train_accuracy is a mean of 0/1 values: 'reaches 1' allows for its rounding
ACCURACY_ONE = 1.0 - 1e-9

STATUSES = ("ok", "not_converged", "failed", "error", "skipped", "pending")
TABLE_NAME = "sweep"



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
        """The spec as plain data (ranges expanded, defaults filled), for the table's JSON."""
        return dict(title=self.title, description=self.description, method=self.method,
                    mode=self.mode, summaries=list(self.summaries), on_invalid=self.on_invalid,
                    base=dict(self.base), vary={k: list(v) for k, v in self.vary.items()},
                    dmft=dict(self.dmft), simulate=dict(self.simulate))


def _defaults(func, names) -> dict:
    sig = inspect.signature(func)
    return {k: sig.parameters[k].default for k in names
            if k in sig.parameters and sig.parameters[k].default is not inspect.Parameter.empty}


def dmft_defaults() -> dict:
    from .options import DMFTOptions  # noqa: PLC0415
    return {k: v for k, (v, _) in DMFTOptions.specs().items() if k in DMFT_OPTIONS}


def simulate_defaults() -> dict:
    from .options import SimulationOptions  # noqa: PLC0415
    return {k: v for k, (v, _) in SimulationOptions.specs().items() if k in SIMULATE_OPTIONS}


def read_spec_file(path) -> dict:
    """The raw TOML of a spec file; unreadable files and bad TOML are one-line errors."""
    return read_toml(path, f"spec {str(path)!r}")


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
    """Read and validate a spec file (types, names, ranges; not yet the points: see
    :func:`expand`). Raises :class:`ParameterError` with one line naming the file and the key."""
    raw = apply_overrides(read_spec_file(path), overrides)
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
    method = raw.get("method", "dmft")
    mode = raw.get("mode", "grid")
    on_invalid = raw.get("on_invalid", "error")
    try:
        check_choice("method", method, METHODS)
        check_choice("mode", mode, MODES)
        check_choice("on_invalid", on_invalid, ON_INVALID)
    except ParameterError as e:
        fail(e)

    base = table("base")
    for k in base:
        if k not in BASE_KEYS:
            fail(f"unknown key {k!r} in [base] (allowed: {', '.join(BASE_KEYS)})")
        if isinstance(base[k], (dict, list)):
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
    for name, schema, defaults in (("dmft", DMFT_OPTIONS, dmft_defaults()),
                                   ("simulate", SIMULATE_OPTIONS, simulate_defaults())):
        opts = dict(defaults)
        for k, v in table(name).items():
            if k not in schema:
                fail(f"unknown key {k!r} in [{name}] (allowed: {', '.join(schema)})")
            try:
                opts[k] = _check_kind(k, schema[k], v)
            except ParameterError as e:
                fail(f"[{name}] {e}")
        setattr(spec, name, opts)
    try:
        _check_method_options(spec)
    except ParameterError as e:
        fail(e)
    return spec


def _check_kind(key, kind, v):
    if kind == "real":
        return v if v is None else check_real(key, v)
    if kind == "int":
        return v if v is None else check_int(key, v)
    if not isinstance(v, str):
        raise ParameterError(f"{key} = {v!r} must be a string")
    return v


def _check_method_options(spec: Spec) -> None:
    """Ranges of the options that do not depend on the point (the rest: :func:`_check_point`)."""
    if "dmft" in spec.methods:
        o = spec.dmft
        check_int("samples", o["samples"], lo=2)
        samples = o["samples"] + o["samples"] % 2
        check_int("response_samples", o["response_samples"], lo=2, hi=samples)
        check_real("damping", o["damping"], lo=0, hi=1, lo_open=True)
        check_int("max_iter", o["max_iter"], lo=1)
        check_real("tol", o["tol"], lo=0)
        check_int("seed", o["seed"], lo=0)
        if o.get("m0") is not None:
            check_real("m0", o["m0"], lo=0)
        if o.get("d") is not None:
            check_int("d", o["d"], lo=1)
    if "simulate" in spec.methods:
        from .simulation import DTYPES  # noqa: PLC0415
        o = spec.simulate
        check_int("d", o["d"], lo=1)
        check_int("seeds", o["seeds"], lo=1)
        check_int("seed0", o["seed0"], lo=0)
        check_int("every", o["every"], lo=1)
        check_choice("dtype", o["dtype"], DTYPES)


def _clean(x: float) -> float:
    """A range value without the float noise of start + i*step (12 significant digits)."""
    return float(f"{x:.12g}")


def _expand_values(name, v, fail, unique=True) -> list:
    """The list of values of one varied parameter (a list or a range table)."""
    shown = f"[vary] {name}"
    if isinstance(v, list):
        if not v:
            fail(f"{shown} = []: empty list of values")
        for x in v:
            if isinstance(x, (list, dict)):
                fail(f"{shown}: {x!r} is not a single value")
        values = list(v)
    elif isinstance(v, dict):
        keys = set(v)
        if keys not in ({"start", "stop", "num"}, {"start", "stop", "step"}):
            fail(f"{shown} = {v}: a range needs exactly the keys start, stop and num (linspace) "
                 "or start, stop and step")
        try:
            start = check_real(f"{name}.start", v["start"])
            stop = check_real(f"{name}.stop", v["stop"])
            if "num" in v:
                num = check_int(f"{name}.num", v["num"])
                if num < 1:
                    fail(f"{shown}: empty range (num = {num}, must be >= 1)")
                values = [_clean(x) for x in np.linspace(start, stop, num)]
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
                values = [_clean(start + i * step) for i in range(n)]
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
    """One computation of the sweep: a method at one parameter point."""

    index: int
    values: dict  # the varied parameters (names as in [vary]) -> value
    method: str
    problem: Problem | None
    training: Training | None
    options: dict
    key: str
    invalid: str | None = None  # validation message when on_invalid = "skip"

    def describe(self) -> str:
        vals = ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.values.items())
        return f"point {self.index} ({self.method}{': ' + vals if vals else ''})"

    def payload(self) -> dict:
        """Plain data for a worker process (or a Dask worker)."""
        return dict(method=self.method, problem=self.problem.params(),
                    training=self.training.params(), options=dict(self.options), key=self.key,
                    version=__version__)

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest points first."""
        if self.training is None:
            return 0.0
        T = self.training.steps
        if self.method == "dmft":
            return T * T * (self.options["samples"] + 0.05 * T * self.options["response_samples"])
        n = self.problem.alpha * self.options["d"]
        return T * n * self.options["d"] * self.options["seeds"]


# sha256 of a canonical JSON of (method, problem, training, method options, version)
point_key = content_key


def _point_options(method: str, spec: Spec, problem: Problem, training: Training) -> dict:
    """The method options of one point, normalised, with the point-dependent checks."""
    if method == "simulate":
        return dict(spec.simulate)
    o = dict(spec.dmft)
    o["samples"] = o["samples"] + o["samples"] % 2  # solve_dmft rounds up to even
    if o.get("m0") is None:
        if problem.symmetric:
            if o.get("d") is None:
                raise ParameterError("m0 is missing: three clusters need [dmft] m0 > 0 or d "
                                     "(to use sqrt(2R/(pi d)))")
        else:
            o["d"] = None  # unused for two clusters: keep it out of the key
    else:
        if problem.symmetric and o["m0"] == 0:
            raise ParameterError("m0 = 0 is out of range for three clusters: must be > 0")
        if o["m0"] ** 2 > training.R:
            raise ParameterError(f"m0 = {o['m0']:g} is out of range: must be <= sqrt(R) = "
                                 f"{math.sqrt(training.R):g}")
    return o


def expand(spec: Spec) -> list[Point]:
    """Every point of the sweep, each validated (Problem, Training, options) before any compute.

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
    index = 0
    for combo in combos:
        values = dict(zip(names, combo))
        params = {**spec.base, **values}
        for method in spec.methods:
            try:
                problem, training = _build(params)
                options = _point_options(method, spec, problem, training)
            except ParameterError as e:
                p = Point(index, values, method, None, None, {}, "", invalid=one_line(e))
                if spec.on_invalid == "error":
                    raise ParameterError(
                        f"spec {spec.source!r}: {p.describe()}: {one_line(e)} "
                        "(fix the values, or set on_invalid = \"skip\")") from None
                points.append(p)
                index += 1
                continue
            key = point_key(method, problem, training, options)
            p = Point(index, values, method, problem, training, options, key)
            if key in seen:
                raise ParameterError(f"spec {spec.source!r}: {p.describe()} is the same "
                                     f"computation as {seen[key].describe()}")
            seen[key] = p
            points.append(p)
            index += 1
    return points


def _build(params: dict) -> tuple[Problem, Training]:
    params = dict(params)
    if "inv_tau" in params:
        inv = check_real("inv_tau", params.pop("inv_tau"), lo=0, lo_open=True)
        params["tau"] = 1.0 / inv
    problem = Problem(**{k: params[k] for k in PROBLEM_KEYS if k in params})
    training = Training(**{k: params[k] for k in TRAINING_KEYS if k in params})
    return problem, training


# ------------------------------------------------------------------------------- computing one
def compute_point(payload: dict) -> dict:
    """Run one point (in a worker process, a Dask worker or this process).

    Returns ``{"key", "ok": True, "result": Result, "wall"}``, or for a deterministic failure
    (:class:`~gmmdmft.DivergenceError`, :class:`~gmmdmft.ParameterError`) ``{"key", "ok":
    False, "error": type name, "message"}``. Anything else (a worker dying, out of memory) is
    raised, so that the executor retries it.
    """
    if payload.get("version") != __version__:
        raise RuntimeError(f"this worker runs gmmdmft {__version__} but the sweep was made with "
                           f"{payload.get('version')}: install the same version on every worker")
    t0 = time.perf_counter()
    try:
        problem = Problem(**payload["problem"])
        training = Training(**payload["training"])
        result = compute(payload["method"], problem, training, payload["options"])
    except (ParameterError, DivergenceError) as e:
        return dict(key=payload["key"], ok=False, error=type(e).__name__, message=one_line(e),
                    wall=time.perf_counter() - t0)
    return dict(key=payload["key"], ok=True, result=result, wall=time.perf_counter() - t0)


def summarize(curves, names=tuple(SUMMARIES)) -> dict:
    """The summary columns of one curve (a :class:`Result` or the dict of :func:`read_result`)."""
    get = (lambda k: np.asarray(curves[k], dtype=float)) if isinstance(curves, dict) \
        else (lambda k: np.asarray(getattr(curves, k), dtype=float))
    t, gen, gsem = get("t"), get("gen_error"), get("gen_error_sem")
    out: dict = {}
    for name in names:
        if name == "min_gen_error":
            if np.all(np.isnan(gen)):
                out.update(min_gen_error=math.nan, min_gen_error_sem=math.nan,
                           t_min_gen_error=math.nan)
                continue
            i = int(np.nanargmin(gen))
            out.update(min_gen_error=float(gen[i]), min_gen_error_sem=float(gsem[i]),
                       t_min_gen_error=float(t[i]))
        elif name == "final_gen_error":
            out.update(final_gen_error=float(gen[-1]), final_gen_error_sem=float(gsem[-1]))
        elif name == "t_train_accuracy_1":
            hit = np.flatnonzero(get("train_accuracy") >= ACCURACY_ONE)
            out["t_train_accuracy_1"] = float(t[hit[0]]) if hit.size else math.nan
        elif name == "final_norm":
            out.update(final_norm=float(get("norm")[-1]), final_norm_sem=float(get("norm_sem")[-1]))
    return out


# -------------------------------------------------------------------------------------- storage
def points_dir(out) -> Path:
    return Path(out) / "points"


def point_paths(out, key: str) -> tuple[Path, Path, Path]:
    """(curve CSV, its JSON sidecar, failure record) of a point."""
    d = points_dir(out)
    return d / f"{key}.csv", d / f"{key}.json", d / f"{key}.failed.json"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def stored_state(out, key: str) -> str | None:
    """``"done"`` (curves stored), ``"failed"`` (a deterministic failure stored) or None."""
    csv_path, json_path, failed = point_paths(out, key)
    if csv_path.is_file() and json_path.is_file():
        meta = _read_json(json_path)
        if meta is not None and meta.get("sweep_key") == key:
            return "done"
    if failed.is_file():
        meta = _read_json(failed)
        if meta is not None and meta.get("sweep_key") == key:
            return "failed"
    return None


def _remove_stale_temporaries(directory: Path, min_age: float = 60.0) -> None:
    """Remove temporary files (``.NAME.PID.HEX.tmp``) left by a client that was killed while
    writing: their process is gone and they are older than ``min_age`` seconds."""
    now = time.time()
    for tmp in directory.glob(".*.tmp"):
        parts = tmp.name.split(".")
        try:
            pid = int(parts[-3])
            if now - tmp.stat().st_mtime < min_age:
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                tmp.unlink()
            except OSError:
                pass
        except (ValueError, IndexError, OSError):
            continue


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def store_outcome(out, point: Point, outcome: dict, command: str | None = None) -> None:
    """Write a finished point: its curves (CSV + JSON) or its deterministic failure."""
    csv_path, _, failed = point_paths(out, point.key)
    if outcome["ok"]:
        write_result(outcome["result"], csv_path, command=command,
                     meta=dict(sweep_key=point.key, point=point.payload()))
        if failed.exists():  # an older failure, now recomputed (--retry-failed)
            failed.unlink()
    else:
        rec = dict(package="gmmdmft", version=__version__, created=_now(), command=command,
                   sweep_key=point.key, point=point.payload(), status="failed",
                   error=outcome["error"], message=outcome["message"], wall_time=outcome["wall"])
        write_atomic(failed, json.dumps(rec, indent=2) + "\n")


def _row_from_store(out, point: Point, summaries) -> dict:
    """Status, message, wall time and summaries of a stored point."""
    state = stored_state(out, point.key)
    csv_path, _, failed = point_paths(out, point.key)
    if state == "done":
        data = read_result(csv_path)
        meta = data["meta"] or {}
        status = "ok" if int(meta.get("status", 0)) == 0 else "not_converged"
        return dict(status=status, message=meta.get("message", ""),
                    wall_time=(meta.get("stats") or {}).get("wall_time"),
                    **summarize(data, summaries))
    if state == "failed":
        rec = _read_json(failed) or {}
        return dict(status="failed", message=rec.get("message", ""), wall_time=rec.get("wall_time"))
    return dict(status="pending", message="not computed yet: run the same command again")


# ------------------------------------------------------------------------------------ the table
def table_columns(spec: Spec) -> list[str]:
    cols = ["index", *spec.vary, "method"]
    for s in spec.summaries:
        cols += SUMMARIES[s]
    return cols + ["status", "message", "wall_time", "key"]


def build_rows(out, spec: Spec, points, errors: dict) -> list[dict]:
    """One row per point, from the stored results (``errors``: key -> message of points that
    failed in this run for a non-deterministic reason, e.g. a worker that kept dying)."""
    cols = table_columns(spec)
    rows = []
    for p in points:
        row = dict.fromkeys(cols, math.nan)
        row.update(index=p.index, method=p.method, key=p.key or None, **p.values)
        if p.invalid is not None:
            row.update(status="skipped", message=p.invalid, wall_time=math.nan)
        elif p.key in errors:
            row.update(status="error", message=errors[p.key], wall_time=math.nan)
        else:
            row.update(_row_from_store(out, p, spec.summaries))
        if row.get("wall_time") is None:
            row["wall_time"] = math.nan
        rows.append(row)
    return rows


def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def write_table(out, spec: Spec, rows: list[dict], meta: dict) -> list[Path]:
    """``OUT/sweep.csv``, ``OUT/sweep.parquet`` (when pyarrow is installed) and
    ``OUT/sweep.json``, each atomically; returns the paths written."""
    out = Path(out)
    cols = table_columns(spec)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in cols])
    written = []
    path = out / f"{TABLE_NAME}.csv"
    write_atomic(path, buf.getvalue())
    written.append(path)
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        pa = None
    if pa is not None:
        arrays = {c: _arrow_column(pa, [r.get(c) for r in rows]) for c in cols}
        table = pa.table(arrays)
        table = table.replace_schema_metadata({"gmmdmft": json.dumps(meta, allow_nan=False,
                                                                     default=str)})
        path = out / f"{TABLE_NAME}.parquet"
        write_atomic(path, lambda f: pq.write_table(table, f))
        written.append(path)
    path = out / f"{TABLE_NAME}.json"
    write_atomic(path, json.dumps(meta, indent=2, allow_nan=False, default=str) + "\n")
    written.append(path)
    return written


def _arrow_column(pa, values):
    if all(v is None or isinstance(v, str) for v in values):
        return pa.array(values, type=pa.string())
    if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return pa.array(values, type=pa.int64())
    if all(v is None or isinstance(v, (int, float)) for v in values):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def read_table(out) -> tuple[list[dict], dict]:
    """(rows, meta) of a sweep directory: the rows of ``sweep.csv`` (numbers parsed) and the
    content of ``sweep.json``."""
    out = Path(out)
    meta_path, csv_path = out / f"{TABLE_NAME}.json", out / f"{TABLE_NAME}.csv"
    for p in (meta_path, csv_path):
        if not p.is_file():
            raise ParameterError(f"sweep directory {str(out)!r}: {p.name} is missing "
                                 "(run gmmdmft sweep SPEC.toml --out DIR first)")
    meta = _read_json(meta_path)
    if meta is None:
        raise ParameterError(f"sweep directory {str(out)!r}: {meta_path.name} cannot be read")
    text_cols = {"method", "status", "message", "key"}
    rows = []
    with open(csv_path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if k in text_cols:
                    row[k] = v
                    continue
                try:
                    row[k] = int(v) if k == "index" else float(v) if v != "" else None
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows, meta


# -------------------------------------------------------------------------------------- running
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


def run_sweep(spec: Spec, out, *, scheduler: str | None = None, workers: int | None = None,
              retries: int = 2, retry_failed: bool = False, progress: bool | None = None,
              command: str | None = None, log: Callable[[str], None] | None = None) -> SweepReport:
    """Compute the missing points of ``spec`` and write the table to ``out``.

    Parameters
    ----------
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:port``); every point is submitted to it.
    workers : int, optional
        Local worker processes (default: the number of cores); 1 runs in this process.
    retries : int
        Times a point is run again after a non-deterministic failure (a worker dying).
    retry_failed : bool
        Also recompute the points stored as failed (by default they are reused).
    """
    log = log or (lambda msg: None)
    retries = check_int("retries", retries, lo=0)
    if scheduler is None and workers is not None:
        workers = check_int("local_workers", workers, lo=1)
    points = expand(spec)
    out = Path(out)
    runnable = [p for p in points if p.invalid is None]
    todo = []
    for p in runnable:
        state = stored_state(out, p.key)
        if state is None or (state == "failed" and retry_failed):
            todo.append(p)
    reused = len(runnable) - len(todo)
    todo.sort(key=lambda p: -p.cost)  # longest first: better packing on the workers
    if scheduler is not None:
        engine = f"on the Dask cluster at {scheduler}"
    else:
        if workers is None:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = check_int("local_workers", workers, lo=1)
        workers = min(workers, max(1, len(todo)))
        engine = "in this process" if workers == 1 else f"on {workers} local worker processes"
    skipped = len(points) - len(runnable)
    client = connect(scheduler) if scheduler is not None and todo else None
    try:
        out = check_output_dir(out, name="out")
        points_dir(out).mkdir(exist_ok=True)
        _remove_stale_temporaries(points_dir(out))
    except BaseException:
        if client is not None:
            client.close()
        raise
    log(f"sweep: {len(points)} points ({skipped} skipped as invalid), {reused} already done, "
        f"{len(todo)} to compute {engine}")

    from tqdm.auto import tqdm  # noqa: PLC0415

    errors: dict[str, str] = {}
    counts = dict(computed=0, failed=0)
    bar = tqdm(total=len(runnable), initial=reused, desc="sweep", unit="point", leave=False,
               disable=True if progress is False else None, dynamic_ncols=True)
    t_start = time.perf_counter()

    def finished(p: Point, outcome: dict | None, exc: BaseException | None) -> None:
        if exc is not None:
            errors[p.key] = f"{type(exc).__name__}: {one_line(exc)}"
            log(f"{p.describe()}: gave up after {retries} retries: {errors[p.key]}")
        else:
            store_outcome(out, p, outcome, command)
            counts["computed"] += 1
            if not outcome["ok"]:
                counts["failed"] += 1
        bar.update()

    def write(status_note: str):
        rows = build_rows(out, spec, points, errors)
        meta = _table_meta(spec, points, rows, command, dict(
            engine=engine, computed=counts["computed"], reused=reused,
            wall_time=time.perf_counter() - t_start, state=status_note))
        return rows, write_table(out, spec, rows, meta)

    try:
        if todo:
            if client is not None:
                _run_dask(todo, client, retries, finished)
            elif workers == 1:
                _run_serial(todo, retries, finished)
            else:
                _run_pool(todo, workers, retries, finished)
    except BaseException:
        bar.close()
        try:
            write("interrupted")
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        log(f"interrupted: {counts['computed']} points computed in this run are kept in "
            f"{points_dir(out)}; the same command resumes")
        raise
    finally:
        if client is not None:
            client.close()
    bar.close()
    rows, files = write("complete" if not errors else "incomplete")
    if not any(f.suffix == ".parquet" for f in files):
        log("note: pyarrow is not installed, so no Parquet table was written "
            "(pip install 'gmmdmft[sweep]')")
    by = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return SweepReport(points=len(points), computed=counts["computed"], reused=reused,
                       failed=by["failed"], errors=by["error"], skipped=by["skipped"],
                       not_converged=by["not_converged"], wall=time.perf_counter() - t_start,
                       engine=engine, files=files, rows=rows)


def _table_meta(spec, points, rows, command, run) -> dict:
    by = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return dict(package="gmmdmft", version=__version__, created=_now(), command=command,
                source=spec.source, spec=spec.resolved(), varied=list(spec.vary),
                methods=list(spec.methods), summaries=list(spec.summaries),
                columns=table_columns(spec), points=len(points),
                counts={k: v for k, v in by.items()}, last_run=run)


def _run_serial(todo, retries, finished) -> None:
    for p in todo:
        exc = None
        for _attempt in range(retries + 1):
            try:
                outcome, exc = compute_point(p.payload()), None
                break
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - retried, then recorded as an error
                exc = e
        finished(p, None if exc else outcome, exc)


def _run_pool(todo, workers, retries, finished) -> None:
    """A local process pool (one BLAS thread per worker; the workers end when this process
    dies, see :mod:`gmmdmft._pool`); a pool broken by a dying worker is replaced and its
    unfinished points run again (each at most ``retries`` more times)."""
    attempts = {p.key: 0 for p in todo}
    remaining = list(todo)
    with single_blas_threads():
        while remaining:
            pool = process_pool(min(workers, len(remaining)), watch_parent=True)
            again = []
            try:
                futures = {pool.submit(compute_point, p.payload()): p for p in remaining}
                for fut in cf.as_completed(futures):
                    p = futures[fut]
                    try:
                        outcome, exc = fut.result(), None
                    except cf.process.BrokenProcessPool as e:
                        outcome, exc = None, RuntimeError(f"a worker process died ({e})")
                    except Exception as e:  # noqa: BLE001 - retried, then recorded
                        outcome, exc = None, e
                    if exc is not None and attempts[p.key] < retries:
                        attempts[p.key] += 1
                        again.append(p)
                        continue
                    finished(p, outcome, exc)
            except BaseException:
                stop_pool(pool)
                raise
            pool.shutdown(wait=True)
            remaining = again


def connect(scheduler: str, timeout: float = 10.0):
    """A dask.distributed Client connected to ``scheduler`` (one-line errors)."""
    try:
        from dask.distributed import Client  # noqa: PLC0415
    except ImportError:
        raise ParameterError("--scheduler needs dask.distributed: pip install 'gmmdmft[sweep]'") from None
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise ParameterError(f"scheduler = {scheduler!r}: cannot connect ({one_line(e)})") from None


def _run_dask(todo, client, retries, finished) -> None:
    """Submit every point to a Dask cluster; results come back to this process, which stores
    them (workers need no access to the output directory). Task keys are the point keys, so a
    point submitted twice (e.g. by a re-run while the first is still on the cluster) runs once."""
    from dask.distributed import as_completed  # noqa: PLC0415

    futures = {}
    try:
        for p in todo:
            fut = client.submit(compute_point, p.payload(), key=f"gmmdmft-point-{p.key}",
                                retries=retries, pure=False)
            futures[fut] = p
        for fut in as_completed(futures):
            p = futures[fut]
            if fut.status == "error":
                finished(p, None, fut.exception())
            else:
                finished(p, fut.result(), None)
            fut.release()
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


# ---------------------------------------------------------------------------------- plotting
LABELS = {"inv_tau": "1/τ", "tau": "τ", "alpha": "α", "delta": "Δ", "lam": "λ", "eta": "η",
          "t_max": "t_max", "R": "R", "b": "b", "L": "L"}


def plot_sweep(out, file=None, summaries=None) -> Path:
    """Draw the phase diagram of a sweep directory: one panel per summary (and method), a heat
    map over two varied parameters or lines over one. Returns the image path
    (default ``OUT/sweep.png``)."""
    rows, meta = read_table(out)
    varied = list(meta.get("varied", []))
    available = [c for c in meta.get("columns", [])
                 if any(c in cols for cols in SUMMARIES.values()) and not c.endswith("_sem")]
    if summaries:
        for s in summaries:
            if s not in available:
                raise ParameterError(f"summary = {s!r} is not in this sweep (available: "
                                     f"{', '.join(available)})")
        summaries = list(summaries)
    else:
        summaries = [s for s in ("min_gen_error", "final_gen_error") if s in available] \
            or available[:1]
    if not summaries:
        raise ParameterError("this sweep has no summary column to draw")
    if len(varied) not in (1, 2):
        raise ParameterError(f"plot-sweep draws one or two varied parameters; this sweep varies "
                             f"{len(varied)}" + (f" ({', '.join(varied)})" if varied else ""))
    file = Path(file) if file is not None else Path(out) / f"{TABLE_NAME}.png"
    if file.parent and not file.parent.is_dir():
        raise ParameterError(f"out = {str(file)!r}: directory {str(file.parent)!r} does not exist")
    methods = list(dict.fromkeys(r["method"] for r in rows))

    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = [(s, m) for m in methods for s in summaries]
    ncol = len(summaries)
    nrow = len(methods)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.8 * nrow), squeeze=False)
    title = (meta.get("spec") or {}).get("title") or ""
    for (summary, method), ax in zip(panels, axes.ravel()):
        sel = [r for r in rows if r["method"] == method]
        label = summary + ("" if len(methods) == 1 else f" ({method})")
        if len(varied) == 1:
            _lines(ax, sel, varied[0], summary, label)
        else:
            _heat(fig, ax, sel, varied[0], varied[1], summary, label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:  # the format follows the suffix
        write_atomic(file, lambda f: fig.savefig(f, dpi=150, format=file.suffix[1:] or None))
    finally:
        plt.close(fig)
    return file


def _axis_values(rows, name):
    vals = list(dict.fromkeys(r[name] for r in rows))
    try:
        return sorted(vals)
    except TypeError:
        return vals


def _num(v) -> float:
    return math.nan if v is None or isinstance(v, str) else float(v)


def _lines(ax, rows, x, summary, label) -> None:
    xs = _axis_values(rows, x)
    by = {r[x]: r for r in rows}
    y = [_num(by[v].get(summary)) for v in xs]
    sem_col = summary + "_sem"
    err = [_num(by[v].get(sem_col)) for v in xs] if sem_col in rows[0] else None
    numeric = all(isinstance(v, (int, float)) for v in xs)
    pos = xs if numeric else list(range(len(xs)))
    ax.errorbar(pos, y, yerr=err, marker="o", ms=4, capsize=2)
    if not numeric:
        ax.set_xticks(pos, [str(v) for v in xs])
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def _heat(fig, ax, rows, x, y, summary, label) -> None:
    xs, ys = _axis_values(rows, x), _axis_values(rows, y)
    grid = np.full((len(ys), len(xs)), np.nan)
    ix = {v: i for i, v in enumerate(xs)}
    iy = {v: i for i, v in enumerate(ys)}
    for r in rows:
        grid[iy[r[y]], ix[r[x]]] = _num(r.get(summary))
    masked = np.ma.masked_invalid(grid)
    im = ax.imshow(masked, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_xticks(range(len(xs)), [_fmt_value(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_fmt_value(v) for v in ys])
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    if grid.size <= 100:
        finite = grid[np.isfinite(grid)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (j, i), v in np.ndenumerate(grid):
            text = "×" if not np.isfinite(v) else f"{v:.4g}" if abs(v) < 1e4 else f"{v:.2e}"
            ax.text(i, j, text, ha="center", va="center", fontsize=7,
                    color="white" if np.isfinite(v) and v < mid else "black")
