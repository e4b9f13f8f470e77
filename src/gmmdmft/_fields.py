"""Declared parameters: the one place where a parameter's type, range, default and help live.

A parameter is a field of a frozen dataclass built with :func:`param`; its :class:`Spec` says
what the value must be. :class:`Declared`, the base of :class:`~gmmdmft.Problem`,
:class:`~gmmdmft.Training`, :class:`~gmmdmft.SimulationOptions` and
:class:`~gmmdmft.DMFTOptions`, converts and checks every field when an object is built (one
:class:`~gmmdmft.ParameterError` line naming the parameter, the value and the allowed range),
and everything else is generated from the same records: the command-line flags
(:mod:`gmmdmft.cli._options`), the TOML keys of configs, panels and sweep specs
(:meth:`Declared.from_mapping`) and the content key of a computation (:meth:`Declared.key_params`).
Adding an option is one :func:`param` line.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

from ._validation import (ParameterError, ParameterTypeError, _fmt, _range, check_choice,
                          check_instance, check_int, check_real)

KINDS = ("real", "int", "bool", "str", "choice", "reals", "ints", "plugin")


@dataclass(frozen=True)
class Spec:
    """What a parameter may be.

    kind
        ``"real"``, ``"int"`` (finite numbers; ``bool`` is not a number here), ``"bool"``,
        ``"str"``, ``"choice"`` (one of ``choices``; ints or strings), ``"reals"`` / ``"ints"``
        (a non-empty sequence; on the command line comma-separated) or ``"plugin"`` (a
        registered name, a ``"module:attr"`` import path or an object; resolved by the owner).
    lo, hi, lo_open, hi_open
        Range of a number (or of each element of a sequence).
    optional
        ``None`` is allowed (and means "use the rule the owner documents").
    key
        Enters the content key of a computation (False for options that cannot change the
        numbers, such as how many seeds are advanced together).
    cli
        Gets a command-line flag (``--name-with-dashes`` unless ``flag`` is given).
    """

    kind: str
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | None = None
    optional: bool = False
    key: bool = True
    cli: bool = True
    flag: str | None = None
    metavar: str | None = None
    shown_default: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:  # pragma: no cover - a programming error
            raise ValueError(f"unknown kind {self.kind!r}")

    def range_text(self) -> str:
        """The allowed values in words, for help texts."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.lo is None and self.hi is None:
            return ""
        return _range(self.lo, self.hi, self.lo_open, self.hi_open)


def param(default: Any, kind: str, help: str, **spec) -> Any:
    """A dataclass field declared by a :class:`Spec` (``param(0.2, "real", "...", lo=0)``)."""
    return dataclasses.field(default=default, metadata={"spec": Spec(kind, help, **spec)})


def convert(name: str, value, spec: Spec):
    """``value`` converted to the parameter's type and checked against its range.

    Raises :class:`ParameterError` (one line naming ``name``); a value of the wrong type raises
    :class:`ParameterTypeError`, a subclass of both ParameterError and TypeError.
    """
    if value is None:
        if spec.optional:
            return None
        raise ParameterError(f"{name} is missing: {spec.help.rstrip('.')}")
    kind = spec.kind
    rng = dict(lo=spec.lo, hi=spec.hi, lo_open=spec.lo_open, hi_open=spec.hi_open)
    if kind == "real":
        return check_real(name, value, **rng)
    if kind == "int":
        return check_int(name, value, lo=spec.lo, hi=spec.hi)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ParameterTypeError(f"{name} = {_fmt(value)} must be true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ParameterTypeError(f"{name} = {_fmt(value)} must be a string")
        return value
    if kind == "choice":
        if spec.choices and all(isinstance(c, int) for c in spec.choices):
            value = check_int(name, value)
        elif not isinstance(value, str):
            raise ParameterTypeError(f"{name} = {_fmt(value)} must be one of: "
                                     + ", ".join(str(c) for c in spec.choices))
        return check_choice(name, value, spec.choices)
    if kind in ("reals", "ints"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ParameterTypeError(f"{name} = {_fmt(value)} must be a list of numbers")
        items = list(value)
        if not items:
            raise ParameterError(f"{name} = [] must not be empty")
        check = check_real if kind == "reals" else check_int
        out = []
        for item in items:
            try:
                out.append(check(name, item, **(rng if kind == "reals" else
                                                 dict(lo=spec.lo, hi=spec.hi))))
            except ParameterError:
                shown = ", ".join(_fmt(v) for v in items)
                what = "a finite number" if kind == "reals" else "an integer"
                allowed = spec.range_text()
                raise type_of_error(item)(
                    f"{name} = ({shown}) is out of range: each entry must be {what}"
                    + (f" {allowed}" if allowed else "")) from None
        return tuple(out)
    return value  # "plugin": resolved by the owner


def type_of_error(item):
    """ParameterTypeError for an entry that is not a number at all, else ParameterError."""
    if isinstance(item, bool) or not isinstance(item, numbers.Real):
        return ParameterTypeError
    return ParameterError


class Declared:
    """Base of the frozen dataclasses of declared parameters (see the module docstring).

    Subclasses are ``@dataclass(frozen=True)`` with :func:`param` fields and may override
    :meth:`_check` for rules that tie several fields together (it runs after every field is
    converted, and may normalise fields with :meth:`_set`).
    """

    #: what the parameters are called in messages ("problem", "DMFT option", ...)
    what: ClassVar[str] = "parameter"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            spec = f.metadata.get("spec")
            if spec is not None:
                self._set(f.name, convert(f.name, getattr(self, f.name), spec))
        self._check()

    def _set(self, name: str, value) -> None:
        object.__setattr__(self, name, value)

    def _check(self) -> None:
        """Rules between fields (subclasses)."""

    # ------------------------------------------------------------------ the records
    @classmethod
    def specs(cls) -> dict[str, tuple[Any, Spec]]:
        """``name -> (default, Spec)`` for every declared field, in declaration order."""
        return {f.name: (f.default, f.metadata["spec"]) for f in dataclasses.fields(cls)
                if "spec" in f.metadata}

    def params(self) -> dict:
        """Every declared field as plain data (what :meth:`from_mapping` reads back)."""
        return {name: _plain(getattr(self, name)) for name in self.specs()}

    def key_params(self) -> dict:
        """The fields that can change the numbers: what a content key is made of."""
        return {name: _plain(getattr(self, name)) for name, (_, spec) in self.specs().items()
                if spec.key}

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def merged(cls, options, keywords: dict, function: str, extra: str = "",
               defaults: dict | None = None):
        """The options an entry function runs with: ``options`` (an instance, or None for
        ``cls(**defaults)``) with the keyword arguments ``keywords`` applied, validated. An
        unknown keyword is one ParameterError naming ``function`` and the allowed options
        (``extra``: more accepted names to list)."""
        if options is not None:
            check_instance("options", options, cls)
        unknown = sorted(set(keywords) - set(cls.specs()))
        if unknown:
            names = ", ".join(cls.specs()) + (f", {extra}" if extra else "")
            raise ParameterError(f"{unknown[0]} is not an option of {function} (options: {names})")
        if options is None:
            return cls(**{**(defaults or {}), **keywords})
        return options.replace(**keywords) if keywords else options

    @classmethod
    def from_mapping(cls, mapping: dict, where: str = ""):
        """Build from a TOML table: unknown keys and bad values are one-line errors starting
        with ``where`` (e.g. ``"config 'run.toml'"``); ``-`` in a key is read as ``_``."""
        names = cls.specs()
        values = {}
        for k, v in mapping.items():
            key = str(k).replace("-", "_")
            if key not in names:
                raise ParameterError(_where(where, f"unknown key {k!r} (allowed: "
                                                   f"{', '.join(names)})"))
            if key in values:
                raise ParameterError(_where(where, f"key {key!r} is given twice"))
            values[key] = v
        try:
            return cls(**values)
        except ParameterError as e:
            raise type(e)(_where(where, str(e))) from None


def _where(where: str, msg: str) -> str:
    return f"{where}: {msg}" if where else msg


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - validated
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    from .plugins import import_path  # noqa: PLC0415 (plug-in objects only)
    return import_path(value)
