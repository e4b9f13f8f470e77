"""Finite-size extrapolation: simulations at several d, and the fit
x(t; d) = x_inf(t) + a(t)/d at every recorded time (docs/finite-size.md, "The 1/d fit").

:func:`finite_size` runs :func:`~gmmdmft.simulate` once per d (the options of each call:
:func:`simulation_options`, so that a job engine can run them itself and call
:func:`fit_finite_size` on the results), fits every observable by weighted least squares with
the seed standard errors, and compares x_inf with a DMFT solution when one is given.

The 1/d law is the leading finite-size correction of a model without the w -> -w symmetry
(the two-cluster model). For a symmetric model the breaking time moves with log d, and during
the breaking the corrections are not a power series in 1/d: use the m0-averaged DMFT there
(:func:`gmmdmft.dmft.solve_dmft_m0_average`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2 as chi2_law

from . import __version__
from ._validation import ParameterError, check_instance, check_int
from .dmft import solve_dmft
from .model import Problem
from .options import DMFTOptions, SimulationOptions
from .result import OBSERVABLES, Result
from .simulation import simulate
from .training import Training


@dataclass
class InverseDFit:
    """The weighted least-squares fit x(t; d) = inf(t) + a(t)/d at each recorded time.

    ``inf``, ``a`` with standard errors ``inf_sem``, ``a_sem`` and covariance ``cov`` (from the
    seed standard errors taken as known, not rescaled by the chi^2); ``chi2`` per time with
    ``dof`` = (number of d) - 2 degrees of freedom (NaN when dof = 0). Times are strongly
    correlated (the same seeds run through all of them), so the per-time chi^2 are not
    independent: ``mean_chi2`` / ``dof`` near 1 says the 1/d law and the error bars hold.
    """

    t: np.ndarray
    inf: np.ndarray
    inf_sem: np.ndarray
    a: np.ndarray
    a_sem: np.ndarray
    cov: np.ndarray
    chi2: np.ndarray
    dof: int

    @property
    def mean_chi2(self) -> float:
        return float(np.nanmean(self.chi2)) if self.dof > 0 else float("nan")

    def p_values(self) -> np.ndarray:
        """P(chi^2_dof >= chi2) at each time (NaN for dof = 0)."""
        if self.dof == 0:
            return np.full_like(self.chi2, np.nan)
        return chi2_law.sf(self.chi2, self.dof)


@dataclass
class FiniteSizeResult:
    """Simulations at several d, the 1/d fits and the DMFT they are compared with.

    ``fits[name]`` is the :class:`InverseDFit` of each observable (``gen_error``,
    ``train_loss``, ``train_accuracy``, ``m``, ``norm``); ``simulations`` the Result of each
    d (in the order of ``ds``); ``dmft`` the DMFT Result or None.
    """

    t: np.ndarray
    ds: tuple
    seeds: tuple
    simulations: list
    fits: dict
    dmft: Result | None = None
    params: dict = field(default_factory=dict)

    def gap(self, name: str = "gen_error") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gap, combined error, z) of x_inf - DMFT at the recorded times; the combined error
        is sqrt(inf_sem^2 + sem_dmft^2)."""
        if self.dmft is None:
            raise ValueError("no DMFT to compare with: pass dmft to finite_size")
        k = np.searchsorted(self.dmft.t, self.t - 1e-9)
        fit = self.fits[name]
        dmft, dmft_sem = getattr(self.dmft, name)[k], getattr(self.dmft, name + "_sem")[k]
        gap = fit.inf - dmft
        sigma = np.hypot(fit.inf_sem, np.nan_to_num(dmft_sem))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sigma > 0, gap / sigma, np.nan)
        return gap, sigma, z


def _seeds_per_d(ds, seeds) -> tuple[tuple, tuple]:
    if isinstance(ds, (int, np.integer)) or isinstance(ds, (str, bytes)):
        raise ParameterError(f"ds = {ds!r} must be a list of dimensions")
    ds = tuple(check_int("ds", d, lo=1) for d in ds)
    if len(set(ds)) < 2:
        raise ParameterError(f"ds = {list(ds)} needs at least 2 distinct dimensions to fit "
                             "x_inf + a/d")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = (seeds,) * len(ds)
    seeds = tuple(check_int("seeds", s, lo=2, hi=10**6) for s in seeds)
    if len(seeds) != len(ds):
        raise ParameterError(f"seeds = {list(seeds)} must be one count or one per d "
                             f"({len(ds)} values)")
    return ds, seeds


def simulation_options(ds, seeds, options: SimulationOptions | None = None) -> list:
    """The options of the simulation at each d: ``options`` with d and seeds set, and disjoint
    seed ranges (d_i uses seed0 + sum of the earlier seed counts), so that the runs at
    different d share no random stream and their errors are independent, as the fit assumes.
    ``seeds``: one count for every d, or one per d (each >= 2: the fit needs error bars)."""
    ds, seeds = _seeds_per_d(ds, seeds)
    base = options if options is not None else SimulationOptions()
    check_instance("options", base, SimulationOptions)
    out, seed0 = [], base.seed0
    for d, s in zip(ds, seeds):
        out.append(base.replace(d=d, seeds=s, seed0=seed0))
        seed0 += s
    return out


def fit_inverse_d(ds, means, sems) -> dict:
    """Weighted least squares of means[i] = inf + a / ds[i] with weights 1/sems[i]^2, at each
    time (columns): the normal equations of a straight line in x = 1/d,
    inf = (Sxx Sy - Sx Sxy)/D, a = (S Sxy - Sx Sy)/D with D = S Sxx - Sx^2,
    var(inf) = Sxx/D, var(a) = S/D, cov = -Sx/D, chi2 = sum w (y - inf - a x)^2. Times where an
    error bar is 0 or NaN get NaN (no weight can be given)."""
    x = 1.0 / np.asarray(ds, dtype=float)[:, None]
    y = np.asarray(means, dtype=float)
    s = np.asarray(sems, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(s > 0, 1.0 / s**2, np.nan)
        S, Sx, Sxx = w.sum(0), (w * x).sum(0), (w * x * x).sum(0)
        Sy, Sxy = (w * y).sum(0), (w * x * y).sum(0)
        D = S * Sxx - Sx**2
        inf = (Sxx * Sy - Sx * Sxy) / D
        a = (S * Sxy - Sx * Sy) / D
        chi2 = (w * (y - inf - a * x) ** 2).sum(0)
    dof = len(ds) - 2
    if dof == 0:
        chi2 = np.full_like(chi2, np.nan)
    return dict(inf=inf, inf_sem=np.sqrt(Sxx / D), a=a, a_sem=np.sqrt(S / D), cov=-Sx / D,
                chi2=chi2, dof=dof)


def fit_finite_size(problem: Problem, training: Training, simulations: list,
                    dmft: Result | None = None) -> FiniteSizeResult:
    """The 1/d fits of every observable from simulations at several d (:func:`simulate`
    Results of the same problem and training, recorded at the same times)."""
    if len(simulations) < 2:
        raise ParameterError(f"simulations: {len(simulations)} given, the fit needs at least 2 d")
    ds = tuple(int(r.params["d"]) for r in simulations)
    seeds = tuple(int(r.params["seeds"]) for r in simulations)
    _seeds_per_d(ds, seeds)
    t = simulations[0].t
    for r in simulations[1:]:
        if r.t.shape != t.shape or not np.allclose(r.t, t):
            raise ParameterError("simulations are recorded at different times: use the same "
                                 "training and every for every d")
    fits = {}
    for name in OBSERVABLES:
        f = fit_inverse_d(ds, [getattr(r, name) for r in simulations],
                          [getattr(r, name + "_sem") for r in simulations])
        fits[name] = InverseDFit(t=t, **f)
    params = dict(problem=problem.params(), model=problem.model_params(),
                  training=training.params(), ds=list(ds), seeds=list(seeds),
                  simulation=[r.params for r in simulations],
                  dmft=None if dmft is None else dmft.params, version=__version__)
    return FiniteSizeResult(t=t, ds=ds, seeds=seeds, simulations=list(simulations), fits=fits,
                            dmft=dmft, params=params)


def finite_size(problem: Problem, training: Training, ds=(250, 500, 1000, 2000), seeds=10,
                options: SimulationOptions | None = None, *,
                dmft: Result | DMFTOptions | None = None,
                progress: bool | None = None) -> FiniteSizeResult:
    """Simulations at every d of ``ds`` with ``seeds`` seeds each (one count, or one per d;
    disjoint seed ranges, see :func:`simulation_options`), the fit x_inf(t) + a(t)/d of every
    observable at every recorded time, and x_inf against the DMFT.

    ``options``: the other simulation options (every, dtype, seed0, ...; d and seeds are set
    here). ``dmft``: a DMFT Result to compare with, or DMFTOptions to solve it with (for a
    symmetric model they need m0 or d), or None.
    """
    check_instance("problem", problem, Problem)
    check_instance("training", training, Training)
    per_d = simulation_options(ds, seeds, options)
    if isinstance(dmft, DMFTOptions):
        dmft.initial_m0(problem, training)  # its m0 rule checked before any simulation
    elif dmft is not None:
        check_instance("dmft", dmft, Result)
    sims = [simulate(problem, training, o, progress=progress) for o in per_d]
    if isinstance(dmft, DMFTOptions):
        dmft = solve_dmft(problem, training, dmft, progress=progress)
    return fit_finite_size(problem, training, sims, dmft)


def summary_rows(result: FiniteSizeResult, name: str = "gen_error", every: int = 1) -> list:
    """Rows (t, x at each d, x_inf, its error, a, its error, chi2, DMFT, gap, z) for tables."""
    fit = result.fits[name]
    have = result.dmft is not None
    gap, sigma, z = result.gap(name) if have else (None, None, None)
    rows = []
    for i in range(0, len(result.t), every):
        row = dict(t=float(result.t[i]),
                   at_d=[(float(getattr(r, name)[i]), float(getattr(r, name + "_sem")[i]))
                         for r in result.simulations],
                   inf=float(fit.inf[i]), inf_sem=float(fit.inf_sem[i]), a=float(fit.a[i]),
                   a_sem=float(fit.a_sem[i]), chi2=float(fit.chi2[i]))
        if have:
            k = int(np.searchsorted(result.dmft.t, result.t[i] - 1e-9))
            row.update(dmft=float(getattr(result.dmft, name)[k]), gap=float(gap[i]),
                       sigma=float(sigma[i]), z=float(z[i]))
        rows.append(row)
    return rows
