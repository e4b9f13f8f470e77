"""``gmmdmft erm``: the static theory (docs/statics.md) -- the ridge minimiser of the empirical
risk as d -> infinity, or with ``--max-margin`` the max-margin classifier and the separability
threshold alpha*(Delta) -- with the flags of :class:`~gmmdmft.Problem` and
:class:`~gmmdmft.statics.ERMOptions`."""

from __future__ import annotations

import json

import click

from ..model import Problem
from ..statics import ERMOptions, max_margin, solve_erm
from ._app import cli, config_option, warn
from ._options import build, declared_options, merge

#: the order of the plain-text report (every other attribute is in ``--json``)
SHOWN = ("gen_error", "m", "q", "rho", "V", "train_loss", "train_accuracy", "kappa",
         "support_fraction", "alpha_star", "residual", "iterations", "status", "message")


@cli.command("erm")
@declared_options(Problem, ERMOptions)
@click.option("--max-margin", "max_margin_", is_flag=True, default=False,
              help="The max-margin classifier (the lam -> 0+ direction on separable data, where "
                   "GD on the logistic or exponential loss at lam = 0 goes) and alpha*(Delta) "
                   "instead of the ridge minimiser; lam and the loss play no role.")
@click.option("--json", "as_json", is_flag=True, default=False,
              help="Print the result as one JSON object (keys gen_error, m, q, ..., params).")
@config_option
def erm_cmd(max_margin_, as_json, config, **flags):
    """The t -> infinity limit of full-batch GD as d -> infinity: the minimiser of the
    regularised empirical risk (replica / CGMT fixed point; closed form for the square loss),
    for a linear output and a convex loss. Milliseconds; no Monte Carlo."""
    values = merge(flags, config, (Problem, ERMOptions))
    problem = build(Problem, values)
    if max_margin_:
        result = max_margin(problem)
    else:
        result = solve_erm(problem, build(ERMOptions, values))
    data = result.as_dict()
    if as_json:
        click.echo(json.dumps(data))
    else:
        what = "max-margin classifier" if max_margin_ else f"ERM ({data.get('method')})"
        model = ", ".join(f"{k} = {v}" for k, v in problem.params().items())
        click.echo(f"# {what}: {model}")
        for key in SHOWN:
            if key in data:
                click.echo(f"{key} = {data[key]!r}")
    if not getattr(result, "success", True):
        warn(result.message)
