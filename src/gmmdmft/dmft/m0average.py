"""The DMFT averaged over the law of m(0) at dimension d (docs/finite-size.md).

At finite d the initial magnetisation m(0) = w(0).v*/d ~ N(0, R/d) differs from seed to seed,
and for a model with the w -> -w symmetry it sets when the symmetry breaks: a seed average is
an average over that law. :func:`solve_dmft_m0_average` solves the DMFT at the K nodes of a
quadrature rule of the law (:mod:`.m0law`) and returns

* the curves averaged with the rule's weights, whose ``*_sem`` are the Monte-Carlo errors of
  that average (the nodes' errors propagated: sqrt(sum_k w_k^2 sem_k^2));
* in ``extras``, the spread across the law, sqrt(sum_k w_k (x_k - xbar)^2) with the nodes'
  Monte-Carlo noise subtracted: the predicted seed-to-seed standard deviation of a finite-d run
  from m(0) alone, and its error; the nodes, weights and per-node curves.

Cost: the K nodes share the N draws (and the ``response_samples``) of one plain solve, so the
draws add up to about one plain solve's (:func:`node_shares`); what K solves add is each
solve's fixed cost per iteration (the Cholesky root of M_C, the two-time functions, the
response estimate), measured in validation/m0average.md and benchmarks/m0average_cost.py.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import __version__
from .._progress import Progress
from .._validation import ParameterError, check_instance
from ..model import Problem
from ..options import M0_NODES_OTHER, M0_NODES_SYMMETRIC, DMFTOptions, check_symmetric_R
from ..result import OBSERVABLES, Result, finite_max
from ..training import Training
from .m0law import m0_rule, m0_scale
from .solver import solve_dmft

# fewest draws of a node: below this the causal burn-in sweep and the response estimate of a
# solve work with a few tens of draws
MIN_NODE_SAMPLES = 128
# node k uses seed + k * SEED_STRIDE (mod 2^32): node 0 the seed itself, so K = 1 is the plain
# solve at the rule's single node; the golden-ratio stride keeps the nodes of runs with nearby
# seeds apart
SEED_STRIDE = 0x9E3779B1
# m0 / sqrt(R/d) of the noise-floor solve: far below any node, so that only the solver's own
# Monte-Carlo noise breaks the symmetry there
FLOOR_M0 = 1e-6
# a node is at the noise floor when its gen_error stays within this many combined standard
# errors of the floor's at every time
FLOOR_SIGMAS = 3.0


def default_m0_nodes(problem: Problem) -> int:
    """K when ``m0_nodes`` is not given (the convergence check of docs/finite-size.md)."""
    return M0_NODES_SYMMETRIC if problem.symmetric else M0_NODES_OTHER


def m0_average_nodes(problem: Problem, training: Training,
                     options: DMFTOptions) -> tuple[np.ndarray, np.ndarray]:
    """The nodes m0_k = sqrt(R/d) u_k and weights w_k of the m0 average (docs/finite-size.md,
    "Quadrature"); ParameterError when the options do not ask for it or cannot be met (R = 0
    for a symmetric model, a node with |m0| > sqrt(R) because d is too small)."""
    if not options.m0_average:
        raise ParameterError("m0_average is false: these options solve one m0 (solve_dmft)")
    K = options.m0_nodes if options.m0_nodes is not None else default_m0_nodes(problem)
    R, d = training.R, options.d
    if problem.symmetric:
        check_symmetric_R(R)
    u, w = m0_rule(problem.symmetric, K)
    u_max = float(np.max(np.abs(u)))
    if u_max * u_max > d:
        raise ParameterError(
            f"d = {d} is too small for m0_average with {K} nodes: the node m0 = "
            f"{u_max:.3g} sqrt(R/d) exceeds sqrt(R) (needs d >= {math.ceil(u_max * u_max)}, or "
            "fewer nodes)")
    return m0_scale(R, d) * u, w


def check_m0_rule(problem: Problem, training: Training, options: DMFTOptions) -> None:
    """Every check of the initial magnetisation, for a single solve or an m0 average: what the
    job engine runs before any compute."""
    if options.m0_average:
        m0_average_nodes(problem, training, options)
    else:
        options.initial_m0(problem, training)


def node_shares(symmetric: bool, weights: np.ndarray) -> np.ndarray:
    """The fraction of the draws each node gets (summing to 1).

    * symmetric model: equal shares 1/K. The nodes of small |m0| break late and are the most
      sensitive to the solver's own Monte-Carlo noise, which acts on m like an extra random
      m(0) of order 1/sqrt(N_k) (docs/finite-size.md, "The solver's own symmetry breaking"):
      shares by weight would give them the fewest draws. The price: the average's variance is
      K sum_k w_k^2 = 1.17 (K = 10) times that of the Neyman allocation.
    * otherwise: shares w_k (the Neyman allocation for equal per-draw noise: the average's
      variance is then a plain solve's with N draws).
    """
    K = len(weights)
    return np.full(K, 1.0 / K) if symmetric else np.asarray(weights, dtype=float)


def node_options(options: DMFTOptions, m0: np.ndarray, weights: np.ndarray,
                 shares: np.ndarray | None = None) -> list[DMFTOptions]:
    """The options of the solve at each node: m0 = m0_k, the share ``shares[k]`` (default: the
    weights) of ``samples`` and ``response_samples`` (at least MIN_NODE_SAMPLES and 2; K = 1
    keeps them all), its own seed, and a tol of tol/(w_k sqrt K), so that the average's error
    sqrt(sum w_k^2 sem_k^2) is <= tol when every node meets its own."""
    K = len(m0)
    shares = np.asarray(weights if shares is None else shares, dtype=float)
    out = []
    for k, (m0_k, w_k, f_k) in enumerate(zip(m0, weights, shares)):
        if K == 1:
            samples, response = options.samples, options.response_samples
        else:
            samples = max(MIN_NODE_SAMPLES, round(f_k * options.samples))
            samples += samples % 2
            response = min(samples, max(2, round(f_k * options.response_samples)))
        tol = options.tol / (w_k * math.sqrt(K)) if options.tol > 0 else 0.0
        out.append(options.replace(
            m0_average=False, m0_nodes=None, d=None, m0=float(m0_k), samples=samples,
            response_samples=response, tol=tol, seed=(options.seed + k * SEED_STRIDE) % 2**32))
    return out


def floor_options(problem, training, options, per_node) -> DMFTOptions | None:
    """The noise-floor solve of a symmetric model (K >= 2): node 0's draws at
    m0 = FLOOR_M0 sqrt(R/d), its own seed. With N draws the solver's Monte-Carlo estimate of
    mu = alpha <u F> is off by O(1/sqrt N) at m = 0, which acts like an extra random m(0): a
    node whose curve cannot be told from this one's is limited by the solver's noise, not by
    its m0 (docs/finite-size.md, "The solver's own symmetry breaking")."""
    if not problem.symmetric or len(per_node) < 2:
        return None
    K = len(per_node)
    return per_node[0].replace(m0=FLOOR_M0 * m0_scale(training.R, options.d), tol=0.0,
                               seed=(options.seed + K * SEED_STRIDE) % 2**32)


def nodes_at_floor(results, floor) -> list[int]:
    """Indices of the nodes whose gen_error stays within FLOOR_SIGMAS combined errors of the
    floor solve's at every time (none without a floor or without error estimates)."""
    if floor is None:
        return []
    out = []
    for k, r in enumerate(results):
        sigma = np.hypot(r.gen_error_sem, floor.gen_error_sem)
        if np.all(np.isfinite(sigma)) and np.all(
                np.abs(r.gen_error - floor.gen_error) <= FLOOR_SIGMAS * sigma + 1e-12):
            out.append(k)
    return out


def solve_dmft_m0_average(problem: Problem, training: Training,
                          options: DMFTOptions | None = None, *, progress: bool | None = None,
                          **keywords) -> Result:
    """The DMFT curves averaged over the law of m(0) at dimension d, and their spread across
    the law (docs/finite-size.md; the module docstring says how).

    Parameters
    ----------
    problem, training : Problem, Training
    options : DMFTOptions
        With ``m0_average = True`` and ``d``; ``m0_nodes`` is K (default: 10 for a model with
        the w -> -w symmetry, 3 otherwise). Keywords of the same names override them
        (``solve_dmft_m0_average(p, t, d=1000, m0_average=True)``); without options or
        keywords naming it, ``m0_average`` is set.
    progress : bool or None
        As for :func:`~gmmdmft.solve_dmft`, over the nodes.

    Returns
    -------
    Result
        ``method = "dmft-m0-average"``; the averaged curves with their Monte-Carlo errors;
        ``extras``: ``<observable>_spread`` and ``<observable>_spread_sem`` for every
        observable, ``m0_nodes`` (m0_k), ``m0_weights``, ``node_<observable>`` and
        ``node_<observable>_sem`` (K x times), for a symmetric model ``floor_gen_error`` and
        its sem (a solve at m0 -> 0 with a node's draws: the solver's noise floor);
        ``stats``: the nodes' draws, iterations and times, ``floor_nodes`` (indices of nodes
        indistinguishable from the floor) and their ``floor_weight`` (also in ``message``).
        ``status`` 1 when a node missed its share of ``tol``.
    """
    options = _options(options, keywords)
    check_instance("problem", problem, Problem)
    check_instance("training", training, Training)
    m0, weights = m0_average_nodes(problem, training, options)
    per_node = node_options(options, m0, weights, node_shares(problem.symmetric, weights))
    floor = floor_options(problem, training, options, per_node)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    results = []
    todo = per_node + ([floor] if floor is not None else [])
    bar = Progress(total=len(todo), desc="dmft m0-average", unit="nodes", progress=progress)
    try:
        for o in todo:
            results.append(solve_dmft(problem, training, o, progress=False))
            bar.update()
    finally:
        bar.close()
    wall, cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    floor_result = results.pop() if floor is not None else None
    curves, extras = combine(results, weights)
    extras.update(m0_nodes=m0, m0_weights=weights)
    at_floor = nodes_at_floor(results, floor_result)
    if floor_result is not None:
        extras.update(floor_gen_error=floor_result.gen_error,
                      floor_gen_error_sem=floor_result.gen_error_sem)
    bad = [k for k, r in enumerate(results) if r.status != 0]
    status = 1 if bad else 0
    message = "success" if not bad else (
        f"not converged: {len(bad)} of {len(results)} nodes (m0 = "
        f"{', '.join(f'{m0[k]:.3g}' for k in bad)}) missed their share of tol; increase "
        "max_iter, samples or response_samples")
    if at_floor:
        message += (f"; {len(at_floor)} of {len(m0)} nodes (weight "
                    f"{float(weights[at_floor].sum()):.3f}) cannot be told from the solver's "
                    "noise floor (the curve of m0 -> 0 at their draws): their m0 is below what "
                    "their draws resolve; more samples lower the floor")
    params = dict(problem=problem.params(), model=problem.model_params(),
                  training=training.params(), **options.params())
    params.update(m0_nodes=len(m0), m0=None, m0_node_values=m0.tolist(),
                  m0_node_weights=weights.tolist(), version=__version__)
    stats = dict(wall_time=wall, cpu_time=cpu, steps=training.steps, nodes=len(m0),
                 node_samples=[o.samples for o in per_node],
                 node_response_samples=[o.response_samples for o in per_node],
                 node_seeds=[o.seed for o in per_node],
                 node_iterations=[r.stats["iterations"] for r in results],
                 node_wall_time=[r.stats["wall_time"] for r in results],
                 draws=sum(o.samples * r.stats["iterations"] for o, r in zip(per_node, results)),
                 floor_nodes=at_floor, floor_weight=float(weights[at_floor].sum()),
                 max_gen_error_sem=finite_max(curves["gen_error_sem"]))
    return Result(t=results[0].t, method="dmft-m0-average", params=params, status=status,
                  message=message, stats=stats, extras=extras, **curves)


def _options(options, keywords) -> DMFTOptions:
    return DMFTOptions.merged(options, keywords, "solve_dmft_m0_average",
                              defaults={"m0_average": True})


def combine(results, weights) -> tuple[dict, dict]:
    """The weighted average of the nodes' curves with its error, and the spread across the law
    with its error (docs/finite-size.md, "The predicted spread").

    With x_k = mu_k + e_k (independent errors of variance s_k^2 = sem_k^2), the raw
    S2 = sum_k w_k (x_k - xbar)^2 has mean sum w_k (mu_k - mubar)^2 + sum_k w_k (1 - w_k) s_k^2,
    so the spread is sqrt(max(0, S2 - sum_k w_k (1 - w_k) s_k^2)). S2 = e'Ae + ... is a
    quadratic form with A = diag(w) - w w', so for Gaussian errors
    var(S2) = 4 sum_k (w_k (x_k - xbar))^2 s_k^2 + 2 sum_jk A_jk^2 s_j^2 s_k^2, and the spread's
    error is sd(S2) / (2 max(S, sqrt(sd(S2)/2))) (the delta method, floored where S ~ 0).
    """
    w = np.asarray(weights, dtype=float)
    A = np.diag(w) - np.outer(w, w)
    curves, extras = {}, {}
    for name in OBSERVABLES:
        x = np.array([getattr(r, name) for r in results])  # (K, times)
        s2 = np.array([getattr(r, name + "_sem") for r in results]) ** 2
        mean = w @ x
        curves[name] = mean
        curves[name + "_sem"] = np.sqrt(w**2 @ s2)
        dev = x - mean
        raw = w @ dev**2
        noise = (w * (1.0 - w)) @ s2
        S2 = raw - np.where(np.isfinite(noise), noise, 0.0)
        spread = np.sqrt(np.maximum(S2, 0.0))
        var_S2 = 4.0 * ((w[:, None] * dev) ** 2 * s2).sum(axis=0) + 2.0 * np.einsum(
            "jk,jt,kt->t", A**2, s2, s2)
        sd_S2 = np.sqrt(var_S2)
        extras[name + "_spread"] = spread
        extras[name + "_spread_sem"] = sd_S2 / (2.0 * np.maximum(spread, np.sqrt(sd_S2 / 2.0))
                                               + 1e-300)
        extras["node_" + name] = x
        extras["node_" + name + "_sem"] = np.sqrt(s2)
    return curves, extras
