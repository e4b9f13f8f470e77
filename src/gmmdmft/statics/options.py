"""The options of :func:`gmmdmft.solve_erm`, declared like the other methods' options (see
:mod:`gmmdmft._fields`): the API keywords and, through the same records, command-line flags
and TOML keys."""

from __future__ import annotations

from dataclasses import dataclass

from .._fields import Declared, param


@dataclass(frozen=True)
class ERMOptions(Declared):
    """Options of the static solver (:func:`gmmdmft.solve_erm`; docs/statics.md, "The fixed
    point" and "Quadrature")."""

    what = "ERM option"

    tol: float = param(1e-12, "real", "Relative residual |F(x) - x| of (m, q, V) at which the "
                       "fixed-point iteration stops.", lo=0, lo_open=True)
    max_iter: int = param(20000, "int", "Maximum number of evaluations of the fixed-point map.",
                          lo=1, hi=10**8)
    damping: float = param(1.0, "real", "Initial step beta of the damped iteration "
                           "x <- x + beta (F(x) - x).", lo=0, hi=1, lo_open=True)
    panels: int = param(40, "int", "Initial number of quadrature panels on xi in [-10, 10] "
                        "(doubled until two rules agree to quad_tol).", lo=1, hi=10**5)
    quad_tol: float = param(1e-10, "real", "Accepted relative change of the fixed-point map "
                            "when the quadrature is refined.", lo=0, lo_open=True)
