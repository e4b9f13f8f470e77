"""Summaries of learning curves and the sweep table (CSV, Parquet, JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from .._validation import ParameterError
from ..io import write_atomic

#: summary name -> its columns in the table
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
TABLE_NAME = "sweep"


def summarize(curves, names=tuple(SUMMARIES)) -> dict:
    """The summary columns of one curve (a :class:`~gmmdmft.Result` or a dict of arrays)."""
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


def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


def write_table(out, columns: list[str], rows: list[dict], meta: dict) -> list[Path]:
    """``OUT/sweep.csv``, ``OUT/sweep.parquet`` (when pyarrow is installed) and
    ``OUT/sweep.json``, each atomically; returns the paths written."""
    out = Path(out)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in columns])
    written = [write_atomic(out / f"{TABLE_NAME}.csv", buf.getvalue())]
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        pa = None
    if pa is not None:
        table = pa.table({c: _arrow_column(pa, [r.get(c) for r in rows]) for c in columns})
        table = table.replace_schema_metadata({"gmmdmft": json.dumps(meta, allow_nan=False,
                                                                     default=str)})
        written.append(write_atomic(out / f"{TABLE_NAME}.parquet",
                                    lambda f: pq.write_table(table, f)))
    written.append(write_atomic(out / f"{TABLE_NAME}.json",
                                json.dumps(meta, indent=2, allow_nan=False, default=str) + "\n"))
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
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise ParameterError(f"sweep directory {str(out)!r}: {meta_path.name} cannot be read") from None
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
