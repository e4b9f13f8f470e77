"""``gmmdmft figure``: the paper's panels through the job engine (:mod:`gmmdmft.runs.figures`)."""

from __future__ import annotations

from pathlib import Path

import click

from .._validation import ParameterError
from ..options import DMFTOptions
from ..runs import figures
from ..runs.panels import FIGURES
from ._app import PROG, cli, command_line, progress_wanted, warn
from ._options import declared_options

ENGINE_OPTIONS = ("backend", "device")


@cli.command("figure")
@click.argument("which", required=False, metavar="[{1,2,3,4,all}]")
@click.option("--panel", "panel_files", multiple=True, metavar="FILE.toml",
              type=click.Path(path_type=Path),
              help="Draw the panel defined in FILE.toml (copy one of gmmdmft/panels/*.toml and "
                   "change it); may be repeated, and combined with a figure number.")
@click.option("--quick", is_flag=True, default=False,
              help="Reduced horizons, d, seeds and DMFT draws (each panel's [quick] table): "
                   "all 8 panels in seconds.")
@click.option("--out", "out", default="figures", show_default=True, metavar="DIR",
              help="Output directory (created when missing); the cache is DIR/cache.")
@click.option("--recompute", is_flag=True, default=False,
              help="Ignore the cache: compute every curve again (and overwrite its cache entry).")
@click.option("--workers", type=click.INT, default=None, metavar="N",
              help="Parallel worker processes (>= 1) [default: number of cores]; 1 runs in "
                   "this process.")
@declared_options(DMFTOptions, only=ENGINE_OPTIONS)
@click.option("--quiet", "-q", is_flag=True, default=False,
              help="No progress, no summary table (errors still print).")
@click.pass_context
def figure_cmd(ctx, which, panel_files, quick, out, recompute, workers, quiet, **engine):
    """Reproduce the panels of the paper's Figs. 1-4: PNG + PDF per panel, each curve's CSV +
    JSON, a manifest per panel and DIR/summary.csv (largest |DMFT - simulation| gap).

    Curves are cached by their content key (method, parameters, package version): a second
    run reuses them, and an interrupted run resumes where it stopped. --backend and --device
    apply to every DMFT curve (they do not change the cache keys)."""
    if which is not None and which not in FIGURES:
        raise ParameterError(f"figure = {which!r} is not one of: 1, 2, 3, 4, all")
    if which is None and not panel_files:
        raise ParameterError("no figure given: use gmmdmft figure {1,2,3,4,all} or --panel FILE.toml")
    overrides = {k: v for k, v in engine.items() if v is not None}
    if overrides:
        DMFTOptions(**overrides)  # checked before any compute
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    report = figures.make_figures(
        (which,) if which is not None else (), panel_files, out=out, quick=quick,
        recompute=recompute, workers=workers, overrides=overrides,
        progress=progress_wanted(quiet), command=command_line(ctx), log=log)
    run = report.run
    for w in run.warnings:
        warn(w)
    if not quiet:
        click.echo(figures.format_summary(report.rows))
    log(f"{run.jobs} jobs: {run.computed} computed, {run.reused} from the cache; "
        f"wall time {report.wall:.1f} s; wrote {len(report.panels)} panel(s) to {report.out}")
    if run.failed or run.errors:
        click.echo(f"{PROG}: error: {len(run.failed) + len(run.errors)} job(s) failed; the "
                   "panels that need them were not drawn", err=True)
        raise click.exceptions.Exit(1)
