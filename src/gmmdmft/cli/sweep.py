"""``gmmdmft sweep`` and ``gmmdmft plot-sweep``: parameter sweeps through the job engine
(:mod:`gmmdmft.runs.sweeps`). Bad specs and bad options are one-line errors before any compute.
"""

from __future__ import annotations

from pathlib import Path

import click

from .._validation import ParameterError
from ..options import DMFTOptions
from ..runs import sweeps as _sweep
from ..runs.summaries import SUMMARIES
from ._app import PROG, cli, command_line, progress_wanted
from ._options import declared_options

SHOWN_FAILURES = 5


@cli.command("sweep")
@click.argument("spec_file", metavar="SPEC.toml", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, metavar="DIR",
              help="Output directory (created when missing): DIR/sweep.csv, DIR/sweep.parquet, "
                   "DIR/sweep.json and one CSV + JSON per point in DIR/points/.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Submit every point to this Dask scheduler (tcp://host:port); needs "
                   "gmmdmft[sweep] here and gmmdmft on the workers.")
@click.option("--local-workers", "workers", type=click.INT, default=None, metavar="N",
              help="Local worker processes, one BLAS thread each (>= 1) [default: number of "
                   "cores]; 1 runs in this process.")
@click.option("--retries", type=click.INT, default=2, show_default=True, metavar="K",
              help="Run a point again up to K times when its worker fails (not for divergence "
                   "or bad parameters: those are recorded as failed).")
@click.option("--retry-failed", is_flag=True, default=False,
              help="Also recompute the points recorded as failed by an earlier run.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a spec entry, TOML syntax with dotted keys (base.t_max=5, "
                   "dmft.samples=2000, vary.b=[0.3,0.5], method='simulate'); may be repeated.")
@click.option("--dry-run", is_flag=True, default=False,
              help="Validate the spec, list the points and what is already done; compute nothing.")
@declared_options(DMFTOptions, only=("backend", "device"))
@click.option("--quiet", "-q", is_flag=True, default=False,
              help="No progress bar and no closing messages (errors still print).")
@click.pass_context
def sweep_cmd(ctx, spec_file, out, scheduler, workers, retries, retry_failed, overrides,
              dry_run, quiet, **engine):
    """Run a parameter sweep: every point of SPEC.toml by DMFT and/or simulation, locally or on
    a Dask cluster, with one row per point (summaries of each learning curve) in DIR/sweep.csv
    and DIR/sweep.parquet.

    Finished points are stored at once (content-addressed by parameters and package version):
    an interrupted sweep resumes with the same command, which computes only what is missing.
    --backend and --device apply to every DMFT point (they do not change the keys).
    """
    if scheduler is not None and workers is not None:
        raise ParameterError("--scheduler and --local-workers exclude each other: the scheduler's "
                             "cluster decides the workers")
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    spec = _sweep.load_spec(spec_file, overrides)
    engine = {k: v for k, v in engine.items() if v is not None}
    if engine:
        DMFTOptions(**engine)  # checked before any compute
    if dry_run:
        points = _sweep.expand(spec)
        for p in points:
            if p.invalid is not None:
                state = "invalid: " + p.invalid
            else:
                state = _sweep.point_state(out, p) or "to compute"
            click.echo(f"{p.describe()}  [{state}]  {p.key[:12]}")
        click.echo(f"{len(points)} points")
        return
    report = _sweep.run_sweep(spec, out, scheduler=scheduler, workers=workers, retries=retries,
                              retry_failed=retry_failed, overrides=engine,
                              progress=progress_wanted(quiet), command=command_line(ctx), log=log)
    bad = [r for r in report.rows if r["status"] in ("failed", "error")]
    for r in bad[:SHOWN_FAILURES]:
        click.echo(f"{PROG}: warning: point {r['index']} ({r['method']}) {r['status']}: "
                   f"{r['message']}", err=True)
    if len(bad) > SHOWN_FAILURES:
        click.echo(f"{PROG}: warning: ... and {len(bad) - SHOWN_FAILURES} more failed points "
                   "(see the status and message columns)", err=True)
    if not quiet:
        click.echo(format_rows(report.rows, spec))
    log(f"{report.points} points: {report.computed} computed, {report.reused} reused, "
        f"{report.failed} failed, {report.skipped} skipped, {report.not_converged} not "
        f"converged, {report.errors} errors; wall time {report.wall:.1f} s {report.engine}")
    log("wrote " + ", ".join(str(f) for f in report.files))
    if report.errors:
        raise click.exceptions.Exit(1)


def format_rows(rows, spec) -> str:
    """A short aligned text table: index, varied parameters, method, main summaries, status."""
    cols = ["index", *spec.vary, "method"]
    cols += [c for s in spec.summaries for c in SUMMARIES[s] if not c.endswith("_sem")]
    cols += ["status"]

    def cell(v):
        if isinstance(v, float):
            return f"{v:.5g}"
        return "" if v is None else str(v)

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in table)


@cli.command("plot-sweep")
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--out", "file", default=None, metavar="FILE.png",
              help="Image to write (the format follows the suffix) [default: DIR/sweep.png].")
@click.option("--summary", "summaries", multiple=True, metavar="NAME",
              help="Summary column to draw (e.g. min_gen_error, t_min_gen_error, "
                   "final_gen_error, final_norm); may be repeated [default: min_gen_error and "
                   "final_gen_error].")
@click.option("--quiet", "-q", is_flag=True, default=False, help="No closing message.")
def plot_sweep_cmd(out_dir, file, summaries, quiet):
    """Draw the phase diagram of a sweep: a heat map over two varied parameters, lines over one
    (one panel per summary, and per method when the sweep has both)."""
    from ..plot.sweep import plot_sweep  # noqa: PLC0415 (matplotlib only to draw)

    path = plot_sweep(out_dir, file, summaries)
    if not quiet:
        click.echo(f"wrote {path}", err=True)
