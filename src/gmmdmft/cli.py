"""Command line: ``gmmdmft simulate``, ``gmmdmft dmft``, ``gmmdmft reference`` and ``gmmdmft figure``
(the last step of the data flow).

Options are declared once, as :class:`Option` records grouped in :data:`PROBLEM_OPTIONS`,
:data:`TRAINING_OPTIONS`, :data:`SIMULATION_OPTIONS` and :data:`OUTPUT_OPTIONS`; the decorators
:func:`problem_options`, :func:`training_options`, ... turn a group into click options, and
:func:`merge_params` merges built-in defaults < ``--config FILE.toml`` < flags. Ranges are
checked in one place only, by :class:`~gmmdmft.Problem`, :class:`~gmmdmft.Training` and
:func:`~gmmdmft.simulate` (see :mod:`gmmdmft._validation`); this module only maps their
:class:`~gmmdmft.ParameterError` to a one-line message and exit code 2.

A further command (e.g. ``dmft``) reuses the groups::

    @cli.command("dmft")
    @problem_options
    @training_options
    @add_options(DMFT_OPTIONS)          # its own Option records
    @output_options
    @click.pass_context
    def dmft_cmd(ctx, config, quiet, **flags):
        params = merge_params(flags, config, PROBLEM_OPTIONS + TRAINING_OPTIONS
                              + DMFT_OPTIONS + OUTPUT_OPTIONS)
        problem, training = build_problem_training(params)
        check_output_path_option(params)
        result = ...
        emit_result(ctx, result, params, quiet)
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from . import __version__
from ._backend import BACKENDS, DEVICES
from ._validation import DivergenceError, ParameterError, check_int, check_real, one_line
from .dmft import solve_dmft
from .io import check_output_path, format_table, read_toml, sidecar_path, write_kernels, write_result
from .model import LOSSES, Problem, bayes_optimal_error, oracle_error, oracle_threshold
CLUSTERS = (2, 3)
from .simulation import DTYPES, simulate
from .training import ALGORITHMS, Training

PROG = "gmmdmft"


# --------------------------------------------------------------------------- option records
@dataclass(frozen=True)
class Option:
    """One parameter: its key (in params and in the TOML config), flag, kind, default, help.

    ``kind`` is ``"real"``, ``"int"`` or ``"str"``; ``choices`` (optional) only shapes the help
    and the click type, the allowed set itself lives in the module that validates it.
    """

    key: str
    flag: str
    kind: str
    default: Any
    help: str
    choices: tuple | None = None
    metavar: str | None = None

    def click_type(self):
        if self.choices is not None:
            return click.Choice([str(c) for c in self.choices])
        return {"real": click.FLOAT, "int": click.INT, "str": click.STRING}[self.kind]

    def click_option(self) -> Callable:
        shown = "none" if self.default is None else self.default
        return click.option(self.flag, self.key, type=self.click_type(), default=None,
                            metavar=self.metavar, help=f"{self.help} [default: {shown}]")

    def from_flag(self, value):
        """Convert a click value (choices arrive as strings) to the parameter's type."""
        if value is not None and self.choices is not None and self.kind == "int":
            return int(value)
        return value

    def check_type(self, value, where: str):
        """Type check of a config value (the range is checked later, by the dataclasses)."""
        try:
            if self.kind == "real":
                return check_real(self.key, value)
            if self.kind == "int":
                return check_int(self.key, value)
        except ParameterError as e:
            raise ParameterError(f"{e} (in {where})") from None
        if not isinstance(value, str):
            raise ParameterError(f"{self.key} = {value!r} must be a string (in {where})")
        return value


PROBLEM_OPTIONS: tuple[Option, ...] = (
    Option("clusters", "--clusters", "int", 2, "Number of clusters: 2 (linear activation) or 3 "
           "(door activation phi(h) = h^2 - L^2).", choices=CLUSTERS),
    Option("alpha", "--alpha", "real", 2.0, "Sample ratio alpha = n/d (> 0)."),
    Option("delta", "--delta", "real", 0.5, "Cluster variance Delta (> 0)."),
    Option("lam", "--lam", "real", 0.0, "Ridge strength lambda (>= 0)."),
    Option("L", "--L", "real", None, "Door width L (> 0; three clusters only, required there)."),
    Option("loss", "--loss", "str", "logistic", "Loss ell(y phi).", choices=tuple(LOSSES)),
)

TRAINING_OPTIONS: tuple[Option, ...] = (
    Option("algorithm", "--algorithm", "str", "gd", "Training algorithm.", choices=ALGORITHMS),
    Option("eta", "--eta", "real", 0.2, "Learning rate = time step eta (> 0)."),
    Option("b", "--b", "real", None, "Batch fraction b in (0, 1] (sgd, persistent-sgd; none = 1)."),
    Option("tau", "--tau", "real", None, "Persistence time tau (> 0; persistent-sgd only, "
           "with eta/tau <= 1 and eta(1-b)/(b tau) <= 1)."),
    Option("R", "--R", "real", 0.01, "Initial weight variance R: w(0) ~ N(0, R I) (>= 0)."),
    Option("t_max", "--t-max", "real", 10.0, "Time horizon (>= eta); steps = round(t_max/eta)."),
)

SIMULATION_OPTIONS: tuple[Option, ...] = (
    Option("d", "--d", "int", 500, "Input dimension d (>= 1); n = round(alpha d) samples."),
    Option("seeds", "--seeds", "int", 1, "Number of independent runs N (>= 1).", metavar="N"),
    Option("seed0", "--seed0", "int", 0, "First seed (>= 0); runs use seed0 ... seed0+N-1."),
    Option("every", "--every", "int", 1, "Record every k-th step (and the last) (>= 1).",
           metavar="K"),
    Option("dtype", "--dtype", "str", "float64", "Floating-point precision.", choices=DTYPES),
    Option("seeds_together", "--seeds-together", "int", None, "Runs advanced together, with "
           "batched products (>= 1; 1: one after the other; default: as many as fit in a quarter "
           "of the CPU cache, 1 for larger data). Does not change the results.", metavar="S"),
)

OUTPUT_OPTIONS: tuple[Option, ...] = (
    Option("out", "--out", "str", None, "CSV file to write (and FILE.json beside it); "
           "without it the table goes to standard output.", metavar="FILE.csv"),
)

SIMULATE_OPTIONS = PROBLEM_OPTIONS + TRAINING_OPTIONS + SIMULATION_OPTIONS + OUTPUT_OPTIONS

SOLVER_OPTIONS: tuple[Option, ...] = (
    Option("samples", "--samples", "int", 20000, "Draws N of the effective process per iteration (>= 2)."),
    Option("response_samples", "--response-samples", "int", 1000,
           "Draws (of the N, importance-sampled) whose responses estimate M_R (2 ... N)."),
    Option("damping", "--damping", "real", 1.0, "Kernel mixing in (0, 1]; 1 makes iterations "
           "independent replicas."),
    Option("max_iter", "--max-iter", "int", 12, "Maximum number of iterations (>= 1); the "
           "first two are burn-in."),
    Option("tol", "--tol", "real", 1e-3, "Stop when the Monte-Carlo error of gen_error is <= tol "
           "at every time (after burn-in + 4 iterations); 0 runs exactly --max-iter iterations."),
    Option("seed", "--seed", "int", 0, "Seed of the solver's random draws (>= 0)."),
    Option("m0", "--m0", "real", None, "Initial magnetisation m(0) (>= 0; three clusters need "
           "it > 0, or --d)."),
    Option("d", "--d", "int", None, "Three clusters without --m0: use m(0) = sqrt(2R/(pi d)) of "
           "dimension d."),
    Option("save_kernels", "--save-kernels", "str", None, "Also write C(t,t'), R(t,t') and the "
           "kernels M_C, M_R, lamhat, mu to this .npz file.", metavar="FILE.npz"),
    Option("device", "--device", "str", "cpu", "Where the fast iterations compute; cuda uses "
           "PyTorch (pip install 'gmmdmft[torch]').", choices=DEVICES),
    Option("backend", "--backend", "str", None, "Array library of the fast iterations (default: "
           "numpy on cpu, torch on cuda).", choices=BACKENDS),
    Option("response_dtype", "--response-dtype", "str", "float32", "Precision of the per-draw "
           "responses behind M_R (float64 makes the backends agree to rounding).",
           choices=("float32", "float64")),
)

DMFT_OPTIONS = PROBLEM_OPTIONS + TRAINING_OPTIONS + SOLVER_OPTIONS + OUTPUT_OPTIONS


def add_options(options: Sequence[Option]) -> Callable:
    """Decorator adding the click options of ``options`` (in the given order) to a command."""
    def decorate(f):
        for opt in reversed(tuple(options)):
            f = opt.click_option()(f)
        return f
    return decorate


problem_options = add_options(PROBLEM_OPTIONS)
training_options = add_options(TRAINING_OPTIONS)
simulation_options = add_options(SIMULATION_OPTIONS)


def output_options(f):
    """``--out``, ``--config FILE.toml`` and ``--quiet`` (the command gets ``config``, ``quiet``)."""
    f = click.option("--quiet", "-q", is_flag=True, default=False,
                     help="No progress bar and no closing messages (errors still print).")(f)
    f = click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     metavar="FILE.toml",
                     help="TOML file with any of the options above as keys, with underscores "
                          "(t_max, ...); flags given on the command line win.")(f)
    return add_options(OUTPUT_OPTIONS)(f)


# --------------------------------------------------------------------------- parameter merging
def load_config(path, options: Sequence[Option]) -> dict:
    """Read a TOML config; its keys must be keys of ``options`` (``-`` is read as ``_``).

    Raises :class:`ParameterError` (one line) for a missing or unreadable file, bad TOML, an
    unknown key or a value of the wrong type.
    """
    where = f"config {str(path)!r}"
    raw = read_toml(path, f"config = {str(path)!r}")
    by_key = {o.key: o for o in options}
    values: dict = {}
    for k, v in raw.items():
        key = k.replace("-", "_")
        if key not in by_key:
            allowed = ", ".join(by_key)
            raise ParameterError(f"config = {str(path)!r}: unknown key {k!r} (allowed keys: {allowed})")
        if key in values:
            raise ParameterError(f"config = {str(path)!r}: key {key!r} is given twice")
        values[key] = by_key[key].check_type(v, where)
    return values


def merge_params(flags: dict, config, options: Sequence[Option]) -> dict:
    """Parameters from built-in defaults, overridden by the config file, overridden by flags.

    ``flags`` maps option keys to click values (None where the flag was not given).
    """
    params = {o.key: o.default for o in options}
    if config is not None:
        params.update(load_config(config, options))
    for o in options:
        value = o.from_flag(flags.get(o.key))
        if value is not None:
            params[o.key] = value
    return params


def build_problem_training(params: dict) -> tuple[Problem, Training]:
    """Construct (and so validate) the :class:`Problem` and :class:`Training` of ``params``."""
    problem = Problem(clusters=params["clusters"], alpha=params["alpha"], delta=params["delta"],
                      lam=params["lam"], loss=params["loss"], L=params["L"])
    training = Training(algorithm=params["algorithm"], eta=params["eta"], t_max=params["t_max"],
                        R=params["R"], b=params["b"], tau=params["tau"])
    return problem, training


def check_output_path_option(params: dict) -> None:
    """Validate ``params['out']`` (when given) before any compute."""
    if params.get("out") is not None:
        check_output_path(params["out"])


def emit_result(ctx: click.Context, result, params: dict, quiet: bool) -> None:
    """Write ``result`` to ``params['out']`` (CSV + JSON) or the table to standard output;
    then report the wall time on standard error (unless ``quiet``)."""
    out = params.get("out")
    if out is not None:
        write_result(result, out, command=command_line(ctx))
    else:
        click.echo(format_table(result), nl=False)
    if not quiet:
        wall = result.stats.get("wall_time")
        if wall is not None:
            click.echo(f"wall time {wall:.2f} s", err=True)
        if out is not None:
            click.echo(f"wrote {out} and {sidecar_path(out)}", err=True)


def command_line(ctx: click.Context) -> str:
    argv = (ctx.find_root().obj or {}).get("argv", [])
    return " ".join(shlex.quote(a) for a in [PROG, *argv])


def progress_wanted(quiet: bool) -> bool | None:
    """Progress bar: never with --quiet or when standard error is not a terminal."""
    if quiet or not sys.stderr.isatty():
        return False
    return None  # simulate() shows it for runs longer than ~2 s


# --------------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
def cli():
    """Learning curves of GD / SGD / persistent SGD on high-dimensional Gaussian mixtures
    (Mignacco, Krzakala, Urbani, Zdeborova, NeurIPS 2020)."""


@cli.command("simulate")
@problem_options
@training_options
@simulation_options
@output_options
@click.pass_context
def simulate_cmd(ctx, config, quiet, **flags):
    """Simulate the training algorithm at finite d and write the averaged learning curves."""
    params = merge_params(flags, config, SIMULATE_OPTIONS)
    problem, training = build_problem_training(params)
    check_output_path_option(params)
    # overflow on the way to a divergence is reported by DivergenceError, not by numpy warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = simulate(problem, training, d=params["d"], seeds=params["seeds"],
                          seed0=params["seed0"], every=params["every"], dtype=params["dtype"],
                          seeds_together=params["seeds_together"], progress=progress_wanted(quiet))
    emit_result(ctx, result, params, quiet)


@cli.command("dmft")
@problem_options
@training_options
@add_options(SOLVER_OPTIONS)
@output_options
@click.pass_context
def dmft_cmd(ctx, config, quiet, **flags):
    """Solve the DMFT equations (d -> infinity) and write the learning curves; the *_sem columns
    hold the solver's Monte-Carlo error."""
    params = merge_params(flags, config, DMFT_OPTIONS)
    problem, training = build_problem_training(params)
    check_output_path_option(params)
    if params["save_kernels"] is not None:
        check_output_path(params["save_kernels"], name="save_kernels")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = solve_dmft(problem, training, samples=params["samples"],
                            response_samples=params["response_samples"], damping=params["damping"],
                            max_iter=params["max_iter"], tol=params["tol"], seed=params["seed"],
                            m0=params["m0"], d=params["d"],
                            return_kernels=params["save_kernels"] is not None,
                            progress=progress_wanted(quiet), backend=params["backend"],
                            device=params["device"], G_dtype=params["response_dtype"])
    if params["save_kernels"] is not None:
        write_kernels(result, params["save_kernels"])
    emit_result(ctx, result, params, quiet)
    if not result.success:
        error_line = f"{PROG}: warning: {result.message}"
        click.echo(error_line, err=True)


_REFERENCE_OPTIONS = tuple(o for o in PROBLEM_OPTIONS if o.key in ("clusters", "alpha", "delta"))


@cli.command("reference")
@add_options(_REFERENCE_OPTIONS)
def reference_cmd(**flags):
    """Print the Bayes-optimal error (two clusters) or the oracle error and threshold (three
    clusters; alpha is not used)."""
    params = merge_params(flags, None, _REFERENCE_OPTIONS)
    delta = params["delta"]
    if params["clusters"] == 2:
        alpha = params["alpha"]
        err = bayes_optimal_error(alpha, delta)
        click.echo(f"Bayes-optimal error (two clusters, alpha = {alpha:g}, delta = {delta:g}): "
                   f"{err!r}")
    else:
        err, u = oracle_error(delta), oracle_threshold(delta)
        click.echo(f"oracle error (three clusters, delta = {delta:g}): {err!r}")
        click.echo(f"oracle threshold u* (y = +1 iff |u| > u*, u ~ N(c, delta)): {u!r}")


@cli.command("figure")
@click.argument("which", required=False, metavar="[{1,2,3,4,all}]")
@click.option("--panel", "panel_files", multiple=True, metavar="FILE.toml",
              type=click.Path(path_type=Path),
              help="Draw the panel defined in FILE.toml (copy one of gmmdmft/panels/*.toml and "
                   "change it); may be repeated, and combined with a figure number.")
@click.option("--quick", is_flag=True, default=False,
              help="Reduced horizons, d, seeds and DMFT draws (each panel's [quick] table): "
                   "all 8 panels in a few minutes.")
@click.option("--out", "out", default="figures", show_default=True, metavar="DIR",
              help="Output directory (created when missing); the cache is DIR/cache.")
@click.option("--recompute", is_flag=True, default=False,
              help="Ignore the cache: compute every curve again (and overwrite its cache entry).")
@click.option("--workers", type=click.INT, default=None, metavar="N",
              help="Parallel worker processes (>= 1) [default: number of cores]; 1 runs in "
                   "this process.")
@click.option("--quiet", "-q", is_flag=True, default=False,
              help="No progress bar, no summary table (errors still print).")
@click.pass_context
def figure_cmd(ctx, which, panel_files, quick, out, recompute, workers, quiet):
    """Reproduce the panels of the paper's Figs. 1-4: PNG + PDF per panel, each curve's CSV +
    JSON, a manifest per panel and DIR/summary.csv (largest |DMFT - simulation| gap).

    Curves are cached by a hash of their parameters and the package version: a second run
    reuses them, and an interrupted run resumes where it stopped."""
    from . import figures  # noqa: PLC0415

    if which is not None and which not in figures.FIGURES:
        raise ParameterError(f"figure = {which!r} is not one of: 1, 2, 3, 4, all")
    if which is None and not panel_files:
        raise ParameterError("no figure given: use gmmdmft figure {1,2,3,4,all} or --panel FILE.toml")
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    report = figures.make_figures(
        (which,) if which is not None else (), panel_files, out=out, quick=quick,
        recompute=recompute, workers=workers, progress=progress_wanted(quiet),
        command=command_line(ctx), log=log)
    run = report.run
    for w in run.warnings:
        click.echo(f"{PROG}: warning: {w}", err=True)
    if not quiet:
        click.echo(figures.format_summary(report.rows))
    log(f"{run.jobs} jobs: {run.computed} computed, {run.reused} from the cache; "
        f"wall time {report.wall:.1f} s; wrote {len(report.panels)} panel(s) to {report.out}")


# --------------------------------------------------------------------------- entry point

def error(message: str) -> None:
    """Print ``gmmdmft: error: MESSAGE`` as one line on standard error."""
    click.echo(f"{PROG}: error: {one_line(message)}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI; every user error is one line on stderr and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = cli.main(args=args, prog_name=PROG, standalone_mode=False, obj={"argv": args})
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())
        rc = 0
    except click.exceptions.Abort:
        error("interrupted")
        rc = 130
    except click.ClickException as e:
        error(e.format_message())
        rc = 2
    except (ParameterError, DivergenceError) as e:
        error(str(e))
        rc = 2
    except MemoryError:
        error("out of memory: lower d, alpha or seeds, or use --dtype float32")
        rc = 2
    except BrokenPipeError:
        rc = 0
    except KeyboardInterrupt:
        error("interrupted")
        rc = 130
    sys.exit(rc if isinstance(rc, int) else 0)


from . import cli_sweep  # noqa: E402,F401  (registers the sweep and plot-sweep commands)


if __name__ == "__main__":  # pragma: no cover
    main()
