"""Training algorithms: GD, SGD and persistent SGD with step eta (sheet §2, paper Eqs. 7-9).

w_{k+1} = w_k - eta [ lam w_k + sum_mu s_mu(k) Lambda'(y_mu, h_mu(k)) x_mu / sqrt(d) ]

(a *sum* over the batch). The batch indicators s_mu(k) are

* ``gd``: s = 1;
* ``sgd``: i.i.d. Bernoulli(b) at every step;
* ``persistent-sgd``: s(0) ~ Bernoulli(b), then a two-state Markov chain with per-step
  probabilities P(0 -> 1) = eta/tau and P(1 -> 0) = eta (1 - b)/(b tau), whose stationary
  occupation is b. A sample stays in the batch for b tau/(1-b) time units on average and out of it
  for tau.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._validation import ParameterError, check_choice, check_real

ALGORITHMS = ("gd", "sgd", "persistent-sgd")


@dataclass(frozen=True)
class Training:
    """Training algorithm and its schedule (immutable, validated on construction).

    Parameters
    ----------
    algorithm : {"gd", "sgd", "persistent-sgd"}
    eta : float
        Learning rate (time step), > 0. Time is t_k = k eta.
    t_max : float
        Horizon, >= eta; the number of steps is T = round(t_max / eta).
    R : float
        Variance of the initial weights w(0) ~ N(0, R I_d), >= 0.
    b : float or None
        Batch fraction in (0, 1] (SGD, persistent SGD). None means 1 (the only value for GD).
    tau : float or None
        Persistence time of persistent SGD, > 0; required there, not allowed elsewhere.
    """

    algorithm: str = "gd"
    eta: float = 0.2
    t_max: float = 10.0
    R: float = 0.01
    b: float | None = None
    tau: float | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_choice("algorithm", self.algorithm, ALGORITHMS)
        set_("eta", check_real("eta", self.eta, lo=0, lo_open=True))
        set_("t_max", check_real("t_max", self.t_max, lo=self.eta))
        set_("R", check_real("R", self.R, lo=0))
        if self.b is None:
            set_("b", 1.0)
        set_("b", check_real("b", self.b, lo=0, hi=1, lo_open=True))
        if self.algorithm == "gd" and self.b != 1.0:
            raise ParameterError(f"b = {self.b:g} is out of range for algorithm 'gd': must be 1 (use sgd or persistent-sgd)")
        if self.algorithm == "persistent-sgd":
            if self.tau is None:
                raise ParameterError("tau is missing: persistent-sgd needs the persistence time tau > 0")
            set_("tau", check_real("tau", self.tau, lo=0, lo_open=True))
            if self.eta / self.tau > 1:
                raise ParameterError(
                    f"eta/tau = {self.eta / self.tau:g} is out of range: must be <= 1 "
                    "(a per-step probability; use a smaller eta or a larger tau)")
            p10 = self.eta * (1 - self.b) / (self.b * self.tau)
            if p10 > 1:
                raise ParameterError(
                    f"eta(1-b)/(b tau) = {p10:g} is out of range: must be <= 1 "
                    "(a per-step probability; use a smaller eta, a larger b or a larger tau)")
        elif self.tau is not None:
            raise ParameterError(f"tau = {self.tau} is only used by algorithm 'persistent-sgd'")

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
        return self.algorithm != "gd" and self.b < 1.0

    @property
    def switch_probabilities(self) -> tuple[float, float]:
        """Per-step (P(0 -> 1), P(1 -> 0)) of persistent SGD."""
        return self.eta / self.tau, self.eta * (1.0 - self.b) / (self.b * self.tau)

    def initial_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Batch indicators s(0) (float 0/1 array of length n)."""
        if not self.stochastic:  # full batch: draw nothing, so b = 1 reproduces GD exactly
            return np.ones(n)
        return (rng.random(n) < self.b).astype(float)

    def next_batch(self, rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
        """Batch indicators s(k+1) given s(k) (sheet §2)."""
        if not self.stochastic:
            return s
        u = rng.random(s.shape)
        if self.algorithm == "sgd":
            return (u < self.b).astype(float)
        p01, p10 = self.switch_probabilities
        return np.where(s > 0, u >= p10, u < p01).astype(float)

    def params(self) -> dict:
        return asdict(self)
