"""The law of the initial magnetisation m(0) at dimension d, and its quadrature rules
(docs/finite-size.md, "The law of m(0)" and "Quadrature").

With w(0) ~ N(0, R I_d), m(0) = w(0).v*/d = sqrt(R/d) u with u ~ N(0, 1) (|v*|^2 = d). A DMFT
curve is a function of m(0); its average over the law is an integral over u:

* a model with the w -> -w symmetry (``Problem.symmetric``) has curves even in m(0), so the
  integral is over |u| (half-normal), by Gauss-Legendre in the CDF of |u| (the breaking makes
  the curves step-like in |m(0)|: see :func:`half_normal_rule`);
* any other model has curves smooth in the signed m(0): the Gauss-Hermite rule of u.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf, ndtri, roots_hermitenorm, roots_legendre


def m0_scale(R: float, d: int) -> float:
    """sqrt(R/d), the standard deviation of m(0) = w(0).v*/d for w(0) ~ N(0, R I_d)."""
    return math.sqrt(R / d)


def m0_rule(symmetric: bool, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes u_k and weights w_k (summing to 1) of the K-point rule for E f(u), u ~ N(0, 1),
    in increasing order; the DMFT nodes are m0_k = sqrt(R/d) u_k.

    * ``symmetric``: the law of |u| (:func:`half_normal_rule`);
    * otherwise: the law of u, Gauss-Hermite (exact for polynomials of degree <= 2K - 1).
    """
    if K < 1:
        raise ValueError(f"K = {K} must be >= 1")
    if symmetric:
        return half_normal_rule(K)
    u, w = roots_hermitenorm(K)
    return u, w / w.sum()


def half_normal_rule(K: int) -> tuple[np.ndarray, np.ndarray]:
    """The K-point Gauss-Legendre rule in the CDF q = P(|u'| <= |u|) = 2 Phi(|u|) - 1 of the
    half-normal law: q_k = (1 + x_k)/2 for the Legendre nodes x_k of [-1, 1], |u_k| its
    quantile, weights w_k/2. Exact for polynomials of degree <= 2K - 1 in q.

    Why in q: at a fixed time a symmetric model's curve, as a function of |m(0)|, is close to
    a smoothed step (seeds with |m(0)| above a threshold have broken the symmetry, the others
    not), and the threshold sweeps through the whole law during the breaking. In q a step
    anywhere costs at most about one weight, and the nodes near q = 0 and 1 resolve the few
    earliest and latest seeds; the Gauss rules of |u|, of u^2 (the positive half of
    Gauss-Hermite) or of log|u| put nearly all weight on a few central nodes and miss the
    mean during the breaking by several times more at equal K (docs/finite-size.md,
    "Quadrature").
    """
    x, w = roots_legendre(K)
    # |u| = Phi^-1((1 + q)/2) = -Phi^-1((1 - q)/2), and (1 - q)/2 = (1 - x)/4 without
    # cancellation near q = 1
    u = -ndtri((1.0 - x) / 4.0)
    return u, w / w.sum()


def half_normal_cdf(u) -> np.ndarray:
    """q = P(|u'| <= u) = 2 Phi(u) - 1 = erf(u / sqrt 2) for u >= 0."""
    return erf(np.asarray(u, dtype=float) / math.sqrt(2.0))
