"""The flow limit eta -> 0: a ladder of step sizes and Richardson extrapolation with the measured
order (docs/flow-limit.md, "Extrapolation" and "Error bar").

The step-eta dynamics (simulation or DMFT) approach the stochastic gradient flow with an error
that is a power series in eta, first order for these Euler steps:

    y_eta(t) = y_0(t) + a(t) eta^p + O(eta^{p+1}),   p = 1.

With solves at eta_j = eta / 2^j (j = 0 .. L-1) on the coarsest grid t_k = k eta, the finest
three give the successive differences d1 = y_{L-3} - y_{L-2}, d2 = y_{L-2} - y_{L-1}, whose ratio
is rho = 2^p at every time. The order is measured once for the whole curve (from
``gen_error``), extrapolated with it from the finest pair,

    Y = y_{L-1} + (y_{L-1} - y_{L-2}) / (rho - 1),

and the error bar combines the propagated Monte-Carlo errors of the rungs, the uncertainty of
rho and the extrapolation residual max(|Y - Y1|, |Y - Y2|): the change of Y under the other
models of the step error through the same rungs, Y1 = 2 y_{L-1} - y_{L-2} (order 1) and
Y2 = (8 y_{L-1} - 6 y_{L-2} + y_{L-3}) / 3 (orders 1 and 2). The measured order is used only
where it is resolved, near 1 and precise; otherwise the expected order 1 is.

:func:`flow_limit` runs a ladder with any solver (``solve_dmft``, ``simulate``) and returns a
:class:`~gmmdmft.Result`; :func:`richardson` is the extrapolation on arrays.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import __version__
from ._validation import ParameterError, check_int
from .result import OBSERVABLES, Result, finite_max
from .training import Training

EXPECTED_ORDER = 1.0  # Euler steps: the step-eta dynamics are first order in eta
# the measured order is used if within this distance of the expected one: with
# y = y_0 + a eta + c eta^2 the order measured on eta, eta/2, eta/4 lies between 1 (c eta << a)
# and 2 (a << c eta), and 1.5 means that the second-order term is as large as the first
ORDER_BAND = 0.5
# the measured order is used only if known to this precision (else the expected order is)
ORDER_SEM_MAX = 0.1
# the order counts as resolved if the finest difference sum exceeds this many of its errors
RESOLVED_SIGMAS = 3.0


def check_flow_limit(training: Training) -> None:
    """Refuse an algorithm without a stochastic flow limit: classical SGD with b < 1, whose
    batch is redrawn at every step, so that as eta -> 0 its batch noise averages out and the
    dynamics tend to the full-batch gradient flow with the gradient weighted by b (GD at time
    b t when lam = 0), not to an SGD flow (docs/flow-limit.md, "Which algorithms have a flow
    limit")."""
    if training.algorithm == "sgd" and training.b < 1.0:
        raise ParameterError(
            f"algorithm = 'sgd' (b = {training.b:g}) has no stochastic flow limit at fixed b: a "
            "batch redrawn every step averages out as eta -> 0, leaving the full-batch gradient "
            "flow weighted by b (GD at time b t when lam = 0); use persistent-sgd (tau and b "
            "held fixed) or gd")


def ladder(training: Training, rungs: int = 3) -> list[Training]:
    """The trainings at eta, eta/2, ..., eta/2^(rungs-1), all up to the coarse grid's last time
    T eta (built, hence validated, before anything is computed)."""
    rungs = check_int("eta_ladder", rungs, lo=3, hi=12)
    check_flow_limit(training)
    t_end = training.steps * training.eta
    return [training.replace(eta=training.eta / 2**j, t_max=t_end) for j in range(rungs)]


@dataclass
class Extrapolation:
    """What :func:`richardson` returns (arrays are per observable, on the coarse grid)."""

    value: dict
    error: dict  # the error bar: sqrt(mc^2 + order_part^2 + residual^2)
    mc: dict  # propagated Monte-Carlo errors of the two finest rungs
    order_part: dict  # from the uncertainty of rho
    residual: dict  # max(|Y - Y1|, |Y - Y2|): orders 1, and 1 and 2, through the finest three
    order: float  # measured p = log2(rho) (nan if not resolved)
    order_sem: float
    order_used: float
    resolved: bool
    near: bool  # resolved, within ORDER_BAND of the expected order and precise: used
    asymptotic: bool  # False: resolved, and further than ORDER_BAND and 3 sigma from expected
    notes: list = field(default_factory=list)


def measure_ratio(y, s):
    """rho = 2^p from the finest three rungs y (3, n) with errors s (3, n) (docs/flow-limit.md,
    "Extrapolation"): the ratio of the weighted sums S1 = sum_t w_t d1(t), S2 = sum_t w_t d2(t)
    with w_t = sign(D_t) / sd(D_t), D = y0 - y2 = d1 + d2 (times weighted by how well the step
    effect is resolved there; w_t = sign(D_t) where the errors are 0), and its delta-method
    standard error. Each rung's errors are taken as fully correlated in time (an upper bound on
    the errors of the sums) and independent between rungs. Returns (rho, rho_sem, |S2| / sd(S2)).
    """
    d1, d2 = y[0] - y[1], y[1] - y[2]
    D = y[0] - y[2]
    sd_D = np.sqrt(s[0] ** 2 + s[2] ** 2)
    if np.all(sd_D == 0):
        w = np.sign(D)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(sd_D > 0, np.sign(D) / sd_D, 0.0)
    S1, S2 = float(np.sum(w * d1)), float(np.sum(w * d2))
    sa, sb, sc = (float(np.sum(np.abs(w) * sj)) for sj in s)
    var1, var2, cov = sa * sa + sb * sb, sb * sb + sc * sc, -sb * sb
    if S2 == 0.0 or not math.isfinite(S2):
        return math.nan, math.nan, 0.0
    rho = S1 / S2
    var_rho = max(var1 - 2 * rho * cov + rho * rho * var2, 0.0) / (S2 * S2)
    snr = abs(S2) / math.sqrt(var2) if var2 > 0 else math.inf
    return rho, math.sqrt(var_rho), snr


def richardson(values: dict, sems: dict, *, order_from: str = "gen_error",
               expected_order: float = EXPECTED_ORDER) -> Extrapolation:
    """Richardson extrapolation to eta -> 0 with the measured order (docs/flow-limit.md,
    "Extrapolation" and "Error bar").

    ``values[obs]`` and ``sems[obs]`` are (L, n) arrays of L >= 3 rungs at eta / 2^j on a
    common grid (``sems`` may hold NaN: unknown errors give NaN error bars). The order p is
    measured on the finest three rungs of ``values[order_from]`` (:func:`measure_ratio`) and
    used when it is resolved, within ``ORDER_BAND`` of ``expected_order`` and known to
    ``ORDER_SEM_MAX``; otherwise the expected order is used (``notes`` says why), and
    ``asymptotic`` is False when the measured order is further from the expected one than
    ORDER_BAND and 3 of its standard errors (the ladder is not in the asymptotic regime).

    Per observable, from the finest rungs a, b, c (eta/2^(L-3), ..., eta/2^(L-1)):
    Y = c + (c - b)/(rho - 1) with rho = 2^p; the error bar is sqrt(mc^2 + order_part^2 +
    residual^2) with mc = sqrt(rho^2 s_c^2 + s_b^2)/(rho - 1), order_part = |c - b| s_rho /
    (rho - 1)^2, and residual = max(|Y - Y1|, |Y - Y2|) the change of Y under the other error
    models: Y1 = 2c - b (order 1) and Y2 = (8c - 6b + a)/3 (orders 1 and 2).
    """
    y = np.asarray(values[order_from], dtype=float)
    if y.ndim != 2 or y.shape[0] < 3:
        raise ParameterError(f"richardson needs >= 3 rungs, got {y.shape[0] if y.ndim else 0}")
    rho, rho_sem, snr = measure_ratio(y[-3:], np.asarray(sems[order_from], dtype=float)[-3:])
    resolved = bool(np.isfinite(rho) and not snr < RESOLVED_SIGMAS)
    measured = resolved and rho > 0  # else the differences change sign: no order
    order = math.log2(rho) if measured else math.nan
    order_sem = rho_sem / (rho * math.log(2)) if measured else math.nan
    sigma = float(np.nan_to_num(order_sem, nan=0.0))
    off = abs(order - expected_order) if measured else math.nan
    near = measured and rho > 1 and off <= ORDER_BAND and sigma <= ORDER_SEM_MAX
    if not resolved:
        asymptotic = True
    elif measured:
        asymptotic = off <= max(ORDER_BAND, 3 * sigma)
    else:
        asymptotic = abs(rho - 2.0**expected_order) <= 3 * rho_sem
    notes = []
    if near:
        used, used_sem = order, rho_sem
    else:
        shown = (f"measured order p = {order:.3g} +- {order_sem:.2g}" if measured else
                 f"the successive differences change sign (ratio {rho:.3g} +- {rho_sem:.2g})")
        if not resolved:
            notes.append(f"the step effect is not resolved by the Monte-Carlo errors (finest "
                         f"difference {snr:.1f} of its errors): the expected order "
                         f"{expected_order:g} is used")
        elif asymptotic:
            notes.append(f"{shown} is too imprecise to use (consistent with order "
                         f"{expected_order:g}): the expected order is used")
        else:
            notes.append(f"{shown} is not near the expected order {expected_order:g}: the "
                         "ladder is not in the asymptotic regime (start from a smaller eta); "
                         "the expected order is used")
        used, used_sem, rho = expected_order, 0.0, 2.0**expected_order
    out = {k: {} for k in ("value", "error", "mc", "order_part", "residual")}
    for obs, arr in values.items():
        a, b, c = np.asarray(arr, dtype=float)[-3:]
        sa, sb, sc = np.asarray(sems[obs], dtype=float)[-3:]
        Y = c + (c - b) / (rho - 1)
        Y1 = 2 * c - b  # order 1
        Y2 = (8 * c - 6 * b + a) / 3  # orders 1 and 2 through the three rungs
        mc = np.sqrt((rho * sc) ** 2 + sb**2) / (rho - 1)
        part = np.abs(c - b) / (rho - 1) ** 2 * used_sem
        resid = np.maximum(np.abs(Y - Y1), np.abs(Y - Y2))
        out["value"][obs], out["mc"][obs] = Y, mc
        out["order_part"][obs], out["residual"][obs] = part, resid
        out["error"][obs] = np.sqrt(mc**2 + part**2 + resid**2)
    return Extrapolation(order=order, order_sem=order_sem, order_used=used, resolved=resolved,
                         near=bool(near), asymptotic=bool(asymptotic), notes=notes, **out)


def on_grid(result: Result, t: np.ndarray) -> np.ndarray:
    """Indices of the coarse times ``t`` in ``result.t`` (they must all be recorded)."""
    idx = np.searchsorted(result.t, t - 1e-9)
    idx = np.minimum(idx, len(result.t) - 1)
    if not np.allclose(result.t[idx], t, rtol=0, atol=1e-9):
        raise ValueError("a rung does not record every time of the coarse grid")  # pragma: no cover
    return idx


def flow_limit(solve: Callable[[Training, int], Result], training: Training, rungs: int = 3, *,
               method: str, options_params: dict | None = None) -> Result:
    """The eta -> 0 curves from solves at eta, eta/2, ..., eta/2^(rungs-1).

    ``solve(training_j, j)`` returns rung j's :class:`Result` (its recorded times must include
    the coarse grid t_k = k eta). The rungs are solved finest first, so that a solve that cannot
    fit in memory is refused before the others are computed. Returns a Result on the coarse grid
    with ``method``; ``status`` 1 if a rung did not converge or the measured order is not near
    1; ``stats`` has each rung's curves, errors and summary, the measured order, ratio and the
    error components per observable.
    """
    t_start = time.perf_counter()
    trainings = ladder(training, rungs)
    results = [None] * len(trainings)
    for j in reversed(range(len(trainings))):
        results[j] = solve(trainings[j], j)
    t = results[0].t
    values, sems = {}, {}
    for obs in OBSERVABLES:
        values[obs] = np.array([getattr(r, obs)[on_grid(r, t)] for r in results])
        sems[obs] = np.array([getattr(r, obs + "_sem")[on_grid(r, t)] for r in results])
    ex = richardson(values, sems)
    etas = [tr.eta for tr in trainings]
    bad = [(tr.eta, r.message) for tr, r in zip(trainings, results) if r.status != 0]
    status = 1 if bad or not ex.asymptotic else 0
    parts = [f"flow limit from eta = {', '.join(f'{e:g}' for e in etas)}, order "
             f"{ex.order_used:.3g} " + ("(measured)" if ex.near else "(expected)")]
    parts += ex.notes + [f"rung eta = {e:g}: {m}" for e, m in bad]
    message = ("success: " if status == 0 else "") + "; ".join(parts)
    params = dict(results[0].params)
    params["training"] = training.params()
    if options_params is not None:
        params.update(options_params)
    params["eta_ladder_etas"] = etas
    if "seed_list" in params:  # simulations: every rung's seeds
        params["seed_list"] = [s for r in results for s in r.params["seed_list"]]
    params["version"] = __version__
    stats = dict(
        wall_time=time.perf_counter() - t_start, order=ex.order, order_sem=ex.order_sem,
        order_used=ex.order_used, order_resolved=ex.resolved, order_near_expected=ex.near,
        asymptotic=ex.asymptotic,
        expected_order=EXPECTED_ORDER,
        max_residual=finite_max(ex.residual["gen_error"]),
        max_mc_sem=finite_max(ex.mc["gen_error"]),
        mc_sem=ex.mc, order_error=ex.order_part, residual=ex.residual,
        rungs=[dict(eta=tr.eta, steps=tr.steps, status=r.status, message=r.message,
                    wall_time=r.stats.get("wall_time"), params=r.params,
                    curves={o: values[o][j] for o in OBSERVABLES},
                    sems={o: sems[o][j] for o in OBSERVABLES})
               for j, (tr, r) in enumerate(zip(trainings, results))])
    curves = {}
    for obs in OBSERVABLES:
        curves[obs], curves[obs + "_sem"] = ex.value[obs], ex.error[obs]
    return Result(t=t, method=method, params=params, status=status, message=message,
                  stats=stats, **curves)
