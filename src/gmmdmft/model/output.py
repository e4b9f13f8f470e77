"""Output functions phi of the pre-activation h = w.x/sqrt(d) (docs/theory.md, "Model").

The classifier predicts sign(phi(h)). **The contract.** An output is any object with

* ``phi(h)``, ``dphi(h)``, ``d2phi(h)``: phi, phi', phi'' on numpy float arrays, finite for
  h in [-20, 20] (checked on a probe grid before any compute);

and optionally

* ``parity``: ``"odd"``, ``"even"`` or None. Decides the w -> -w symmetry of the model
  (docs/theory.md, "Symmetry"); when absent it is found numerically on the probe grid;
* ``sign_probabilities(mean, sd)``: (P(phi(h) > 0), P(phi(h) < 0)) for h ~ N(mean, sd^2),
  elementwise over arrays: the test error in closed form. Without it the probabilities come
  from the sign changes of phi, located on a grid of 2001 points over mean +- 12 sd and
  refined by bisection (:func:`numeric_sign_probabilities`), which assumes that phi changes
  sign at most once per 0.012 sd.

Built in: :class:`Linear` (phi(h) = h, the two-cluster model) and :class:`Door`
(phi(h) = h^2 - L^2, the three-cluster model). A user output is given by import path,
``"mymodule:MyOutput"`` (see :mod:`gmmdmft.plugins`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf, erfc, ndtr

from .. import plugins

PROBE = np.concatenate([np.linspace(-20.0, 20.0, 801), [0.0]])
SQRT2 = math.sqrt(2.0)


class Output:
    """Base of the built-in outputs: the generic test-error probabilities."""

    spec: str = ""
    parity: str | None = None

    def sign_probabilities(self, mean, sd):
        return numeric_sign_probabilities(self.phi, mean, sd)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Output):
    """phi(h) = h (odd): the classifier sign(w.x)."""

    spec = "linear"
    parity = "odd"

    def phi(self, h):
        return h

    def dphi(self, h):
        return 0.0 * h + 1.0  # arithmetic only: works on numpy arrays and torch tensors

    def d2phi(self, h):
        return 0.0 * h

    def sign_probabilities(self, mean, sd):
        mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = mean / (SQRT2 * sd)
            pos = np.where(sd > 0, 0.5 * erfc(-z), np.where(mean > 0, 1.0, np.where(mean < 0, 0.0, 0.5)))
            neg = np.where(sd > 0, 0.5 * erfc(z), np.where(mean < 0, 1.0, np.where(mean > 0, 0.0, 0.5)))
        return pos, neg

    def __eq__(self, other):
        return type(other) is Linear

    def __hash__(self):
        return hash(Linear)


class Door(Output):
    """phi(h) = h^2 - L^2 (even): y = +1 iff |h| > L, the paper's three-cluster classifier."""

    parity = "even"
    spec = "door"

    def __init__(self, L: float):
        self.L = float(L)

    def phi(self, h):
        return h * h - self.L**2

    def dphi(self, h):
        return 2.0 * h

    def d2phi(self, h):
        return 0.0 * h + 2.0

    def sign_probabilities(self, mean, sd):
        mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
        L = self.L
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (L - mean) / (SQRT2 * sd), (L + mean) / (SQRT2 * sd)
            pos = 0.5 * erfc(a) + 0.5 * erfc(b)
            neg = 0.5 * (erf(a) + erf(b))
        far, inside = np.abs(mean) > L, np.abs(mean) < L
        tie = np.where(far, 1.0, np.where(inside, 0.0, 0.5))
        pos = np.where(sd > 0, pos, tie)
        neg = np.where(sd > 0, neg, 1.0 - tie)
        return pos, neg

    def __repr__(self):
        return f"Door(L={self.L:g})"

    def __eq__(self, other):
        return type(other) is Door and other.L == self.L

    def __hash__(self):
        return hash((Door, self.L))


OUTPUTS = ("linear", "door")


def resolve_output(spec, L: float | None):
    """The output object of ``spec`` (``"linear"``, ``"door"`` with width ``L``, an import path
    or an object meeting the contract)."""
    builtins = {"linear": Linear, "door": lambda: Door(L)}
    return plugins.resolve("activation", spec, builtins, ("phi", "dphi", "d2phi"), PROBE,
                           "an output with phi, dphi, d2phi")


def sign_probabilities(output, mean, sd):
    """(P(phi(h) > 0), P(phi(h) < 0)) for h ~ N(mean, sd^2): ``output.sign_probabilities``
    when the output has it (a closed form), else :func:`numeric_sign_probabilities` of its phi
    (a plug-in that gives phi, dphi, d2phi only)."""
    closed = getattr(output, "sign_probabilities", None)
    if callable(closed):
        return closed(mean, sd)
    return numeric_sign_probabilities(output.phi, mean, sd)


def parity(output) -> str | None:
    """``output.parity`` when declared, else "odd"/"even" if phi, phi', phi'' have that
    symmetry on the probe grid (to 1e-12 relative), else None."""
    declared = getattr(output, "parity", None)
    if declared in ("odd", "even"):
        return declared
    h = PROBE[PROBE > 0]
    with np.errstate(all="ignore"):
        f, fm = np.asarray(output.phi(h), float), np.asarray(output.phi(-h), float)
    scale = 1e-12 * max(1.0, float(np.max(np.abs(f))))
    if np.all(np.abs(fm + f) <= scale):
        return "odd"
    if np.all(np.abs(fm - f) <= scale):
        return "even"
    return None


def numeric_sign_probabilities(phi, mean, sd, n: int = 2001, zmax: float = 12.0):
    """(P(phi(h) > 0), P(phi(h) < 0)) for h ~ N(mean, sd^2), elementwise, from the sign changes
    of phi on a grid of ``n`` points over mean +- zmax sd, each refined by 60 bisections."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    mu, s = mean.reshape(-1), sd.reshape(-1)
    rows = 512  # bounds the scratch to rows x n
    parts = [_sign_probabilities_rows(phi, mu[i:i + rows], s[i:i + rows], n, zmax)
             for i in range(0, max(mu.size, 1), rows)]
    pos = np.concatenate([p for p, _ in parts])[:mu.size]
    neg = np.concatenate([q for _, q in parts])[:mu.size]
    return pos.reshape(mean.shape), neg.reshape(mean.shape)


def _sign_probabilities_rows(phi, mu, s, n, zmax):
    z = np.linspace(-zmax, zmax, n)
    with np.errstate(all="ignore"):
        f = np.asarray(phi(mu[:, None] + s[:, None] * z[None, :]), float)
    sign = np.sign(f)
    cdf = ndtr(z)
    cells = np.diff(cdf)[None, :].repeat(len(mu), axis=0)
    pos = np.where((sign[:, :-1] > 0) & (sign[:, 1:] > 0), cells, 0.0).sum(axis=1)
    neg = np.where((sign[:, :-1] < 0) & (sign[:, 1:] < 0), cells, 0.0).sum(axis=1)
    # tails beyond the grid take the sign at its ends
    pos += np.where(sign[:, 0] > 0, cdf[0], 0.0) + np.where(sign[:, -1] > 0, cdf[0], 0.0)
    neg += np.where(sign[:, 0] < 0, cdf[0], 0.0) + np.where(sign[:, -1] < 0, cdf[0], 0.0)
    row, col = np.nonzero(sign[:, :-1] != sign[:, 1:])
    if row.size:
        a, b = z[col].copy(), z[col + 1].copy()
        fa = sign[row, col]
        for _ in range(60):
            mid = 0.5 * (a + b)
            with np.errstate(all="ignore"):
                fm = np.sign(np.asarray(phi(mu[row] + s[row] * mid), float))
            left = fm == fa
            a = np.where(left, mid, a)
            b = np.where(left, b, mid)
        root = 0.5 * (a + b)
        lo_part, hi_part = ndtr(root) - cdf[col], cdf[col + 1] - ndtr(root)
        end = sign[row, col + 1]
        np.add.at(pos, row, np.where(fa > 0, lo_part, 0.0) + np.where(end > 0, hi_part, 0.0))
        np.add.at(neg, row, np.where(fa < 0, lo_part, 0.0) + np.where(end < 0, hi_part, 0.0))
    # sd = 0: h = mean exactly (a tie phi = 0 counts half)
    with np.errstate(all="ignore"):
        at = np.asarray(phi(mu), float) * np.ones_like(mu)
    det = s <= 0
    pos = np.where(det, np.where(at > 0, 1.0, np.where(at < 0, 0.0, 0.5)), pos)
    neg = np.where(det, np.where(at < 0, 1.0, np.where(at > 0, 0.0, 0.5)), neg)
    return pos, neg
