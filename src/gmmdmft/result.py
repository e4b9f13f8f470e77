"""The result object shared by :func:`~gmmdmft.simulate` and :func:`~gmmdmft.solve_dmft`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OBSERVABLES = ("gen_error", "train_loss", "train_accuracy", "m", "norm")
CSV_COLUMNS = ("t",) + tuple(c for o in OBSERVABLES for c in (o, o + "_sem"))


@dataclass
class Result:
    """Learning curves with their statistical errors, in the manner of scipy's ``OdeResult``.

    Attributes
    ----------
    t : ndarray
        Recorded times.
    gen_error, train_loss, train_accuracy, m, norm : ndarray
        Generalisation error, training loss (mean over samples), training accuracy,
        magnetisation m = w.v*/d (|m| for three clusters in simulations) and norm |w|^2/d.
    gen_error_sem, ... : ndarray
        Standard errors: over seeds for :func:`simulate`, the Monte-Carlo error of the solver for
        :func:`solve_dmft`. NaN where they cannot be estimated (a single seed).
    method : str
        ``"simulate"`` or ``"dmft"``.
    params : dict
        Every parameter that produced the curves (problem, training, method options).
    status : int
        0: success; 1: finished but not converged to the requested tolerance.
    message : str
        Human-readable status; says how to fix a problem.
    stats : dict
        Work counters and timings.
    extras : dict
        Optional arrays (two-time functions, kernels) requested from the solver.
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

    @property
    def success(self) -> bool:
        return self.status == 0

    def table(self) -> np.ndarray:
        """The curves as a 2-D array with columns :data:`CSV_COLUMNS`."""
        return np.column_stack([getattr(self, c) for c in CSV_COLUMNS])

    def __repr__(self) -> str:
        return (f"Result(method={self.method!r}, status={self.status}, message={self.message!r}, "
                f"points={len(self.t)}, t_max={self.t[-1]:g}, final gen_error={self.gen_error[-1]:.5f})")


def mean_and_sem(samples: np.ndarray, axis: int = 0):
    """Mean and standard error of the mean along ``axis`` (NaN error for a single sample)."""
    samples = np.asarray(samples, dtype=float)
    k = samples.shape[axis]
    mean = samples.mean(axis=axis)
    if k < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, samples.std(axis=axis, ddof=1) / np.sqrt(k)
