"""The response kernel M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> from stored D paths
(docs/theory.md, "DMFT" and "Solver"), two ways:

* :func:`probe_estimate` (``response = "probe"``): each draw pushes one random sign vector
  through its linearised dynamics, a forward recursion of the same shape as the process
  itself; O(N T^2) for N draws, as matrix products over blocks of time;
* :func:`response_estimate` (``response = "propagate"``): each of N_R draws propagates its
  full response matrix G (T x T); O(N_R T^3).

Both are unbiased given the draws; the probe estimate carries extra noise from the signs of
the other kick times, which it buys back by using every draw.
"""

from __future__ import annotations

import numpy as np

from .._backend import NUMPY

RESPONSES = ("probe", "propagate")


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
    return equal_chunks(NR, (T + 1) * T * item, chunk_bytes, min_chunk)


def equal_chunks(n: int, per_draw: int, chunk_bytes: int, min_chunk: int) -> int:
    """Draws per chunk: ``chunk_bytes`` / ``per_draw`` bytes, at least ``min_chunk``, at most
    ``n``, evened out over the chunks needed."""
    c_max = int(min(n, max(min_chunk, chunk_bytes // max(1, per_draw))))
    n_chunks = -(-n // c_max)
    return -(-n // n_chunks)

def probe_estimate(problem, training, lamhat, MR, Dpaths, rng, G_dtype, weights=None,
                   pick=None, block: int = 64, tri_block: int = 128, chunk_bytes: int = 2**28,
                   min_chunk: int = 256, work: dict | None = None, be=NUMPY, signs=None):
    """Estimate M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> from random-probe tangents of the
    stored D paths (T x N), each draw weighted by ``weights`` (default 1); ``pick``: the
    columns of ``Dpaths`` to use (repeats allowed; default all), ``weights`` then per pick.

    Every draw n gets a probe w_n of T independent random signs (Rademacher, drawn by ``rng``)
    and propagates it through its linearised dynamics under the *given* M_R (the forward form
    of the response, docs/theory.md, "DMFT"), with the probe as the force kick scaled by D_j:

        x[0] = 0,  x[k+1] = a_k x[k] + sum_{i<k} eta^2 M_R[k, i] x[i] + D_k w_k,
        a_k = 1 - eta (lam + lamhat_k + Delta D_k)   (per draw),

    so that x[k] = sum_{j<k} G[k, j] D_j w_j and, since E[w_j w_i] = delta_ij,
    E_w[D_k x[k] w_j] = D_k G[k, j] D_j exactly: the estimate

        M_R[k, j] = alpha Delta^2 / N sum_n weight_n D_k x[k] w_j       (j < k)

    is unbiased given the draws. Its extra variance, per draw, is
    D_k^2 sum_{i != j, i < k} (G[k, i] D_i)^2 for entry (k, j): large entry by entry, but
    it averages out of the smooth sums over j through which M_R acts (the memory sum, the
    weight response), where it is of the order of the draw-to-draw variance itself.

    Cost: the memory sum from earlier blocks of ``block`` steps is one matrix product per
    block (N T^2 / 2 multiply-adds in all), the estimate one product per ``tri_block`` kick
    times over the lower triangle (N T^2 / 2 more). The draws go through in chunks of about
    ``chunk_bytes`` of buffers, at least ``min_chunk`` draws (:func:`equal_chunks`; kept in
    ``work``), so the memory
    does not grow with N. ``Dpaths`` and the work are arrays of the backend ``be``; the
    estimate comes back as numpy. ``signs`` (T x N, +-1) replaces the random probes: with N / T
    copies of each draw and the rows of a Hadamard matrix as their signs the estimate is exact
    (a test of the algebra).
    """
    T = Dpaths.shape[0]
    cols = np.arange(Dpaths.shape[1]) if pick is None else np.asarray(pick)
    N = cols.size
    w = np.ones(N) if weights is None else np.asarray(weights, dtype=float)
    item = np.dtype(G_dtype).itemsize
    nc = equal_chunks(N, 3 * (T + 1) * item, chunk_bytes, min_chunk)  # X, W and D of a draw
    D = be.buffer(work, "probe_D", (T, nc), G_dtype)
    W = be.buffer(work, "probe_W", (T, nc), G_dtype)
    X = be.buffer(work, "probe_X", (T + 1, nc), G_dtype)
    wc = np.zeros(nc)
    terms = tangent_terms(problem, training, lamhat, MR, G_dtype, be)
    est = np.zeros((T, T))
    for c0 in range(0, N, nc):
        n = min(nc, N - c0)
        here = be.asarray(cols[c0:c0 + n])
        D[:, :n] = Dpaths[:, here]
        D[:, n:] = 0.0  # padding draws: no kicks, no contribution
        wc[:n], wc[n:] = w[c0:c0 + n], 0.0
        if signs is None:
            rademacher(rng, be, W, G_dtype)
        else:
            W[:, :n] = be.asarray(signs[:, c0:c0 + n], dtype=G_dtype)
        tangents(problem, training, terms, D, W, X, block, be)
        Y = X[:T]  # overwritten by weight_n D_k x[k]
        Y *= D
        Y *= be.asarray(wc[None, :], dtype=G_dtype)
        for J0 in range(0, T, tri_block):  # by blocks of kick times j, rows k >= j only
            J1 = min(T, J0 + tri_block)
            est[J0:, J0:J1] += be.to_numpy(Y[J0:] @ W[J0:J1].T)
    for k in range(T):  # the strict lower triangle, in place (no T x T temporaries)
        est[k, k:] = 0.0
    est *= problem.alpha * problem.delta**2 / N
    return est


def rademacher(rng, be, out, dtype):
    """Fill ``out`` (T x N, a backend array) with independent random signs +-1 drawn by the
    numpy ``rng`` (a block of rows at a time, so the host temporary stays small)."""
    T, N = out.shape
    rows = max(1, 2**22 // max(1, N))
    for K0 in range(0, T, rows):
        K1 = min(T, K0 + rows)
        signs = rng.integers(0, 2, size=(K1 - K0, N), dtype=np.int8)
        signs *= 2
        signs -= 1
        out[K0:K1] = be.asarray(signs, dtype=dtype)
    return out


def tangent_terms(problem, training, lamhat, MR, dtype, be=NUMPY):
    """(eta^2 M_R strictly lower, 1 - eta (lam + lamhat) as a column), in ``dtype`` on the
    backend: the deterministic coefficients of :func:`tangents`."""
    eta = training.eta
    MRe = np.tril(np.asarray(MR, dtype=dtype), -1)
    MRe *= eta**2
    base = (1.0 - eta * (problem.lam + lamhat))[:, None].astype(dtype)
    return be.asarray(MRe, dtype=dtype), be.asarray(base, dtype=dtype)


def tangents(problem, training, terms, D, W, X, block: int = 64, be=NUMPY):
    """X[k] = sum_{j<k} G[k, j] D_j W[j] for every draw (column), k = 0..T, written into
    ``X`` ((T + 1) x N, the dtype of the computation): the forward recursion of
    :func:`probe_estimate` with the coefficients ``terms`` (:func:`tangent_terms`), the memory
    from earlier blocks of ``block`` steps as one matrix product per block."""
    T = D.shape[0]
    MRe, base = terms
    eta_delta = training.eta * problem.delta
    X[0] = 0.0
    for K0 in range(0, T, block):
        K1 = min(T, K0 + block)
        if K0 > 0:  # memory from earlier blocks, one GEMM for the block
            be.matmul_into(MRe[K0:K1, :K0], X[:K0], X[K0 + 1:K1 + 1])
        else:
            X[1:K1 + 1] = 0.0
        with be.small_products():
            for k in range(K0, K1):
                x = X[k + 1]
                x += (base[k] - eta_delta * D[k]) * X[k]
                x += D[k] * W[k]
                if k > K0:
                    x += MRe[k, K0:k] @ X[K0:k]
    return X
