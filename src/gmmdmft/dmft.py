"""Dynamical mean-field theory (DMFT) of GD / SGD / persistent SGD, in discrete time.

Implements the paper's "SGD-inspired discretisation" (Mignacco et al., NeurIPS 2020, Eqs. 15-20,
discretised with step eta; exact for step-eta SGD as d -> infinity). The d -> infinity dynamics of
one training sample's field is the effective process (sheet §4)

    r_k     = sqrt(Delta) h_k + m_k (c + sqrt(Delta) h0)
    F_k     = s_k Lambda'(y, r_k),      D_k = s_k Lambda''(y, r_k)
    h_{k+1} = (1 - eta (lam + lamhat_k)) h_k + eta^2 sum_{j<k} M_R[k, j] h_j + eta (xi_k - sqrt(Delta) F_k)

with xi a Gaussian path of covariance M_C, and the kernels are averages over the process:

    lamhat_k = alpha Delta <D_k>,             mu_k = alpha <(c + sqrt(Delta) h0) F_k>
    M_C[k,j] = alpha Delta <F_k F_j>,         M_R[k,j] = alpha Delta^2 <D_k G[k,j] D_j>   (j < k)
    G[j+1,j] = 1,  G[k+1,j] = (1 - eta (lam + lamhat_k + Delta D_k)) G[k,j] + eta^2 sum_{j<i<k} M_R[k,i] G[i,j]
    m_{k+1}  = m_k - eta (lam m_k + mu_k)

How it is solved
----------------
Every kernel at time k depends only on the process up to time k, which depends only on kernels
at earlier times: the equations are causal. A forward sweep that estimates the time-k kernels
from the draws as soon as the draws reach time k is therefore a complete fixed-point solve for
the draws at hand, with no Picard iterations over the whole horizon. The first iteration is
such a sweep. Its weak point is M_R: causally it needs each draw's response to every earlier
time, a memory-bound O(N_R T^3) recursion, so it is affordable for a few draws only, and the
late-time curves are very sensitive to the noise of M_R; and the causal noise and M_C cost one
matrix-vector product with the whole history per step (memory-bound). Later iterations
(:func:`_sweep_lagged`) therefore keep the cheap scalar kernels lamhat and mu causal but run
the process under the previous iteration's M_C and M_R: the noise, the memory sum and the new
M_C become matrix products over blocks of time, and M_R is re-estimated after the sweep from
many draws, importance-sampled, propagating their responses with matrix products
(:func:`_response_estimate`). The map from old to new M_C, M_R contracts strongly (measured at
T = 500: iterations agree with the all-causal iteration within their errors, and successive
iterations are not positively correlated). Iterations use fresh draws, so after the burn-in
(the causal sweep, run with a quarter of the draws, and the first iteration under its
kernels) they are independent samples of the solution; the curves returned are their mean, the
errors the standard error of that mean.

Variance reduction: the model is symmetric under (c, h0, h(0), xi) -> -(c, h0, h(0), xi), which
flips r and F and leaves every kernel unchanged, so c = +1 stands for c = +-1 exactly; the
cluster classes are sampled in their exact proportions, and h0 and h(0) by stratified
(Latin-hypercube) quantiles, which makes <u> = 0, <u^2> = 1 + Delta, <u c> = <c^2> nearly exact.
The response draws are importance-sampled (:func:`_pick_response_draws`).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.special import ndtri
from tqdm.auto import tqdm

from . import __version__
from ._backend import NUMPY, get_backend
from ._blas import one_blas_thread
from ._validation import DivergenceError, ParameterError, check_int, check_memory, check_real
from .problem import Problem
from .result import OBSERVABLES, Result
from .training import Training

KERNELS = ("lamhat", "mu", "M_C", "M_R")
# iterations discarded: the causal sweep, and the first iteration run under its kernels (whose
# M_R comes from few draws: measured at T = 500, the spread of gen_error(100) over solver seeds
# is 0.0024 in that iteration and 0.0004-0.0008 in the later ones)
BURN_IN = 2
# the error estimate needs a few iterations after the burn-in before it can stop the iteration
MIN_USED_FOR_TOL = 4
# fraction of the draws used in the causal (burn-in) sweep: its curves are discarded and its
# kernels only seed the next iteration (measured: 1, 0.25 and 0.1 give the same later iterations)
BURN_IN_FRACTION = 0.25
# draws whose responses give the first (causal) sweep its M_R; later iterations re-estimate it
CAUSAL_RESPONSE_SAMPLES = 64


def finite_d_m0(R: float, d: int) -> float:
    """E|m(0)| = sqrt(2 R / (pi d)) for w(0) ~ N(0, R I_d) (sheet §6)."""
    return math.sqrt(2.0 * R / (math.pi * d))


# --------------------------------------------------------------------------------------- draws
class _Draws:
    """Quenched variables of N draws of the effective process (stratified, see module doc)."""

    def __init__(self, problem: Problem, training: Training, N: int, m0: float, rng):
        self.N = N
        if problem.clusters == 2:
            c = np.ones(N)
            y = np.ones(N)
        else:  # classes interleaved so that any prefix holds both in equal numbers
            c = np.tile([0.0, 1.0], N // 2)
            y = np.where(c == 0.0, -1.0, 1.0)
        self.c, self.y = c, y
        self.h0 = np.empty(N)
        self.h_init = np.empty(N)
        var0 = max(training.R - m0 * m0, 0.0)
        for cls in np.unique(c):
            idx = np.flatnonzero(c == cls)
            self.h0[idx] = _stratified_normal(rng, idx.size)
            self.h_init[idx] = math.sqrt(var0) * _stratified_normal(rng, idx.size)
        self.u = c + math.sqrt(problem.delta) * self.h0


def _stratified_normal(rng, n):
    """n standard normals, one in each of n equiprobable strata, in random order."""
    q = (rng.permutation(n) + rng.random(n)) / n
    return ndtri(q)


# --------------------------------------------------------------------------------------- sweep
def _sweep(problem: Problem, training: Training, old: dict | None, gamma: np.ndarray,
           N: int, N_R: int, m0: float, rng, G_dtype, MR_fixed=None, n_store: int = 0,
           block: int = 64):
    """One causal forward sweep: sample N draws and update the kernels time step by time step.

    ``old`` holds the previous iterate's kernels (or None); the time-k kernels become
    (1 - gamma_k) old_k + gamma_k estimate_k. For the noise this is done on the Gaussian paths,
    xi = sqrt(1 - gamma) xi_old + sqrt(gamma) xi_est with xi_old ~ N(0, old M_C) drawn up front
    and xi_est drawn causally from the current draws' estimate: the mixture is positive
    semi-definite by construction, which mixing the rows of M_C before a Cholesky is not when
    gamma varies with time (warm start from a shorter horizon).
    Without ``MR_fixed``, M_R is estimated causally from the responses G of the first N_R
    draws. With ``MR_fixed`` the sweep uses the given M_R instead (its memory sum then runs as
    one matrix product per block of time). Either way the D paths of the first ``n_store``
    draws are returned, from which :func:`_response_estimate` computes the next M_R.
    Returns (kernels, m, training loss, training accuracy, timings, D paths).
    """
    causal_R = MR_fixed is None
    T = training.steps
    eta, lam = training.eta, problem.lam
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    dr = _Draws(problem, training, N, m0, rng)
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
    if causal_R:
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
        xi_old = _gaussian_paths(old["M_C"], rng, N)

    # matrix-vector products with the history only: one BLAS thread while they are small (see
    # _blas), all threads once a step reads more than 32 MB (measured 1.35x faster then)
    item = np.dtype(G_dtype).itemsize
    big = next((k for k in range(T + 1) if max(8 * k * N, item * k * k * N_R * causal_R) >= 2**25),
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

            if causal_R and k > 0:
                Gk = G[k, : k * N_R].reshape(k, N_R)
                est = (alpha * Delta**2 / N_R) * ((Gk * Dh[:k, :N_R]) @ D[:N_R].astype(G_dtype))
                MR[k, :k] = g * est + (keep * old["M_R"][k, :k] if keep else 0.0)
            t3 = tic()
            timing["M_R"] += t3 - t2

            # noise: xi_k = sum_j chol[k, j] z_j, the row of the Cholesky factor of M_C (causal)
            diag_max = max(diag_max, MC_est[k, k])
            _chol_row(chol, MC_est, k, 1e-9 * diag_max)
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
            if k > 0:
                Gk = G[k, : k * N_R].reshape(k, N_R)
                Gn = G[k + 1, : k * N_R].reshape(k, N_R)
                np.multiply(Gk, (a - eta * Delta * D[:N_R]).astype(G_dtype), out=Gn)
                Gn += ((eta**2 * MR[k, :k]).astype(G_dtype) @ G[:k, : k * N_R]).reshape(k, N_R)
            G[k + 1, k * N_R:(k + 1) * N_R] = 1.0
            timing["M_R"] += tic() - t5

    kernels = dict(lamhat=lamhat, mu=mu, M_C=_symmetrize(MC), M_R=MR)
    return kernels, m, loss, acc, timing, Dh[:, :n_store]


def _sweep_lagged(problem: Problem, training: Training, old: dict, gamma: np.ndarray, N: int,
                  m0: float, rng, G_dtype, block: int = 64, work: dict | None = None, be=NUMPY):
    """One sweep of N fresh draws under the previous iterate's M_C and M_R (the fast iteration).

    lamhat and mu stay causal (estimated at time k from the draws at time k, O(N) each), while
    the noise xi is drawn from the previous M_C and the memory sum uses the previous M_R: both
    known in advance, so each block of ``block`` time steps costs one matrix product for the
    noise (xi = L Z with L the Cholesky factor of M_C, sheet §7) and one for the memory from
    earlier blocks, and the new M_C is one product F F^T after the sweep. Only the memory sum
    inside a block is a matrix-vector product per step. ``be``: array backend (_backend).
    Returns (kernels, m, training loss, training accuracy, timings, D paths of all draws).
    """
    T = training.steps
    eta, lam = training.eta, problem.lam
    alpha, Delta = problem.alpha, problem.delta
    sqD = math.sqrt(Delta)
    tic = time.perf_counter
    timing = dict(process=0.0, noise=0.0, memory=0.0, M_C=0.0, M_R=0.0)
    t0 = tic()
    dr = _Draws(problem, training, N, m0, rng)
    y, u = be.asarray(dr.y), be.asarray(dr.u)
    MRe = be.asarray(eta**2 * np.tril(old["M_R"], -1))
    lamhat = np.empty(T)
    mu = np.empty(T)
    m = np.empty(T + 1)
    m[0] = m0
    H = be.buffer(work, "H", (T + 1, N), "float64")
    H[0] = be.asarray(dr.h_init)
    Fh = be.buffer(work, "F", (T, N), "float64")
    Dh = be.buffer(work, "D", (T, N), G_dtype)
    loss = np.empty(T + 1)
    acc = np.empty(T + 1)
    s = training.initial_batch(rng, N)
    keep = 1.0 - gamma
    t1 = tic()
    timing["process"] += t1 - t0
    root, causal = _noise_root(old["M_C"])
    root = be.asarray(root)
    Z = be.normal(rng, work, "Z", (T, N))
    timing["noise"] += tic() - t1
    for K0 in range(0, T, block):
        K1 = min(T, K0 + block)
        t0 = tic()
        xi = root[K0:K1, :K1] @ Z[:K1] if causal else root[K0:K1] @ Z
        xi *= eta
        t1 = tic()
        timing["noise"] += t1 - t0
        if K0 > 0:  # memory from earlier blocks, one GEMM for the block (BLAS-3)
            xi += MRe[K0:K1, :K0] @ H[:K0]
        t0 = tic()
        timing["memory"] += t0 - t1
        with be.small_products():
            for k in range(K0, K1):
                r = sqD * H[k] + m[k] * u
                value, F, D = problem.terms(y, r, be)
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
                h = H[k + 1]
                h[...] = H[k]
                h *= 1.0 - eta * (lam + lamhat[k])
                h += xi[k - K0]
                F *= eta * sqD
                h -= F
                if k > K0:
                    h += MRe[k, K0:k] @ H[K0:k]
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
    r = sqD * H[T] + m[T] * u
    loss[T] = be.item(problem.terms(y, r, be)[0].mean())
    acc[T] = be.item((problem.correct(y, r)).sum()) / N
    t1 = tic()
    timing["process"] += t1 - t0
    MC_est = (alpha * Delta / N) * be.to_numpy(Fh @ Fh.T)
    b_mix, a_mix = np.sqrt(gamma), np.sqrt(keep)
    MC = np.outer(b_mix, b_mix) * MC_est + np.outer(a_mix, a_mix) * old["M_C"]
    timing["M_C"] += tic() - t1
    kernels = dict(lamhat=lamhat, mu=mu, M_C=MC, M_R=old["M_R"])
    return kernels, m, loss, acc, timing, Dh


def _noise_root(MC):
    """(L, True) with L L^T = M_C + jitter I lower triangular (Cholesky), so that xi = L z is
    causal; (V sqrt(max(w, 0)), False) from the eigendecomposition if Cholesky fails (sheet §7).
    The jitter, 1e-9 of the largest diagonal, is the one of the causal sweep (see _chol_row)."""
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


def _response_estimate(problem: Problem, training: Training, lamhat, MR, Dpaths, G_dtype,
                       weights=None, block: int = 128, sub: int = 32, chunk_bytes: int = 2**28,
                       min_chunk: int = 64, work: dict | None = None, be=NUMPY):
    """Estimate M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> from stored D paths (T x N_R),
    each draw weighted by ``weights`` (default 1).

    G is propagated under the *given* M_R (sheet §4, forward form), a chunk of draws at a time:

        G[j+1, j] = 1,  G[k+1, j] = a_k G[k, j] + sum_{j<i<k} eta^2 M_R[k, i] G[i, j],
        a_k = 1 - eta (lam + lamhat_k + Delta D_k)   (per draw).

    Because M_R is known in advance, the memory sum for a block of ``block`` times k over all
    earlier blocks of i is one matrix product per block of kick times j (only the blocks with
    j < i, which skips the zero upper triangle of G: T^3/6 multiply-adds per draw); inside a
    block the same is done for sub-blocks of ``sub`` steps, and only the last few terms are
    matrix-vector products. Peak memory is one chunk of G (:func:`_response_chunk`). ``Dpaths`` and the
    work are arrays of the backend ``be``; the estimate is returned as a numpy array.
    """
    T, NR = Dpaths.shape
    eta, Delta, alpha = training.eta, problem.delta, problem.alpha
    base = 1.0 - eta * (problem.lam + lamhat)
    MRe = be.asarray(eta**2 * np.tril(MR, -1), dtype=G_dtype)
    est = be.buffer(None, "", (T, T), "float64")
    item = np.dtype(G_dtype).itemsize
    nc = _response_chunk(T, NR, item, chunk_bytes, min_chunk)
    G = be.buffer(work, "G", (T + 1, T, nc), G_dtype)  # G[i, j, n]; upper triangle stays 0
    base = be.asarray(base[:, None], dtype=G_dtype)
    w = be.asarray(np.ones(NR) if weights is None else weights, dtype=G_dtype)
    for start in range(0, NR, nc):
        n_here = min(nc, NR - start)
        D = be.buffer(None, "", (T, nc), G_dtype)
        D[:, :n_here] = Dpaths[:, start:start + n_here]
        a = base - (eta * Delta) * D  # (T, nc)
        for K0 in range(0, T, block):
            K1 = min(T, K0 + block)
            G[K0 + 1:K1 + 1, K0:K1] = 0.0
            for J0 in range(0, K0, block):  # earlier blocks of i, kick blocks j < i only
                J1 = min(K0, J0 + block)
                Gij = G[J0:K0, J0:J1].reshape(K0 - J0, (J1 - J0) * nc)
                be.matmul_into(MRe[K0:K1, J0:K0], Gij, G[K0 + 1:K1 + 1, J0:J1])
            for S0 in range(K0, K1, sub):
                S1 = min(K1, S0 + sub)
                if S0 > K0:  # earlier sub-blocks of this block
                    Gij = G[K0:S0, :S0].reshape(S0 - K0, S0 * nc)
                    G[S0 + 1:S1 + 1, :S0] += (MRe[S0:S1, K0:S0] @ Gij).reshape(S1 - S0, S0, nc)
                with be.small_products():
                    for k in range(S0, S1):
                        if k > 0:
                            nxt = G[k + 1, :k]
                            nxt += G[k, :k] * a[k]
                            if k > S0:
                                nxt += (MRe[k, S0:k] @ G[S0:k, :k].reshape(k - S0, k * nc)).reshape(k, nc)
                        G[k + 1, k] = 1.0
        # est[k, j] = sum_n w_n D[k, n] G[k, j, n] D[j, n]
        Dw = D.clone() if be.name == "torch" else D.copy()
        Dw[:, :n_here] *= w[start:start + n_here]
        with be.small_products():
            for k in range(1, T):
                est[k, :k] += (G[k, :k] * D[:k]) @ Dw[k]
    return (alpha * Delta**2 / NR) * be.to_numpy(est)


def _response_chunk(T: int, NR: int, item: int, chunk_bytes: int = 2**28, min_chunk: int = 64) -> int:
    """Draws per chunk of the response propagation: ``chunk_bytes`` of G, but at least ``min_chunk`` draws
    (fewer make the per-step Python work dominate at large T), as equal chunks as possible (the
    last one is padded with D = 0 draws, which add nothing) so that one buffer serves them all:
    on this machine the first touch of fresh pages costs as much as the arithmetic done on them."""
    c_max = int(min(NR, max(min_chunk, chunk_bytes // max(1, (T + 1) * T * item))))
    n_chunks = -(-NR // c_max)
    return -(-NR // n_chunks)


def _pick_response_draws(score, n, rng):
    """Importance sampling of the draws whose responses estimate M_R.

    M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> is carried by the draws whose Lambda'' stays
    large (at late times, the few samples near the decision boundary), so draws are picked with
    probability p proportional to sum_k D_k^2 (floored at 1e-3 of the mean) and weighted by
    1/(N p): an unbiased estimate of the average over all N draws. Measured at alpha = 2,
    Delta = 0.5, GD, t = 50: the iteration-to-iteration scatter of gen_error drops from 0.0021 to
    0.0007 at equal cost.
    """
    score = np.asarray(score, dtype=np.float64)  # sum_k D_k^2 per draw
    score = score + (1e-3 * score.mean() + 1e-300)
    prob = score / score.sum()
    pick = np.sort(rng.choice(prob.size, size=n, replace=True, p=prob))
    return pick, 1.0 / (prob.size * prob[pick])


def _chol_row(chol, MC, k, jitter):
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


def _gaussian_paths(M, rng, N):
    """N Gaussian paths with covariance M (T x T), via eigenvalues clipped at zero (sheet §7)."""
    vals, vecs = np.linalg.eigh(M)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return root @ rng.standard_normal((M.shape[0], N))


def _symmetrize(lower):
    return np.tril(lower) + np.tril(lower, -1).T


# --------------------------------------------------------------------------------- two-time
def two_time(problem: Problem, training: Training, kernels: dict, m: np.ndarray, m0: float):
    """Response Rw, P0 and the correlation C(t, t') from the kernels (sheet §4).

    Rw[k+1, j] = (1 - eta lamtilde_k) Rw[k, j] + eta^2 sum_{j<i<k} M_R[k, i] Rw[i, j], Rw[j+1, j] = 1;
    P0 the same recursion from P0[0] = 1; C_perp = (R - m0^2) P0 P0^T + eta^2 Rw M_C Rw^T and
    C = C_perp + m m^T. All three come from one triangular inverse of size T + 1.
    """
    T = training.steps
    eta = training.eta
    A = np.eye(T + 1)
    idx = np.arange(T)
    A[idx + 1, idx] = -(1.0 - eta * (problem.lam + kernels["lamhat"]))
    A[1:, :T] -= eta**2 * np.tril(kernels["M_R"], -1)
    inv = solve_triangular(A, np.eye(T + 1), lower=True, unit_diagonal=True, check_finite=False)
    P0 = inv[:, 0]
    Rw = inv[:, 1:]
    C = (training.R - m0 * m0) * np.outer(P0, P0) + eta**2 * (Rw @ kernels["M_C"] @ Rw.T) + np.outer(m, m)
    return Rw, P0, C


# ------------------------------------------------------------------------------------ solver
def solve_dmft(problem: Problem, training: Training, *, samples: int = 20000,
               response_samples: int = 1000, damping: float = 1.0, max_iter: int = 12,
               tol: float = 1e-3, seed: int = 0, m0: float | None = None, d: int | None = None,
               init: Result | None = None, return_kernels: bool = False,
               progress: bool | None = None, G_dtype: str = "float32", lagged: bool = True,
               backend: str | None = None, device: str = "cpu") -> Result:
    """Solve the DMFT equations of the paper (sheet §4) and return the d -> infinity learning curves.

    The iteration (see the module docstring for why it works):

    1. a causal sweep: N/4 draws, every kernel estimated at time k as soon as the draws reach
       k (M_R from the responses of a few draws); a complete solve for these draws;
    2. each further iteration draws N fresh samples and runs them under the current M_C and
       M_R (noise, memory sums and M_C as matrix products), re-estimates lamhat and mu
       causally, and then M_R from the D paths of ``response_samples`` of them, propagating
       their responses under the current M_R with matrix products (:func:`_response_estimate`).
       The response kernel is the noisiest: the first iteration's few-draw M_R moves the
       late-time curves by ~0.008 in gen_error at t = 50, one re-estimate with 2000 draws
       brings that to ~0.001.

    The first two iterations are burn-in; the curves returned are the mean over the later ones and
    their ``*_sem`` the standard error of that mean from the scatter between iterations
    (iterations use independent draws; for ``damping`` < 1 they are correlated and the error is
    inflated by the AR(1) factor sqrt((2 - damping)/damping)).

    Parameters
    ----------
    problem, training : Problem, Training
        The learning problem and the algorithm; the DMFT uses the same step eta (discrete time).
    samples : int
        Draws N of the effective process per iteration (rounded up to even).
    response_samples : int
        Draws (of the N) whose responses estimate M_R, 2 ... N.
    damping : float in (0, 1]
        New kernels = (1 - damping) old + damping estimate. 1 makes the iterations independent
        samples of the solution; smaller values average the kernels over iterations.
    max_iter : int
        Maximum number of iterations (sweeps), >= 1.
    tol : float
        Stop as soon as 4 iterations after the burn-in are done and the Monte-Carlo error of the
        returned gen_error is <= tol at every time. 0 runs exactly ``max_iter`` iterations.
    seed : int
        Seed of the random draws; the same seed gives the same numbers.
    m0 : float, optional
        Initial magnetisation. Needed (> 0) for three clusters, whose symmetry keeps m = 0
        otherwise (sheet §6); default 0 for two clusters.
    d : int, optional
        For three clusters without ``m0``: use the finite-d value sqrt(2 R / (pi d)).
    init : Result, optional
        A previous solution (same problem and training up to the horizon, kernels returned) to
        start from instead of the causal sweep; a shorter horizon is extended.
    return_kernels : bool
        Put C(t, t'), R(t, t') and the kernels M_C, M_R, lamhat, mu of the last iteration in
        ``result.extras``.
    progress : bool or None
        Progress bar over iterations (None: only when the solve takes more than 2 seconds).
    G_dtype : {"float32", "float64"}
        Storage of the per-draw responses G used for M_R. float32 halves the memory traffic of
        the costliest phase; its rounding (~1e-7 relative) is far below the Monte-Carlo noise of
        M_R (~1/sqrt(response_samples)).
    lagged : bool
        True (default): iterations after the first run under the previous M_C (matrix
        products). False: every iteration is a causal sweep that estimates M_C as it goes
        (memory-bound, ~5x slower per iteration at T = 500); kept as a cross-check.
    backend : {"numpy", "torch"} or None
        Arrays of the fast iterations (None: numpy on the cpu, torch on cuda) (the noise, the process, M_C and M_R; the causal burn-in
        sweep and the T x T algebra stay in numpy). "torch" needs PyTorch; in float64
        (``G_dtype="float64"``) it gives the numpy numbers up to rounding.
    device : {"cpu", "cuda"}
        Where the torch backend computes; "cuda" needs backend "torch" and a CUDA device.

    Returns
    -------
    Result
        Curves at every step k = 0..T. ``status`` 0 if the requested tol was met (or tol = 0),
        1 otherwise; ``stats`` has iterations, kernel change per iteration and time per phase.
    """
    samples = check_int("samples", samples, lo=2)
    samples += samples % 2
    response_samples = check_int("response_samples", response_samples, lo=2, hi=samples)
    damping = check_real("damping", damping, lo=0, hi=1, lo_open=True)
    max_iter = check_int("max_iter", max_iter, lo=1)
    tol = check_real("tol", tol, lo=0)
    seed = check_int("seed", seed, lo=0)
    if G_dtype not in ("float32", "float64"):
        raise ParameterError(f"G_dtype = {G_dtype!r} is not one of: float32, float64")
    be = get_backend(backend, device)
    if m0 is None:
        if problem.clusters == 3:
            if d is None:
                raise ParameterError(
                    "m0 is missing: three clusters need an initial magnetisation m0 > 0 "
                    "(give m0, or d to use sqrt(2R/(pi d)))")
            d = check_int("d", d, lo=1)
            m0 = finite_d_m0(training.R, d)
        else:
            m0 = 0.0
    m0 = check_real("m0", m0, lo=0)
    if problem.clusters == 3 and m0 == 0.0:
        raise ParameterError("m0 = 0 is out of range for three clusters: must be > 0 (sheet §6 symmetry)")
    if m0 * m0 > training.R:
        raise ParameterError(f"m0 = {m0:g} is out of range: must be <= sqrt(R) = {math.sqrt(training.R):g}")
    T = training.steps
    n_causal = min(CAUSAL_RESPONSE_SAMPLES, samples)
    item = np.dtype(G_dtype).itemsize
    paths = (T + 1) * samples * (3 * 8 + item)  # h, F, z (float64) and D paths
    G_bytes = (T + 1) * T * item * _response_chunk(T, response_samples, item)
    work_bytes = paths + 8 * T * T * 8 + max((T + 1) * T * n_causal * item, G_bytes)
    check_memory(work_bytes, f"samples = {samples} at T = {T} steps", "lower samples")
    if be.available_memory() is not None:  # the lagged iterations' arrays live on the device
        check_memory(paths + G_bytes,
                     f"samples = {samples} at T = {T} steps", "lower samples",
                     detail=f" on {device}", avail=be.available_memory())

    old, T_known = None, 0
    if init is not None:
        old, T_known = _kernels_from(init, T)

    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    runs = []
    changes = []
    timing = dict(process=0.0, noise=0.0, memory=0.0, M_C=0.0, M_R=0.0, two_time=0.0)
    status, message, err = 0, "success", float("inf")
    MR_next = None if old is None else old["M_R"]
    work = {}  # arrays reused across iterations
    per_iteration = []  # seconds per phase of each iteration
    bar = tqdm(total=max_iter, desc="dmft", unit="it", disable=progress is False,
               delay=0 if progress else 2.0, leave=False)
    try:
        for it in range(max_iter):
            gamma = np.ones(T)
            if old is not None:
                gamma[:T_known] = damping
            kind = "lagged" if old is not None and T_known == T and lagged else "causal"
            if kind == "lagged":
                new, m, loss, acc, tm, Dpaths = _sweep_lagged(
                    problem, training, dict(old, M_R=MR_next), gamma, samples, m0, rng, G_dtype,
                    work=work, be=be)
            else:
                n_sweep = samples if old is not None else _burn_in_samples(samples, response_samples)
                new, m, loss, acc, tm, Dpaths = _sweep(
                    problem, training, old, gamma, n_sweep, n_causal, m0, rng, G_dtype,
                    MR_fixed=MR_next, n_store=n_sweep)
            t0 = time.perf_counter()
            Rw, P0, C = two_time(problem, training, new, m, m0)
            tm["two_time"] = time.perf_counter() - t0
            norm = np.diagonal(C).copy()
            gen = problem.gen_error(m, norm)
            for name, arr in (("m", m), ("norm", norm), ("gen_error", gen)):
                bad = np.flatnonzero(~np.isfinite(arr))
                if bad.size:
                    raise DivergenceError(
                        f"DMFT diverged: {name} is not finite at time step {bad[0]} "
                        f"(t = {bad[0] * training.eta:g}); use a smaller eta (now {training.eta:g}) or more damping")
            runs.append(np.stack([gen, loss, acc, m, norm]))
            changes.append(_change(old, new) if old is not None else float("nan"))
            old, T_known = new, T
            used = runs[BURN_IN:] if len(runs) > BURN_IN else runs[-1:]
            curves = _average(used, damping)
            if len(used) > 1:
                err = float(np.nanmax(curves["gen_error_sem"]))
            stop = it == max_iter - 1 or (tol > 0 and len(used) >= MIN_USED_FOR_TOL and err <= tol)
            if not stop:  # M_R for the next iteration (after the last one it would go unused)
                t0 = time.perf_counter()
                Dpaths = be.asarray(Dpaths)
                pick, w = _pick_response_draws(be.to_numpy(be.einsum("kn,kn->n", Dpaths, Dpaths)),
                                               response_samples, rng)
                est = _response_estimate(problem, training, new["lamhat"], new["M_R"],
                                         Dpaths[:, be.asarray(pick)], G_dtype, weights=w, work=work,
                                         be=be)
                mixed = damping < 1.0 and (it > 0 or init is not None)
                MR_next = (1 - damping) * new["M_R"] + damping * est if mixed else est
                tm["M_R"] += time.perf_counter() - t0
            tm["kind"] = kind
            per_iteration.append(tm)
            for key in timing:
                timing[key] += tm.get(key, 0.0)
            bar.set_postfix(change=f"{changes[-1]:.2e}", err=f"{err:.1e}", refresh=False)
            bar.update()
            if stop:
                break
    finally:
        bar.close()
    if tol > 0 and err > tol:
        status = 1
        message = (f"not converged: Monte-Carlo error of gen_error {err:.2g} > tol {tol:g} after "
                   f"{len(runs)} iterations; increase max_iter, samples or response_samples")
    wall = time.perf_counter() - t_start
    params = dict(problem=problem.params(), training=training.params(), samples=samples,
                  response_samples=response_samples, damping=damping, max_iter=max_iter, tol=tol,
                  seed=seed, m0=m0, d=d, version=__version__)
    stats = dict(wall_time=wall, iterations=len(runs), averaged_iterations=len(used),
                 kernel_change=changes, final_kernel_change=changes[-1], max_gen_error_sem=err,
                 timing=timing, timing_per_iteration=per_iteration, steps=T)
    extras = {}
    if return_kernels:
        extras = dict(C=C, R=Rw, P0=P0, **{k: old[k] for k in KERNELS})
    return Result(t=training.times, method="dmft", params=params, status=status, message=message,
                  stats=stats, extras=extras, **curves)


def _burn_in_samples(samples: int, response_samples: int) -> int:
    """Draws of the first (causal, burn-in) sweep."""
    n = max(response_samples, CAUSAL_RESPONSE_SAMPLES, int(samples * BURN_IN_FRACTION))
    return min(samples, n + n % 2)


def _average(runs, damping):
    """Mean over iterations and its standard error (AR(1)-corrected for damping < 1)."""
    arr = np.asarray(runs)  # (iterations, observable, time)
    mean = arr.mean(axis=0)
    n = arr.shape[0]
    if n > 1:
        sem = arr.std(axis=0, ddof=1) / math.sqrt(n) * math.sqrt((2.0 - damping) / damping)
    else:
        sem = np.full_like(mean, np.nan)
    out = {}
    for i, name in enumerate(OBSERVABLES):
        out[name], out[name + "_sem"] = mean[i], sem[i]
    return out


def _change(old, new):
    """Relative RMS change of all kernels between two iterates."""
    num = sum(float(np.sum((new[k] - old[k]) ** 2)) for k in KERNELS)
    den = sum(float(np.sum(new[k] ** 2)) for k in KERNELS)
    return math.sqrt(num / den) if den > 0 else 0.0


def _kernels_from(init: Result, T: int):
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
