"""Finite-d simulation of GD / SGD / persistent SGD on the Gaussian mixture (docs/theory.md,
"Model", "Algorithms" and "Observables")."""

from __future__ import annotations

import glob
import math
import time
from contextlib import nullcontext

import numpy as np

from . import __version__
from ._blas import one_blas_thread
from ._progress import Progress
from ._validation import (DIVERGED, DivergenceError, available_memory,
                          check_instance, check_memory, first_diverged)
from .model import Problem
from .extrapolation import flow_limit
from .options import SimulationOptions
from .result import OBSERVABLES, Result, RunningMean, mean_and_sem
from .training import Training


def memory_needed(problem: Problem, d: int, dtype: str = "float64", seeds: int = 1,
                  records: int = 0) -> int:
    """Peak bytes of ``seeds`` simulations advanced together: their data matrices X (n x d each),
    one row-chunk of scratch for drawing them and O(n + d) vectors per seed; with ``records``
    recorded times of the two-time function, per seed the recorded weights (records x d) and
    their Gram matrix, and the mean and error accumulators (records x records each)."""
    n = max(1, int(round(problem.alpha * d)))
    item = np.dtype(dtype).itemsize
    two_time = seeds * records * (d * item + 2 * records * 8) + 3 * records * records * 8
    return seeds * (n * d * item + 16 * (n + d) * 8) + min(n, 4096) * d * 8 + two_time


# from this size of the data matrix X the time loop keeps all BLAS threads: its two products per
# step are then memory-bound and a second thread adds bandwidth (fastest of 30 interleaved runs
# of X @ w + X.T @ v on 2 cores, one thread / all: 0.63 at X = 61 MB (d = 2000), 1.51 at 120 MB,
# 1.59 at 244 MB; benchmarks/results/quickstart-load-products.md); below it one thread, because
# each small product would wait for a time slice whenever the other core is busy (see _blas)
ALL_THREADS_FROM = 96 * 2**20


def loop_blas_threads(problem: Problem, d: int, dtype: str):
    """Context manager for the time loop's BLAS threads: one thread unless the data matrix X
    (n x d) has at least :data:`ALL_THREADS_FROM` bytes."""
    n = max(1, int(round(problem.alpha * d)))
    x_bytes = n * d * np.dtype(dtype).itemsize
    return nullcontext() if x_bytes >= ALL_THREADS_FROM else one_blas_thread()


def seeds_together_auto(problem: Problem, d: int, dtype: str, seeds: int,
                        fraction: float = 0.5) -> int:
    """How many of ``seeds`` runs :func:`simulate` advances together by default (>= 1).

    Only where one data matrix fits in the last-level cache: there the per-step overhead of a
    lone run shows (d = 200: 7.4e-5 s per step and seed grouped, 1.5e-4 alone), and the stack
    is kept to a quarter of the cache and to ``fraction`` of the available memory (measured: at
    d = 500, alpha = 2, 8 stacked matrices of 4 MB make each product ~3x slower than the cached
    one of a lone run). A larger X makes the products memory-bound, where grouping saved <= 5%
    and would multiply the peak memory, so such runs go one at a time.
    """
    n = max(1, int(round(problem.alpha * d)))
    x_bytes = n * d * np.dtype(dtype).itemsize
    cache = _cache_bytes()
    if x_bytes > cache:
        return 1
    scratch = memory_needed(problem, d, dtype, seeds=0)
    per_seed = memory_needed(problem, d, dtype, seeds=1) - scratch
    fit = int((fraction * available_memory() - scratch) // per_seed)
    return max(1, min(seeds, fit, cache // 4 // x_bytes))


def _cache_bytes() -> int:
    """Size of the largest CPU cache (Linux sysfs), 32 MiB where it cannot be read."""
    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            with open(path) as f:
                text = f.read().strip().upper()
            sizes.append(int(text.rstrip("KMG")) * {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1))
        except (OSError, ValueError, IndexError):
            pass
    return max(sizes, default=32 * 2**20)


def make_data(problem: Problem, d: int, rng: np.random.Generator, dtype="float64", out=None):
    """Draw (X / sqrt(d), c, y): the scaled n x d data matrix, cluster indices and labels.

    x_mu = c_mu v*/sqrt(d) + sqrt(delta) z_mu with v* = (1, ..., 1); X is returned
    already divided by sqrt(d) so that h = X w and the gradient is X^T g. ``out`` (optional): an
    n x d array to draw X into (its dtype wins over ``dtype``).
    """
    n = max(1, int(round(problem.alpha * d)))
    c, y = problem.sample_clusters(rng, n)
    X = np.empty((n, d), dtype=dtype) if out is None else out
    scale = math.sqrt(problem.delta / d)
    chunk = max(1, min(n, 4096))
    for start in range(0, n, chunk):  # bounded float64 scratch for the Gaussian draws
        stop = min(n, start + chunk)
        z = rng.standard_normal((stop - start, d))
        z *= scale
        z += (c[start:stop] / d)[:, None]
        X[start:stop] = z
    return X, c, y


def simulate(problem: Problem, training: Training, options: SimulationOptions | None = None, *,
             progress: bool | None = None, **keywords) -> Result:
    """Simulate the training algorithm at finite dimension d and average over seeds.

    Parameters
    ----------
    problem, training : Problem, Training
        The learning problem and the algorithm (docs/theory.md, "Model" and "Algorithms").
    options : SimulationOptions, optional
        d, seeds, seed0, every, dtype, seeds_together, two_time
        (:class:`~gmmdmft.SimulationOptions`); keywords of the same names override them
        (``simulate(p, t, d=2000, seeds=10)``). ``two_time`` records C(t, t') = w(t).w(t')/d
        at the recorded times (every ``every``-th step) and the per-seed curves.
        ``seeds_together`` runs are advanced together (stacked data, batched products), which
        saves the per-step overhead of small d; the numbers do not depend on it (each run keeps
        its own random stream), up to the last bits of the BLAS products. ``eta_limit``
        returns instead the eta -> 0 extrapolation of ``eta_ladder`` runs at eta / 2^j
        (method ``"simulate-eta-limit"``; docs/flow-limit.md), rung j with its own seeds
        seed0 + j seeds, ...
    progress : bool or None
        None: a progress bar on a terminal for runs longer than 2 s, else a one-line record
        every 30 s on standard error; True: always the bar; False: nothing.

    Returns
    -------
    Result
        Curves averaged over seeds with standard errors over seeds. For a model with the
        w -> -w symmetry (the three-cluster model) ``m`` is |m| per seed. Each step costs two
        matrix-vector products with X and O(n + d) other work. ``stats["time_per_step"]`` is
        seconds per step and per seed; ``stats["seeds_together"]`` the group size used. With
        ``two_time``: ``result.C`` (mean over seeds of w(t_k).w(t_j)/d, rows and columns on
        ``result.t``), ``result.C_sem`` (its standard error over seeds) and
        ``result.per_seed`` (each seed's curves); memory len(t) x d per seed in flight and
        len(t)^2 per seed for C; nothing is recorded (and nothing costs) without it.

    Raises
    ------
    ParameterError
        Bad parameters, or the data matrix does not fit in the available memory.
    DivergenceError
        |w| became infinite or NaN (eta too large).
    """
    check_instance("problem", problem, Problem)
    check_instance("training", training, Training)
    o = SimulationOptions.merged(options, keywords, "simulate")
    if o.eta_limit:
        return _flow_limit(problem, training, o, progress)
    d, seeds, seed0, every, dtype = o.d, o.seeds, o.seed0, o.every, o.dtype
    T = training.steps
    records = (T // every + 1 + (T % every != 0)) if o.two_time else 0  # len(rec) below
    if records:
        check_memory(memory_needed(problem, d, dtype, records=records),
                     f"d = {d} with two_time at {records} recorded times (every = {every})",
                     "raise every, or lower t_max or d", detail=f" (data matrix and the "
                     f"recorded weights, {dtype})")
    else:
        check_memory(memory_needed(problem, d, dtype), f"d = {d}",
                     "lower d or alpha, or use dtype float32",
                     detail=f" (data matrix n x d, {dtype})")
    if o.seeds_together is None:
        group = seeds_together_auto(problem, d, dtype, seeds)
    else:
        group = min(o.seeds_together, seeds)
        if group > 1:
            check_memory(memory_needed(problem, d, dtype, group, records),
                         f"d = {d} with seeds_together = {group}",
                         "lower seeds_together (or leave it to the default)",
                         detail=f" ({group} data matrices n x d, {dtype})")
    # groups of nearly equal size: ceil(seeds / group) of them
    n_groups = -(-seeds // group)
    bounds = [seeds * j // n_groups for j in range(n_groups + 1)]

    n_rec = T // every + 2
    check_memory(len(OBSERVABLES) * 8 * seeds * n_rec * 2,
                 f"seeds = {seeds} with {n_rec} recorded times (t_max = {training.t_max:g}, "
                 f"eta = {training.eta:g}, every = {every})",
                 "lower seeds or t_max, or record less often (every)",
                 detail=" (the recorded curves of every seed)")
    rec = np.unique(np.r_[np.arange(0, T + 1, every), T])
    runs = np.empty((len(OBSERVABLES), seeds, len(rec)))
    two_time = RunningMean() if o.two_time else None
    t_start = time.perf_counter()
    t_products = t_steps = 0.0
    bar = Progress(total=seeds * T, desc="simulate", unit="steps", progress=progress)
    try:
        with loop_blas_threads(problem, d, dtype):
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                if hi - lo == 1:  # a lone run: 1-D arrays have less per-call overhead
                    dt_products, dt_steps = _run_one(problem, training, d, seed0 + lo, rec,
                                                     dtype, runs[:, lo], bar, two_time)
                else:
                    dt_products, dt_steps = _run_group(problem, training, d,
                                                       range(seed0 + lo, seed0 + hi), rec,
                                                       dtype, runs[:, lo:hi], bar, two_time)
                t_products += dt_products
                t_steps += dt_steps
    finally:
        bar.close()
    wall = time.perf_counter() - t_start

    curves = {}
    for name, samples in zip(OBSERVABLES, runs):
        curves[name], curves[name + "_sem"] = mean_and_sem(samples)
    extras = {}
    if two_time is not None:
        extras = dict(C=two_time.mean, C_sem=two_time.sem(),
                      **{name + "_per_seed": samples for name, samples in zip(OBSERVABLES, runs)})
    params = dict(problem=problem.params(), model=problem.model_params(),
                  training=training.params(), **o.params(),
                  seed_list=list(range(seed0, seed0 + seeds)), version=__version__)
    stats = dict(wall_time=wall, steps=T, matvec_time=t_products, step_time=t_steps,
                 time_per_step=t_steps / (seeds * T), data_time=wall - t_steps,
                 seeds_together=max(hi - lo for lo, hi in zip(bounds[:-1], bounds[1:])))
    return Result(t=training.times[rec], method="simulate", params=params, stats=stats,
                  extras=extras, **curves)


def _flow_limit(problem, training, o, progress) -> Result:
    """The eta -> 0 extrapolation of :func:`simulate` (docs/flow-limit.md): runs at eta / 2^j,
    j = 0 .. eta_ladder - 1, rung j with the seeds seed0 + j seeds ... (independent rungs) and
    recording every ``every`` 2^j steps (the coarse grid)."""
    rung = o.replace(eta_limit=False)

    def solve(tr, j):
        return simulate(problem, tr, rung.replace(seed0=o.seed0 + j * o.seeds,
                                                  every=o.every * 2**j), progress=progress)

    return flow_limit(solve, training, o.eta_ladder, method="simulate-eta-limit",
                      options_params=o.params())


def _run_one(problem, training, d, seed, rec, dtype, out, bar,
             two_time=None) -> tuple[float, float]:
    """One seed; fills out[observable, record] and, with ``two_time`` (a RunningMean), adds
    its C(t_k, t_j) = w(t_k).w(t_j)/d over the recorded times; returns (time in the two
    products, time in the step loop)."""
    rng = np.random.default_rng(seed)
    X, c, y = make_data(problem, d, rng, dtype)
    n = X.shape[0]
    w = (math.sqrt(training.R) * rng.standard_normal(d)).astype(dtype)
    s = training.initial_batch(rng, n)
    eta, lam = training.eta, problem.lam
    T = training.steps
    W = None if two_time is None else np.empty((len(rec), d), dtype=dtype)
    dt_products = 0.0
    r = 0
    t_loop = time.perf_counter()
    for k in range(T + 1):
        t0 = time.perf_counter()
        h = X @ w
        dt_products += time.perf_counter() - t0
        if k == rec[r]:
            if W is not None:
                W[r] = w
            m = float(w.sum(dtype=np.float64)) / d
            C = float(np.dot(w, w)) / d
            if first_diverged(C, training.R) is not None:
                raise DivergenceError(
                    f"the simulation diverged at t = {k * eta:g} (|w|^2/d = {C:.3g} is not "
                    f"finite or beyond {DIVERGED:.0e} max(1, R)): use a smaller eta (now {eta:g})")
            out[0, r] = problem.gen_error(m, C)
            out[1, r] = problem.Lambda(y, h).mean()
            out[2, r] = problem.correct(y, h).mean()
            out[3, r] = abs(m) if problem.symmetric else m
            out[4, r] = C
            r += 1
        if k == T:
            break
        g = s * problem.dLambda(y, h)
        t0 = time.perf_counter()
        grad = X.T @ g.astype(dtype, copy=False)
        dt_products += time.perf_counter() - t0
        w = w - eta * (lam * w + grad)
        if training.stochastic:
            s = training.next_batch(rng, s)
        bar.update()
    t_loop = time.perf_counter() - t_loop
    if not np.all(np.isfinite(out)) or first_diverged(out[1], training.R) is not None:
        raise DivergenceError(
            f"the simulation diverged (observables not finite or beyond {DIVERGED:.0e}, seed "
            f"{seed}): use a smaller eta (now {eta:g})")
    if W is not None:
        W = W.astype(np.float64, copy=False)
        two_time.add((W @ W.T) / d)
    return dt_products, t_loop


def _run_group(problem, training, d, seeds, rec, dtype, out, bar,
               two_time=None) -> tuple[float, float]:
    """The runs ``seeds`` (a range), advanced together; fills out[observable, run, record]
    (and adds each run's C(t, t') to ``two_time``, as :func:`_run_one`) and returns (time in
    the two products, time in the step loop).

    Each run draws from its own generator in the order of a lone run (data, w(0), s(0), then
    s(k+1) at each step), so the numbers do not depend on how runs are grouped. The data
    matrices are stacked as X[run] (S x n x d): ``np.matmul`` on the stack calls the same BLAS
    matrix-vector product per run as ``X @ w`` for one run, and every O(n + d) operation is one
    numpy call for all runs.
    """
    S = len(seeds)
    n = max(1, int(round(problem.alpha * d)))
    X = np.empty((S, n, d), dtype=dtype)
    y = np.empty((S, n))
    s = np.empty((S, n))
    w = np.empty((S, d), dtype=dtype)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    for i, rng in enumerate(rngs):
        y[i] = make_data(problem, d, rng, out=X[i])[2]
        w[i] = math.sqrt(training.R) * rng.standard_normal(d)  # cast to dtype as by astype
        s[i] = training.initial_batch(rng, n)
    eta, lam = training.eta, problem.lam
    stochastic = training.stochastic
    T = training.steps
    h = np.empty((S, n), dtype=dtype)
    grad = np.empty((S, d), dtype=dtype)
    step = np.empty((S, d), dtype=dtype)
    # views for np.matmul: (S, d, 1) and (S, n, 1) columns, (S, 1, n) and (S, 1, d) rows
    w_col, h_col, grad_row = w[:, :, None], h[:, :, None], grad[:, None, :]
    W = None if two_time is None else np.empty((S, len(rec), d), dtype=dtype)
    rec = rec.tolist()
    dt_products = 0.0
    r = 0
    t_loop = time.perf_counter()
    for k in range(T + 1):
        t0 = time.perf_counter()
        np.matmul(X, w_col, out=h_col)  # h = X w per run
        dt_products += time.perf_counter() - t0
        if k == rec[r]:
            if W is not None:
                W[:, r] = w
            m = w.sum(axis=1, dtype=np.float64) / d
            C = np.matmul(w[:, None, :], w_col)[:, 0, 0].astype(np.float64) / d  # BLAS dot per run
            bad = first_diverged(C, training.R)
            if bad is not None:
                raise DivergenceError(
                    f"the simulation diverged at t = {k * eta:g} (|w|^2/d is not finite or beyond "
                    f"{DIVERGED:.0e} max(1, R), seed {seeds[bad]}): use a smaller eta (now {eta:g})")
            out[0, :, r] = problem.gen_error(m, C)
            out[1, :, r] = problem.Lambda(y, h).mean(axis=1)
            out[2, :, r] = problem.correct(y, h).mean(axis=1)
            out[3, :, r] = np.abs(m) if problem.symmetric else m
            out[4, :, r] = C
            r += 1
        if k == T:
            break
        g = problem.dLambda(y, h)
        if stochastic:  # else s = 1 (and 1 * g = g exactly)
            g *= s
        t0 = time.perf_counter()
        np.matmul(g.astype(dtype, copy=False)[:, None, :], X, out=grad_row)  # X^T g per run
        dt_products += time.perf_counter() - t0
        np.multiply(w, lam, out=step)  # w <- w - eta (lam w + grad), in place
        step += grad
        step *= eta
        w -= step
        if stochastic:
            for i, rng in enumerate(rngs):
                s[i] = training.next_batch(rng, s[i])
        bar.update(S)
    t_loop = time.perf_counter() - t_loop
    limit = DIVERGED * max(1.0, training.R)
    finite = np.isfinite(out).all(axis=(0, 2)) & (np.abs(out[1]) <= limit).all(axis=1)
    if not finite.all():
        raise DivergenceError(
            f"the simulation diverged (non-finite observables, seed {seeds[int(np.argmin(finite))]}): "
            f"use a smaller eta (now {eta:g})")
    if W is not None:
        for Wi in W:  # in seed order, as lone runs would add them
            Wi = Wi.astype(np.float64, copy=False)
            two_time.add((Wi @ Wi.T) / d)
    return dt_products, t_loop
