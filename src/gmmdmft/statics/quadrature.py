"""Expectations over the mixture components and xi ~ N(0, 1) (docs/statics.md, "Quadrature").

E f = sum_k p_k E_xi f(a_k, xi) is computed with a composite Gauss-Legendre rule in xi on
[-XI_MAX, XI_MAX] (the Gaussian mass outside is 2 Phi(-10) = 1.5e-23): panels of equal width,
GL_NODES nodes each, the density phi(xi) folded into the weights. Composite rather than
Gauss-Hermite because at small lam the integrands have sharp (though smooth) transitions
that a global rule resolves only slowly (measured: at lam = 1e-4 the Gauss-Hermite rules of
order 160 and 320 differ by 3e-5 in Vhat), and because the panels can be cut where the
integrand is not smooth: a loss whose ell'' jumps at margins v_j (the squared hinge at v = 1)
lists them in its optional ``kinks`` attribute, h* = v_j happens at
omega_j = v_j + V ell'(v_j), i.e. at xi = (omega_j - a_k m) / sqrt(Q), and every such point is
a panel edge, so that each panel holds a smooth integrand. The number of panels is the
resolution; :func:`gmmdmft.statics.erm.solve_erm` doubles it until two successive rules agree.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss

XI_MAX = 10.0
GL_NODES = 8


class Rule:
    """The composite rule with ``panels`` panels on [-XI_MAX, XI_MAX] (more where kinks cut
    them) for the components (a_k, p_k); :meth:`nodes` gives flat arrays of (a, xi, weight)."""

    def __init__(self, a: np.ndarray, p: np.ndarray, panels: int, kinks=()):
        self.a, self.p, self.panels = np.asarray(a, float), np.asarray(p, float), int(panels)
        self.kinks = tuple(float(v) for v in kinks)
        self._x, self._w = leggauss(GL_NODES)
        self._fixed = None if self.kinks else self._build([()] * len(self.a))

    def nodes(self, loss, m: float, Q: float, V: float):
        """(a, xi, w) over all (component, node) pairs, with sum(w f) ~ E f."""
        if self._fixed is not None:
            return self._fixed
        sq = math.sqrt(Q)
        omega = [v + V * float(np.asarray(loss.d1(np.array([v]))).item()) for v in self.kinks]
        cuts = [tuple((w - ak * m) / sq for w in omega) if sq > 0 else () for ak in self.a]
        return self._build(cuts)

    def _build(self, cuts):
        width = 2.0 * XI_MAX / self.panels
        a_all, xi_all, w_all = [], [], []
        for ak, pk, ck in zip(self.a, self.p, cuts):
            edges = sorted({-XI_MAX, XI_MAX, *(c for c in ck if -XI_MAX < c < XI_MAX)})
            for lo, hi in zip(edges[:-1], edges[1:]):
                n = max(1, math.ceil((hi - lo) / width - 1e-9))
                left = lo + (hi - lo) * np.arange(n) / n
                half = 0.5 * (hi - lo) / n
                xi = (left[:, None] + half * (1.0 + self._x[None, :])).ravel()
                w = np.tile(half * self._w, n) * np.exp(-0.5 * xi * xi) / math.sqrt(2 * math.pi)
                a_all.append(np.full(xi.size, ak))
                xi_all.append(xi)
                w_all.append(pk * w)
        return np.concatenate(a_all), np.concatenate(xi_all), np.concatenate(w_all)
