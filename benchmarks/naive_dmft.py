"""A deliberately straightforward numpy implementation of the DMFT equations of docs/theory.md (the baseline).

Damped Picard iteration over the whole horizon, as the equations are written: each iteration
draws the noise paths from the previous M_C (eigendecomposition), runs the effective process
with a Python loop over time (the memory sum as one matrix-vector product per step), estimates
lamhat, mu and M_C from all draws, and M_R from the K = (I + Delta eta Rw diag(D))^{-1} form with
one LAPACK triangular solve per response draw. Plain sampling, no variance reduction.

It shares only the problem definitions with the package, so it is also an independent check of
``gmmdmft.solve_dmft``.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import solve_triangular


def naive_dmft(problem, training, *, samples, response_samples, iterations, damping=0.5, seed=0, m0=0.0,
               record=False):
    """Return (dict of curves, dict of per-phase seconds summed over iterations).

    With ``record`` the curves include ``history``: gen_error after every iteration.
    """
    history = []
    rng = np.random.default_rng(seed)
    T, eta, lam = training.steps, training.eta, problem.lam
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    N, NR = samples, response_samples
    lamhat, mu = np.zeros(T), np.zeros(T)
    MC, MR = np.zeros((T, T)), np.zeros((T, T))
    timing = dict(process=0.0, noise=0.0, M_C=0.0, M_R=0.0, two_time=0.0)
    for _ in range(iterations):
        t0 = time.perf_counter()
        vals, vecs = np.linalg.eigh(MC)
        xi = (vecs * np.sqrt(np.clip(vals, 0, None))) @ rng.standard_normal((T, N))
        t1 = time.perf_counter()
        timing["noise"] += t1 - t0

        c, y = problem.sample_clusters(rng, N)
        h0 = rng.standard_normal(N)
        u = c + sqD * h0
        m = np.empty(T + 1)
        m[0] = m0
        for k in range(T):
            m[k + 1] = m[k] - eta * (lam * m[k] + mu[k])
        H = np.zeros((T + 1, N))
        H[0] = math.sqrt(training.R) * rng.standard_normal(N)
        F, D = np.zeros((T, N)), np.zeros((T, N))
        s = training.initial_batch(rng, N)
        for k in range(T):
            r = sqD * H[k] + m[k] * u
            Fk, Dk = problem.dLambda(y, r) * s, problem.d2Lambda(y, r) * s
            F[k], D[k] = Fk, Dk
            H[k + 1] = (1 - eta * (lam + lamhat[k])) * H[k] + eta**2 * (MR[k, :k] @ H[:k]) + eta * (xi[k] - sqD * Fk)
            s = training.next_batch(rng, s)
        r_T = sqD * H[T] + m[T] * u
        loss = np.r_[[problem.Lambda(y, sqD * H[k] + m[k] * u).mean() for k in range(T)],
                     problem.Lambda(y, r_T).mean()]
        t2 = time.perf_counter()
        timing["process"] += t2 - t1

        new_lamhat = alpha * Delta * D.mean(axis=1)
        new_mu = alpha * (F * u).mean(axis=1)
        new_MC = alpha * Delta * (F @ F.T) / N
        t3 = time.perf_counter()
        timing["M_C"] += t3 - t2

        Rw = _response(T, eta, lam + lamhat, MR)[:T, :]
        new_MR = np.zeros((T, T))
        eye = np.eye(T)
        for n in range(NR):
            K = solve_triangular(eye + Delta * eta * Rw * D[:, n][None, :], eye, lower=True)
            new_MR += D[:, n][:, None] * (K - eye)
        new_MR = np.tril(-(alpha * Delta / eta) * new_MR / NR, -1)
        t4 = time.perf_counter()
        timing["M_R"] += t4 - t3

        lamhat = (1 - damping) * lamhat + damping * new_lamhat
        mu = (1 - damping) * mu + damping * new_mu
        MC = (1 - damping) * MC + damping * new_MC
        MR = (1 - damping) * MR + damping * new_MR

        t5 = time.perf_counter()
        m = np.empty(T + 1)
        m[0] = m0
        for k in range(T):
            m[k + 1] = m[k] - eta * (lam * m[k] + mu[k])
        Rw_full = _response(T, eta, lam + lamhat, MR)
        P0 = _response_p0(T, eta, lam + lamhat, MR)
        C = (training.R - m0**2) * np.outer(P0, P0) + eta**2 * Rw_full @ MC @ Rw_full.T + np.outer(m, m)
        timing["two_time"] += time.perf_counter() - t5
        if record:
            history.append(problem.gen_error(m, np.diagonal(C).copy()))
    norm = np.diagonal(C).copy()
    return dict(gen_error=problem.gen_error(m, norm), m=m, norm=norm, train_loss=loss, history=history), timing


def _response(T, eta, lamtilde, MR):
    """Rw[k, j] for k = 0..T, j = 0..T-1 by its recursion (loop over time)."""
    Rw = np.zeros((T + 1, T))
    for k in range(T):
        Rw[k + 1, k] = 1.0
        Rw[k + 1, :k] = (1 - eta * lamtilde[k]) * Rw[k, :k] + eta**2 * (MR[k, :k] @ Rw[:k, :k])
    return Rw


def _response_p0(T, eta, lamtilde, MR):
    P0 = np.zeros(T + 1)
    P0[0] = 1.0
    for k in range(T):
        P0[k + 1] = (1 - eta * lamtilde[k]) * P0[k] + eta**2 * (MR[k, :k] @ P0[:k])
    return P0
