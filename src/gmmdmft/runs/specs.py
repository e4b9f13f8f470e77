"""Sweep specs: a TOML file -> a validated :class:`Spec` (the format: :mod:`gmmdmft.runs.sweeps`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .._validation import ParameterError, check_choice, check_int, check_real, one_line
from ..io import read_toml
from ..model import Problem
from ..options import DMFTOptions, SimulationOptions
from ..training import Training
from .summaries import SUMMARIES

PROBLEM_KEYS = tuple(Problem.specs())
TRAINING_KEYS = tuple(Training.specs())
BASE_KEYS = PROBLEM_KEYS + TRAINING_KEYS
OPTION_CLASSES = {"dmft": DMFTOptions, "simulate": SimulationOptions}
TOP_KEYS = ("title", "description", "method", "mode", "summaries", "on_invalid", "base", "vary",
            "dmft", "simulate")
METHODS = ("dmft", "simulate", "both")
MODES = ("grid", "zip")
ON_INVALID = ("error", "skip")


def fmt_value(v) -> str:
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
            fail(f"{shown}: value {fmt_value(x)} appears twice")
        seen.add(k)
    return values
