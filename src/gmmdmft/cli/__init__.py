"""The command line (the last step of the data flow): one module per command, flags generated
from the declared parameters (:mod:`gmmdmft.cli._options`).

``gmmdmft simulate | dmft | reference`` (:mod:`.run`), ``figure`` (:mod:`.figure`), ``sweep``
and ``plot-sweep`` (:mod:`.sweep`); :func:`main` is the console entry point.
"""

from . import figure, run, sweep  # noqa: F401 (each registers its commands on the group)
from ._app import PROG, cli, main

__all__ = ["PROG", "cli", "main"]
