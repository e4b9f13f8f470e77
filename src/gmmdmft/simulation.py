"""Finite-d simulation of GD / SGD / persistent SGD on the Gaussian mixture (sheet §1-§3)."""

from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from ._validation import DivergenceError, check_choice, check_int, check_memory
from .problem import Problem
from .result import OBSERVABLES, Result, mean_and_sem
from .training import Training

DTYPES = ("float64", "float32")


def memory_needed(problem: Problem, d: int, dtype: str = "float64") -> int:
    """Peak bytes of one simulation: the data matrix X (n x d) plus a row-chunk of scratch."""
    n = max(1, int(round(problem.alpha * d)))
    item = np.dtype(dtype).itemsize
    return n * d * item + min(n, 4096) * d * 8 + 16 * (n + d) * 8


def make_data(problem: Problem, d: int, rng: np.random.Generator, dtype="float64"):
    """Draw (X / sqrt(d), c, y): the scaled n x d data matrix, cluster indices and labels.

    x_mu = c_mu v*/sqrt(d) + sqrt(delta) z_mu with v* = (1, ..., 1) (sheet §1); X is returned
    already divided by sqrt(d) so that h = X w and the gradient is X^T g.
    """
    n = max(1, int(round(problem.alpha * d)))
    c, y = problem.sample_clusters(rng, n)
    X = np.empty((n, d), dtype=dtype)
    scale = math.sqrt(problem.delta / d)
    chunk = max(1, min(n, 4096))
    for start in range(0, n, chunk):  # bounded float64 scratch for the Gaussian draws
        stop = min(n, start + chunk)
        z = rng.standard_normal((stop - start, d))
        z *= scale
        z += (c[start:stop] / d)[:, None]
        X[start:stop] = z
    return X, c, y


def simulate(problem: Problem, training: Training, *, d: int, seeds: int = 1, seed0: int = 0,
             every: int = 1, dtype: str = "float64", progress: bool | None = None) -> Result:
    """Simulate the training algorithm at finite dimension d and average over seeds.

    Parameters
    ----------
    problem, training : Problem, Training
        The learning problem and the algorithm (sheet §1-§2).
    d : int
        Input dimension; n = round(alpha d) samples.
    seeds : int
        Number of independent runs (data, initialisation and batches), seeds seed0 ... seed0+seeds-1.
    every : int
        Record every k-th step (the last step is always recorded).
    dtype : {"float64", "float32"}
        Precision of the data matrix and the weights.
    progress : bool or None
        Show a progress bar (None: only when the run takes more than 2 seconds).

    Returns
    -------
    Result
        Curves averaged over seeds with standard errors over seeds. For three clusters ``m`` is
        |m| per seed (the sign is a symmetry of the model). Each step costs two matrix-vector
        products with X and O(n + d) other work.

    Raises
    ------
    ParameterError
        Bad parameters, or the data matrix does not fit in the available memory.
    DivergenceError
        |w| became infinite or NaN (eta too large).
    """
    d = check_int("d", d, lo=1)
    seeds = check_int("seeds", seeds, lo=1)
    seed0 = check_int("seed0", seed0, lo=0)
    every = check_int("every", every, lo=1)
    check_choice("dtype", dtype, DTYPES)
    check_memory(memory_needed(problem, d, dtype), f"d = {d}", "lower d or alpha, or use dtype float32",
                 detail=f" (data matrix n x d, {dtype})")

    T = training.steps
    rec = np.unique(np.r_[np.arange(0, T + 1, every), T])
    runs = np.empty((len(OBSERVABLES), seeds, len(rec)))
    t_start = time.perf_counter()
    t_products = t_steps = 0.0
    bar = tqdm(total=seeds * T, desc="simulate", unit="step", disable=progress is False,
               delay=0 if progress else 2.0, leave=False)
    try:
        for i in range(seeds):
            dt_products, dt_steps = _run_one(problem, training, d, seed0 + i, rec, dtype, runs[:, i], bar)
            t_products += dt_products
            t_steps += dt_steps
    finally:
        bar.close()
    wall = time.perf_counter() - t_start

    curves = {}
    for name, samples in zip(OBSERVABLES, runs):
        curves[name], curves[name + "_sem"] = mean_and_sem(samples)
    params = dict(problem=problem.params(), training=training.params(), d=d, seeds=seeds,
                  seed0=seed0, seed_list=list(range(seed0, seed0 + seeds)), every=every,
                  dtype=dtype, version=__version__)
    stats = dict(wall_time=wall, steps=T, matvec_time=t_products, step_time=t_steps,
                 time_per_step=t_steps / (seeds * T), data_time=wall - t_steps)
    return Result(t=training.times[rec], method="simulate", params=params, stats=stats, **curves)


def _run_one(problem, training, d, seed, rec, dtype, out, bar) -> tuple[float, float]:
    """One seed; fills out[observable, record]; returns (time in the two products, time in the
    step loop)."""
    rng = np.random.default_rng(seed)
    X, c, y = make_data(problem, d, rng, dtype)
    n = X.shape[0]
    w = (math.sqrt(training.R) * rng.standard_normal(d)).astype(dtype)
    s = training.initial_batch(rng, n)
    eta, lam = training.eta, problem.lam
    T = training.steps
    dt_products = 0.0
    r = 0
    t_loop = time.perf_counter()
    for k in range(T + 1):
        t0 = time.perf_counter()
        h = X @ w
        dt_products += time.perf_counter() - t0
        if k == rec[r]:
            m = float(w.sum(dtype=np.float64)) / d
            C = float(np.dot(w, w)) / d
            if not math.isfinite(C):
                raise DivergenceError(
                    f"the simulation diverged at t = {k * eta:g} (|w|^2/d is not finite): "
                    f"use a smaller eta (now {eta:g})")
            out[0, r] = problem.gen_error(m, C)
            out[1, r] = problem.Lambda(y, h).mean()
            out[2, r] = problem.correct(y, h).mean()
            out[3, r] = abs(m) if problem.clusters == 3 else m
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
    if not np.all(np.isfinite(out)):
        raise DivergenceError(
            f"the simulation diverged (non-finite observables, seed {seed}): "
            f"use a smaller eta (now {eta:g})")
    return dt_products, t_loop
