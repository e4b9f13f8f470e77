"""``gmmdmft finite-size``: simulations at several d, the fit x(t; d) = x_inf(t) + a(t)/d and
x_inf against the DMFT (:mod:`gmmdmft.runs.finitesize`; docs/finite-size.md)."""

from __future__ import annotations

import click

from .._fields import Spec
from ..model import Problem
from ..options import DMFTOptions, SimulationOptions
from ..result import OBSERVABLES
from ..runs.finitesize import run_finite_size
from ..training import Training
from ._app import cli, command_line, progress_wanted
from ._options import ListType, build, declared_options, merge

SIM_FIELDS = ("seed0", "every", "dtype", "seeds_together")
DMFT_FIELDS = ("samples", "response_samples", "max_iter", "tol", "seed")
EXTRA = {"ds": Spec("ints", "", lo=1), "seeds": Spec("ints", "", lo=2)}


@cli.command("finite-size")
@declared_options(Problem, Training)
@click.option("--ds", "ds", type=ListType("ints"), required=True, metavar="D1,D2,...",
              help="Dimensions to simulate (at least 2 distinct).")
@click.option("--seeds", "seeds", type=ListType("ints"), default="10", show_default=True,
              metavar="N|N1,N2,...", help="Seeds per d (one count, or one per d; >= 2).")
@declared_options(SimulationOptions, only=SIM_FIELDS)
@declared_options(DMFTOptions, only=DMFT_FIELDS)
@click.option("--no-dmft", is_flag=True, default=False, help="Do not solve the DMFT to compare.")
@click.option("--observable", type=click.Choice(OBSERVABLES), default="gen_error",
              show_default=True, help="The observable of the table and the plot.")
@click.option("--out", "out", required=True, metavar="DIR",
              help="Output directory: finite-size.csv, .json, .png and the job cache.")
@click.option("--workers", type=click.INT, default=None, metavar="N",
              help="Parallel worker processes [default: number of cores]; 1: this process.")
@click.option("--quiet", "-q", is_flag=True, default=False, help="No progress, no summary.")
@click.pass_context
def finite_size_cmd(ctx, ds, seeds, no_dmft, observable, out, workers, quiet, **flags):
    """Simulate at several d (disjoint seeds), fit x(t; d) = x_inf(t) + a(t)/d at every recorded
    time by weighted least squares, and compare x_inf with the DMFT. The 1/d law holds for
    models without the w -> -w symmetry; for symmetric ones use the m0-averaged DMFT."""
    values = merge(flags, None, (Problem, Training, SimulationOptions, DMFTOptions))
    problem, training = build(Problem, values), build(Training, values)
    sim = SimulationOptions(**{k: v for k, v in values.items() if k in SIM_FIELDS})
    dmft = None if no_dmft else DMFTOptions(**{k: v for k, v in values.items() if k in DMFT_FIELDS})
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    report = run_finite_size(problem, training, ds, seeds[0] if len(seeds) == 1 else seeds, out,
                             options=sim, dmft=dmft, name=observable, workers=workers,
                             progress=progress_wanted(quiet), command=command_line(ctx), log=log)
    if not quiet:
        s = report.result
        fit = s.fits[observable]
        click.echo(f"fit {observable}(t; d) = inf(t) + a(t)/d over d = {list(s.ds)}: mean chi^2 "
                   f"{fit.mean_chi2:.2f} for {fit.dof} degree(s) of freedom per time")
        if s.dmft is not None:
            gap, sigma, z = s.gap(observable)
            late = s.t > 0
            click.echo(f"inf - DMFT: largest |z| = {abs(z[late]).max():.2f} over {late.sum()} "
                       f"times t > 0 (largest |gap| {abs(gap[late]).max():.2g})")
    run = report.run
    log(f"{run.jobs} jobs: {run.computed} computed, {run.reused} from the cache; wrote "
        f"{', '.join(str(f) for f in report.files)}; wall time {report.wall:.1f} s")
