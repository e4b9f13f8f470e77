"""Parameter checks shared by the API and the command line.

Every check raises :class:`ParameterError` with one line that names the parameter, the value
received and the allowed range, so the CLI can print it unchanged.
"""

from __future__ import annotations

import math
import numbers
import os


class ParameterError(ValueError):
    """A user-supplied parameter is outside its allowed range (raised before any compute)."""


class ParameterTypeError(ParameterError, TypeError):
    """A user-supplied parameter has the wrong type (e.g. a dict where a Problem belongs)."""


class DivergenceError(FloatingPointError):
    """The dynamics produced a non-finite number; the message names where and suggests a fix."""


#: |w|^2/d or a training loss beyond this (times max(1, R)) means the dynamics has diverged: the
#: weights are then 1e15 times their natural size (GD with a bounded step grows |w|^2/d at most
#: like t^2), and the next steps overflow
DIVERGED = 1e30


def first_diverged(values, scale: float = 1.0) -> int | None:
    """Index of the first value that is not finite or beyond :data:`DIVERGED` * max(1, scale)
    in size (None if there is none)."""
    import numpy as np  # noqa: PLC0415 (this module stays import-light)

    arr = np.asarray(values, dtype=float)
    bad = np.flatnonzero(~(np.abs(arr) <= DIVERGED * max(1.0, scale)))
    return int(bad[0]) if bad.size else None


def one_line(text) -> str:
    """``text`` (or an exception's message) with all whitespace runs collapsed to one space."""
    return " ".join(str(text).split())


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else f"{value}"


def check_real(name: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    """Return ``value`` as a float after checking it is a finite real number in the interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(f"{name} = {_fmt(value)} must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name} = {value} must be a finite number")
    low_bad = lo is not None and (value <= lo if lo_open else value < lo)
    high_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if low_bad or high_bad:
        raise ParameterError(f"{name} = {value:g} is out of range: must be {_range(lo, hi, lo_open, hi_open)}")
    return value


def check_int(name: str, value, *, lo=None, hi=None) -> int:
    """Return ``value`` as an int after checking it is an integer in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(f"{name} = {_fmt(value)} must be an integer")
    if not isinstance(value, numbers.Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ParameterError(f"{name} = {_fmt(value)} must be an integer")
        value = int(value)
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParameterError(f"{name} = {value} is out of range: must be {_range(lo, hi, False, False)}")
    return value


def check_instance(name: str, value, cls) -> None:
    """Raise ParameterTypeError unless ``value`` is a ``cls`` (e.g. a dict passed as a Problem,
    or the problem and the training swapped)."""
    if not isinstance(value, cls):
        shown = type(value).__name__
        hint = (f": build it with gmmdmft.{cls.__name__}(**params)" if isinstance(value, dict)
                else "")
        raise ParameterTypeError(f"{name} = <{shown}> must be a gmmdmft.{cls.__name__}{hint}")


def check_memory(need: int, what: str, hint: str, detail: str = "", avail: int | None = None) -> None:
    """Refuse (before allocating) a computation whose peak ``need`` bytes exceed 80% of the
    available memory (``avail``: of a device instead of the host); ``what`` names the
    parameters, ``detail`` what the memory is for, ``hint`` what to lower."""
    if avail is None:
        avail = available_memory()
    if need > 0.8 * avail:
        raise ParameterError(f"{what} needs {need / 2**30:.1f} GiB{detail} but only "
                             f"{avail / 2**30:.1f} GiB is available: {hint}")


def proc_bytes(path: str, key: str) -> int | None:
    """The ``key: N kB`` entry of a Linux /proc file in bytes, or None where there is none."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    avail = proc_bytes("/proc/meminfo", "MemAvailable")
    if avail is not None:
        return avail
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        listed = ", ".join(str(c) for c in choices)
        raise ParameterError(f"{name} = {_fmt(value)} is not one of: {listed}")
    return value


def _num(v) -> str:
    """A bound in words: integers exactly, other numbers in %g."""
    return f"{v:d}" if isinstance(v, int) and not isinstance(v, bool) else f"{v:g}"


def _range(lo, hi, lo_open, hi_open) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {_num(hi)}"
    return "finite"
