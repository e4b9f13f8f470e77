"""The causal forward sweep: every kernel estimated at time k as soon as the draws reach k
(docs/theory.md, "Solver"); the burn-in iteration of :func:`gmmdmft.solve_dmft`."""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import solve_triangular

from .._backend import NUMPY
from .._blas import one_blas_thread
from .._validation import DivergenceError
from .draws import Draws
from .kernels import gaussian_paths, symmetrize
from .response import rademacher


def causal_sweep(problem, training, old: dict | None, gamma: np.ndarray,
           N: int, N_R: int, m0: float, rng, G_dtype, MR_fixed=None, n_store: int = 0,
           block: int = 64, probe: bool = False):
    """One causal forward sweep: sample N draws and update the kernels time step by time step.

    ``old`` holds the previous iterate's kernels (or None); the time-k kernels become
    (1 - gamma_k) old_k + gamma_k estimate_k. For the noise this is done on the Gaussian paths,
    xi = sqrt(1 - gamma) xi_old + sqrt(gamma) xi_est with xi_old ~ N(0, old M_C) drawn up front
    and xi_est drawn causally from the current draws' estimate: the mixture is positive
    semi-definite by construction, which mixing the rows of M_C before a Cholesky is not when
    gamma varies with time (warm start from a shorter horizon).
    Without ``MR_fixed``, M_R is estimated causally from the responses G of the first N_R
    draws (``probe``: from the random-sign tangents of the first N_R draws, as in
    :func:`~gmmdmft.dmft.response.probe_estimate`: a product with the history per step instead
    of one with every earlier response). With ``MR_fixed`` the sweep uses the given M_R instead (its memory sum then runs as
    one matrix product per block of time). Either way the D paths of the first ``n_store``
    draws are returned, from which :func:`response_estimate` computes the next M_R.
    Returns (kernels, m, training loss, training accuracy, timings, D paths).
    """
    causal_R = MR_fixed is None
    T = training.steps
    eta, lam = training.eta, problem.lam
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    dr = Draws(problem, training, N, m0, rng)
    y, u = dr.y, dr.u

    lamhat = np.zeros(T)
    mu = np.zeros(T)
    MC = np.zeros((T, T))  # lower triangle filled (symmetric): the kernel xi actually has
    MC_est = np.zeros((T, T))  # this sweep's estimate alone (lower triangle)
    MR = np.zeros((T, T)) if causal_R else MR_fixed  # strictly lower
    chol = np.zeros((T, T))
    m = np.empty(T + 1)
    m[0] = m0
    H = np.empty((T + 1, N))
    H[0] = dr.h_init
    Fh = np.empty((T, N))
    Z = np.empty((T, N))
    n_keep = max(N_R if causal_R else 0, n_store)
    Dh = np.empty((T, n_keep), dtype=G_dtype)
    if causal_R and probe:
        X = np.zeros((T + 1, N_R), dtype=G_dtype)  # the tangents of the first N_R draws
        W = rademacher(rng, NUMPY, np.empty((T, N_R), dtype=G_dtype), G_dtype)
    elif causal_R:
        G = np.zeros((T + 1, T * N_R), dtype=G_dtype)  # G[i, j*N_R + n] = G_n[i, j]
    hist = None
    loss = np.empty(T + 1)
    acc = np.empty(T + 1)
    s = training.initial_batch(rng, N)
    timing = dict(process=0.0, noise=0.0, M_C=0.0, M_R=0.0)
    tic = time.perf_counter
    diag_max = 0.0
    a_mix = np.sqrt(1.0 - gamma)
    b_mix = np.sqrt(gamma)
    xi_old = None
    if old is not None and np.any(gamma < 1.0):
        xi_old = gaussian_paths(old["M_C"], rng, N)

    # matrix-vector products with the history only: one BLAS thread while they are small (see
    # _blas), all threads once a step reads more than 32 MB (measured 1.35x faster then)
    item = np.dtype(G_dtype).itemsize
    per_k = N_R if probe else N_R * T  # response numbers read per step, per unit of k
    big = next((k for k in range(T + 1) if max(8 * k * N, item * k * per_k * causal_R) >= 2**25),
               T + 1)
    with one_blas_thread() as limiter:
        for k in range(T + 1):
            if k == big:
                limiter.restore_original_limits()
            t0 = tic()
            r = sqD * H[k] + m[k] * u
            loss[k] = problem.Lambda(y, r).mean()
            acc[k] = problem.correct(y, r).mean()
            if k == T:
                break
            F, D = problem.derivatives(y, r)
            if training.stochastic:
                F *= s
                D *= s
            Fh[k] = F
            Dh[k] = D[:n_keep]
            g = gamma[k]
            keep = 1.0 - g
            est_lamhat = alpha * Delta * D.mean()
            est_mu = alpha * np.einsum("n,n", u, F) / N
            lamhat[k] = g * est_lamhat + (keep * old["lamhat"][k] if keep else 0.0)
            mu[k] = g * est_mu + (keep * old["mu"][k] if keep else 0.0)
            m[k + 1] = m[k] - eta * (lam * m[k] + mu[k])
            t1 = tic()
            timing["process"] += t1 - t0

            MC_est[k, : k + 1] = (alpha * Delta / N) * (Fh[: k + 1] @ F)
            MC[k, : k + 1] = b_mix[k] * b_mix[: k + 1] * MC_est[k, : k + 1]
            if keep:
                MC[k, : k + 1] += a_mix[k] * a_mix[: k + 1] * old["M_C"][k, : k + 1]
            t2 = tic()
            timing["M_C"] += t2 - t1

            if causal_R and probe and k > 0:
                Dk = D[:N_R].astype(G_dtype)
                est = (alpha * Delta**2 / N_R) * (W[:k] @ (Dk * X[k]))
                MR[k, :k] = g * est + (keep * old["M_R"][k, :k] if keep else 0.0)
            elif causal_R and k > 0:
                Gk = G[k, : k * N_R].reshape(k, N_R)
                est = (alpha * Delta**2 / N_R) * ((Gk * Dh[:k, :N_R]) @ D[:N_R].astype(G_dtype))
                MR[k, :k] = g * est + (keep * old["M_R"][k, :k] if keep else 0.0)
            t3 = tic()
            timing["M_R"] += t3 - t2

            # noise: xi_k = sum_j chol[k, j] z_j, the row of the Cholesky factor of M_C (causal)
            diag_max = max(diag_max, MC_est[k, k])
            chol_row(chol, MC_est, k, 1e-9 * diag_max)
            Z[k] = rng.standard_normal(N)
            xi = chol[k, : k + 1] @ Z[: k + 1]
            if keep:
                xi *= b_mix[k]
                xi += a_mix[k] * xi_old[k]
            t4 = tic()
            timing["noise"] += t4 - t3

            a = 1.0 - eta * (lam + lamhat[k])
            h_next = a * H[k] + eta * (xi - sqD * F)
            if causal_R:
                if k > 0:
                    h_next += eta**2 * (MR[k, :k] @ H[:k])
            else:  # M_R known in advance: the memory from earlier blocks is one GEMM per block
                K0 = k - k % block
                if k == K0 and K0 > 0:
                    hist = (eta**2 * MR[K0:K0 + block, :K0]) @ H[:K0]
                if K0 > 0:
                    h_next += hist[k - K0]
                if k > K0:
                    h_next += eta**2 * (MR[k, K0:k] @ H[K0:k])
            if not np.all(np.isfinite(h_next)):
                raise DivergenceError(
                    f"DMFT diverged: the field h is not finite at time step {k + 1} (t = {(k + 1) * eta:g}); "
                    f"use a smaller eta (now {eta:g}) or more damping")
            H[k + 1] = h_next
            if training.stochastic:
                s = training.next_batch(rng, s)
            t5 = tic()
            timing["process"] += t5 - t4

            # response of the first N_R draws to a unit kick at each earlier time
            if not causal_R:
                continue
            if probe:  # x[k+1] = a_k x[k] + sum_i eta^2 M_R[k, i] x[i] + D_k w_k
                Dk = D[:N_R].astype(G_dtype)
                Xn = X[k + 1]
                np.multiply(X[k], a - eta * Delta * Dk, out=Xn)
                Xn += Dk * W[k]
                if k > 0:
                    Xn += (eta**2 * MR[k, :k]).astype(G_dtype) @ X[:k]
                timing["M_R"] += tic() - t5
                continue
            if k > 0:
                Gk = G[k, : k * N_R].reshape(k, N_R)
                Gn = G[k + 1, : k * N_R].reshape(k, N_R)
                np.multiply(Gk, (a - eta * Delta * D[:N_R]).astype(G_dtype), out=Gn)
                Gn += ((eta**2 * MR[k, :k]).astype(G_dtype) @ G[:k, : k * N_R]).reshape(k, N_R)
            G[k + 1, k * N_R:(k + 1) * N_R] = 1.0
            timing["M_R"] += tic() - t5

    kernels = dict(lamhat=lamhat, mu=mu, M_C=symmetrize(MC), M_R=MR)
    return kernels, m, loss, acc, timing, Dh[:, :n_store]


def chol_row(chol, MC, k, jitter):
    """Fill row k of the lower Cholesky factor of M_C[:k+1, :k+1] + diag(jitter).

    M_C is close to singular (at early times the F paths are smooth functions of the few
    quenched variables), so the conditional variance M_C[k,k] - |row|^2 is a difference of
    nearly equal numbers. The jitter (1e-9 of the largest diagonal so far) adds independent
    white noise of that variance to xi, far below the Monte-Carlo noise, and bounds the
    condition number of the factor by about sqrt(T * 1e9), which keeps the solve accurate.
    """
    d_k = MC[k, k] + jitter
    if k == 0:
        chol[0, 0] = math.sqrt(max(d_k, 0.0))
        return
    row = solve_triangular(chol[:k, :k], MC[k, :k], lower=True, check_finite=False)
    chol[k, :k] = row
    chol[k, k] = math.sqrt(max(d_k - float(row @ row), jitter))

