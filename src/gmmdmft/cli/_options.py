"""Command-line flags and TOML configs generated from the declared parameters.

Every flag of ``simulate``, ``dmft`` and ``reference`` comes from a :func:`gmmdmft._fields.param`
field of :class:`~gmmdmft.Problem`, :class:`~gmmdmft.Training`,
:class:`~gmmdmft.SimulationOptions` or :class:`~gmmdmft.DMFTOptions`: its flag
(``--t-max`` for ``t_max``), click type, metavar and help (with the default and the range) are
derived from the field's :class:`~gmmdmft._fields.Spec`. Values go defaults < ``--config
FILE.toml`` < flags, and the objects built from them check every range (one-line
:class:`~gmmdmft.ParameterError`). Adding an option to one of those classes adds its flag here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import click

from .._fields import Spec, convert
from .._validation import ParameterError
from ..io import read_toml


class ListType(click.ParamType):
    """Comma-separated numbers, ``--centers=-1.5,-0.5,0.5,1.5`` (ranges checked by the owner)."""

    name = "list"

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return value
        parts = [p.strip() for p in str(value).split(",")]
        try:
            return [float(p) if self.kind == "reals" else _int(p) for p in parts]
        except ValueError:
            what = "numbers" if self.kind == "reals" else "integers"
            self.fail(f"{value!r} is not a comma-separated list of {what}", param, ctx)


def _int(text: str) -> int:
    f = float(text)
    if not f.is_integer():
        raise ValueError(text)
    return int(f)


def flag_of(name: str, spec: Spec) -> str:
    return spec.flag or "--" + name.replace("_", "-")


def click_option(name: str, default, spec: Spec) -> Callable:
    """The click option of one declared field (default None: 'not given')."""
    shown = spec.shown_default if spec.shown_default is not None else (
        "none" if default is None else str(default).lower() if isinstance(default, bool)
        else default)
    allowed = spec.range_text() if spec.kind != "choice" else ""
    text = f"{spec.help.rstrip('.')}{f'; {allowed}' if allowed else ''}. [default: {shown}]"
    flag = flag_of(name, spec)
    if spec.kind == "bool":
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=text)
    types = {"real": click.FLOAT, "int": click.INT, "str": click.STRING,
             "plugin": click.STRING, "reals": ListType("reals"), "ints": ListType("ints")}
    if spec.kind == "choice":
        ctype = click.Choice([str(c) for c in spec.choices])
    else:
        ctype = types[spec.kind]
    return click.option(flag, name, type=ctype, default=None, metavar=spec.metavar, help=text)


def declared_options(*classes, exclude: Sequence[str] = (), only: Sequence[str] | None = None):
    """Decorator adding one flag per declared field of ``classes`` (in order)."""
    fields = []
    for cls in classes:
        for name, (default, spec) in cls.specs().items():
            if spec.cli and name not in exclude and (only is None or name in only):
                fields.append((name, default, spec))

    def decorate(f):
        for name, default, spec in reversed(fields):
            f = click_option(name, default, spec)(f)
        return f
    return decorate


def from_flag(spec: Spec, value):
    """A click value in the field's type (int choices arrive as strings)."""
    if value is not None and spec.kind == "choice" and all(isinstance(c, int) for c in spec.choices):
        return int(value)
    return value


def read_config(path, allowed: dict[str, Spec]) -> dict:
    """The values of a TOML config: keys of ``allowed`` (``-`` read as ``_``), each checked for
    its type and range alone (rules between parameters are checked when the objects are built).
    One-line ParameterError naming the file and the key."""
    where = f"config {str(path)!r}"
    raw = read_toml(path, where)
    values: dict = {}
    for k, v in raw.items():
        key = k.replace("-", "_")
        if key not in allowed:
            raise ParameterError(f"{where}: unknown key {k!r} (allowed keys: {', '.join(allowed)})")
        if key in values:
            raise ParameterError(f"{where}: key {key!r} is given twice")
        try:
            convert(key, v, allowed[key])
        except ParameterError as e:
            raise type(e)(f"{e} (in {where})") from None
        values[key] = v
    return values


def merge(flags: dict, config: Path | None, classes, extra: dict[str, Spec] | None = None) -> dict:
    """Values given by ``--config`` and flags (flags win); absent ones are left out, so that the
    classes' defaults apply."""
    allowed = {name: spec for cls in classes for name, (_, spec) in cls.specs().items()}
    allowed.update(extra or {})
    values = read_config(config, allowed) if config is not None else {}
    for name, spec in allowed.items():
        value = from_flag(spec, flags.get(name))
        if value is not None:
            values[name] = value
    return values


def build(cls, values: dict):
    """``cls`` from the subset of ``values`` that are its fields (validated)."""
    names = cls.specs()
    return cls(**{k: v for k, v in values.items() if k in names})
