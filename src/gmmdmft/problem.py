"""The learning problem: Gaussian-mixture data, activation, loss (sheet §1, paper Sec. 2).

Data x_mu = c_mu v*/sqrt(d) + sqrt(delta) z_mu with v* = (1, ..., 1) and z_mu ~ N(0, I_d).

* two clusters: c = +-1 with probability 1/2, label y = c, activation phi(h) = h;
* three clusters: c = 0 with probability 1/2 (y = -1), c = +-1 with probability 1/4 each
  (y = +1), door activation phi(h) = h^2 - L^2.

The per-sample loss is Lambda(y, h) = ell(y phi(h)) with h = w.x/sqrt(d), and the objective is
sum_mu Lambda(y_mu, h_mu) + (lam/2) |w|^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from typing import ClassVar

import numpy as np
from scipy.special import erf, erfc, expit

from ._validation import ParameterError, check_choice, check_int, check_real


class Loss:
    """A margin loss ell(v), v = y phi(h), with its first two derivatives.

    Subclasses implement ``value``, ``d1``, ``d2`` as vectorised numpy functions that stay
    finite for |v| up to at least 1e4, and register themselves in :data:`LOSSES`.
    """

    name: ClassVar[str] = ""

    def value(self, v):
        raise NotImplementedError

    def d1(self, v):
        raise NotImplementedError

    def d2(self, v):
        raise NotImplementedError

    def terms(self, v, ops=None):
        """(ell, ell', ell'') together; subclasses share work between them. ``ops`` supplies
        ``expit`` and ``log`` for non-numpy arrays (see gmmdmft._backend)."""
        return self.value(v), self.d1(v), self.d2(v)


class Logistic(Loss):
    """ell(v) = ln(1 + e^{-v}), the paper's loss, written without overflow."""

    name = "logistic"

    def value(self, v):
        return np.logaddexp(0.0, -v)

    def d1(self, v):
        return -expit(-v)

    def d2(self, v):
        return expit(v) * expit(-v)

    def terms(self, v, ops=None):
        # one sigmoid p = 1/(1+e^{-v}) gives all three: ell = -ln p, ell' = p - 1, ell'' = p(1-p)
        if ops is None:
            p = expit(v)
            with np.errstate(divide="ignore"):
                value = -np.log(p)
        else:
            p = ops.expit(v)
            value = -ops.log(p)
        far = v < -700.0  # p underflows: ell = -v to double precision
        if far.any():
            value[far] = -v[far]
        d1 = p - 1.0
        return value, d1, p * (-d1)


class Square(Loss):
    """ell(v) = (1 - v)^2 / 2: Lambda'' is constant, which makes the DMFT exactly solvable."""

    name = "square"

    def value(self, v):
        return 0.5 * (1.0 - v) ** 2

    def d1(self, v):
        return v - 1.0

    def d2(self, v):
        return np.ones_like(v)

    def terms(self, v, ops=None):
        d1 = v - 1.0
        return 0.5 * d1 * d1, d1, 0.0 * v + 1.0


LOSSES: dict[str, Loss] = {cls.name: cls() for cls in (Logistic, Square)}
CLUSTERS = (2, 3)


@dataclass(frozen=True)
class Problem:
    """Gaussian-mixture classification problem (immutable, validated on construction).

    Parameters
    ----------
    clusters : {2, 3}
        Two clusters with a linear activation, or three clusters with the door activation.
    alpha : float
        Sample ratio n/d, > 0.
    delta : float
        Noise variance Delta of each cluster, > 0.
    lam : float
        Ridge strength lambda, >= 0.
    loss : str
        Key of :data:`LOSSES` (``"logistic"`` or ``"square"``).
    L : float or None
        Door width (three clusters only, > 0); must be None for two clusters.
    """

    clusters: int = 2
    alpha: float = 2.0
    delta: float = 0.5
    lam: float = 0.0
    loss: str = "logistic"
    L: float | None = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("clusters", check_int("clusters", self.clusters))
        check_choice("clusters", self.clusters, CLUSTERS)
        set_("alpha", check_real("alpha", self.alpha, lo=0, lo_open=True))
        set_("delta", check_real("delta", self.delta, lo=0, lo_open=True))
        set_("lam", check_real("lam", self.lam, lo=0))
        check_choice("loss", self.loss, tuple(LOSSES))
        if self.clusters == 3:
            if self.L is None:
                raise ParameterError("L is missing: the three-cluster model needs the door width L > 0")
            set_("L", check_real("L", self.L, lo=0, lo_open=True))
        elif self.L is not None:
            raise ParameterError(f"L = {self.L} is only used by the three-cluster model (clusters = 3)")

    # ----------------------------------------------------------------- activation and loss
    @property
    def _loss(self) -> Loss:
        return LOSSES[self.loss]

    def phi(self, h):
        """Activation phi(h): h (two clusters) or h^2 - L^2 (three clusters)."""
        return h if self.clusters == 2 else h * h - self.L**2

    def Lambda(self, y, h):
        """Per-sample loss Lambda(y, h) = ell(y phi(h))."""
        return self._loss.value(y * self.phi(h))

    def dLambda(self, y, h):
        """Lambda'(y, h) = y ell'(y phi) phi'(h)."""
        v = y * self.phi(h)
        if self.clusters == 2:
            return y * self._loss.d1(v)
        return y * self._loss.d1(v) * (2.0 * h)

    def d2Lambda(self, y, h):
        """Lambda''(y, h) = ell''(y phi) phi'(h)^2 + y ell'(y phi) phi''(h)."""
        v = y * self.phi(h)
        if self.clusters == 2:
            return self._loss.d2(v) * np.ones_like(h)
        return self._loss.d2(v) * (2.0 * h) ** 2 + 2.0 * y * self._loss.d1(v)

    def derivatives(self, y, h):
        """(Lambda', Lambda'') evaluated together (one phi and one ell' evaluation)."""
        v = y * self.phi(h)
        d1 = self._loss.d1(v)
        d2 = self._loss.d2(v)
        if self.clusters == 2:
            return y * d1, d2 * np.ones_like(h)
        dphi = 2.0 * h
        return y * d1 * dphi, d2 * dphi * dphi + 2.0 * y * d1

    def terms(self, y, h, ops=None):
        """(Lambda, Lambda', Lambda'') evaluated together (one phi, one loss evaluation);
        ``ops``: array operations for non-numpy arrays (gmmdmft._backend)."""
        v = y * self.phi(h)
        value, d1, d2 = self._loss.terms(v, ops)
        if self.clusters == 2:
            return value, y * d1, d2
        dphi = 2.0 * h
        return value, y * d1 * dphi, d2 * dphi * dphi + 2.0 * y * d1

    def correct(self, y, h):
        """True where sign(phi(h)) predicts the label y."""
        return y * self.phi(h) > 0

    # ----------------------------------------------------------------- data
    def sample_clusters(self, rng: np.random.Generator, n: int):
        """Draw cluster indices c and labels y for n samples (sheet §1)."""
        if self.clusters == 2:
            c = rng.choice(np.array([-1.0, 1.0]), size=n)
            return c, c.copy()
        c = rng.choice(np.array([0.0, 0.0, -1.0, 1.0]), size=n)
        return c, np.where(c == 0.0, -1.0, 1.0)

    # ----------------------------------------------------------------- observables
    def gen_error(self, m, C):
        """Generalisation error from m = w.v*/d and C = |w|^2/d (sheet §3, paper Eq. 25).

        For a fresh sample w.x/sqrt(d) = c m + sqrt(delta C) g with g ~ N(0, 1), exactly at any d.
        At w = 0 (C = 0, hence m = 0 since m^2 <= C) the two-cluster prediction sign(0) is a tie;
        the error is 1/2, the limit w -> 0 from a random direction (e.g. GD started with R = 0).
        """
        m = np.asarray(m, dtype=float)
        s = np.sqrt(2.0 * self.delta * np.asarray(C, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.clusters == 2:
                return np.where(s > 0, 0.5 * erfc(m / s), 0.5)[()]
            L = self.L
            return 0.5 * erfc(L / s) + 0.25 * (erf((L - m) / s) + erf((L + m) / s))

    def params(self) -> dict:
        return asdict(self)


def bayes_optimal_error(alpha: float, delta: float) -> float:
    """Bayes-optimal generalisation error of the two-cluster model (sheet §3).

    eps_BO = erfc( sqrt( alpha / (2 delta (alpha + delta)) ) ) / 2; GD from w(0) = 0 reaches it
    after one step (paper Sec. 5, Fig. 4).
    """
    alpha = check_real("alpha", alpha, lo=0, lo_open=True)
    delta = check_real("delta", delta, lo=0, lo_open=True)
    return 0.5 * math.erfc(math.sqrt(alpha / (2.0 * delta * (alpha + delta))))


def oracle_threshold(delta: float) -> float:
    """Threshold u* of the oracle rule 'y = +1 iff |u| > u*', u ~ N(c, delta) (sheet §3)."""
    delta = check_real("delta", delta, lo=0, lo_open=True)
    x = 1.0 / (2.0 * delta)
    # arccosh(e^x) = x + ln(1 + sqrt(1 - e^{-2x})), written so that small delta does not overflow
    return delta * (x + math.log1p(math.sqrt(-math.expm1(-2.0 * x))))


def threshold_error(u: float, delta: float) -> float:
    """Error of the rule 'y = +1 iff |u| > threshold' in the three-cluster model."""
    s = math.sqrt(2.0 * delta)
    return 0.5 * math.erfc(u / s) + 0.25 * (math.erf((u - 1.0) / s) + math.erf((u + 1.0) / s))


def oracle_error(delta: float) -> float:
    """Oracle (Bayes error knowing v*) of the three-cluster model (sheet §3)."""
    return threshold_error(oracle_threshold(delta), delta)


def reference_error(problem: Problem) -> float:
    """Bayes-optimal (two clusters) or oracle (three clusters) error of ``problem``."""
    if problem.clusters == 2:
        return bayes_optimal_error(problem.alpha, problem.delta)
    return oracle_error(problem.delta)
