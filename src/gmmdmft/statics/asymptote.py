"""The t -> infinity level of a GD learning curve, where the static theory gives one
(docs/statics.md, "Usage"): the line a plot draws and the summary compares eps(t_max) with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import ParameterError, check_instance
from ..model import Linear, Problem, Square
from ..model.loss import PROBE, is_convex
from ..training import Training
from .erm import solve_erm
from .margin import max_margin, separability_threshold


#: how plots draw each kind of level (Result.plot, the figures): dotted for the minimiser,
#: dash-dotted for the max-margin classifier
LINE_STYLES = {"erm": ":", "max-margin": "-."}


@dataclass
class Asymptote:
    """gen_error: the level; kind: "erm" (the minimiser) or "max-margin"; label: for a
    legend; result: the ERMResult or MaxMarginResult it comes from."""

    gen_error: float
    kind: str
    label: str
    result: object


def asymptote(problem: Problem, training: Training | None = None) -> Asymptote | None:
    """The large-t test error of full-batch GD on ``problem``, or None where no static limit
    applies. The rule:

    * a non-linear output, a non-convex loss, or a stochastic schedule (SGD or persistent SGD
      with b < 1: its noise does not vanish at fixed eta): None;
    * lam > 0: the ridge minimiser, ``solve_erm(problem)`` ("erm");
    * lam = 0 above the separability threshold alpha*: the unregularised minimiser ("erm");
    * lam = 0 below alpha* with a loss that has no minimiser (ell' < 0 everywhere: logistic,
      exponential): the direction converges to the max-margin classifier, ``max_margin``
      ("max-margin"; approached like 1/log t);
    * lam = 0 below alpha* with a loss that attains its minimum: None (GD stops at some
      interpolating w that depends on the initialisation); the square loss at lam = 0 is
      least squares for alpha > 1 and, for alpha < 1, the minimum-norm interpolator only from
      w(0) = 0 (R = 0), else None.

    A fixed point that did not converge (status 1) gives None as well.
    """
    check_instance("problem", problem, Problem)
    if training is not None:
        check_instance("training", training, Training)
        if training.stochastic:
            return None
    loss = problem.loss_function
    if not isinstance(problem.output, Linear) or not is_convex(loss):
        return None
    if isinstance(loss, Square) and problem.lam == 0 and problem.alpha <= 1.0:
        # GD keeps the initial weights' component in the null space of the data: it reaches
        # the minimum-norm interpolator only from w(0) = 0
        if training is None or training.R > 0 or problem.alpha == 1.0:
            return None
    if problem.lam > 0 or isinstance(loss, Square) or problem.alpha > separability_threshold(
            problem):
        try:
            r = solve_erm(problem)
        except ParameterError:
            return None
        return Asymptote(r.gen_error, "erm", f"ERM, λ = {problem.lam:g}", r) if r.success else None
    with np.errstate(all="ignore"):
        unbounded = bool(np.all(np.asarray(loss.d1(PROBE.copy())) < 0))
    if not unbounded:
        return None
    mm = max_margin(problem)
    return Asymptote(mm.gen_error, "max-margin", "max margin", mm)
