"""Reproduce the paper's Figs. 1-4: panel files -> jobs -> the store -> figures and tables.

This module only orchestrates: the jobs come from :mod:`gmmdmft.runs.panels`, run on
:func:`gmmdmft.runs.executors.run_jobs` into a :class:`~gmmdmft.runs.store.Store` at
``OUT/cache``, and are drawn by :mod:`gmmdmft.plot.panel` (matplotlib, imported only to draw).

Outputs per panel: ``OUT/<panel>.png`` and ``.pdf``, ``OUT/<panel>/`` with each curve's CSV +
JSON, ``OUT/<panel>.json`` (manifest: curves, parameters, keys, version) and its rows of
``OUT/summary.csv`` (the largest |DMFT - simulation| gap in gen_error per curve).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from .._validation import ParameterError, check_int
from ..io import check_output_dir, jsonable, write_atomic
from ..result import Result
from .executors import RunReport, default_workers, run_jobs
from .panels import PANELS, Panel, load_panel, panel_names, plan
from .store import Store

SUMMARY_COLUMNS = ("panel", "curve", "d", "max_gap", "t_at_max_gap", "dmft", "simulation",
                   "sem_combined", "gap_over_sem", "max_gap_late", "t_at_max_gap_late")


@dataclass
class FigureReport:
    panels: list
    run: RunReport
    rows: list
    wall: float
    out: Path


def make_figures(which=(), panel_files=(), *, out="figures", quick: bool = False,
                 recompute: bool = False, workers: int | None = None,
                 overrides: dict | None = None, progress: bool | None = None, draw: bool = True,
                 command: str | None = None,
                 log: Callable[[str], None] | None = None) -> FigureReport:
    """Compute (or reuse) and draw the panels of the figures ``which`` and the ``panel_files``.

    Every input is checked before any compute: the panels (all curves' parameters), workers,
    the output directory (created when missing) and, when drawing, that matplotlib imports.
    ``overrides``: DMFT options applied to every DMFT job (e.g. backend and device).
    """
    t0 = time.perf_counter()
    workers = check_int("workers", default_workers() if workers is None else workers, lo=1)
    names: list = []
    for w in which:
        names += [n for n in panel_names(str(w)) if n not in names]
    names += [str(p) for p in panel_files]
    if not names:
        raise ParameterError("no panel: give a figure (1, 2, 3, 4 or all) or --panel FILE.toml")
    panels = [load_panel(n, quick=quick) for n in names]
    for n in names:  # a panel file is checked whole, its [quick] table and the full settings
        load_panel(n, quick=not quick)
    if overrides:
        panels = [_with_dmft_options(p, overrides) for p in panels]
    seen: dict = {}
    for p in panels:
        if p.name in seen and seen[p.name] != p.source:
            raise ParameterError(f"panel name {p.name!r} is used by {seen[p.name]!r} and "
                                 f"{p.source!r}: rename one file")
        seen[p.name] = p.source
    if draw:
        _check_drawable(panels)
    out = check_output_dir(out, "out")
    store = Store(check_output_dir(out / "cache", "cache"))
    jobs = plan(panels)
    if log is not None:
        todo = [j for j in jobs if recompute or store.state(j.key) is None]
        log(f"{len(panels)} panel(s), {len(jobs)} jobs: {len(todo)} to compute (estimated "
            f"{sum(j.cost for j in todo) / 60:.1f} core-minutes), {len(jobs) - len(todo)} from "
            f"the cache {store.directory}; {min(workers, max(1, len(todo)))} worker(s)")
    report = run_jobs(jobs, store, workers=workers, recompute=recompute, progress=progress,
                      command=command, log=log, desc="figures")
    failed = {**report.failed, **report.errors}
    rows = []
    drawn = []
    for p in panels:
        bad = [j for j in p.jobs if j.key in failed or store.state(j.key) != "done"]
        if bad:
            report.warnings.append(f"panel {p.name} not drawn: {bad[0].describe()} failed: "
                                   f"{failed.get(bad[0].key) or store.failure(bad[0].key).get('message', 'failed')}")
            continue
        _, r = write_panel(p, store, out, draw=draw, command=command)
        rows += r
        drawn.append(p.name)
    write_summary(out, rows)
    return FigureReport(panels=drawn, run=report, rows=rows, wall=time.perf_counter() - t0,
                        out=out)


def _with_dmft_options(panel: Panel, overrides: dict) -> Panel:
    curves = [replace(c, dmft=replace(c.dmft, options=c.dmft.options.replace(**overrides)))
              for c in panel.curves]
    return replace(panel, curves=curves)


def _check_drawable(panels) -> None:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        raise ParameterError("drawing the figures needs matplotlib: pip install "
                             "'gmmdmft[plot]' (or matplotlib)") from None
    from ..plot import panel as plotting  # noqa: PLC0415
    for p in panels:
        try:
            plotting.check_panel_text(p)
        except ValueError as e:
            raise ParameterError(f"panel {p.source!r}: {e}") from None


def compare(dmft: Result, sim: Result, t_max: float) -> dict:
    """Largest |DMFT - simulation| in gen_error at the simulation's times (<= t_max), matched
    to the DMFT's times; with the combined standard error there, and the largest gap over the
    second half of the horizon (long times)."""
    idx = np.clip(np.searchsorted(dmft.t, sim.t), 0, len(dmft.t) - 1)
    ok = np.isclose(dmft.t[idx], sim.t, rtol=0, atol=1e-9) & (sim.t <= t_max + 1e-9)
    if not ok.any():
        nan = float("nan")
        return dict(gap=nan, t=nan, dmft=nan, sim=nan, sem=nan, gap_late=nan, t_late=nan)
    t, ds, ss = sim.t[ok], dmft.gen_error[idx[ok]], sim.gen_error[ok]
    sem = np.sqrt(np.nan_to_num(sim.gen_error_sem[ok]) ** 2
                  + np.nan_to_num(dmft.gen_error_sem[idx[ok]]) ** 2)
    gap = np.abs(ds - ss)
    i = int(np.argmax(gap))
    late = t >= 0.5 * t_max
    j = int(np.flatnonzero(late)[np.argmax(gap[late])]) if late.any() else i
    return dict(gap=float(gap[i]), t=float(t[i]), dmft=float(ds[i]), sim=float(ss[i]),
                sem=float(sem[i]), gap_late=float(gap[j]), t_late=float(t[j]))


def _slug(text: str) -> str:
    text = text.replace("\\", "").replace("$", "")
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower() or "curve"


def write_panel(panel: Panel, store: Store, out: Path, *, draw: bool = True,
                command: str | None = None) -> tuple[dict, list[dict]]:
    """Curve files, manifest, figure (PNG + PDF) of one panel; returns (manifest, summary rows)."""
    folder = out / panel.name
    folder.mkdir(parents=True, exist_ok=True)
    data, rows, manifest_curves = [], [], []
    for i, curve in enumerate(panel.curves, 1):
        slug = f"{i:02d}-{_slug(curve.label)}"
        dres = store.load(curve.dmft.key)
        dfile = _copy_result(store, curve.dmft.key, folder / f"{slug}-dmft.csv")
        sims, sim_entries = [], []
        for d, job in curve.sims:
            sres = store.load(job.key)
            fname = _copy_result(store, job.key, folder / f"{slug}-sim-d{d}.csv")
            sims.append((d, sres))
            sim_entries.append(dict(d=d, cache_key=job.key, file=f"{panel.name}/{fname}",
                                    options=job.options.params(),
                                    error_bars=d in curve.error_bar_d,
                                    wall_time=sres.stats.get("wall_time")))
        data.append((curve, dres, sims))
        # the gap: at the d with error bars (the largest of them), else the largest d
        gap_d = max(curve.error_bar_d) if curve.error_bar_d else max(d for d, _ in sims)
        cmp = compare(dres, dict(sims)[gap_d], panel.t_max)
        z = cmp["gap"] / cmp["sem"] if cmp["sem"] > 0 else float("nan")
        rows.append(dict(panel=panel.name, curve=curve.label, d=gap_d, max_gap=cmp["gap"],
                         t_at_max_gap=cmp["t"], dmft=cmp["dmft"], simulation=cmp["sim"],
                         sem_combined=cmp["sem"], gap_over_sem=z, max_gap_late=cmp["gap_late"],
                         t_at_max_gap_late=cmp["t_late"]))
        manifest_curves.append(dict(
            label=curve.label, problem=curve.problem.params(), training=curve.training.params(),
            dmft=dict(cache_key=curve.dmft.key, file=f"{panel.name}/{dfile}",
                      options=curve.dmft.options.params(), status=dres.status,
                      message=dres.message, m0=dres.params.get("m0"),
                      wall_time=dres.stats.get("wall_time")),
            simulations=sim_entries, comparison=dict(d=gap_d, **cmp)))
    written = {f for c in manifest_curves for f in
               [c["dmft"]["file"]] + [s["file"] for s in c["simulations"]]}
    for stale in folder.iterdir():  # curve files of an earlier version of this panel
        if stale.suffix in (".csv", ".json") and stale.is_file() \
                and f"{panel.name}/{stale.with_suffix('.csv').name}" not in written:
            stale.unlink()
    ref = panel.reference_value
    manifest = dict(
        package="gmmdmft", version=__version__,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        command=command, panel=panel.name, source=panel.source, title=panel.title,
        caption=panel.caption, notes=panel.notes, quick=panel.quick, varied=panel.varied,
        t_max=panel.t_max, inset=panel.inset,
        reference=None if ref is None else dict(kind=panel.reference_label, value=ref),
        figures=[f"{panel.name}.png", f"{panel.name}.pdf"], curves=manifest_curves)
    write_atomic(out / f"{panel.name}.json", json.dumps(jsonable(manifest), indent=2) + "\n")
    if draw:
        from ..plot import panel as plotting  # noqa: PLC0415 (matplotlib only when drawing)
        plotting.draw_panel(panel, data, out / f"{panel.name}.png", out / f"{panel.name}.pdf")
    return manifest, rows


def _copy_result(store: Store, key: str, dest: Path) -> str:
    src_csv, src_json, _ = store.paths(key)
    shutil.copyfile(src_csv, dest)
    shutil.copyfile(src_json, dest.with_suffix(".json"))
    return dest.name


def write_summary(out: Path, rows: list[dict]) -> Path:
    """``OUT/summary.csv``: the given panels' rows replace theirs, other panels' rows stay."""
    path = out / "summary.csv"
    panels = {r["panel"] for r in rows}
    old = []
    if path.is_file():
        try:
            with open(path, newline="") as f:
                old = [r for r in csv.DictReader(f) if r.get("panel") not in panels]
        except (OSError, csv.Error):
            old = []
    order = {p: i for i, p in enumerate(PANELS)}
    allrows = old + rows
    allrows.sort(key=lambda r: (order.get(r["panel"], len(PANELS)), r["panel"]))
    lines = [",".join(SUMMARY_COLUMNS)]
    for r in allrows:
        vals = []
        for c in SUMMARY_COLUMNS:
            v = r.get(c, "")
            if isinstance(v, float):
                v = "nan" if math.isnan(v) else f"{v:.6g}"
            v = str(v)
            if any(ch in v for ch in ',"\n'):
                v = '"' + v.replace('"', '""') + '"'
            vals.append(v)
        lines.append(",".join(vals))
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def format_summary(rows: list[dict]) -> str:
    """The summary rows as a fixed-width table."""
    head = (f"{'panel':<11} {'curve':<28} {'d':>6} {'max gap':>8} {'at t':>6} {'sem':>8} "
            f"{'gap/sem':>7} {'late gap':>8}")
    lines = [head]
    for r in rows:
        label = r["curve"].replace("$", "").replace("\\", "")
        lines.append(f"{r['panel']:<11} {label[:28]:<28} {r['d']:>6} {r['max_gap']:>8.4f} "
                     f"{r['t_at_max_gap']:>6.1f} {r['sem_combined']:>8.4f} {r['gap_over_sem']:>7.1f} "
                     f"{r['max_gap_late']:>8.4f}")
    return "\n".join(lines)
