"""Training algorithms: GD, SGD and persistent SGD with step eta (docs/theory.md,
"Algorithms"; paper Eqs. 7-9).

* ``gd``: s = 1;
* ``sgd``: i.i.d. Bernoulli(b) at every step;
* ``persistent-sgd``: s(0) ~ Bernoulli(b), then a two-state Markov chain, the step-eta version
  of the continuous-time chain with rates 1/tau (0 -> 1) and (1 - b)/(b tau) (1 -> 0), whose
  stationary occupation is b: a sample stays in the batch for b tau/(1-b) time units on average
  and out of it for tau. ``batch_chain`` picks the per-step probabilities (docs/flow-limit.md,
  "Batch chains"): ``linear`` (the paper's P(0 -> 1) = eta/tau, P(1 -> 0) = eta (1 - b)/(b tau),
  both <= 1), ``exact`` (the chain's transition probabilities over a time eta; every eta) or
  ``clipped`` (linear cut at 1; a warning states the batch fraction it gives).

The batch indicators come from a schedule object (:mod:`gmmdmft.schedules`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._fields import Declared, param
from ._validation import ParameterError, check_real
from .schedules import CHAINS, Bernoulli, FullBatch, Persistent

ALGORITHMS = ("gd", "sgd", "persistent-sgd")
MAX_STEPS = 10**7  # T = t_max / eta; more is not a computation anyone can wait for


@dataclass(frozen=True)
class Training(Declared):
    """Training algorithm and its schedule (immutable, validated on construction).

    Parameters
    ----------
    algorithm : {"gd", "sgd", "persistent-sgd"}
    eta : float
        Learning rate (time step), > 0. Time is t_k = k eta.
    t_max : float
        Horizon, >= eta; the number of steps is T = round(t_max / eta) <= 10^7.
    R : float
        Variance of the initial weights w(0) ~ N(0, R I_d), >= 0.
    b : float or None
        Batch fraction in (0, 1] (SGD, persistent SGD). None means 1 (the only value for GD).
    tau : float or None
        Persistence time of persistent SGD, > 0; required there, not allowed elsewhere.
    inv_tau : float or None
        1/tau, instead of tau (stored as tau).
    batch_chain : {"linear", "exact", "clipped"}
        Per-step switching probabilities of persistent SGD (see the module docstring); only
        persistent-sgd takes a value other than "linear".
    """

    what = "training"

    algorithm: str = param("gd", "choice", "Training algorithm.", choices=ALGORITHMS)
    eta: float = param(0.2, "real", "Learning rate = time step eta.", lo=0, lo_open=True)
    b: float | None = param(None, "real", "Batch fraction b (sgd, persistent-sgd; none = 1).",
                            lo=0, hi=1, lo_open=True, optional=True, shown_default="1")
    tau: float | None = param(None, "real", "Persistence time tau (persistent-sgd only; the "
                              "linear batch chain needs eta/tau <= 1 and eta(1-b)/(b tau) <= 1).",
                              lo=0, lo_open=True, optional=True)
    inv_tau: float | None = param(None, "real", "1/tau, instead of --tau.", lo=0, lo_open=True,
                                  optional=True)
    R: float = param(0.01, "real", "Initial weight variance R: w(0) ~ N(0, R I).", lo=0)
    t_max: float = param(10.0, "real", "Time horizon; steps T = round(t_max/eta).")
    batch_chain: str = param("linear", "choice", "Per-step switching probabilities of "
                             "persistent-sgd: linear (the paper's eta/tau and eta(1-b)/(b tau), "
                             "each <= 1), exact (the two-state chain over a step eta, any eta) or "
                             "clipped (linear cut at 1, batch fraction then not b).",
                             choices=CHAINS)

    def _check(self):
        eta = self.eta
        check_real("t_max", self.t_max, lo=eta)
        if self.t_max / eta > MAX_STEPS:
            raise ParameterError(f"t_max = {self.t_max:g} is out of range: must be <= "
                                 f"{MAX_STEPS:.0e} eta = {MAX_STEPS * eta:g} (at most 10^7 steps "
                                 f"of eta = {eta:g})")
        if self.inv_tau is not None:
            if self.tau is not None:
                raise ParameterError("tau and inv_tau are both given: use one of them")
            self._set("tau", 1.0 / self.inv_tau)
            self._set("inv_tau", None)
        if self.b is None:
            self._set("b", 1.0)
        b, tau = self.b, self.tau
        if self.algorithm == "gd" and b != 1.0:
            raise ParameterError(f"b = {b:g} is out of range for algorithm 'gd': must be 1 (use sgd or persistent-sgd)")
        if self.algorithm == "persistent-sgd":
            if tau is None:
                raise ParameterError("tau is missing: persistent-sgd needs the persistence time tau > 0")
            schedule = Persistent.from_rates(b, eta, tau, self.batch_chain)
        elif tau is not None:
            raise ParameterError(f"tau = {tau:g} is only used by algorithm 'persistent-sgd'")
        elif self.batch_chain != "linear":
            raise ParameterError(f"batch_chain = {self.batch_chain!r} is only used by algorithm "
                                 "'persistent-sgd' (omit it, or leave it 'linear')")
        else:
            schedule = Bernoulli(b) if self.algorithm == "sgd" else FullBatch()
        self._set("_schedule", schedule)

    @property
    def schedule(self):
        """The batch schedule (:mod:`gmmdmft.schedules`)."""
        return self._schedule

    @property
    def steps(self) -> int:
        """Number of steps T = round(t_max / eta)."""
        return int(round(self.t_max / self.eta))

    @property
    def times(self) -> np.ndarray:
        """Times t_k = k eta, k = 0..T."""
        return np.round(self.eta * np.arange(self.steps + 1), 12)  # 0.6, not 0.6000000000000001

    @property
    def stochastic(self) -> bool:
        """Whether the batch indicators are random (False for GD and for b = 1)."""
        return self._schedule.stochastic

    @property
    def switch_probabilities(self) -> tuple[float, float]:
        """Per-step (P(0 -> 1), P(1 -> 0)) of persistent SGD (by its ``batch_chain``)."""
        return self._schedule.p01, self._schedule.p10

    def initial_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Batch indicators s(0) (float 0/1 array of length n)."""
        return self._schedule.initial(rng, n)

    def next_batch(self, rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
        """Batch indicators s(k+1) given s(k)."""
        return self._schedule.next(rng, s)
