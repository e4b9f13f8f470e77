"""Files: the CSV table of learning curves and its JSON sidecar (the end of the data flow).

The numerics (problem, training, simulation, dmft) never import this module: results flow from
them to here, never back.

* ``FILE.csv``: header row :data:`~gmmdmft.result.CSV_COLUMNS`, one row per recorded time, values
  with 17 significant digits (round-trip exact for float64); ``nan`` where a standard error
  cannot be estimated.
* ``FILE.json``: ``params`` (every parameter, the seeds), ``status``, ``message``, ``stats``
  (wall time, work counters), ``package``, ``version``, ``created`` (UTC) and ``command``.

Both files are written atomically: to a temporary file in the same directory, then renamed.
:func:`write_atomic` does the same for any one file (the figure and sweep commands' manifests,
tables and images) and :func:`read_toml` reads their TOML files (configs, panels, sweep specs).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import BinaryIO, Callable, Union

import numpy as np

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from . import __version__
from ._validation import ParameterError, one_line
from .result import CSV_COLUMNS

__all__ = ["check_output_dir", "check_output_path", "jsonable", "read_result",
           "read_toml", "sidecar_path", "write_atomic", "write_kernels", "write_result"]

# what write_atomic writes: bytes, text (UTF-8), or a function that writes to a binary file
Data = Union[bytes, str, Callable[[BinaryIO], object]]


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
    _check_writable(parent, f"{label}: directory {shown!r}")
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
    _check_writable(p, f"{label}: directory")
    return p


def _check_writable(directory: Path, what: str) -> None:
    """Create and remove a file in ``directory``; ParameterError ``WHAT is not writable (...)``."""
    try:
        fd, probe = _open_temp(directory, ".gmmdmft-write-test")
    except OSError as e:
        raise ParameterError(f"{what} is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


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
    text = json.dumps(jsonable(meta_), indent=2, allow_nan=False) + "\n"

    # both temporaries first, then the two renames (the sidecar last): a failure leaves no
    # half-written file
    tmp_csv = _write_temp(csv_path, table)
    try:
        tmp_json = _write_temp(json_path, text)
    except BaseException:
        _unlink_quietly(tmp_csv)
        raise
    _commit((tmp_csv, csv_path), (tmp_json, json_path))
    return csv_path, json_path


def write_atomic(path, data: Data) -> Path:
    """Write one file atomically; return its path.

    ``data`` is bytes, text (written as UTF-8, newlines as given) or a function that writes to
    the open binary file (``lambda f: np.savez(f, ...)``). It goes to a new temporary file in
    the same directory (``.NAME.PID.HEX.tmp``), is flushed to disk, then renamed over
    ``path``: readers see the old file or the new one, never a part. On any error (also
    KeyboardInterrupt) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    _commit((_write_temp(path, data), path))
    return path


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


def read_toml(path, where: str) -> dict:
    """The content of the TOML file ``path``; a missing or unreadable file and bad TOML raise
    :class:`ParameterError` with one line starting with ``where`` (e.g. ``"spec 'x.toml'"``)."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ParameterError(f"{where}: file does not exist") from None
    except IsADirectoryError:
        raise ParameterError(f"{where}: is a directory, not a TOML file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParameterError(f"{where}: cannot be read ({one_line(e)})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ParameterError(f"{where}: bad TOML: {one_line(e)}") from None


# --------------------------------------------------------------------------- helpers

def _fmt_float(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)  # shortest string that round-trips exactly


def jsonable(obj):
    """Plain JSON types; numpy scalars and arrays become numbers and lists, non-finite -> None,
    paths and other objects strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
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


def _write_temp(target: Path, data: Data) -> Path:
    """``data`` (see :func:`write_atomic`) in a new temporary file next to ``target``, flushed
    to disk; returns its path. On any error the temporary file is removed."""
    fd, tmp = _open_temp(target.parent, "." + target.name)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _commit(*renames: tuple[Path, Path]) -> None:
    """Rename each (temporary, target) in order; on any error remove the temporaries left."""
    try:
        for tmp, target in renames:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in renames:
            _unlink_quietly(tmp)
        raise


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
    return write_atomic(path, lambda f: np.savez(f, t=result.t, meta=json.dumps(jsonable(meta)),
                                                 **arrays))
