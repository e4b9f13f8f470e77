"""solve_dmft: validate -> burn-in -> iterate -> assemble (docs/theory.md, "DMFT" and "Solver").

How it is solved. Every kernel at time k depends only on the process up to time k, which
depends only on kernels at earlier times: the equations are causal. The first iteration is
therefore a forward sweep that estimates the time-k kernels as soon as its draws reach time k
(:func:`~gmmdmft.dmft.causal.causal_sweep`), a complete fixed-point solve for the draws at
hand. Its weak point is M_R, which causally needs each draw's response to every earlier time
(affordable for a few draws only), and its noise and M_C cost a product with the whole history
per step. Later iterations (:func:`~gmmdmft.dmft.lagged.lagged_sweep`) keep the cheap scalar
kernels lamhat and mu causal but run fresh draws under the previous iteration's M_C and M_R, so
that the noise, the memory sum and the new M_C are matrix products over blocks of time, and
M_R is re-estimated after the sweep from many importance-sampled draws
(:func:`~gmmdmft.dmft.response.response_estimate`). The map from old to new M_C, M_R contracts
strongly (measured at T = 500: the lagged iterations agree with all-causal ones within their
errors, and successive iterations are not positively correlated). Iterations use fresh draws,
so after the burn-in they are independent samples of the solution: the curves returned are
their mean, the errors the standard error of that mean.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import __version__
from .._backend import NUMPY, get_backend
from .._progress import Progress
from .._validation import (DIVERGED, DivergenceError, ParameterError, check_instance,
                           check_memory, first_diverged)
from ..model import Problem
from ..options import DMFTOptions
from ..result import OBSERVABLES, Result, RunningMean
from ..training import Training
from .causal import causal_sweep
from .draws import pick_response_draws
from .kernels import KERNELS, equal_time, kernel_change, kernels_from, two_time
from .lagged import lagged_sweep, noise_root
from .response import probe_estimate, response_chunk, response_estimate

# iterations discarded: the causal sweep, and the first iteration run under its kernels (whose
# M_R comes from few draws: measured at T = 500, the spread of gen_error(100) over solver seeds
# is 0.0024 in that iteration and 0.0004-0.0008 in the later ones)
BURN_IN = 2
# the error estimate needs a few iterations after the burn-in before it can stop the iteration
MIN_USED_FOR_TOL = 4
# fraction of the draws used in the causal (burn-in) sweep: its curves are discarded and its
# kernels only seed the next iteration (measured: 1, 0.25 and 0.1 give the same later iterations)
BURN_IN_FRACTION = 0.25
# the same with response = "probe": its later iterations are cheap, so the burn-in sweep (whose
# products with the history per step cost T^2 N/2 memory reads each) would dominate long
# horizons; 0.1 is within the measured range above
BURN_IN_FRACTION_PROBE = 0.1
# draws whose responses give the first (causal) sweep its M_R; later iterations re-estimate it
CAUSAL_RESPONSE_SAMPLES = 64
# probes per draw of the probe estimate of M_R (importance-sampled picks: PROBES_PER_DRAW * N).
# Its noise is most of the scatter of the late curves: measured at T = 1000, N = 2e4, 4 probes
# per draw cut the iteration-to-iteration spread of gen_error(t = 200) from 0.0023 to 0.0017
# (variance ~ a + b / P with b / a = 1.5); against the cost of the other phases 2 is the best.
PROBES_PER_DRAW = 2
# buffers of the probe estimate of M_R (its chunks of draws, response.probe_estimate)
PROBE_CHUNK_BYTES = 2**28
# old keyword -> option name
ALIASES = {"G_dtype": "response_dtype"}


def solve_dmft(problem: Problem, training: Training, options: DMFTOptions | None = None, *,
               init: Result | None = None, return_kernels: bool = False,
               progress: bool | None = None, **keywords) -> Result:
    """Solve the DMFT equations (docs/theory.md, "DMFT") and return the d -> infinity curves.

    The iteration (see the module docstring for why it works):

    1. a causal sweep: N/4 draws, every kernel estimated at time k as soon as the draws reach
       k (M_R from the responses of a few draws); a complete solve for these draws;
    2. each further iteration draws N fresh samples and runs them under the current M_C and
       M_R (noise, memory sums and M_C as matrix products), re-estimates lamhat and mu
       causally, and then M_R from the D paths of ``response_samples`` of them.

    The first two iterations are burn-in; the curves returned are the mean over the later ones
    and their ``*_sem`` the standard error of that mean from the scatter between iterations
    (for ``damping`` < 1 the iterations are correlated and the error is inflated by the AR(1)
    factor sqrt((2 - damping)/damping)).

    Parameters
    ----------
    problem, training : Problem, Training
        The learning problem and the algorithm; the DMFT uses the same step eta (discrete time).
    options : DMFTOptions, optional
        The solver's options (:class:`~gmmdmft.DMFTOptions`: samples, response_samples,
        damping, max_iter, tol, seed, m0, d, response_dtype, lagged, backend, device);
        keywords of the same names override them (``solve_dmft(p, t, samples=4000)``).
    init : Result, optional
        A previous solution (same problem and training up to the horizon, kernels returned) to
        start from instead of the causal sweep; a shorter horizon is extended.
    return_kernels : bool
        Put the two-time functions C(t, t') and R(t, t') (``result.C``, ``result.R``: the
        mean over the averaged iterations, like the curves, with their standard errors
        ``result.C_sem``, ``result.R_sem``; docs/results.md, "Two-time functions"), P0 and the
        kernels M_C, M_R, lamhat, mu of the last iteration in ``result.extras``.
    progress : bool or None
        None: a progress bar over iterations on a terminal for solves longer than 2 s, else a
        one-line record every 30 s on standard error; True: always the bar; False: nothing.

    Returns
    -------
    Result
        Curves at every step k = 0..T. ``status`` 0 if the requested tol was met (or tol = 0),
        1 otherwise; ``stats`` has iterations, kernel change per iteration and time per phase.
    """
    options = _options(problem, training, options, keywords)
    m0 = options.initial_m0(problem, training)
    be = get_backend(options.backend, options.device)
    check_backend_runs(problem, be)
    _check_memory(training, options, be, return_kernels)
    solver = _Solver(problem, training, options, m0, be, init, return_kernels)
    bar = Progress(total=options.max_iter, desc="dmft", unit="iterations", progress=progress)
    try:
        # a diverging solve overflows on its way to the DivergenceError that reports it
        with np.errstate(over="ignore", invalid="ignore"):
            while not solver.done:
                solver.iterate()
                bar.set_postfix(change=f"{solver.changes[-1]:.2e}", err=f"{solver.err:.1e}")
                bar.update()
    finally:
        bar.close()
    return solver.result(return_kernels)


def _options(problem, training, options, keywords) -> DMFTOptions:
    """The validated options: ``options`` (or the defaults) with ``keywords`` applied."""
    check_instance("problem", problem, Problem)
    check_instance("training", training, Training)
    keywords = {ALIASES.get(k, k): v for k, v in keywords.items()}
    return DMFTOptions.merged(options, keywords, "solve_dmft")


def check_backend_runs(problem: Problem, be) -> None:
    """Refuse, before any compute, a model whose loss or output does not run on the array
    backend ``be`` (a plug-in written with numpy functions on the torch backend)."""
    if be is NUMPY:
        return
    r = np.linspace(-3.0, 3.0, 7)
    want = problem.terms(1.0, r)
    try:
        got = problem.terms(be.asarray(np.ones(7)), be.asarray(r), be)
        ok = all(be.is_array(g) and np.allclose(be.to_numpy(g), w, rtol=1e-8, atol=1e-12)
                 for g, w in zip(got, want))
    except Exception:  # noqa: BLE001 - any failure means it does not run there
        ok = False
    if not ok:
        raise ParameterError(
            f"backend = {be.name!r} cannot run this model (loss = {problem.params()['loss']!r}, "
            f"activation = {problem.params()['activation']!r}): its functions must take and "
            "return tensors (a loss's terms(v, ops) gets ops.expit, ops.log, ops.exp, ops.relu, "
            "ops.step); use backend = 'numpy'")


def _check_memory(training, options, be, return_kernels: bool = False) -> None:
    """Refuse a solve whose arrays would not fit (host, and device for cuda)."""
    T, N, NR = training.steps, options.samples, options.response_samples
    item = np.dtype(options.response_dtype).itemsize
    paths = (T + 1) * N * (3 * 8 + item)  # h, F, z (float64) and D paths
    if options.response == "probe":  # chunked tangents; the burn-in's tangents of its draws
        response = PROBE_CHUNK_BYTES
        causal = 2 * (T + 1) * _burn_in_samples(options) * item
    else:
        response = (T + 1) * T * item * response_chunk(T, NR, item)
        causal = (T + 1) * T * min(CAUSAL_RESPONSE_SAMPLES, N) * item
    work = paths + 8 * T * T * 8 + max(causal, response)
    if return_kernels:  # mean and error accumulators of C and R, and a temporary of each
        work += 6 * (T + 1) * (T + 1) * 8
    what = f"samples = {N} at T = {T} steps (t_max = {training.t_max:g}, eta = {training.eta:g})"
    check_memory(work, what, "lower samples or t_max")
    if be.available_memory() is not None:  # the lagged iterations' arrays live on the device
        check_memory(paths + response, what, "lower samples or t_max",
                     detail=f" on {be.device}", avail=be.available_memory())


class _Solver:
    """The state of one solve between iterations."""

    def __init__(self, problem, training, options, m0, be, init, return_kernels=False):
        self.problem, self.training, self.options, self.m0, self.be = (
            problem, training, options, m0, be)
        # (Rw, P0, C) averaged over the iterations the curves average (after the burn-in)
        self.two_time_mean = [RunningMean() for _ in range(3)] if return_kernels else None
        self.T = training.steps
        self.old, self.T_known = (None, 0) if init is None else kernels_from(init, self.T)
        self.warm = init is not None
        self.MR_next = None if self.old is None else self.old["M_R"]
        self.rng = np.random.default_rng(options.seed)
        self.runs, self.changes, self.per_iteration = [], [], []
        self.work = {}  # arrays reused across iterations
        self.err = float("inf")
        self.done = False
        self.curves = None
        self.last = None  # (Rw, P0, C) of the last iteration (with return_kernels)
        self.root = None  # the noise root of self.old["M_C"], for the next lagged sweep
        self.norm = None
        self.t_start = time.perf_counter()

    def iterate(self) -> None:
        """One sweep (causal burn-in or lagged), its curves, and M_R for the next one."""
        o, T = self.options, self.T
        gamma = np.ones(T)
        if self.old is not None:
            gamma[:self.T_known] = o.damping
        kind = "lagged" if self.old is not None and self.T_known == T and o.lagged else "causal"
        if kind == "lagged":
            new, m, loss, acc, tm, Dpaths = lagged_sweep(
                self.problem, self.training, dict(self.old, M_R=self.MR_next), gamma, o.samples,
                self.m0, self.rng, o.response_dtype, work=self.work, be=self.be, root=self.root)
        else:
            n_sweep = o.samples if self.old is not None else _burn_in_samples(o)
            probe = o.response == "probe"
            new, m, loss, acc, tm, Dpaths = causal_sweep(
                self.problem, self.training, self.old, gamma, n_sweep,
                n_sweep if probe else min(CAUSAL_RESPONSE_SAMPLES, o.samples), self.m0,
                self.rng, o.response_dtype, MR_fixed=self.MR_next, n_store=n_sweep, probe=probe)
        t0 = time.perf_counter()
        self.root = noise_root(new["M_C"])  # C(t, t) needs it, and so does the next sweep
        if self.two_time_mean is not None:  # C(t, t') and R(t, t'), averaged as the curves are
            self.last = two_time(self.problem, self.training, new, m, self.m0)
            self.norm = np.diagonal(self.last[2]).copy()
            if len(self.runs) >= BURN_IN:
                for mean, x in zip(self.two_time_mean, self.last):
                    mean.add(x)
        else:  # C(t, t) alone: one triangular solve instead of about 5 T^3 multiply-adds
            self.norm = equal_time(self.problem, self.training, new, m, self.m0, self.root[0])
        tm["two_time"] = time.perf_counter() - t0
        self.runs.append(self._observables(m, loss, acc))
        self.changes.append(kernel_change(self.old, new) if self.old is not None else float("nan"))
        self.old, self.T_known = new, T
        used = self.runs[BURN_IN:] if len(self.runs) > BURN_IN else self.runs[-1:]
        self.curves = average(used, o.damping)
        if len(used) > 1:
            self.err = float(np.nanmax(self.curves["gen_error_sem"]))
        self.done = len(self.runs) == o.max_iter or (
            o.tol > 0 and len(used) >= MIN_USED_FOR_TOL and self.err <= o.tol)
        if not self.done:  # M_R for the next iteration (after the last one it would go unused)
            t0 = time.perf_counter()
            self.MR_next = self._next_response(new, Dpaths)
            tm["M_R"] += time.perf_counter() - t0
        tm["kind"] = kind
        self.per_iteration.append(tm)

    def _observables(self, m, loss, acc) -> np.ndarray:
        norm = self.norm
        gen = self.problem.gen_error(m, norm)
        eta = self.training.eta
        for name, arr in (("m", m), ("norm", norm), ("gen_error", gen), ("train_loss", loss)):
            k = first_diverged(arr, self.training.R)
            if k is not None:
                raise DivergenceError(
                    f"DMFT diverged: {name} = {arr[k]:.3g} at time step {k} (t = {k * eta:g}) is "
                    f"not finite or beyond {DIVERGED:.0e} max(1, R); use a smaller eta (now "
                    f"{eta:g}) or more damping")
        return np.stack([gen, loss, acc, m, norm])

    def _next_response(self, new, Dpaths):
        be, o = self.be, self.options
        Dpaths = be.asarray(Dpaths)
        score = be.to_numpy(be.einsum("kn,kn->n", Dpaths, Dpaths))
        if o.response == "probe":
            pick, w = pick_response_draws(score, PROBES_PER_DRAW * o.samples, self.rng)
            est = probe_estimate(self.problem, self.training, new["lamhat"], new["M_R"],
                                 Dpaths, self.rng, o.response_dtype, weights=w, pick=pick,
                                 chunk_bytes=PROBE_CHUNK_BYTES, work=self.work, be=be)
        else:
            pick, w = pick_response_draws(score, o.response_samples, self.rng)
            est = response_estimate(self.problem, self.training, new["lamhat"], new["M_R"],
                                    Dpaths[:, be.asarray(pick)], o.response_dtype, weights=w,
                                    work=self.work, be=be)
        mixed = o.damping < 1.0 and (len(self.runs) > 1 or self.warm)
        return (1 - o.damping) * new["M_R"] + o.damping * est if mixed else est

    def result(self, return_kernels: bool) -> Result:
        o = self.options
        status, message = 0, "success"
        if o.tol > 0 and self.err > o.tol:
            status = 1
            message = (f"not converged: Monte-Carlo error of gen_error {self.err:.2g} > tol "
                       f"{o.tol:g} after {len(self.runs)} iterations; increase max_iter, samples "
                       "or response_samples")
        timing = {k: sum(tm.get(k, 0.0) for tm in self.per_iteration)
                  for k in ("process", "noise", "memory", "M_C", "M_R", "two_time")}
        used = max(1, len(self.runs) - BURN_IN)
        params = dict(problem=self.problem.params(), model=self.problem.model_params(),
                      training=self.training.params(), **o.params())
        params.update(m0=self.m0, version=__version__)
        stats = dict(wall_time=time.perf_counter() - self.t_start, iterations=len(self.runs),
                     averaged_iterations=used, kernel_change=self.changes,
                     final_kernel_change=self.changes[-1], max_gen_error_sem=self.err,
                     timing=timing, timing_per_iteration=self.per_iteration, steps=self.T)
        extras = {}
        if return_kernels:
            extras = dict(self._two_time(), **{k: self.old[k] for k in KERNELS})
        return Result(t=self.training.times, method="dmft", params=params, status=status,
                      message=message, stats=stats, extras=extras, **self.curves)

    def _two_time(self) -> dict:
        """C, R, P0 averaged as the curves are (the last iteration alone when the solve ended
        within the burn-in), with the standard errors of C and R (AR(1)-corrected as in
        :func:`average`)."""
        Rw, P0, C = self.two_time_mean
        if Rw.n == 0:
            return dict(C=self.last[2], C_sem=np.full_like(self.last[2], np.nan),
                        R=self.last[0], R_sem=np.full_like(self.last[0], np.nan),
                        P0=self.last[1])
        inflation = math.sqrt((2.0 - self.options.damping) / self.options.damping)
        return dict(C=C.mean, C_sem=C.sem(inflation), R=Rw.mean, R_sem=Rw.sem(inflation),
                    P0=P0.mean)


def _burn_in_samples(options) -> int:
    """Draws of the first (causal, burn-in) sweep."""
    if options.response == "probe":
        n = max(CAUSAL_RESPONSE_SAMPLES, int(options.samples * BURN_IN_FRACTION_PROBE))
    else:
        n = max(options.response_samples, CAUSAL_RESPONSE_SAMPLES,
                int(options.samples * BURN_IN_FRACTION))
    return min(options.samples, n + n % 2)


def average(runs, damping):
    """Mean over iterations and its standard error (AR(1)-corrected for damping < 1)."""
    arr = np.asarray(runs)  # (iterations, observable, time)
    mean = arr.mean(axis=0)
    n = arr.shape[0]
    if n > 1:
        sem = arr.std(axis=0, ddof=1) / math.sqrt(n) * math.sqrt((2.0 - damping) / damping)
    else:
        sem = np.full_like(mean, np.nan)
    out = {}
    for i, name in enumerate(OBSERVABLES):
        out[name], out[name + "_sem"] = mean[i], sem[i]
    return out
