"""The result object shared by :func:`~gmmdmft.simulate` and :func:`~gmmdmft.solve_dmft`.

A :class:`Result` holds the learning curves with their standard errors, the parameters that
made them, and optional two-time functions (docs/results.md). It is what the methods return
and what :func:`gmmdmft.io.read_result` gives back from a file. pandas (for
:meth:`Result.to_pandas`) and matplotlib (for :meth:`Result.plot`) are imported only when those
methods are called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

OBSERVABLES = ("gen_error", "train_loss", "train_accuracy", "m", "norm")
"""The curves of a :class:`Result`, each with its standard error ``NAME_sem``."""
CSV_COLUMNS = ("t",) + tuple(c for o in OBSERVABLES for c in (o, o + "_sem"))
#: optional columns after CSV_COLUMNS: the spread of the m0-averaged DMFT across the law of m(0)
#: (the predicted seed-to-seed standard deviation of a finite-d run) and its error
SPREAD_COLUMNS = tuple(c for o in OBSERVABLES for c in (o + "_spread", o + "_spread_sem"))
"""The columns of the CSV file and of :meth:`Result.table`: ``t``, then each observable and its
``_sem``."""
TIDY_COLUMNS = ("t", "observable", "value", "sem", "method")
"""The columns of :meth:`Result.to_pandas`."""
LABELS = {"gen_error": "generalisation error", "train_loss": "training loss",
          "train_accuracy": "training accuracy", "m": "magnetisation m", "norm": "norm |w|^2/d"}


@dataclass
class Result:
    """Learning curves with their statistical errors, in the manner of scipy's ``OdeResult``.

    Attributes
    ----------
    t : ndarray
        Recorded times t_k = k eta.
    gen_error, train_loss, train_accuracy, m, norm : ndarray
        Generalisation error, training loss (mean over samples), training accuracy,
        magnetisation m = w.v*/d (|m| per seed for a model symmetric under w -> -w in
        simulations) and norm |w|^2/d, one value per time of ``t``.
    gen_error_sem, train_loss_sem, train_accuracy_sem, m_sem, norm_sem : ndarray
        Standard errors: over seeds for :func:`~gmmdmft.simulate`, the Monte-Carlo error of
        the solver (over its iterations) for :func:`~gmmdmft.solve_dmft` (docs/faq.md, "What
        does _sem mean?"). NaN where they cannot be estimated (a single seed or iteration).
    method : str
        ``"simulate"``, ``"dmft"`` or ``"dmft-exact"``.
    params : dict
        Every parameter that produced the curves (``problem``, ``training``, the method's
        options, ``version``); ``gmmdmft.Problem(**params["problem"])`` rebuilds the problem.
    status : int
        0: success; 1: finished but not converged to the requested tolerance.
    message : str
        Human-readable status; says how to fix a problem.
    stats : dict
        Work counters and timings.
    extras : dict
        Optional arrays: the two-time functions (see :attr:`C`, :attr:`R`), the DMFT kernels
        (``M_C``, ``M_R``, ``lamhat``, ``mu``, ``P0``) and per-seed curves (see
        :attr:`per_seed`).
    meta : dict or None
        For a result read from a file (:func:`gmmdmft.io.read_result`): the file's metadata
        (the JSON sidecar of a CSV, the ``meta`` record of an ``.npz``); None otherwise.
    """

    t: np.ndarray
    gen_error: np.ndarray
    gen_error_sem: np.ndarray
    train_loss: np.ndarray
    train_loss_sem: np.ndarray
    train_accuracy: np.ndarray
    train_accuracy_sem: np.ndarray
    m: np.ndarray
    m_sem: np.ndarray
    norm: np.ndarray
    norm_sem: np.ndarray
    method: str
    params: dict
    status: int = 0
    message: str = "success"
    stats: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    meta: dict | None = None

    @property
    def success(self) -> bool:
        """Whether ``status`` is 0."""
        return self.status == 0

    # ------------------------------------------------------------------ two-time functions
    @property
    def C(self) -> np.ndarray | None:
        """The correlation C(t, t') = w(t).w(t')/d, or None when it was not computed.

        ``C[k, j]`` = C(t_k, t_j) with both indices on the time grid :attr:`t` (symmetric;
        its diagonal is :attr:`norm`). DMFT: from ``solve_dmft(..., return_kernels=True)``,
        the mean over the solver's averaged iterations, (T + 1) x (T + 1). Simulation: from
        ``simulate(..., two_time=True)``, the mean over seeds at the recorded times. Its
        standard error is :attr:`C_sem` (docs/results.md, "Two-time functions").
        """
        return self.extras.get("C")

    @property
    def C_sem(self) -> np.ndarray | None:
        """Standard error of :attr:`C` (over seeds, or over the solver's iterations); None
        when not computed, NaN for a single seed or iteration."""
        return self.extras.get("C_sem")

    @property
    def R(self) -> np.ndarray | None:
        """The response R(t, t') of the weights (DMFT only), or None when not computed.

        ``R[k, j]`` is the response of w at time t_k (row, k = 0..T) to a kick at time t_j
        (column, j = 0..T-1): with w(t_{j+1}) shifted by eps (a field H added to minus the
        gradient in the step from t_j to t_{j+1} shifts it by eta H),
        R[k, j] = (1/d) sum_i dw_i(t_k)/d eps_i. So ``R[j + 1, j] = 1`` and ``R[k, j] = 0``
        for k <= j (causality). Shape (T + 1) x T; from ``solve_dmft(...,
        return_kernels=True)``, with its standard error :attr:`R_sem` (docs/results.md,
        "Two-time functions").
        """
        return self.extras.get("R")

    @property
    def R_sem(self) -> np.ndarray | None:
        """Standard error of :attr:`R` over the solver's iterations; None when not computed."""
        return self.extras.get("R_sem")

    @property
    def per_seed(self) -> dict | None:
        """The curves of every seed of a simulation, ``{observable: array (seeds, len(t))}``
        with the seeds of ``params["seed_list"]`` in order; None unless the simulation was run
        with ``two_time=True``."""
        if not all(o + "_per_seed" in self.extras for o in OBSERVABLES):
            return None
        return {o: self.extras[o + "_per_seed"] for o in OBSERVABLES}

    # ------------------------------------------------------------------ views
    def columns(self) -> tuple[str, ...]:
        """The CSV columns: :data:`CSV_COLUMNS`, then the :data:`SPREAD_COLUMNS` the result
        has in ``extras`` (the m0 average's predicted seed-to-seed spread)."""
        return CSV_COLUMNS + tuple(c for c in SPREAD_COLUMNS if c in self.extras)

    def table(self) -> np.ndarray:
        """The curves as a 2-D array with the columns :meth:`columns`."""
        return np.column_stack([getattr(self, c) if c in CSV_COLUMNS else self.extras[c]
                                for c in self.columns()])

    def to_pandas(self):
        """The curves as a tidy ``pandas.DataFrame``: one row per (time, observable).

        Columns :data:`TIDY_COLUMNS`: ``t``, ``observable`` (one of :data:`OBSERVABLES`),
        ``value``, ``sem`` (its standard error, NaN where not estimated) and ``method``. Long
        rather than wide so that results of both methods and of many runs concatenate
        (``pandas.concat``) and group without renaming; the wide table of one result is
        ``df.pivot(index="t", columns="observable", values="value")``. Needs pandas
        (``pip install 'gmmdmft[pandas]'``).
        """
        try:
            import pandas as pd  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ImportError("Result.to_pandas needs pandas: pip install 'gmmdmft[pandas]' "
                              "(or pip install pandas)") from None
        n = len(self.t)
        return pd.DataFrame({
            "t": np.tile(np.asarray(self.t, dtype=float), len(OBSERVABLES)),
            "observable": pd.Categorical(np.repeat(OBSERVABLES, n), categories=OBSERVABLES),
            "value": np.concatenate([np.asarray(getattr(self, o), dtype=float)
                                     for o in OBSERVABLES]),
            "sem": np.concatenate([np.asarray(getattr(self, o + "_sem"), dtype=float)
                                   for o in OBSERVABLES]),
            "method": self.method,
        })

    def problem(self):
        """The :class:`~gmmdmft.Problem` of ``params["problem"]``, or None when the parameters
        do not rebuild one (a result from an older file, a plug-in that cannot be imported)."""
        from .model import Problem  # noqa: PLC0415
        return self._rebuild(Problem, "problem")

    def training(self):
        """The :class:`~gmmdmft.Training` of ``params["training"]``, or None (as :meth:`problem`)."""
        from .training import Training  # noqa: PLC0415
        return self._rebuild(Training, "training")

    def _rebuild(self, cls, key: str):
        from ._validation import ParameterError  # noqa: PLC0415
        spec = (self.params or {}).get(key)
        if not isinstance(spec, dict):
            return None
        try:
            return cls(**spec)
        except (ParameterError, TypeError):
            return None

    def plot(self, ax=None, observable: str = "gen_error", reference: bool = True,
             asymptote: bool = True, **style):
        """Draw one curve with its error band on ``ax`` (a new figure when None); return ax.

        The band is value +- sem; a DMFT curve is a line, a simulation a line with markers.
        With ``reference`` and ``observable = "gen_error"`` a dashed line marks the
        Bayes-optimal error (two balanced symmetric clusters) or the oracle error of the
        mixture (:func:`gmmdmft.model.reference_error`), when :meth:`problem` rebuilds the
        problem (once per axes: a second result of the same problem does not repeat it). With
        ``asymptote`` a line in the curve's colour (dotted: the ERM minimiser, dash-dotted: the
        max-margin classifier) marks the t -> infinity limit of
        full-batch GD from the static theory where one applies (the ERM minimiser or the
        max-margin classifier, :func:`gmmdmft.statics.asymptote`). ``style`` goes to ``ax.plot`` (``label``, ``color``, ...). Needs matplotlib
        (``pip install 'gmmdmft[plot]'``).
        """
        if observable not in OBSERVABLES:
            from ._validation import ParameterError  # noqa: PLC0415
            raise ParameterError(f"observable = {observable!r} is not one of "
                                 f"{', '.join(OBSERVABLES)}")
        try:
            import matplotlib.pyplot as plt  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ImportError("Result.plot needs matplotlib: pip install 'gmmdmft[plot]'") from None
        if ax is None:
            _, ax = plt.subplots()
        t = np.asarray(self.t, dtype=float)
        y = np.asarray(getattr(self, observable), dtype=float)
        sem = np.asarray(getattr(self, observable + "_sem"), dtype=float)
        simulated = self.method == "simulate"
        style.setdefault("label", self.method)
        if simulated:
            style.setdefault("marker", "o")
            style.setdefault("markersize", 3)
        (line,) = ax.plot(t, y, **style)
        if np.isfinite(sem).any():
            band = np.nan_to_num(sem)
            ax.fill_between(t, y - band, y + band, color=line.get_color(), alpha=0.25,
                            linewidth=0)
        if reference and observable == "gen_error":
            problem = self.problem()
            if problem is not None:
                from .model import reference_error, reference_label  # noqa: PLC0415
                level, label = reference_error(problem), reference_label(problem)
                drawn = any(ln.get_label() == label and np.allclose(ln.get_ydata(), level)
                            for ln in ax.get_lines())
                if not drawn:  # results of one problem on one axes share one line
                    ax.axhline(level, color="0.4", linestyle="--", linewidth=1, label=label)
        if asymptote and observable == "gen_error":
            self._plot_asymptote(ax, line.get_color())
        ax.set_xlabel("t")
        ax.set_ylabel(LABELS[observable])
        return ax

    def _plot_asymptote(self, ax, color) -> None:
        problem, training = self.problem(), self.training()
        if problem is None or training is None:
            return
        from .statics.asymptote import LINE_STYLES, asymptote  # noqa: PLC0415
        level = asymptote(problem, training)
        if level is None:
            return
        label = f"{level.label} (t → ∞)"
        drawn = any(ln.get_label() == label and np.allclose(ln.get_ydata(), level.gen_error)
                    for ln in ax.get_lines())
        if not drawn:
            ax.axhline(level.gen_error, color=color, linestyle=LINE_STYLES[level.kind],
                       linewidth=1.1, label=label)

    # ------------------------------------------------------------------ transitional
    def __repr__(self) -> str:
        final = self.gen_error[-1] if len(self.gen_error) else math.nan
        t_max = self.t[-1] if len(self.t) else math.nan
        return (f"Result(method={self.method!r}, status={self.status}, message={self.message!r}, "
                f"points={len(self.t)}, t_max={t_max:g}, final gen_error={final:.5f})")


def finite_max(x) -> float:
    """Largest finite entry of ``x``; NaN (without numpy's all-NaN warning) when there is none,
    e.g. the error of a curve estimated from a single iteration or rung."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.max()) if x.size else float("nan")


def mean_and_sem(samples: np.ndarray, axis: int = 0):
    """Mean and standard error of the mean along ``axis`` (NaN error for a single sample)."""
    samples = np.asarray(samples, dtype=float)
    k = samples.shape[axis]
    mean = samples.mean(axis=axis)
    if k < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, samples.std(axis=axis, ddof=1) / np.sqrt(k)


class RunningMean:
    """Mean and standard error of arrays added one at a time (Welford's update, stable for
    any number of samples): memory two arrays of the samples' shape, however many are added."""

    def __init__(self):
        self.n = 0
        self.mean = None
        self._m2 = None

    def add(self, x) -> None:
        x = np.asarray(x, dtype=float)
        self.n += 1
        if self.mean is None:
            self.mean = x.copy()
            self._m2 = np.zeros_like(self.mean)
            return
        delta = x - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (x - self.mean)

    def sem(self, inflation: float = 1.0) -> np.ndarray:
        """Standard error of the mean (times ``inflation``); NaN for fewer than 2 samples."""
        if self.n < 2:
            return np.full_like(self.mean, np.nan)
        return np.sqrt(self._m2 / (self.n - 1) / self.n) * inflation
