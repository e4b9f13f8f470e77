"""User output functions phi from outside gmmdmft (the output contract: phi, dphi, d2phi on
numpy arrays). Neither declares ``parity`` or ``sign_probabilities``: gmmdmft finds the parity
on a probe grid and the test error from the sign changes of phi.
With this folder on the Python path: Problem(activation="outputs:Tanh")."""
import numpy as np


class Tanh:
    """phi(h) = tanh(h): odd, predicts sign(h) like the linear output, but saturates."""

    def phi(self, h):
        return np.tanh(h)

    def dphi(self, h):
        return 1.0 - np.tanh(h) ** 2

    def d2phi(self, h):
        t = np.tanh(h)
        return -2.0 * t * (1.0 - t * t)


class ShiftedDoor:
    """phi(h) = (h - s)^2 - L^2 with s = 0.3, L = 1: +1 outside [s - L, s + L]; neither odd
    nor even, so no symmetry is folded."""

    s, L = 0.3, 1.0

    def phi(self, h):
        return (h - self.s) ** 2 - self.L ** 2

    def dphi(self, h):
        return 2.0 * (h - self.s)

    def d2phi(self, h):
        return 0.0 * h + 2.0


class Door:
    """phi(h) = h^2 - 1, the built-in door at L = 1 written as a plug-in (for comparisons)."""

    def phi(self, h):
        return h * h - 1.0

    def dphi(self, h):
        return 2.0 * h

    def d2phi(self, h):
        return 0.0 * h + 2.0
