"""The lagged sweep: N fresh draws run under the previous iterate's M_C and M_R, so that the
noise, the memory sum and the new M_C are matrix products (docs/theory.md, "Solver")."""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import cholesky
from scipy.linalg.blas import dsyrk

from .._backend import NUMPY
from .._validation import DivergenceError
from .draws import Draws


def lagged_sweep(problem, training, old: dict, gamma: np.ndarray, N: int,
                  m0: float, rng, G_dtype, block: int = 64, work: dict | None = None, be=NUMPY,
                  root=None):
    """One sweep of N fresh draws under the previous iterate's M_C and M_R (the fast iteration).

    lamhat and mu stay causal (estimated at time k from the draws at time k, O(N) each), while
    the noise xi is drawn from the previous M_C and the memory sum uses the previous M_R: both
    known in advance, so each block of ``block`` time steps costs one matrix product for the
    noise (xi = L Z with L the Cholesky factor of M_C, docs/theory.md, "Solver") and one for
    the memory from earlier blocks, and the new M_C is one product F F^T after the sweep. Only the memory sum
    inside a block is a matrix-vector product per step. ``be``: array backend (_backend);
    ``root``: :func:`noise_root` of ``old["M_C"]`` when the caller has it already.
    Returns (kernels, m, training loss, training accuracy, timings, D paths of all draws).
    """
    T = training.steps
    eta, lam = training.eta, problem.lam
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    tic = time.perf_counter
    timing = dict(process=0.0, noise=0.0, memory=0.0, M_C=0.0, M_R=0.0)
    t0 = tic()
    dr = Draws(problem, training, N, m0, rng)
    y, u = be.asarray(dr.y), be.asarray(dr.u)
    # the stored history of h, the white noise and the products with them in the precision of
    # the responses (float32 by default: rounding far below the Monte-Carlo noise, half the
    # bytes and twice the product rate); the current h and F, and M_C, stay float64
    MR = be.asarray(old["M_R"], dtype=G_dtype)  # strictly lower (every estimate of M_R is)
    eta2 = eta**2
    lamhat = np.empty(T)
    mu = np.empty(T)
    m = np.empty(T + 1)
    m[0] = m0
    H = be.buffer(work, "H", (T + 1, N), G_dtype)
    h = be.asarray(dr.h_init)  # h at the current step, float64
    H[0] = h
    Fh = be.buffer(work, "F", (T, N), "float64")
    Dh = be.buffer(work, "D", (T, N), G_dtype)
    loss = np.empty(T + 1)
    acc = np.empty(T + 1)
    s = training.initial_batch(rng, N)
    keep = 1.0 - gamma
    ops = None if be is NUMPY else be  # the loss's own numpy path, or the backend's functions
    t1 = tic()
    timing["process"] += t1 - t0
    root, causal = noise_root(old["M_C"]) if root is None else root
    root = be.asarray(root, dtype=G_dtype)
    Z = white_noise(rng, work, (T, N), G_dtype, be)
    timing["noise"] += tic() - t1
    for K0 in range(0, T, block):
        K1 = min(T, K0 + block)
        t0 = tic()
        xi = root[K0:K1, :K1] @ Z[:K1] if causal else root[K0:K1] @ Z
        xi *= eta
        t1 = tic()
        timing["noise"] += t1 - t0
        if K0 > 0:  # memory from earlier blocks, one GEMM for the block (BLAS-3)
            mem = MR[K0:K1, :K0] @ H[:K0]
            mem *= eta2
            xi += mem
        t0 = tic()
        timing["memory"] += t0 - t1
        with be.small_products():
            for k in range(K0, K1):
                r = sqD * h + m[k] * u
                value, F, D = problem.terms(y, r, ops)
                loss[k] = be.item(value.mean())
                acc[k] = be.item((problem.correct(y, r)).sum()) / N
                if training.stochastic:
                    sk = be.asarray(s)
                    F *= sk
                    D *= sk
                Fh[k] = F
                Dh[k] = D
                lamhat[k] = gamma[k] * alpha * Delta * be.item(D.mean()) + keep[k] * old["lamhat"][k]
                mu[k] = gamma[k] * alpha * be.item(be.einsum("n,n", u, F)) / N + keep[k] * old["mu"][k]
                m[k + 1] = m[k] - eta * (lam * m[k] + mu[k])
                h = h * (1.0 - eta * (lam + lamhat[k]))
                h += xi[k - K0]
                F *= eta * sqD
                h -= F
                if k > K0:
                    h += eta2 * (MR[k, K0:k] @ H[K0:k])
                H[k + 1] = h
                if training.stochastic:
                    s = training.next_batch(rng, s)
        finite = be.to_numpy(be.einsum("kn->k", H[K0 + 1:K1 + 1]))
        bad = ~np.isfinite(finite)
        if bad.any():
            k = K0 + 1 + int(np.flatnonzero(bad)[0])
            raise DivergenceError(
                f"DMFT diverged: the field h is not finite at time step {k} (t = {k * eta:g}); "
                f"use a smaller eta (now {eta:g}) or more damping")
        timing["process"] += tic() - t0
    t0 = tic()
    r = sqD * h + m[T] * u
    loss[T] = be.item(problem.terms(y, r, ops)[0].mean())
    acc[T] = be.item((problem.correct(y, r)).sum()) / N
    t1 = tic()
    timing["process"] += t1 - t0
    MC = gram(Fh, alpha * Delta / N, be)
    if np.any(keep > 0):  # mixed with the old kernel, as the noise paths would be
        b_mix, a_mix = np.sqrt(gamma), np.sqrt(keep)
        MC *= np.outer(b_mix, b_mix)
        MC += np.outer(a_mix, a_mix) * old["M_C"]
    timing["M_C"] += tic() - t1
    kernels = dict(lamhat=lamhat, mu=mu, M_C=MC, M_R=old["M_R"])
    return kernels, m, loss, acc, timing, Dh


def white_noise(rng, work, shape, dtype, be=NUMPY):
    """Standard normals of ``dtype`` drawn by the numpy ``rng`` on the host (the same numbers
    on every backend), in a buffer of ``work``; on the backend's device."""
    host = NUMPY.buffer(work if be is NUMPY else None, "Z", shape, dtype)
    rng.standard_normal(out=host, dtype=host.dtype)
    return host if be is NUMPY else be.asarray(host)


def gram(F, scale, be=NUMPY):
    """scale * F F^T (T x T, numpy float64) for F (T x N): one symmetric rank-N update (syrk,
    half the multiply-adds of the general product) on numpy, the product on other backends."""
    if be is not NUMPY or F.dtype != np.float64:
        return scale * be.to_numpy(F @ F.T).astype(np.float64)
    C = dsyrk(scale, F.T, trans=1).T  # F.T is Fortran-ordered: no copy; C's lower triangle
    T = C.shape[0]
    for i0 in range(0, T, 256):  # the upper triangle from the lower one, in place
        i1 = min(T, i0 + 256)
        C[i0:i1, i1:] = C[i1:, i0:i1].T
        C[i0:i1, i0:i1] = np.tril(C[i0:i1, i0:i1]) + np.tril(C[i0:i1, i0:i1], -1).T
    return C


def noise_root(MC):
    """(L, True) with L L^T = M_C + jitter I lower triangular (Cholesky), so that xi = L z is
    causal; (V sqrt(max(w, 0)), False) from the eigendecomposition if Cholesky fails (docs/theory.md, "Solver").
    The jitter, 1e-9 of the largest diagonal, is the one of the causal sweep (see chol_row)."""
    jitter = 1e-9 * float(np.max(np.diagonal(MC), initial=0.0))
    if jitter > 0:
        try:
            L = cholesky(MC + jitter * np.eye(MC.shape[0]), lower=True, check_finite=False)
            if np.all(np.isfinite(L)):
                return L, True
        except np.linalg.LinAlgError:
            pass
    vals, vecs = np.linalg.eigh(MC)
    return vecs * np.sqrt(np.clip(vals, 0.0, None)), False

