"""Sampling-free DMFT for the square loss with full-batch GD (docs/theory.md, "Exact checks").

With ell(v) = (1 - v)^2/2, two clusters and GD, Lambda'' = 1, so lamhat = alpha Delta and
M_R[k, j] = alpha Delta^2 G[k, j] are deterministic, and F_k = r_k - y is linear in the sources
of the effective process: the constant 1, h0, h(0) and the Gaussian path xi_0 ... xi_{T-1}.
Writing h_k and F_k as coefficient vectors over those sources turns every average into an exact
second moment,

    M_C[k, j] = alpha Delta f_k^T Sigma f_j,      mu_k = alpha f_k^T Sigma e_u,

with Sigma the sources' second-moment matrix (whose xi block is M_C itself, known causally).
This is the reference against which the Monte-Carlo solver is tested; it also gives the response
that Marchenko-Pastur predicts (see :func:`mp_response`).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import integrate
from scipy.stats import norm as _normal

from .. import __version__
from .._validation import ParameterError
from ..model import Problem
from ..result import Result
from ..training import Training
from .kernels import two_time


def solve_square_gd(problem: Problem, training: Training, *, m0: float = 0.0) -> Result:
    """Exact (Monte-Carlo-free) DMFT curves for the square loss, two clusters, GD.

    Returns a :class:`Result` with zero errors and the kernels in ``extras``.
    """
    if problem.loss != "square" or problem.dmft_classes() != [(1.0, 1, 1.0)] or training.b != 1.0:
        raise ParameterError("solve_square_gd needs loss = 'square', the two-cluster model "
                             "(clusters = 2, linear output) and full batch (b = 1)")
    t_start = time.perf_counter()
    T = training.steps
    eta, lam, R = training.eta, problem.lam, training.R
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    # sources: 0 -> constant 1, 1 -> h0, 2 -> h(0), 3 + j -> xi_j
    S = T + 3
    sigma = np.zeros((S, S))
    sigma[0, 0] = 1.0
    sigma[1, 1] = 1.0
    sigma[2, 2] = max(R - m0 * m0, 0.0)
    e_u = np.zeros(S)
    e_u[0], e_u[1] = 1.0, sqD  # u = c + sqrt(Delta) h0 with c = y = 1 (sign symmetry)
    e_y = np.zeros(S)
    e_y[0] = 1.0

    lamhat = np.full(T, alpha * Delta)
    mu = np.zeros(T)
    MR = np.zeros((T, T))
    G = np.zeros((T + 1, T))  # deterministic response, D = 1
    m = np.empty(T + 1)
    m[0] = m0
    Hc = np.zeros((T + 1, S))  # coefficients of h_k
    Hc[0, 2] = 1.0
    Fc = np.zeros((T, S))
    loss = np.empty(T + 1)
    acc = np.empty(T + 1)
    a = 1.0 - eta * (lam + alpha * Delta)

    for k in range(T + 1):
        rc = sqD * Hc[k] + m[k] * e_u  # r_k
        fc = rc - e_y  # F_k = r_k - y
        second = fc @ sigma @ fc
        loss[k] = 0.5 * second
        mean_r = rc[0]
        var_r = max(rc @ sigma @ rc - mean_r**2, 0.0)
        acc[k] = _normal.cdf(mean_r / math.sqrt(var_r)) if var_r > 0 else float(mean_r > 0)
        if k == T:
            break
        Fc[k] = fc
        sf = sigma @ fc
        mu[k] = alpha * (e_u @ sf)
        row = alpha * Delta * (Fc[: k + 1] @ sf)
        sigma[3 + k, 3: 4 + k] = row
        sigma[3: 4 + k, 3 + k] = row
        if k > 0:
            MR[k, :k] = alpha * Delta**2 * G[k, :k]
        m[k + 1] = m[k] - eta * (lam * m[k] + mu[k])
        h_next = a * Hc[k] - eta * sqD * fc
        h_next[3 + k] += eta
        if k > 0:
            h_next += eta**2 * (MR[k, :k] @ Hc[:k])
            G[k + 1, :k] = (a - eta * Delta) * G[k, :k] + eta**2 * (MR[k, :k] @ G[:k, :k])
        G[k + 1, k] = 1.0
        Hc[k + 1] = h_next

    kernels = dict(lamhat=lamhat, mu=mu, M_C=sigma[3:, 3:].copy(), M_R=MR)
    Rw, P0, C = two_time(problem, training, kernels, m, m0)
    norm = np.diagonal(C).copy()
    zeros = np.zeros(T + 1)
    params = dict(problem=problem.params(), training=training.params(), m0=m0, version=__version__)
    return Result(t=training.times, gen_error=problem.gen_error(m, norm), gen_error_sem=zeros,
                  train_loss=loss, train_loss_sem=zeros, train_accuracy=acc, train_accuracy_sem=zeros,
                  m=m, m_sem=zeros, norm=norm, norm_sem=zeros, method="dmft-exact", params=params,
                  stats=dict(wall_time=time.perf_counter() - t_start, steps=T),
                  extras=dict(C=C, C_sem=np.zeros_like(C), R=Rw, R_sem=np.zeros_like(Rw),
                              P0=P0, **kernels))


def mp_moment(alpha: float, delta: float, fn) -> float:
    """E[fn(a)] for a distributed as the eigenvalues of delta Z^T Z / d, Z of size (alpha d) x d.

    Marchenko-Pastur with ratio alpha: support delta (1 -+ sqrt(alpha))^2 and, for alpha < 1, an
    atom of mass 1 - alpha at 0.
    """
    lo, hi = (1 - math.sqrt(alpha)) ** 2, (1 + math.sqrt(alpha)) ** 2

    def density(x):  # density of the eigenvalues of Z^T Z / d (before the factor delta)
        return math.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * math.pi * x)

    val, _ = integrate.quad(lambda x: fn(delta * x) * density(x), lo, hi, limit=200, epsabs=1e-12, epsrel=1e-10)
    if alpha < 1:
        val += (1 - alpha) * fn(0.0)
    return val


def mp_response(problem: Problem, training: Training, p: int) -> float:
    """Rw[j + 1 + p, j] = E_a[(1 - eta (lam + a))^p] for square-loss GD (docs/theory.md, "Exact checks")."""
    eta, lam = training.eta, problem.lam
    return mp_moment(problem.alpha, problem.delta, lambda a: (1.0 - eta * (lam + a)) ** p)
