"""Files: the CSV table of learning curves and its JSON sidecar (the end of the data flow).

The numerics (problem, training, simulation, dmft) never import this module: results flow from
them to here, never back.

* ``FILE.csv``: header row :data:`~gmmdmft.result.CSV_COLUMNS`, one row per recorded time, values
  with 17 significant digits (round-trip exact for float64); ``nan`` where a standard error
  cannot be estimated.
* ``FILE.json``: ``params`` (every parameter, the seeds), ``status``, ``message``, ``stats``
  (wall time, work counters), ``package``, ``version``, ``created`` (UTC) and ``command``.

Both files are written atomically: to a temporary file in the same directory, then renamed.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
from pathlib import Path

import numpy as np

from . import __version__
from ._validation import ParameterError
from .result import CSV_COLUMNS

__all__ = ["check_output_dir", "check_output_path", "read_result", "sidecar_path", "write_kernels",
           "write_result"]


def sidecar_path(path) -> Path:
    """The JSON sidecar of ``path``: the same path with the suffix ``.json``."""
    return Path(path).with_suffix(".json")


def check_output_path(path, name: str = "out") -> Path:
    """Check that ``path`` (and its JSON sidecar) can be written; call it before any compute.

    Raises :class:`ParameterError` with one line naming the path and the reason. Writability is
    tested by creating (and removing) a file in the directory, so it is also right for root and
    for read-only file systems, where :func:`os.access` says yes.
    """
    p = Path(path)
    label = f"{name} = {str(path)!r}"
    if str(path) == "" or p.name in ("", ".", ".."):
        raise ParameterError(f"{label}: not a file name")
    if p.suffix.lower() == ".json":
        raise ParameterError(f"{label}: must not end in .json (the JSON sidecar gets that name)")
    parent = p.parent
    shown = str(parent)
    if not parent.exists():
        raise ParameterError(f"{label}: directory {shown!r} does not exist")
    if not parent.is_dir():
        raise ParameterError(f"{label}: {shown!r} is not a directory")
    for target in (p, sidecar_path(p)):
        if target.is_dir():
            raise ParameterError(f"{label}: {str(target)!r} is a directory")
    try:
        fd, probe = _open_temp(parent, ".gmmdmft-write-test")
    except OSError as e:
        raise ParameterError(f"{label}: directory {shown!r} is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)
    return p


def check_output_dir(path, name: str = "out", create: bool = True) -> Path:
    """Check that ``path`` is (or, with ``create``, can be made) a writable directory.

    Creates it (and its parents) when missing and ``create`` is true. Raises
    :class:`ParameterError` with one line naming the path and the reason; writability is tested
    by creating and removing a file, as in :func:`check_output_path`.
    """
    p = Path(path)
    label = f"{name} = {str(path)!r}"
    if str(path) == "":
        raise ParameterError(f"{label}: not a directory name")
    if p.exists() and not p.is_dir():
        raise ParameterError(f"{label}: is a file, not a directory")
    if not p.exists():
        if not create:
            raise ParameterError(f"{label}: directory does not exist")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ParameterError(f"{label}: cannot create the directory ({e.strerror or e})") from None
    try:
        fd, probe = _open_temp(p, ".gmmdmft-write-test")
    except OSError as e:
        raise ParameterError(f"{label}: directory is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)
    return p


def write_result(result, path, *, command: str | None = None,
                 meta: dict | None = None) -> tuple[Path, Path]:
    """Write ``result`` to ``path`` (CSV) and its JSON sidecar; return both paths.

    Parameters
    ----------
    result : Result
        The curves (from :func:`~gmmdmft.simulate` or the DMFT solver).
    path : str or Path
        The CSV file; the sidecar is the same path with the suffix ``.json``.
    command : str, optional
        The command line that produced the result, recorded in the sidecar.
    meta : dict, optional
        Further top-level fields of the sidecar (e.g. a cache key); they must not replace the
        standard ones.
    """
    csv_path = check_output_path(path)
    json_path = sidecar_path(csv_path)

    table = format_table(result)

    meta_ = {
        "package": "gmmdmft",
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "method": getattr(result, "method", None),
        "status": int(result.status),
        "message": str(result.message),
        "params": result.params,
        "stats": result.stats,
        "csv": csv_path.name,
    }
    for k, v in (meta or {}).items():
        if k in meta_:
            raise ValueError(f"meta key {k!r} would replace a standard sidecar field")
        meta_[k] = v
    text = json.dumps(_jsonable(meta_), indent=2, allow_nan=False) + "\n"

    # both temporaries first, then the two renames: a failure leaves no half-written file
    tmp_csv = _write_temp(csv_path, table)
    try:
        tmp_json = _write_temp(json_path, text)
    except BaseException:
        _unlink_quietly(tmp_csv)
        raise
    try:
        os.replace(tmp_csv, csv_path)
        os.replace(tmp_json, json_path)
    except BaseException:
        _unlink_quietly(tmp_csv)
        _unlink_quietly(tmp_json)
        raise
    return csv_path, json_path


def format_table(result) -> str:
    """The CSV text of ``result`` (header and rows), as :func:`write_result` writes it."""
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(_fmt_float(v) for v in row) for row in result.table()]
    return "\n".join(lines) + "\n"


def read_result(path) -> dict:
    """Read a CSV written by :func:`write_result` (and its sidecar when present).

    Returns a dict with one float array per column of :data:`CSV_COLUMNS` and ``"meta"``: the
    sidecar's content as a dict, or None when there is no sidecar.
    """
    path = Path(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        raise ValueError(f"{path}: header is not {','.join(CSV_COLUMNS)}")
    data = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=float)
    data = data.reshape(-1, len(CSV_COLUMNS))
    out: dict = {c: data[:, i].copy() for i, c in enumerate(CSV_COLUMNS)}
    side = sidecar_path(path)
    out["meta"] = json.loads(side.read_text()) if side.exists() else None
    return out


# --------------------------------------------------------------------------- helpers
def _fmt_float(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)  # shortest string that round-trips exactly


def _jsonable(obj):
    """Plain JSON types; numpy scalars and arrays become numbers and lists, non-finite -> None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _open_temp(directory: Path, stem: str):
    """Create a new file in ``directory`` (mode 0666 less the umask) and return (fd, path)."""
    for _ in range(100):
        name = directory / f"{stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _write_temp(target: Path, text: str) -> Path:
    fd, tmp = _open_temp(target.parent, "." + target.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(p) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def write_kernels(result, path) -> Path:
    """Write the two-time functions and kernels of a DMFT result to ``path`` (.npz), atomically.

    Arrays: ``t``, ``C`` (C(t, t')), ``R`` (response R(t, t'), rows t_k, columns t_j), ``P0``,
    ``M_C``, ``M_R``, ``lamhat``, ``mu``, plus ``meta``: a JSON string with the parameters and
    the package version.
    """
    path = Path(path)
    arrays = {k: np.asarray(v) for k, v in result.extras.items()}
    meta = dict(package="gmmdmft", version=__version__, params=result.params, status=result.status,
                message=result.message, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    fd, tmp = _open_temp(path.parent, "." + path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, t=result.t, meta=json.dumps(_jsonable(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path
