"""The proximal step of a convex loss (docs/statics.md, "The proximal step").

prox(omega, V) = argmin_h  ell(h) + (h - omega)^2 / (2 V)  is the root of

    g(h) = h - omega + V ell'(h),     g'(h) = 1 + V ell''(h) >= 1,

which is strictly increasing for a convex loss, so the root is unique and lies between omega
and omega - V ell'(omega) (g has opposite signs there because ell' is non-decreasing). The
iteration is Newton's inside that bracket, with a bisection step whenever Newton would leave it,
is not finite, or where the previous step halved neither |g| nor the step length (so the
bracket, in asinh(h), halves at least every second step unless Newton converges); every element
of an array of (omega, V) is solved at once.
"""

from __future__ import annotations

import numpy as np

#: Newton/bisection steps before giving up (bisection alone halves the bracket 200 times)
PROX_MAX_STEPS = 200


def prox(loss, omega, V, *, rtol: float = 1e-14):
    """h* = argmin_h ell(h) + (h - omega)^2/(2V), elementwise (docs/statics.md, "The proximal
    step"); ``loss`` has ``d1``, ``d2`` (the loss contract), ``V`` > 0 broadcasts with ``omega``.

    Returns (h*, converged): ``converged`` is False only if some element's bracket did not
    shrink to ``rtol`` (1 + |h|) in :data:`PROX_MAX_STEPS` steps (the caller reports it).
    """
    omega = np.asarray(omega, dtype=float)
    V = np.broadcast_to(np.asarray(V, dtype=float), omega.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        g0 = V * np.asarray(loss.d1(omega.copy()), dtype=float)
        other = omega - g0
        lo, hi = np.minimum(omega, other), np.maximum(omega, other)
        h = omega.copy()
        last = np.full(omega.shape, np.inf)  # |g| at the previous iterate
        last_step = np.full(omega.shape, np.inf)  # |h_k - h_{k-1}|
        done = g0 == 0.0  # omega is the root already
        for _ in range(PROX_MAX_STEPS):
            if done.all():
                return h, True
            act = ~done
            ha, Va, wa = h[act], V[act], omega[act]
            g = ha - wa + Va * np.asarray(loss.d1(ha.copy()), dtype=float)
            dg = 1.0 + Va * np.asarray(loss.d2(ha.copy()), dtype=float)
            la, ua = lo[act], hi[act]
            # the bracket keeps the root: g < 0 left of it, g > 0 right of it
            la = np.where(g < 0, np.maximum(la, ha), la)
            ua = np.where(g > 0, np.minimum(ua, ha), ua)
            step = g / dg
            new = ha - step
            # bisect where Newton would leave the bracket, or where the last step did not halve
            # |g| or the step length: Newton can cycle inside the bracket (the logistic loss at
            # V >> 1) or creep by O(1) per step (the exponential loss at omega << 0)
            bis = (~np.isfinite(new) | (new <= la) | (new >= ua)
                   | (np.abs(g) > 0.5 * last[act]) | (np.abs(step) > 0.5 * last_step[act]))
            # bisection in asinh(h): brackets as wide as (omega, omega + V e^{-omega}) of the
            # exponential loss shrink to O(1) in a few dozen steps
            new = np.where(bis, np.sinh(0.5 * (np.arcsinh(la) + np.arcsinh(ua))), new)
            scale = 1.0 + np.abs(new)
            conv = ((g == 0.0) | (~bis & (np.abs(step) <= rtol * scale))
                    | (ua - la <= rtol * scale))
            new = np.where(g == 0.0, ha, new)
            last_step[act] = np.abs(new - ha)
            h[act], lo[act], hi[act], last[act] = new, la, ua, np.abs(g)
            done[act] = conv
    return h, bool(done.all())
