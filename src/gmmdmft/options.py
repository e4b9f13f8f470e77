"""The options of each method, one frozen validated object per method (see :mod:`gmmdmft._fields`).

:class:`SimulationOptions` (for :func:`gmmdmft.simulate`) and :class:`DMFTOptions` (for
:func:`gmmdmft.solve_dmft`) are the single source of the options' names, types, ranges,
defaults and help: the API keywords, the command-line flags, the TOML keys of configs, panels
and sweep specs and the content key of a computation are all generated from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._backend import BACKENDS, DEVICES
from ._fields import Declared, param
from ._validation import ParameterError

DTYPES = ("float64", "float32")
# quadrature nodes of m0_average by default (docs/finite-size.md, "Quadrature": the convergence
# check that chose them)
M0_NODES_SYMMETRIC = 10
M0_NODES_OTHER = 3
MAX_M0_NODES = 64


@dataclass(frozen=True)
class SimulationOptions(Declared):
    """Options of the finite-d simulation (:func:`gmmdmft.simulate`)."""

    what = "simulation option"

    d: int = param(500, "int", "Input dimension d; n = round(alpha d) samples.", lo=1)
    seeds: int = param(1, "int", "Number of independent runs (data, initialisation, batches).",
                       lo=1, hi=10**6, metavar="N")
    seed0: int = param(0, "int", "First seed; runs use seed0 ... seed0+N-1.", lo=0,
                       hi=2**32)
    every: int = param(1, "int", "Record every k-th step (and the last).", lo=1, metavar="K")
    dtype: str = param("float64", "choice", "Floating-point precision of the data and weights.",
                       choices=DTYPES)
    seeds_together: int | None = param(
        None, "int", "Runs advanced together, with batched products (1: one after the other; "
        "default: as many as fit in a quarter of the CPU cache, 1 for larger data). Does not "
        "change the results.", lo=1, optional=True, key=False, metavar="S")
    two_time: bool = param(False, "bool", "Also record C(t, t') = w(t).w(t')/d at the recorded "
                           "times (mean and error over seeds) and each seed's curves "
                           "(memory: recorded times x d per seed).", key=True)
    eta_limit: bool = param(False, "bool", "Extrapolate to the flow limit eta -> 0 from runs at "
                            "eta, eta/2, ..., eta/2^(eta_ladder-1) (each with its own seeds; "
                            "gd and persistent-sgd only).")
    eta_ladder: int = param(3, "int", "Number of step sizes of the eta -> 0 ladder (>= 3: the "
                            "order is measured on the finest three).", lo=3, hi=12)

    def _check(self):
        if not self.eta_limit:
            return
        if self.two_time:
            raise ParameterError("two_time = true is not available with eta_limit (C(t, t') is "
                                 "not extrapolated): use one of them")
        top = self.seed0 + (self.eta_ladder - 1) * self.seeds  # first seed of the finest rung
        hi = self.specs()["seed0"][1].hi
        if top > hi:
            raise ParameterError(f"seed0 = {self.seed0} is out of range with eta_limit: rung j "
                                 f"starts at seed0 + j seeds, which must be <= {hi}")


@dataclass(frozen=True)
class DMFTOptions(Declared):
    """Options of the DMFT solver (:func:`gmmdmft.solve_dmft`; docs/theory.md, "Solver")."""

    what = "DMFT option"

    samples: int = param(20000, "int", "Draws N of the effective process per iteration "
                         "(rounded up to even).", lo=2, hi=10**9)
    response_samples: int = param(1000, "int", "Draws (of the N, importance-sampled) whose "
                                  "responses estimate M_R with response = propagate (2 ... N).",
                                  lo=2)
    damping: float = param(1.0, "real", "Kernel mixing in (0, 1]; 1 makes iterations "
                           "independent replicas.", lo=0, hi=1, lo_open=True)
    max_iter: int = param(12, "int", "Maximum number of iterations; the first two are burn-in.",
                          lo=1, hi=10**6)
    tol: float = param(1e-3, "real", "Stop when the Monte-Carlo error of gen_error is <= tol at "
                       "every time (after burn-in + 4 iterations); 0 runs exactly max_iter.",
                       lo=0)
    seed: int = param(0, "int", "Seed of the solver's random draws.", lo=0, hi=2**32)
    m0: float | None = param(None, "real", "Initial magnetisation m(0), |m0| <= sqrt(R) (models "
                             "with the w -> -w symmetry need it > 0, or d).", optional=True,
                             shown_default="0, or sqrt(2R/(pi d)) for symmetric models")
    d: int | None = param(None, "int", "Dimension d of the finite-d m(0) ~ N(0, R/d): for models "
                          "with the w -> -w symmetry, without m0, the DMFT starts from "
                          "sqrt(2R/(pi d)); m0_average averages over that law.", lo=1,
                          optional=True)
    m0_average: bool = param(False, "bool", "Average the curves over the law of m(0) ~ N(0, R/d) "
                             "at dimension d (needs d): of |m(0)| for models with the w -> -w "
                             "symmetry, of the signed m(0) otherwise; adds the spread across "
                             "the law, the predicted seed-to-seed standard deviation "
                             "(docs/finite-size.md).")
    m0_nodes: int | None = param(None, "int", "Quadrature nodes K of m0_average (Gauss-Legendre "
                                 "in the CDF of |m(0)| for symmetric models, Gauss-Hermite in "
                                 "m(0) otherwise); the K solves share samples and "
                                 "response_samples (equally for symmetric models, by weight "
                                 "otherwise).", lo=1,
                                 hi=MAX_M0_NODES, optional=True, metavar="K",
                                 shown_default=f"{M0_NODES_SYMMETRIC} for symmetric models, "
                                 f"{M0_NODES_OTHER} otherwise")
    response_dtype: str = param("float32", "choice", "Precision of the per-draw responses "
                                "behind M_R and of the stored h and noise paths of the fast "
                                "iterations (float64 makes the backends agree to rounding).",
                                choices=DTYPES)
    response: str = param("probe", "choice", "Estimate of M_R: probe (random-sign tangents of "
                          "all draws, cost ~ samples T^2) or propagate (the full responses of "
                          "response_samples draws, ~ response_samples T^3).",
                          choices=("probe", "propagate"))
    lagged: bool = param(True, "bool", "Iterations after the first run under the previous M_C "
                         "and M_R (matrix products); false: all-causal sweeps (slow cross-check).")
    backend: str | None = param(None, "choice", "Array library of the fast iterations.",
                                choices=BACKENDS, optional=True, key=False,
                                shown_default="numpy on cpu, torch on cuda")
    device: str = param("cpu", "choice", "Where the fast iterations compute; cuda uses PyTorch "
                        "(pip install 'gmmdmft[torch]').", choices=DEVICES, key=False)
    eta_limit: bool = param(False, "bool", "Extrapolate to the flow limit eta -> 0 from solves at "
                            "eta, eta/2, ..., eta/2^(eta_ladder-1) (Richardson with the measured "
                            "order; gd and persistent-sgd only).")
    eta_ladder: int = param(3, "int", "Number of step sizes of the eta -> 0 ladder (>= 3: the "
                            "order is measured on the finest three).", lo=3, hi=12)

    def _check(self):
        samples = self.samples + self.samples % 2
        self._set("samples", samples)
        if self.response_samples > samples:
            raise ParameterError(f"response_samples = {self.response_samples} is out of range: "
                                 f"must be <= samples = {samples}")
        if self.m0_average:
            if self.d is None:
                raise ParameterError("m0_average needs d: the law m(0) ~ N(0, R/d) it averages "
                                     "over is that of dimension d")
            if self.m0 is not None:
                raise ParameterError(f"m0 = {self.m0:g} and m0_average exclude each other: "
                                     "m0_average averages over the law of m(0) at dimension d")
        elif self.m0_nodes is not None:
            raise ParameterError(f"m0_nodes = {self.m0_nodes} is not used without m0_average; "
                                 "omit it, or set m0_average")
        if self.device == "cuda" and self.backend == "numpy":
            raise ParameterError("device = 'cuda' needs backend = 'torch' (numpy runs on the cpu only)")

    def initial_m0(self, problem, training) -> float:
        """m(0) of the DMFT: ``m0`` when given, else for a model with the w -> -w symmetry
        (problem.symmetric) the finite-d mean |m(0)| = sqrt(2 R / (pi d)) of dimension ``d``,
        else 0 (docs/theory.md, "Symmetry"). Raises ParameterError when the rule cannot be
        met (a symmetric model without m0 or d, m0 <= 0 there, |m0| > sqrt(R), d for a model
        that does not use it, or m0_average, whose curves come from many m0:
        :func:`gmmdmft.dmft.solve_dmft_m0_average`)."""
        R = training.R
        if self.m0_average:
            raise ParameterError("m0_average = true averages solves at many m0 (solve it with "
                                 "gmmdmft.dmft.solve_dmft_m0_average); a single solve needs "
                                 "m0_average = false")
        if self.m0 is not None and self.d is not None:
            raise ParameterError(f"m0 = {self.m0:g} and d = {self.d} exclude each other: d only "
                                 "sets the default m0 = sqrt(2R/(pi d))")
        if self.m0 is None:
            if problem.symmetric:
                if self.d is None:
                    raise ParameterError(
                        "m0 is missing: this model is symmetric under w -> -w (an even output "
                        "and a mixture symmetric under c -> -c), so the DMFT needs an initial "
                        "magnetisation m0 > 0 (give m0, or d to use sqrt(2R/(pi d)))")
                check_symmetric_R(R)
                return finite_d_m0(R, self.d)
            if self.d is not None:
                raise ParameterError(
                    f"d = {self.d} is not used: only models with the w -> -w symmetry start the "
                    "DMFT from the finite-d m(0) (this one starts from m0 = 0); omit d, or "
                    "average over the law of m(0) with m0_average")
            return 0.0
        if problem.symmetric and self.m0 <= 0.0:
            raise ParameterError(f"m0 = {self.m0:g} is out of range for a model symmetric under "
                                 "w -> -w: must be > 0 (m = 0 is a fixed point, and the sign "
                                 "of m0 does not matter)")
        if self.m0 * self.m0 > R:
            raise ParameterError(f"m0 = {self.m0:g} is out of range: must be in [-sqrt(R), "
                                 f"sqrt(R)] = [{-math.sqrt(R):g}, {math.sqrt(R):g}]")
        return self.m0


def check_symmetric_R(R: float) -> None:
    """A model symmetric under w -> -w needs R > 0: its finite-d m(0) ~ N(0, R/d) is what
    breaks the symmetry (docs/theory.md, "Symmetry")."""
    if R == 0:
        raise ParameterError("R = 0 is out of range for a model symmetric under w -> -w: its "
                             "DMFT starts from the finite-d m(0) ~ N(0, R/d), which must not "
                             "vanish")


def finite_d_m0(R: float, d: int) -> float:
    """E|m(0)| = sqrt(2 R / (pi d)) for w(0) ~ N(0, R I_d) (docs/theory.md, "Symmetry")."""
    return math.sqrt(2.0 * R / (math.pi * d))
