"""Files: results written and read back (the end of the data flow; docs/results.md, "Files").

The numerics (problem, training, simulation, dmft) never import this module: results flow from
them to here, never back. :func:`write_result` writes, :func:`read_result` reads back a
:class:`~gmmdmft.Result`, in one of two formats chosen by the suffix:

* ``FILE.npz``, one self-describing file: the curve columns of
  :data:`~gmmdmft.result.CSV_COLUMNS`, every array of ``result.extras`` under its own name
  (C, C_sem, R, R_sem, the DMFT kernels, per-seed curves) and ``meta``, a JSON string with the
  fields of the sidecar below plus ``format`` (:data:`NPZ_FORMAT`) and ``extras`` (the names of
  the extra arrays). numpy alone reads it: ``np.load(FILE, allow_pickle=False)``.
* ``FILE.csv`` (any suffix but ``.npz``): header row :data:`~gmmdmft.result.CSV_COLUMNS`, one
  row per recorded time, values with 17 significant digits (round-trip exact for float64);
  ``nan`` where a standard error cannot be estimated; the curves only. Next to it ``FILE.json``:
  ``params`` (every parameter, the seeds), ``status``, ``message``, ``stats`` (wall time, work
  counters), ``package``, ``version``, ``created`` (UTC), ``command`` and ``method``.

Both are written atomically: to a temporary file in the same directory, then renamed.
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
from .result import CSV_COLUMNS, Result

NPZ_FORMAT = "gmmdmft.result/1"
"""The ``format`` field of the metadata of a ``.npz`` result file (docs/results.md, "Files")."""

__all__ = ["check_output_dir", "check_output_path", "jsonable", "read_result",
           "read_toml", "sidecar_path", "write_atomic", "write_kernels", "write_result"]

# what write_atomic writes: bytes, text (UTF-8), or a function that writes to a binary file
Data = Union[bytes, str, Callable[[BinaryIO], object]]


def sidecar_path(path) -> Path:
    """The JSON sidecar of ``path``: the same path with the suffix ``.json``."""
    return Path(path).with_suffix(".json")


def check_output_path(path, name: str = "out", sidecar: bool | None = None) -> Path:
    """Check that ``path`` (and its JSON sidecar) can be written; call it before any compute.

    ``sidecar`` (None: unless ``path`` ends in ``.npz``, the single-file format) says whether
    :func:`write_result` writes a JSON sidecar next to ``path``. Raises
    :class:`ParameterError` with one line naming the path and the reason. Writability is tested
    by creating (and removing) a file in the directory, so it is also right for root and for
    read-only file systems, where :func:`os.access` says yes.
    """
    p = Path(path)
    label = f"{name} = {str(path)!r}"
    if str(path) == "" or p.name in ("", ".", ".."):
        raise ParameterError(f"{label}: not a file name")
    if sidecar is None:
        sidecar = p.suffix.lower() != ".npz"
    if sidecar and p.suffix.lower() == ".json":
        raise ParameterError(f"{label}: must not end in .json (the JSON sidecar gets that name)")
    parent = p.parent
    shown = str(parent)
    if not parent.exists():
        raise ParameterError(f"{label}: directory {shown!r} does not exist")
    if not parent.is_dir():
        raise ParameterError(f"{label}: {shown!r} is not a directory")
    for target in (p, sidecar_path(p)) if sidecar else (p,):
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
                 meta: dict | None = None) -> tuple[Path, Path | None]:
    """Write ``result`` to ``path``; return (the file, its JSON sidecar or None).

    The suffix of ``path`` chooses the format (docs/results.md, "Files"): ``.npz`` writes one
    self-describing file (:data:`NPZ_FORMAT`: the curves, every array of ``result.extras``
    such as C(t, t') and R(t, t'), and the metadata as a JSON string); any other suffix
    (``.csv``) writes the CSV table of the curves and its JSON sidecar, as the command line's
    ``--out`` does. Both are written atomically.

    Parameters
    ----------
    result : Result
        The curves (from :func:`~gmmdmft.simulate` or the DMFT solver).
    path : str or Path
        The file; a CSV's sidecar is the same path with the suffix ``.json``.
    command : str, optional
        The command line that produced the result, recorded in the metadata.
    meta : dict, optional
        Further top-level fields of the metadata (e.g. a cache key); they must not replace the
        standard ones.
    """
    if Path(path).suffix.lower() == ".npz":
        out = check_output_path(path, sidecar=False)
        record = _metadata(result, command, meta, format=NPZ_FORMAT,
                           extras=sorted(result.extras))
        arrays = _npz_arrays(result)
        text = json.dumps(jsonable(record), allow_nan=False)
        write_atomic(out, lambda f: np.savez(f, meta=np.array(text), **arrays))
        return out, None

    csv_path = check_output_path(path)
    json_path = sidecar_path(csv_path)
    table = format_table(result)
    meta_ = _metadata(result, command, meta, csv=csv_path.name)
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


def _metadata(result, command, meta, **fields) -> dict:
    """The metadata record of a file: the standard fields, ``fields``, then ``meta``."""
    record = {
        "package": "gmmdmft",
        "version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "method": getattr(result, "method", None),
        "status": int(result.status),
        "message": str(result.message),
        "params": result.params,
        "stats": result.stats,
        **fields,
    }
    for k, v in (meta or {}).items():
        if k in record:
            raise ValueError(f"meta key {k!r} would replace a standard metadata field")
        record[k] = v
    return record


def _npz_arrays(result) -> dict:
    """The arrays of the ``.npz`` format: the curve columns and the extras (names checked)."""
    arrays = {c: np.asarray(getattr(result, c), dtype=float) for c in CSV_COLUMNS}
    for k, v in result.extras.items():
        if k in arrays or k == "meta":
            raise ValueError(f"extras key {k!r} would replace a curve column of the file")
        a = np.asarray(v)
        if a.dtype == object:
            raise ValueError(f"extras[{k!r}] is not a numeric array")
        arrays[str(k)] = a
    return arrays


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


def read_result(path) -> Result:
    """Read a file written by :func:`write_result` back into a :class:`~gmmdmft.Result`.

    ``.npz``: the curves, the extras (C, R, kernels, per-seed curves) and the metadata.
    Otherwise a CSV (the command line's ``--out``, the figure and sweep stores) and its JSON
    sidecar when present: ``params``, ``status``, ``message`` and ``stats`` come from the
    sidecar; without one they are empty and ``status`` is -1 (unknown). ``result.meta`` is the
    whole metadata record (None for a CSV without sidecar). A file that is not in either
    format raises ValueError.
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return _read_npz(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        raise ValueError(f"{path}: header is not {','.join(CSV_COLUMNS)}")
    data = np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=float)
    data = data.reshape(-1, len(CSV_COLUMNS))
    cols = {c: data[:, i].copy() for i, c in enumerate(CSV_COLUMNS)}
    side = sidecar_path(path)
    meta = json.loads(side.read_text()) if side.exists() else None
    return _result(cols, meta, {}, path)


def _read_npz(path: Path) -> Result:
    with np.load(path, allow_pickle=False) as f:
        names = set(f.files)
        if "meta" not in names:
            raise ValueError(f"{path}: not a gmmdmft result (no 'meta' record)")
        meta = json.loads(str(f["meta"]))
        if meta.get("format") != NPZ_FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r} is not {NPZ_FORMAT!r}")
        missing = [c for c in CSV_COLUMNS if c not in names]
        if missing:
            raise ValueError(f"{path}: the curve {missing[0]!r} is missing")
        cols = {c: f[c] for c in CSV_COLUMNS}
        extras = {k: f[k] for k in sorted(names - set(CSV_COLUMNS) - {"meta"})}
    return _result(cols, meta, extras, path)


def _result(cols: dict, meta: dict | None, extras: dict, path: Path) -> Result:
    if meta is None:
        return Result(method="unknown", params={}, status=-1,
                      message=f"read from {path.name} without its JSON sidecar: parameters and "
                              "status unknown", extras=extras, meta=None, **cols)
    return Result(method=meta.get("method") or "unknown", params=meta.get("params") or {},
                  status=int(meta.get("status", -1)), message=str(meta.get("message", "")),
                  stats=meta.get("stats") or {}, extras=extras, meta=meta, **cols)


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
