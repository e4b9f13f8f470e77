"""Losses of the margin: ell(v) with v = y phi(h) (docs/theory.md, "Model").

**The contract.** A loss is any object with three methods on numpy float arrays (any shape):

* ``value(v)``: ell(v);
* ``d1(v)``: ell'(v);
* ``d2(v)``: ell''(v);

each returning finite numbers of the same shape for margins v in [-50, 50] (checked on a probe
grid before any compute, see :func:`gmmdmft.plugins.check_contract`). Optional:

* ``terms(v, ops=None)``: the three together (to share work, e.g. one sigmoid for the
  logistic loss). ``ops`` is None for numpy arrays, else an object with the array functions
  ``expit``, ``log``, ``exp``, ``relu``, ``step`` of another array library (the torch backend);
  a loss whose ``terms`` accepts ``ops`` runs on that backend, others run on numpy only.
* ``convex``: True if ell is convex (the static theory of the minimiser needs it); when absent
  it is checked numerically (ell'' >= 0 on the probe grid).

The built-ins below are written against the same contract (they subclass :class:`Loss` only to
share its defaults) and are found by name in :data:`LOSSES`; a user loss is given by import
path, ``"mymodule:MyLoss"`` (see :mod:`gmmdmft.plugins`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .. import plugins

#: margins on which a loss is checked before any compute
PROBE = np.concatenate([np.linspace(-50.0, 50.0, 1001), [0.0, 1.0, -1.0]])


class Loss:
    """Base of the built-in losses: ``terms`` from the three methods, ``spec`` = the name."""

    spec: str = ""
    convex: bool | None = None

    def value(self, v):
        raise NotImplementedError

    def d1(self, v):
        raise NotImplementedError

    def d2(self, v):
        raise NotImplementedError

    def terms(self, v, ops=None):
        """(ell, ell', ell'') together."""
        return self.value(v), self.d1(v), self.d2(v)

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))


class Logistic(Loss):
    """ell(v) = ln(1 + e^{-v}), the paper's loss, written without overflow."""

    spec = "logistic"
    convex = True

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

    spec = "square"
    convex = True

    def value(self, v):
        return 0.5 * (1.0 - v) ** 2

    def d1(self, v):
        return v - 1.0

    def d2(self, v):
        return np.ones_like(v)

    def terms(self, v, ops=None):
        d1 = v - 1.0
        return 0.5 * d1 * d1, d1, 0.0 * v + 1.0


class Exponential(Loss):
    """ell(v) = e^{-v} (the loss of AdaBoost); overflows for margins below about -709."""

    spec = "exponential"
    convex = True

    def value(self, v):
        return np.exp(-v)

    def d1(self, v):
        return -np.exp(-v)

    def d2(self, v):
        return np.exp(-v)

    def terms(self, v, ops=None):
        e = np.exp(-v) if ops is None else ops.exp(-v)
        return e, -e, e


class SquaredHinge(Loss):
    """ell(v) = max(0, 1 - v)^2 / 2 (equal to the square loss for v < 1, zero beyond);
    ell''(v) = 1 for v < 1 and 0 for v >= 1."""

    spec = "squared-hinge"
    convex = True

    def value(self, v):
        return 0.5 * np.maximum(1.0 - v, 0.0) ** 2

    def d1(self, v):
        return -np.maximum(1.0 - v, 0.0)

    def d2(self, v):
        return (v < 1.0).astype(float)

    def terms(self, v, ops=None):
        if ops is None:
            gap = np.maximum(1.0 - v, 0.0)
            return 0.5 * gap * gap, -gap, (v < 1.0).astype(float)
        gap = ops.relu(1.0 - v)
        return 0.5 * gap * gap, -gap, ops.step(1.0 - v)


LOSSES: dict[str, Loss] = {cls.spec: cls() for cls in (Logistic, Square, Exponential, SquaredHinge)}


def resolve_loss(spec) -> Loss:
    """The loss object of ``spec``: a name of :data:`LOSSES`, an import path or an object
    meeting the contract (checked on the probe grid)."""
    builtins = {name: (lambda loss=loss: loss) for name, loss in LOSSES.items()}
    return plugins.resolve("loss", spec, builtins, ("value", "d1", "d2"), PROBE,
                           "a loss with value, d1, d2")


def loss_terms(loss, v, ops=None):
    """(ell, ell', ell'') of any loss meeting the contract (its ``terms`` when it has one)."""
    terms = getattr(loss, "terms", None)
    if terms is not None:
        return terms(v) if ops is None else terms(v, ops)
    return loss.value(v), loss.d1(v), loss.d2(v)


def is_convex(loss) -> bool:
    """``loss.convex`` when given, else ell'' >= 0 on the probe grid."""
    flag = getattr(loss, "convex", None)
    if flag is not None:
        return bool(flag)
    with np.errstate(all="ignore"):
        return bool(np.all(np.asarray(loss.d2(PROBE.copy())) >= -1e-12))
