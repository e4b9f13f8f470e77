"""Two-time functions and small T x T algebra of the DMFT (docs/theory.md, "DMFT")."""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_triangular

from .._validation import ParameterError

KERNELS = ("lamhat", "mu", "M_C", "M_R")


def gaussian_paths(M, rng, N):
    """N Gaussian paths with covariance M (T x T), via eigenvalues clipped at zero (docs/theory.md, "Solver")."""
    vals, vecs = np.linalg.eigh(M)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return root @ rng.standard_normal((M.shape[0], N))


def symmetrize(lower):
    return np.tril(lower) + np.tril(lower, -1).T


# --------------------------------------------------------------------------------- two-time
def two_time(problem, training, kernels: dict, m: np.ndarray, m0: float):
    """Response Rw, P0 and the correlation C(t, t') from the kernels (docs/theory.md, "DMFT").

    Rw[k+1, j] = (1 - eta lamtilde_k) Rw[k, j] + eta^2 sum_{j<i<k} M_R[k, i] Rw[i, j], Rw[j+1, j] = 1;
    P0 the same recursion from P0[0] = 1; C_perp = (R - m0^2) P0 P0^T + eta^2 Rw M_C Rw^T and
    C = C_perp + m m^T. All three come from one triangular inverse of size T + 1.
    """
    T = training.steps
    eta = training.eta
    A = _propagator(problem, training, kernels)
    inv = solve_triangular(A, np.eye(T + 1), lower=True, unit_diagonal=True, check_finite=False)
    P0 = inv[:, 0]
    Rw = inv[:, 1:]
    C = (training.R - m0 * m0) * np.outer(P0, P0) + eta**2 * (Rw @ kernels["M_C"] @ Rw.T) + np.outer(m, m)
    return Rw, P0, C



def equal_time(problem, training, kernels: dict, m: np.ndarray, m0: float, root) -> np.ndarray:
    """C(t, t) alone, from the same equations as :func:`two_time` (docs/theory.md, "DMFT"):

        C[k, k] = (R - m0^2) P0[k]^2 + eta^2 sum_j (Rw L)[k, j]^2 + m_k^2,

    with ``root`` L any factor of M_C (L L^T = M_C, e.g. the noise root of the next sweep). One
    triangular solve with T + 1 right-hand sides (P0 and Rw L together) instead of the inverse
    and the two products of Rw M_C Rw^T: about T^3 instead of 5 T^3 multiply-adds.
    """
    T = training.steps
    eta = training.eta
    A = _propagator(problem, training, kernels)
    B = np.zeros((T + 1, T + 1))
    B[0, 0] = 1.0
    B[1:, 1:] = root
    X = solve_triangular(A, B, lower=True, unit_diagonal=True, check_finite=False,
                         overwrite_b=True)
    P0 = X[:, 0]
    return (training.R - m0 * m0) * P0 * P0 + eta**2 * np.einsum("kj,kj->k", X[:, 1:], X[:, 1:]) + m * m


def _propagator(problem, training, kernels):
    """The unit lower-triangular (T + 1) x (T + 1) matrix A of the weight response: A Rw = the
    kicks, A P0 = e_0 (the recursion of :func:`two_time` as a linear system)."""
    T = training.steps
    eta = training.eta
    A = np.eye(T + 1)
    idx = np.arange(T)
    A[idx + 1, idx] = -(1.0 - eta * (problem.lam + kernels["lamhat"]))
    A[1:, :T] -= eta**2 * np.tril(kernels["M_R"], -1)
    return A


def kernel_change(old, new):
    """Relative RMS change of all kernels between two iterates."""
    num = sum(float(np.sum((new[k] - old[k]) ** 2)) for k in KERNELS)
    den = sum(float(np.sum(new[k] ** 2)) for k in KERNELS)
    return math.sqrt(num / den) if den > 0 else 0.0


def kernels_from(init, T: int):
    """Kernels of a previous solution, cut or zero-padded to T steps."""
    ex = init.extras
    if not all(k in ex for k in KERNELS):
        raise ParameterError("init has no kernels: solve it with return_kernels=True")
    T_old = len(ex["lamhat"])
    n = min(T, T_old)
    out = dict(lamhat=np.zeros(T), mu=np.zeros(T), M_C=np.zeros((T, T)), M_R=np.zeros((T, T)))
    out["lamhat"][:n] = ex["lamhat"][:n]
    out["mu"][:n] = ex["mu"][:n]
    out["M_C"][:n, :n] = ex["M_C"][:n, :n]
    out["M_R"][:n, :n] = ex["M_R"][:n, :n]
    return out, n

