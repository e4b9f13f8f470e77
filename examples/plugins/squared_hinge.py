"""A user loss from outside gmmdmft: the squared hinge ell(v) = max(0, 1 - v)^2 / 2 of the
margin v = y phi(h). With this folder on the Python path: Problem(loss="squared_hinge:SquaredHinge")."""
import numpy as np


class SquaredHinge:
    """ell, ell', ell'' on numpy arrays (the loss contract); ell'' jumps from 1 to 0 at v = 1."""

    def value(self, v):
        return 0.5 * np.maximum(1.0 - v, 0.0) ** 2

    def d1(self, v):
        return -np.maximum(1.0 - v, 0.0)

    def d2(self, v):
        return (v < 1.0).astype(float)
