"""The square loss ell(v) = (1 - v)^2/2 in closed form (docs/statics.md, "Square loss").

The prox is linear, h* = (omega + V)/(1 + V), so every expectation of the fixed point is a
moment of a_k = y_k c_k: with s1 = E[a], s2 = E[a^2] and B = lam (1 + V) + Delta alpha,

    lam V^2 + (lam + Delta alpha - Delta) V - Delta = 0   (V > 0),
    m = alpha s1 / (B + alpha s2),
    q = [Delta alpha (s2 m^2 - 2 s1 m + 1) + alpha^2 (s1 - s2 m)^2] / (B^2 - Delta^2 alpha).

At lam = 0 (least squares) B = Delta max(alpha, 1): for alpha > 1, V = 1/(alpha - 1); for
alpha < 1 the lam -> 0+ limit is the minimum-norm interpolator (V -> inf, lam V ->
Delta (1 - alpha)); at alpha = 1 the norm diverges.
"""

from __future__ import annotations

import math

from scipy.special import ndtr

from .fixed_point import Components


def square_fixed_point(comps: Components) -> dict:
    """m, q, V, the conjugates, the training loss and accuracy of the square loss."""
    lam, delta, alpha = comps.lam, comps.delta, comps.alpha
    s1, s2 = comps.s1, comps.s2
    if lam > 0:
        b = lam + delta * alpha - delta
        root = math.sqrt(b * b + 4.0 * lam * delta)
        V = 2.0 * delta / (b + root) if b > 0 else (root - b) / (2.0 * lam)
        B = lam * (1.0 + V) + delta * alpha
    elif alpha > 1:
        V = 1.0 / (alpha - 1.0)
        B = delta * alpha
    else:  # alpha < 1 (alpha = 1 is refused by the caller)
        V = math.inf
        B = delta
    m = alpha * s1 / (B + alpha * s2)
    bias2 = s2 * m * m - 2.0 * s1 * m + 1.0  # E[(a m - 1)^2]
    q = (delta * alpha * bias2 + alpha**2 * (s1 - s2 * m) ** 2) / (B * B - delta**2 * alpha)
    Q = delta * q
    inv = 1.0 / (1.0 + V)  # 0 at V = inf
    Vhat = alpha * inv
    mhat = alpha * (s1 - s2 * m) * inv
    qhat = alpha * (bias2 + Q) * inv * inv
    train_loss = 0.5 * (bias2 + Q) * inv * inv
    # h* > 0 iff omega > V ell'(0) = -V
    if math.isinf(V):
        accuracy = 1.0
    else:
        sQ = math.sqrt(Q)
        accuracy = float(sum(p * ndtr((a * m + V) / sQ) for a, p in zip(comps.a, comps.p)))
    return dict(m=m, q=q, V=V, mhat=mhat, qhat=qhat, Vhat=Vhat, train_loss=train_loss,
                train_accuracy=accuracy)
