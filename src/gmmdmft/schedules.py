"""Batch schedules of the training algorithms (docs/theory.md, "Algorithms"; paper Eqs. 7-9).

Each step uses the batch indicators s_mu(k) in {0, 1} of the n samples:

    w_{k+1} = w_k - eta [ lam w_k + sum_mu s_mu(k) Lambda'(y_mu, h_mu(k)) x_mu / sqrt(d) ]

(a *sum* over the batch). **The contract** of a schedule: ``stochastic`` (False when s = 1
always), ``initial(rng, n)`` -> s(0) and ``next(rng, s)`` -> s(k+1), float 0/1 arrays drawn with
the numpy generator ``rng``. The simulator and the DMFT's effective process call the same
schedule object, so both see the same batch law.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._validation import ParameterError, check_choice


class FullBatch:
    """GD: s = 1 at every step (draws nothing, so b = 1 of the others reproduces GD exactly)."""

    name = "gd"
    stochastic = False

    def initial(self, rng, n: int) -> np.ndarray:
        return np.ones(n)

    def next(self, rng, s: np.ndarray) -> np.ndarray:
        return s


class Bernoulli(FullBatch):
    """SGD: s_mu(k) i.i.d. Bernoulli(b) at every step."""

    name = "sgd"

    def __init__(self, b: float):
        self.b = b
        self.stochastic = b < 1.0

    def initial(self, rng, n):
        if not self.stochastic:
            return np.ones(n)
        return (rng.random(n) < self.b).astype(float)

    def next(self, rng, s):
        if not self.stochastic:
            return s
        return (rng.random(s.shape) < self.b).astype(float)


CHAINS = ("linear", "exact", "clipped")


class BatchChainWarning(UserWarning):
    """The clipped persistent-SGD chain cut a per-step probability at 1 (its batch fraction is
    then not b)."""


class Persistent(Bernoulli):
    """Persistent SGD: s(0) ~ Bernoulli(b), then each sample's indicator is a two-state Markov
    chain with per-step probabilities P(0 -> 1) = p01 and P(1 -> 0) = p10 (stationary
    occupation p01 / (p01 + p10)).

    The per-step probabilities come from the continuous-time chain with rates 1/tau (0 -> 1)
    and (1 - b)/(b tau) (1 -> 0) by one of three rules (docs/flow-limit.md, "Batch chains";
    built by :meth:`from_rates`): ``linear`` (the paper's Eq. 9: rate times eta), ``exact``
    (the chain's transition probabilities over a time eta) and ``clipped`` (linear, cut at 1).
    """

    name = "persistent-sgd"

    def __init__(self, b: float, p01: float, p10: float, chain: str = "linear"):
        super().__init__(b)
        self.p01, self.p10, self.chain = p01, p10, chain

    @property
    def stationary_fraction(self) -> float:
        """The chain's stationary batch fraction p01 / (p01 + p10) (1 when b = 1)."""
        if not self.stochastic:
            return 1.0
        return self.p01 / (self.p01 + self.p10)

    @classmethod
    def from_rates(cls, b: float, eta: float, tau: float, chain: str = "linear") -> "Persistent":
        """The step-eta chain of rates 1/tau (0 -> 1) and (1 - b)/(b tau) (1 -> 0) by rule
        ``chain`` (docs/flow-limit.md, "Batch chains"):

        * ``linear``: p01 = eta/tau, p10 = eta (1 - b)/(b tau) (paper Eq. 9); both must be <= 1
          (ParameterError otherwise, naming the other two rules);
        * ``exact``: with the total rate r = 1/(b tau), p01 = b (1 - e^{-r eta}) and
          p10 = (1 - b)(1 - e^{-r eta}): valid for every eta, stationary fraction exactly b;
        * ``clipped``: the linear probabilities cut at 1; a cut raises a
          :class:`BatchChainWarning` stating the stationary fraction p01/(p01 + p10).

        All three agree to O(eta^2) per step, hence have the same eta -> 0 limit.
        """
        check_choice("batch_chain", chain, CHAINS)
        if chain == "exact":
            jump = -math.expm1(-eta / (b * tau))  # 1 - e^{-r eta}, accurate for small r eta
            return cls(b, b * jump, (1.0 - b) * jump, chain)
        p01, p10 = eta / tau, eta * (1.0 - b) / (b * tau)
        if chain == "linear":
            for what, p in (("eta/tau", p01), ("eta(1-b)/(b tau)", p10)):
                if p > 1:
                    raise ParameterError(
                        f"{what} = {p:g} is out of range for batch_chain 'linear': must be <= 1 "
                        "(a per-step probability); use a smaller eta, or --batch-chain exact "
                        "(the exact two-state chain over a step eta) or clipped (the paper's "
                        "rule cut at 1)")
            return cls(b, p01, p10, chain)
        cut01, cut10 = min(p01, 1.0), min(p10, 1.0)
        chain_ = cls(b, cut01, cut10, chain)
        if (cut01, cut10) != (p01, p10):
            warnings.warn(
                f"batch_chain 'clipped': P(0->1) = eta/tau = {p01:g} and P(1->0) = "
                f"eta(1-b)/(b tau) = {p10:g} cut to ({cut01:g}, {cut10:g}), so the stationary "
                f"batch fraction is p01/(p01+p10) = {chain_.stationary_fraction:.6g}, not "
                f"b = {b:g}", BatchChainWarning, stacklevel=5)  # the caller building the Training
        return chain_

    def next(self, rng, s):
        if not self.stochastic:
            return s
        u = rng.random(s.shape)
        return np.where(s > 0, u >= self.p10, u < self.p01).astype(float)
