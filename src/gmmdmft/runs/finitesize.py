"""``gmmdmft finite-size``: simulations at several d and the DMFT as jobs of the engine, then
the 1/d fit (:mod:`gmmdmft.finitesize`; docs/finite-size.md).

Outputs in ``OUT``: ``finite-size.csv`` (per recorded time: the observable at each d with its
error, the extrapolation x_inf and the slope a with their errors, the chi^2, the DMFT and the
gap x_inf - DMFT with its z), ``finite-size.json`` (parameters, version, the summary) and
``finite-size.png`` (:mod:`gmmdmft.plot.finitesize`); the jobs are stored in ``OUT/cache``, so a
second run reuses them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import __version__
from ..finitesize import FiniteSizeResult, fit_finite_size, simulation_options, summary_rows
from ..io import check_output_dir, jsonable, write_atomic
from ..model import Problem
from ..options import DMFTOptions, SimulationOptions
from ..training import Training
from .executors import RunReport, run_jobs
from .jobs import Job
from .store import Store


@dataclass
class FiniteSizeReport:
    result: FiniteSizeResult
    run: RunReport
    files: list
    wall: float


def finite_size_jobs(problem: Problem, training: Training, ds, seeds,
                     options: SimulationOptions | None, dmft: DMFTOptions | None):
    """The simulation jobs (one per d, disjoint seeds) and the DMFT job (or None); for a model
    with the w -> -w symmetry the DMFT starts from the finite-d m0 of the largest d unless the
    options say otherwise."""
    sims = [Job("simulate", problem, training, o) for o in simulation_options(ds, seeds, options)]
    job = None
    if dmft is not None:
        if problem.symmetric and dmft.m0 is None and dmft.d is None:
            dmft = dmft.replace(d=max(o.options.d for o in sims))
        job = Job("dmft", problem, training, dmft)
    for j in sims + ([job] if job is not None else []):
        j.validate()
    return sims, job


def run_finite_size(problem: Problem, training: Training, ds, seeds, out, *,
                    options: SimulationOptions | None = None, dmft: DMFTOptions | None = None,
                    name: str = "gen_error", workers: int | None = None, draw: bool = True,
                    progress: bool | None = None, command: str | None = None,
                    log: Callable[[str], None] | None = None) -> FiniteSizeReport:
    """Run (or reuse) the jobs, fit, and write the table, the record and the plot to ``out``."""
    t0 = time.perf_counter()
    sims, dmft_job = finite_size_jobs(problem, training, ds, seeds, options, dmft)
    if draw:
        import matplotlib  # noqa: F401, PLC0415 (fails here, before any compute)
    out = check_output_dir(out, "out")
    store = Store(out / "cache")
    jobs = sims + ([dmft_job] if dmft_job is not None else [])
    report = run_jobs(jobs, store, workers=workers, progress=progress, command=command, log=log,
                      desc="finite-size")
    failed = {**report.failed, **report.errors}
    if failed:
        from .._validation import ParameterError  # noqa: PLC0415
        key, message = next(iter(failed.items()))
        raise ParameterError(f"a job of the finite-size run failed: {message}")
    result = fit_finite_size(problem, training, [store.load(j.key) for j in sims],
                             store.load(dmft_job.key) if dmft_job is not None else None)
    files = [write_atomic(out / "finite-size.csv", _table(result, name)),
             write_atomic(out / "finite-size.json", json.dumps(jsonable(dict(
                 package="gmmdmft", version=__version__, command=command,
                 created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 observable=name, params=result.params, summary=summary(result, name),
                 keys=dict(simulations=[j.key for j in sims],
                           dmft=dmft_job.key if dmft_job is not None else None))),
                 indent=2, allow_nan=False) + "\n")]
    if draw:
        from ..plot.finitesize import draw_finite_size  # noqa: PLC0415
        axes = draw_finite_size(result, name)
        files.append(write_atomic(out / "finite-size.png",
                                  lambda f: axes[0].figure.savefig(f, dpi=150, format="png")))
    return FiniteSizeReport(result=result, run=report, files=files,
                            wall=time.perf_counter() - t0)


def summary(result: FiniteSizeResult, name: str) -> dict:
    """The numbers of the closing message: the fit's mean chi^2 and, with a DMFT, the largest
    |z| of x_inf - DMFT over t > 0 and where."""
    fit = result.fits[name]
    out = dict(mean_chi2=fit.mean_chi2, dof=fit.dof, times=len(result.t))
    if result.dmft is not None:
        gap, sigma, z = result.gap(name)
        late = result.t > 0
        i = int(np.nanargmax(np.where(late, np.abs(z), -1)))
        out.update(max_abs_z=float(abs(z[i])), t_at_max_abs_z=float(result.t[i]),
                   gap_there=float(gap[i]), sigma_there=float(sigma[i]))
    return out


def _table(result: FiniteSizeResult, name: str) -> str:
    rows = summary_rows(result, name)
    cols = ["t"] + [c for d in result.ds for c in (f"{name}_d{d}", f"{name}_d{d}_sem")]
    cols += ["inf", "inf_sem", "a", "a_sem", "chi2"]
    if result.dmft is not None:
        cols += ["dmft", "gap", "sigma", "z"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        at = [v for pair in r["at_d"] for v in pair]
        rest = [r[c] for c in cols[1 + len(at):]]
        w.writerow([repr(float(v)) for v in [r["t"], *at, *rest]])
    return buf.getvalue()
