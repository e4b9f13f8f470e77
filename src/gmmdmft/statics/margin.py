"""The max-margin limit and the separability threshold of a mixture on the v* line
(docs/statics.md, "The max-margin limit" and "Separability threshold").

With |w|^2/d = 1 and rho = w.v*/d (the cosine with v*), the label-aligned margin of a sample of
component k is a_k rho + sqrt(Delta) xi (a_k = y_k c_k, xi ~ N(0, 1)): the part of w orthogonal
to v* meets the part of the noise orthogonal to v*, independent of the sample's class. Gardner's
capacity argument (equivalently Gordon's comparison inequality) says a margin kappa is
achievable at overlap rho, as d -> infinity, iff

    G(kappa, rho) = alpha sum_k p_k E2((kappa - a_k rho)/sqrt(Delta)) - (1 - rho^2) <= 0,

with E1(x) = E[(x - xi)_+] = x Phi(x) + phi(x) and E2(x) = E[(x - xi)_+^2] = (x^2 + 1) Phi(x)
+ x phi(x). G is jointly convex, so kappa(rho) (the root in kappa) is concave and its maximum,
the max-margin point, is where dG/drho = 0:

    rho = (alpha / sqrt(Delta)) sum_k p_k a_k E1((kappa - a_k rho)/sqrt(Delta)).

The data are separable (kappa > 0) iff alpha < alpha* = max_rho (1 - rho^2) / sum_k p_k
E2(-a_k rho / sqrt(Delta)), a quasi-concave ratio whose maximum is the root of its derivative.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.special import ndtr

from .. import __version__
from .._validation import ParameterError, check_instance
from ..model import Linear, Problem
from .fixed_point import Components
from .result import MaxMarginResult

SQRT_2PI = math.sqrt(2.0 * math.pi)
#: rho is searched in [-1 + RHO_EDGE, 1 - RHO_EDGE]; kappa(rho) -> -inf at rho = +-1
RHO_EDGE = 1e-12


def E1(x: float) -> float:
    """E[(x - xi)_+] = x Phi(x) + phi(x), xi ~ N(0, 1)."""
    return x * ndtr(x) + math.exp(-0.5 * x * x) / SQRT_2PI


def E2(x: float) -> float:
    """E[(x - xi)_+^2] = (x^2 + 1) Phi(x) + x phi(x), xi ~ N(0, 1)."""
    return (x * x + 1.0) * ndtr(x) + x * math.exp(-0.5 * x * x) / SQRT_2PI


def _sum(comps: Components, f, kappa: float, rho: float, weight_a: bool = False) -> float:
    s = math.sqrt(comps.delta)
    return float(sum(p * (a if weight_a else 1.0) * f((kappa - a * rho) / s)
                     for a, p in zip(comps.a, comps.p)))


def kappa_of_rho(comps: Components, rho: float) -> float:
    """The largest margin kappa achievable at overlap rho: the root of G(kappa, rho) = 0
    (G is increasing in kappa from -(1 - rho^2) to +inf)."""
    target = (1.0 - rho * rho) / comps.alpha

    def f(kappa):
        return _sum(comps, E2, kappa, rho) - target

    s = math.sqrt(comps.delta)
    lo, hi = -1.0, 1.0
    while f(lo) > 0:
        lo = 2.0 * lo - 1.0 * s
    while f(hi) < 0:
        hi = 2.0 * hi + 1.0 * s
    return brentq(f, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)


def max_margin_point(comps: Components) -> tuple[float, float]:
    """(rho, kappa) of the max-margin classifier: the root in rho of dG/drho at kappa(rho)."""
    sq = math.sqrt(comps.delta)

    def H(rho):
        kappa = kappa_of_rho(comps, rho)
        return rho - comps.alpha / sq * _sum(comps, E1, kappa, rho, weight_a=True)

    rho = brentq(H, -1.0 + RHO_EDGE, 1.0 - RHO_EDGE, xtol=1e-15, rtol=1e-15, maxiter=500)
    return rho, kappa_of_rho(comps, rho)


def threshold_point(comps: Components) -> tuple[float, float]:
    """(alpha*, rho at alpha*): the maximum over rho of (1 - rho^2)/S(rho), S(rho) =
    sum_k p_k E2(-a_k rho/sqrt(Delta)), at the root of its derivative (times S^2 / 2)
    J(rho) = -rho S(rho) + (1 - rho^2) sum_k p_k a_k E1(-a_k rho/sqrt(Delta)) / sqrt(Delta)."""
    sq = math.sqrt(comps.delta)

    def J(rho):
        return (-rho * _sum(comps, E2, 0.0, rho)
                + (1.0 - rho * rho) * _sum(comps, E1, 0.0, rho, weight_a=True) / sq)

    rho = brentq(J, -1.0 + RHO_EDGE, 1.0 - RHO_EDGE, xtol=1e-15, rtol=1e-15, maxiter=500)
    return (1.0 - rho * rho) / _sum(comps, E2, 0.0, rho), rho


def check_linear(problem, what: str) -> None:
    check_instance("problem", problem, Problem)
    if not isinstance(problem.output, Linear):
        raise ParameterError(
            f"activation = {problem.params()['activation']!r} is out of range for {what}: "
            "must be 'linear' (the margin y w.x/sqrt(d) of a linear classifier; with this "
            "output the classifier is not linear in w and the risk is non-convex)")


def separability_threshold(problem: Problem) -> float:
    """alpha*(Delta) of the problem's mixture (docs/statics.md, "Separability threshold"):
    as d -> infinity the n = alpha d samples are linearly separable through the origin iff
    alpha < alpha*. Depends on the mixture and Delta only (not on alpha, lam or the loss).
    For the balanced two clusters alpha*(0.5) = 6.6628; alpha* -> 2 (Cover) as Delta -> inf."""
    check_linear(problem, "the separability threshold")
    return threshold_point(Components.of(problem))[0]


def max_margin(problem: Problem) -> MaxMarginResult:
    """The max-margin classifier of the problem's data as d -> infinity (docs/statics.md,
    "The max-margin limit"): the lam -> 0+ limit of the direction of the ridge minimiser on
    separable data, and the direction that gradient descent on the logistic or exponential loss
    at lam = 0 converges to (as 1/log t). Uses the mixture, alpha and Delta (not lam or the
    loss). Raises ParameterError for a non-linear output or alpha >= alpha*(Delta) (the data
    are not separable; the unregularised minimiser exists there: solve_erm at lam = 0)."""
    check_linear(problem, "the max-margin limit")
    comps = Components.of(problem)
    alpha_star = threshold_point(comps)[0]
    if problem.alpha >= alpha_star:
        raise ParameterError(
            f"alpha = {problem.alpha:g} is out of range for the max-margin limit: must be < "
            f"alpha*(Delta = {problem.delta:g}) = {alpha_star:.6g}, the separability threshold of "
            "this mixture (above it the data are not linearly separable and the unregularised "
            "minimiser exists: use solve_erm with lam = 0)")
    rho, kappa = max_margin_point(comps)
    sq = math.sqrt(comps.delta)
    support = float(sum(p * ndtr((kappa - a * rho) / sq) for a, p in zip(comps.a, comps.p)))
    params = dict(problem=problem.params(), model=problem.model_params(), version=__version__)
    return MaxMarginResult(gen_error=float(problem.gen_error(rho, 1.0)), rho=rho, kappa=kappa,
                           m=rho / kappa, q=1.0 / kappa**2, support_fraction=support,
                           alpha_star=alpha_star, params=params)
