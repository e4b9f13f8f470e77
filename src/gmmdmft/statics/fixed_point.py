"""The replica / CGMT fixed point of the ridge minimiser, for any convex loss of the margin
(docs/statics.md, "The fixed point").

With a_k = y_k c_k (the label-aligned center of component k), Q = Delta q and xi ~ N(0, 1),

    omega  = a_k m + sqrt(Q) xi,          h* = prox(omega, V)
    Vhat   = alpha E[ ell''(h*) / (1 + V ell''(h*)) ],   qhat = alpha E[ ell'(h*)^2 ],
    mhat   = -alpha E[ a_k ell'(h*) ],
    A = lam + Delta Vhat:   V = Delta / A,   m = mhat / A,   q = (Delta qhat + mhat^2) / A^2,

E over the components (weights p_k) and over xi (:mod:`gmmdmft.statics.quadrature`). This
module holds the map (m, q, V) -> (m, q, V) and its damped iteration;
:mod:`gmmdmft.statics.erm` builds the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .prox import prox
from .quadrature import Rule


@dataclass
class Components:
    """a_k = y_k c_k and p_k of a mixture, with alpha, Delta, lam of the problem."""

    a: np.ndarray
    p: np.ndarray
    alpha: float
    delta: float
    lam: float

    @classmethod
    def of(cls, problem) -> "Components":
        comps = problem.mixture.components
        a = np.array([y * c for c, y, _ in comps], dtype=float)
        p = np.array([w for _, _, w in comps], dtype=float)
        return cls(a, p, problem.alpha, problem.delta, problem.lam)

    @property
    def s1(self) -> float:
        """E[a] = sum_k p_k y_k c_k."""
        return float(self.p @ self.a)

    @property
    def s2(self) -> float:
        """E[a^2] = sum_k p_k c_k^2."""
        return float(self.p @ self.a**2)


@dataclass
class State:
    """A point (m, q, V) of the iteration with its conjugates (mhat, qhat, Vhat)."""

    m: float
    q: float
    V: float
    mhat: float = math.nan
    qhat: float = math.nan
    Vhat: float = math.nan


class FixedPointMap:
    """The map (m, q, V) -> (m', q', V') under one quadrature rule (docs/statics.md, "The fixed
    point"); :meth:`fields` gives the nodes with omega and h* for the observables."""

    def __init__(self, loss, comps: Components, rule: Rule):
        self.loss, self.comps, self.rule = loss, comps, rule
        self.prox_ok = True

    def fields(self, m: float, q: float, V: float):
        """(a, w, omega, h*) on the nodes of the rule: omega = a m + sqrt(Delta q) xi."""
        Q = self.comps.delta * q
        a, xi, w = self.rule.nodes(self.loss, m, Q, V)
        omega = a * m + math.sqrt(Q) * xi
        h, ok = prox(self.loss, omega, V)
        self.prox_ok &= ok
        return a, w, omega, h

    def derivatives(self, omega, h, V: float):
        """ell'(h*) and ell''(h*). Where V ell'' > 1, ell'(h*) is taken from the prox equation,
        (omega - h*)/V: an error dh of h* costs dh/V there instead of ell'' dh (at V ~ 1e7,
        the squared hinge at lam = 1e-6, d1(h*) is the difference 1 - h* ~ 1e-7 and would
        keep only 7 digits)."""
        d1 = np.asarray(self.loss.d1(h.copy()), dtype=float)
        d2 = np.asarray(self.loss.d2(h.copy()), dtype=float)
        return np.where(V * d2 > 1.0, (omega - h) / V, d1), d2

    def conjugates(self, m: float, q: float, V: float):
        """(mhat, qhat, Vhat) at (m, q, V)."""
        alpha = self.comps.alpha
        a, w, omega, h = self.fields(m, q, V)
        d1, d2 = self.derivatives(omega, h, V)
        Vhat = alpha * float(w @ (d2 / (1.0 + V * d2)))
        qhat = alpha * float(w @ (d1 * d1))
        mhat = -alpha * float(w @ (a * d1))
        return mhat, qhat, Vhat

    def __call__(self, s: State) -> State:
        c = self.comps
        mhat, qhat, Vhat = self.conjugates(s.m, s.q, s.V)
        A = c.lam + c.delta * Vhat
        return State(m=mhat / A, q=(c.delta * qhat + mhat * mhat) / (A * A), V=c.delta / A,
                     mhat=mhat, qhat=qhat, Vhat=Vhat)


def distance(new: State, old: State) -> float:
    """Relative change between two points: |dm|/sqrt(q), |dq|/q, |dV|/V (the largest)."""
    q = max(new.q, 1e-300)
    return max(abs(new.m - old.m) / math.sqrt(q), abs(new.q - old.q) / q,
               abs(new.V - old.V) / max(new.V, 1e-300))


def _valid(s: State) -> bool:
    return all(map(math.isfinite, (s.m, s.q, s.V))) and s.q > 0 and s.V > 0


def _step(x: State, fx: State, beta: float) -> State:
    """x + beta (F(x) - x), geometric in q and V (which stay positive)."""
    return State(m=x.m + beta * (fx.m - x.m), q=x.q * (fx.q / x.q) ** beta,
                 V=x.V * (fx.V / x.V) ** beta)


def iterate(F: FixedPointMap, start: State, *, tol: float, max_iter: int, damping: float):
    """Damped iteration x <- x + beta (F(x) - x) (geometric in q and V) until the relative
    residual |F(x) - x| is <= tol (:func:`distance`). beta starts at ``damping``, is halved
    whenever the residual grows (down to 1/1024) and recovers by 10% per decreasing step; where
    F(x) is not finite and positive the step from the last good point is retried at beta/4.

    Returns (state, residual, evaluations, finite): ``state`` is the last F(x) with its
    conjugates, ``residual`` its distance from x; ``finite`` is False if no step kept F finite.
    """
    x, beta, last = start, damping, math.inf
    good = None  # (x, F(x)) of the last point where F was finite
    res, fx = math.inf, start
    for it in range(1, max_iter + 1):
        fx = F(x)
        if not _valid(fx):
            if good is None or beta < 1e-6:
                return x, math.inf, it, False
            beta /= 4.0
            x = _step(*good, beta)
            continue
        good = (x, fx)
        res = distance(fx, x)
        if res <= tol:
            return fx, res, it, True
        if res > last:
            beta = max(beta / 2.0, 1.0 / 1024.0)
        else:
            beta = min(damping, beta * 1.1)
        last = res
        x = _step(x, fx, beta)
    return fx, res, max_iter, True
