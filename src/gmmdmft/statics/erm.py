"""solve_erm: the ridge minimiser of a convex loss as d -> infinity (docs/statics.md).

validate -> (square loss: closed form) | (damped iteration -> Powell hybrid root -> refine the
quadrature until two rules agree) -> observables from the same fixed point.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import root
from scipy.special import ndtr

from .. import __version__
from .._validation import ParameterError, check_instance
from ..model import Problem, Square
from ..model.loss import PROBE, is_convex
from ..plugins import import_path
from .fixed_point import Components, FixedPointMap, State, distance, iterate
from .margin import check_linear, threshold_point
from .quadrature import Rule
from .options import ERMOptions
from .result import ERMResult
from .square import square_fixed_point

#: the damped iteration hands over to the root finder below these residuals (or after STAGE
#: evaluations); measured: a fixed handover at 1e-3 took 5250 damped steps for the squared hinge
#: at lam = 1e-4, where the root finder from a residual of 1e-2 needs about 30
HANDOVERS = (1e-2, 1e-4, 1e-6)
STAGE = 100
ROOT_EVALS = 400
#: the quadrature's resolution is doubled at most this many times
MAX_REFINE = 6


def solve_erm(problem: Problem, options: ERMOptions | None = None, *,
              init: ERMResult | None = None, **keywords) -> ERMResult:
    """The minimiser of sum_mu ell(y_mu w.x_mu/sqrt(d)) + (lam/2)|w|^2 as d -> infinity
    (docs/statics.md, "The fixed point"): the large-t limit of gradient descent for any step.

    Parameters
    ----------
    problem : Problem
        Linear output (``activation = 'linear'``), any mixture on the v* line, any convex loss
        of the contract (value, d1, d2; an optional ``kinks`` lists margins where ell'' jumps).
        lam > 0; lam = 0 is allowed for the square loss at alpha != 1 (least squares, or the
        minimum-norm interpolator at alpha < 1, docs/statics.md "Square loss") and for other
        losses above the separability threshold alpha*(Delta) (the data are not separable
        and the unregularised minimiser exists).
    options : ERMOptions, optional
        The solver's options (:class:`~gmmdmft.statics.ERMOptions`: tol = 1e-12, the relative
        residual of (m, q, V); max_iter = 20000 evaluations of the map; damping = 1, the
        initial step of the damped iteration; panels = 40, the initial quadrature panels on
        xi in [-10, 10], doubled (up to 64 times) until the map changes by <= quad_tol =
        1e-10 under a doubling, docs/statics.md "Quadrature"); keywords of the same names
        override them (``solve_erm(p, tol=1e-10)``).
    init : ERMResult, optional
        A previous result (e.g. at a nearby lam) to start from.

    Returns
    -------
    ERMResult
        ``status`` 0 when converged to ``tol`` with a converged quadrature, else 1.

    Raises
    ------
    ParameterError
        A non-linear output, a non-convex loss, or lam = 0 where the minimiser does not exist
        (separable data with the logistic or exponential loss: use :func:`max_margin`) or is
        not unique.
    """
    check_linear(problem, "solve_erm")
    options = _options(options, keywords)
    if init is not None:
        check_instance("init", init, ERMResult)
    loss = problem.loss_function
    if not is_convex(loss):
        raise ParameterError(
            f"loss = {import_path(loss)!r} is not convex (ell'' < 0 somewhere on [-50, 50], or "
            "its convex attribute is False): the static theory describes the unique minimiser "
            "of a convex risk; use solve_dmft for the dynamics")
    comps = Components.of(problem)
    square = isinstance(loss, Square)
    if problem.lam == 0.0:
        _check_ridgeless(problem, comps, loss, square)
    params = dict(problem=problem.params(), model=problem.model_params(),
                  solver=options.params(), version=__version__)
    if square:
        out = square_fixed_point(comps)
        return ERMResult(gen_error=float(problem.gen_error(out["m"], out["q"])), residual=0.0,
                         iterations=0, quadrature_error=0.0, params=params,
                         method="closed form", **out)
    return _solve_general(problem, comps, loss, options, params, init)


def _options(options, keywords) -> ERMOptions:
    """The validated options: ``options`` (or the defaults) with ``keywords`` applied."""
    return ERMOptions.merged(options, keywords, "solve_erm", extra="init")


def _check_ridgeless(problem, comps, loss, square) -> None:
    """Refuse lam = 0 where the unregularised minimiser does not exist or is not unique."""
    if square:
        if problem.alpha == 1.0:
            raise ParameterError(
                "lam = 0 with the square loss at alpha = 1 is out of range: the least-squares "
                "solution's norm diverges at n = d (the interpolation peak); use lam > 0 or "
                "alpha != 1")
        return
    alpha_star = threshold_point(comps)[0]
    if problem.alpha > alpha_star:
        return
    name = import_path(loss)
    where = (f"at alpha = {problem.alpha:g} <= alpha*(Delta = {problem.delta:g}) = "
             f"{alpha_star:.6g} the data are linearly separable")
    with np.errstate(all="ignore"):
        unbounded = bool(np.all(np.asarray(loss.d1(PROBE.copy())) < 0))
    if unbounded:
        raise ParameterError(
            f"lam = 0 is out of range for loss = {name!r}: {where} and the risk has no "
            "minimiser (|w| grows without bound); use lam > 0, or gmmdmft.max_margin(problem) "
            "(gmmdmft erm --max-margin) for the direction gradient descent converges to")
    raise ParameterError(
        f"lam = 0 is out of range for loss = {name!r}: {where}, where a loss that attains its "
        "minimum can have a set of minimisers (the squared hinge: every w with all margins "
        ">= 1); lam = 0 is solved above alpha* only (and for the square loss): use lam > 0 "
        "(the lam -> 0+ limit of the squared hinge is the max-margin classifier, "
        "gmmdmft.max_margin(problem))")


def _start(comps: Components, init: ERMResult | None) -> State:
    """The initial point: ``init``'s, else that of the square loss at the same lam (at least
    1e-3, where it is finite) -- the right signs and scale of m and q."""
    if init is not None:
        V = init.V if math.isfinite(init.V) else 1.0
        return State(init.m, init.q, V)
    sq = square_fixed_point(Components(comps.a, comps.p, comps.alpha, comps.delta,
                                       max(comps.lam, 1e-3)))
    return State(sq["m"], sq["q"], sq["V"])


def _solve_at(F: FixedPointMap, x: State, tol: float, budget: int, damping: float):
    """Damped iterations in stages (each to a residual of HANDOVERS[i] or STAGE evaluations),
    each followed by Powell's hybrid method on (m, ln q, ln V) from where it stopped; the
    first root that meets ``tol`` is taken, else the damped iteration runs on to ``tol``.
    Returns (state, residual, evaluations, finite)."""
    used = 0
    for handover in HANDOVERS:
        x, res, n, finite = iterate(F, x, tol=max(tol, handover),
                                    max_iter=max(1, min(STAGE, budget - used)), damping=damping)
        used += n
        if not finite or res <= tol or used >= budget:
            return x, res, used, finite
        found, n = _root(F, x, tol, budget - used)
        used += n
        if found is not None:
            return found[0], found[1], used, True
    x, res, n, finite = iterate(F, x, tol=tol, max_iter=max(1, budget - used), damping=damping)
    return x, res, used + n, finite


def _root(F: FixedPointMap, x: State, tol: float, budget: int):
    """Powell's hybrid method on F(x) - x from x: ((state, residual) or None, evaluations)."""
    count = [0]

    def G(u):
        count[0] += 1
        s = State(float(u[0]), float(np.exp(u[1])), float(np.exp(u[2])))
        if not (math.isfinite(s.m) and 0 < s.q < math.inf and 0 < s.V < math.inf):
            return np.full(3, 1e3)
        f = F(s)
        if not (0 < f.q < math.inf and 0 < f.V < math.inf and math.isfinite(f.m)):
            return np.full(3, 1e3)
        return np.array([(f.m - s.m) / math.sqrt(s.q), math.log(f.q / s.q), math.log(f.V / s.V)])

    with np.errstate(all="ignore"):
        sol = root(G, [x.m, math.log(x.q), math.log(x.V)], method="hybr",
                   options=dict(xtol=min(tol, 1e-13), maxfev=max(1, min(ROOT_EVALS, budget))))
        cand = State(float(sol.x[0]), float(np.exp(sol.x[1])), float(np.exp(sol.x[2])))
        if not (0 < cand.q < math.inf and 0 < cand.V < math.inf):
            return None, count[0]
        fx = F(cand)
    if all(map(math.isfinite, (fx.m, fx.q, fx.V))) and fx.q > 0 and fx.V > 0:
        r = distance(fx, cand)
        if r <= tol:
            return (fx, r), count[0] + 1
    return None, count[0] + 1


def _solve_general(problem, comps, loss, options, params, init) -> ERMResult:
    tol, max_iter = options.tol, options.max_iter
    kinks = tuple(getattr(loss, "kinks", ()) or ())
    panels = options.panels
    x, used, message = _start(comps, init), 0, "success"
    for _ in range(MAX_REFINE + 1):
        F = FixedPointMap(loss, comps, Rule(comps.a, comps.p, panels, kinks))
        x, res, n, finite = _solve_at(F, x, tol, max_iter - used, options.damping)
        used += n
        if not finite:
            message = (f"the fixed-point iteration left the domain (q or V not positive and "
                       f"finite) after {used} evaluations; try a smaller damping")
            break
        fine = FixedPointMap(loss, comps, Rule(comps.a, comps.p, 2 * panels, kinks))
        qerr = distance(fine(x), F(x))
        if res > tol or used >= max_iter or qerr <= options.quad_tol:
            break
        panels *= 2
    status = 0
    if not finite:
        status, qerr = 1, math.nan
    elif res > tol:
        status = 1
        message = (f"not converged: residual {res:.2g} > tol {tol:g} after {used} evaluations; "
                   "increase max_iter or lower damping")
    elif qerr > options.quad_tol:
        status = 1
        message = (f"quadrature not converged: the map changes by {qerr:.2g} > quad_tol "
                   f"{options.quad_tol:g} at {panels} panels; a loss whose ell'' jumps "
                   "should list the margins of the jumps in its kinks attribute")
    else:
        F.prox_ok = True  # judged at the solution only (root-finder probes may be far off)
        F.fields(x.m, x.q, x.V)
        if not F.prox_ok:
            status, message = 1, "the proximal step did not converge at some nodes"
    params = dict(params, solver=dict(options.params(), panels_used=panels))
    return ERMResult(gen_error=float(problem.gen_error(x.m, x.q)), m=x.m, q=x.q, V=x.V,
                     mhat=x.mhat, qhat=x.qhat, Vhat=x.Vhat,
                     train_loss=_train_loss(F, x), train_accuracy=_train_accuracy(loss, comps, x),
                     residual=res, iterations=used, quadrature_error=qerr, params=params,
                     status=status, message=message)


def _train_loss(F: FixedPointMap, x: State) -> float:
    """(1/n) sum_mu ell(margin_mu) -> E ell(h*): the training margins are distributed as h*
    (docs/statics.md, "Training loss and accuracy")."""
    a, w, _, h = F.fields(x.m, x.q, x.V)
    return float(w @ np.asarray(F.loss.value(h.copy()), dtype=float))


def _train_accuracy(loss, comps: Components, x: State) -> float:
    """P(h* > 0): h* is increasing in omega and h* = 0 at omega = V ell'(0), so the accuracy
    is sum_k p_k Phi((a_k m - V ell'(0)) / sqrt(Q)) exactly (no quadrature of a step)."""
    w0 = x.V * float(np.asarray(loss.d1(np.zeros(1))).item())
    sQ = math.sqrt(comps.delta * x.q)
    return float(sum(p * ndtr((a * x.m - w0) / sQ) for a, p in zip(comps.a, comps.p)))
