"""Batch schedules of the training algorithms (docs/theory.md, "Algorithms"; paper Eqs. 7-9).

Each step uses the batch indicators s_mu(k) in {0, 1} of the n samples:

    w_{k+1} = w_k - eta [ lam w_k + sum_mu s_mu(k) Lambda'(y_mu, h_mu(k)) x_mu / sqrt(d) ]

(a *sum* over the batch). **The contract** of a schedule: ``stochastic`` (False when s = 1
always), ``initial(rng, n)`` -> s(0) and ``next(rng, s)`` -> s(k+1), float 0/1 arrays drawn with
the numpy generator ``rng``. The simulator and the DMFT's effective process call the same
schedule object, so both see the same batch law.
"""

from __future__ import annotations

import numpy as np


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


class Persistent(Bernoulli):
    """Persistent SGD: s(0) ~ Bernoulli(b), then each sample's indicator is a two-state Markov
    chain with per-step probabilities P(0 -> 1) = p01 and P(1 -> 0) = p10 (stationary
    occupation p01 / (p01 + p10))."""

    name = "persistent-sgd"

    def __init__(self, b: float, p01: float, p10: float):
        super().__init__(b)
        self.p01, self.p10 = p01, p10

    def next(self, rng, s):
        if not self.stochastic:
            return s
        u = rng.random(s.shape)
        return np.where(s > 0, u >= self.p10, u < self.p01).astype(float)
