"""The click group, the entry point and what every command shares (the last step of the data
flow: nothing below imports the CLI).

Every user error is one line ``gmmdmft: error: ...`` on standard error and exit code 2, before
any compute and with no file written; the numerics raise :class:`~gmmdmft.ParameterError` (or
:class:`~gmmdmft.DivergenceError`) with that line, and :func:`main` prints it.
"""

from __future__ import annotations

import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Sequence

import click

from .. import __version__
from .._fields import Spec
from .._validation import DivergenceError, ParameterError, one_line
from ..io import check_output_path, format_table, write_result

PROG = "gmmdmft"
_showwarning = warnings.showwarning

OUT = {"out": Spec("str", "File to write: FILE.csv (and FILE.json beside it) or FILE.npz (one "
                   "self-describing file with the two-time functions); without it the table "
                   "goes to standard output.", optional=True, metavar="FILE.csv|FILE.npz")}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
def cli():
    """Learning curves of GD / SGD / persistent SGD on high-dimensional Gaussian mixtures
    (Mignacco, Krzakala, Urbani, Zdeborova, NeurIPS 2020)."""


def config_option(f):
    """``--config FILE.toml`` (the command gets ``config``)."""
    return click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, metavar="FILE.toml",
                        help="TOML file with any of the options above as keys, with underscores "
                             "(t_max, ...); flags given on the command line win.")(f)


def output_options(f):
    """``--out``, ``--config FILE.toml`` and ``--quiet`` (the command gets ``out``, ``config``,
    ``quiet``)."""
    f = click.option("--quiet", "-q", is_flag=True, default=False,
                     help="No progress bar and no closing messages (errors still print).")(f)
    f = config_option(f)
    return click.option("--out", "out", default=None, metavar=OUT["out"].metavar,
                        help=OUT["out"].help)(f)


def check_output(values: dict) -> None:
    """Validate ``values['out']`` (when given) before any compute."""
    if values.get("out") is not None:
        check_output_path(values["out"])


def emit_result(ctx: click.Context, result, values: dict, quiet: bool) -> None:
    """Write ``result`` to ``values['out']`` (CSV + JSON) or the table to standard output; then
    report the wall time on standard error (unless ``quiet``)."""
    out = values.get("out")
    written = ()
    if out is not None:
        written = [p for p in write_result(result, out, command=command_line(ctx)) if p]
    else:
        click.echo(format_table(result), nl=False)
    if not quiet:
        wall = result.stats.get("wall_time")
        if wall is not None:
            click.echo(f"wall time {wall:.2f} s", err=True)
        if written:
            click.echo("wrote " + " and ".join(str(p) for p in written), err=True)


def command_line(ctx: click.Context) -> str:
    argv = (ctx.find_root().obj or {}).get("argv", [])
    return " ".join(shlex.quote(a) for a in [PROG, *argv])


def progress_wanted(quiet: bool) -> bool | None:
    """None (a bar on a terminal for runs longer than ~2 s, else a one-line record every 30 s:
    see :mod:`gmmdmft._progress`), or False with ``--quiet``."""
    return False if quiet else None


def warn(message: str) -> None:
    click.echo(f"{PROG}: warning: {one_line(message)}", err=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The package's warnings (e.g. a clipped batch chain) as one ``gmmdmft: warning:`` line;
    other libraries' warnings as Python prints them."""
    if issubclass(category, UserWarning) and "gmmdmft" in str(filename):
        warn(str(message))
    else:
        _showwarning(message, category, filename, lineno, file, line)


def error(message: str) -> None:
    """Print ``gmmdmft: error: MESSAGE`` as one line on standard error."""
    click.echo(f"{PROG}: error: {one_line(message)}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI; every user error is one line on stderr and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _one_line_warning
    if os.getcwd() not in sys.path and "" not in sys.path:
        # plug-ins "module:attr" of the working directory import as under python -m gmmdmft
        # (spawned workers inherit this path)
        sys.path.insert(0, os.getcwd())
    try:
        rc = cli.main(args=args, prog_name=PROG, standalone_mode=False, obj={"argv": args})
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())
        rc = 0
    except (click.exceptions.Abort, KeyboardInterrupt):
        error("interrupted")
        rc = 130
    except click.ClickException as e:
        error(e.format_message())
        rc = 2
    except (ParameterError, DivergenceError) as e:
        error(str(e))
        rc = 2
    except MemoryError:
        error("out of memory: lower the size of the computation (d, alpha, seeds, samples or "
              "t_max)")
        rc = 2
    except BrokenPipeError:
        rc = 0
    sys.exit(rc if isinstance(rc, int) else 0)
