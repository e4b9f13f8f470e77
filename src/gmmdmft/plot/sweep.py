"""The phase diagram of a sweep: a heat map over two varied parameters, lines over one
(matplotlib; imported only by ``gmmdmft plot-sweep``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._validation import ParameterError
from ..io import write_atomic
from ..runs.summaries import SUMMARIES, TABLE_NAME, read_table


def _fmt_value(v) -> str:
    return repr(v) if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)

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
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    formats = FigureCanvasBase.get_supported_filetypes()
    if file.suffix[1:].lower() not in formats:
        raise ParameterError(f"out = {str(file)!r}: the image format follows the suffix, one of "
                             + ", ".join("." + f for f in sorted(formats)))
    if file.parent and not file.parent.is_dir():
        raise ParameterError(f"out = {str(file)!r}: directory {str(file.parent)!r} does not exist")
    methods = list(dict.fromkeys(r["method"] for r in rows))

    panels = [(s, m) for m in methods for s in summaries]
    ncol = len(summaries)
    nrow = len(methods)
    fig = Figure(figsize=(4.6 * ncol, 3.8 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
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
    write_atomic(file, lambda f: fig.savefig(f, dpi=150, format=file.suffix[1:].lower()))
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
