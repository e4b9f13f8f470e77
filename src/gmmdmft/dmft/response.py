"""The response kernel M_R from stored D paths, propagated with blocked matrix products
(docs/theory.md, "DMFT" and "Solver")."""

from __future__ import annotations

import numpy as np

from .._backend import NUMPY


def response_estimate(problem, training, lamhat, MR, Dpaths, G_dtype,
                       weights=None, block: int = 128, sub: int = 32, chunk_bytes: int = 2**28,
                       min_chunk: int = 64, work: dict | None = None, be=NUMPY):
    """Estimate M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> from stored D paths (T x N_R),
    each draw weighted by ``weights`` (default 1).

    G is propagated under the *given* M_R (docs/theory.md, "DMFT", forward form), a chunk of draws at a time:

        G[j+1, j] = 1,  G[k+1, j] = a_k G[k, j] + sum_{j<i<k} eta^2 M_R[k, i] G[i, j],
        a_k = 1 - eta (lam + lamhat_k + Delta D_k)   (per draw).

    Because M_R is known in advance, the memory sum for a block of ``block`` times k over all
    earlier blocks of i is one matrix product per block of kick times j (only the blocks with
    j < i, which skips the zero upper triangle of G: T^3/6 multiply-adds per draw); inside a
    block the same is done for sub-blocks of ``sub`` steps, and only the last few terms are
    matrix-vector products. Peak memory is one chunk of G (:func:`response_chunk`). ``Dpaths`` and the
    work are arrays of the backend ``be``; the estimate is returned as a numpy array.
    """
    T, NR = Dpaths.shape
    eta, Delta, alpha = training.eta, problem.delta, problem.alpha
    base = 1.0 - eta * (problem.lam + lamhat)
    MRe = be.asarray(eta**2 * np.tril(MR, -1), dtype=G_dtype)
    est = be.buffer(None, "", (T, T), "float64")
    item = np.dtype(G_dtype).itemsize
    nc = response_chunk(T, NR, item, chunk_bytes, min_chunk)
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


def response_chunk(T: int, NR: int, item: int, chunk_bytes: int = 2**28, min_chunk: int = 64) -> int:
    """Draws per chunk of the response propagation: ``chunk_bytes`` of G, but at least ``min_chunk`` draws
    (fewer make the per-step Python work dominate at large T), as equal chunks as possible (the
    last one is padded with D = 0 draws, which add nothing) so that one buffer serves them all:
    on this machine the first touch of fresh pages costs as much as the arithmetic done on them."""
    c_max = int(min(NR, max(min_chunk, chunk_bytes // max(1, (T + 1) * T * item))))
    n_chunks = -(-NR // c_max)
    return -(-NR // n_chunks)

