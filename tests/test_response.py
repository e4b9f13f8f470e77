"""The response kernel M_R: the probe estimate (random-sign tangents) against per-draw responses
propagated by the plain recursion, exactly where the algebra says so and in law (unbiased
within its own Monte-Carlo error) where it samples; the solver with either estimate."""

import numpy as np
import pytest
from scipy.linalg import hadamard

import gmmdmft as g
from gmmdmft import dmft
from gmmdmft.dmft.exact import solve_square_gd
from gmmdmft.dmft.response import probe_estimate, response_estimate, tangent_terms, tangents

PROBLEM = g.Problem(alpha=2, delta=0.5, lam=0.1)
TRAINING = g.Training("gd", eta=0.2, t_max=6.4, R=0.01)  # T = 32


def _inputs(T, N, seed=3):
    rng = np.random.default_rng(seed)
    D = rng.random((T, N)) * 0.25
    MR = np.tril(rng.standard_normal((T, T)), -1) * 0.3
    lamhat = rng.random(T) * 0.1
    return D, MR, lamhat


def _responses(problem, training, lamhat, MR, D):
    """G_n[k, j] of every draw n by the recursion G[j+1, j] = 1,
    G[k+1, j] = (1 - eta(lam + lamhat_k + Delta D_k)) G[k, j] + eta^2 sum_{j<i<k} M_R[k, i] G[i, j]."""
    T, N = D.shape
    eta, Delta = training.eta, problem.delta
    G = np.zeros((N, T + 1, T))
    for n in range(N):
        for k in range(T):
            G[n, k + 1, k] = 1.0
            for j in range(k):
                mem = sum(MR[k, i] * G[n, i, j] for i in range(j + 1, k))
                a = 1 - eta * (problem.lam + lamhat[k] + Delta * D[k, n])
                G[n, k + 1, j] = a * G[n, k, j] + eta**2 * mem
    return G


@pytest.mark.parametrize("block", [1, 5, 64])
def test_tangents_are_responses_to_kicks_scaled_by_D(block):
    """x[k] = sum_{j<k} G[k, j] D_j w_j for any w: an identity, checked to rounding."""
    T, N = TRAINING.steps, 6
    D, MR, lamhat = _inputs(T, N)
    W = np.random.default_rng(4).standard_normal((T, N))
    terms = tangent_terms(PROBLEM, TRAINING, lamhat, MR, "float64")
    X = tangents(PROBLEM, TRAINING, terms, D, W, np.zeros((T + 1, N)), block=block)
    G = _responses(PROBLEM, TRAINING, lamhat, MR, D)
    want = np.einsum("nkj,jn,jn->kn", G, D, W)
    np.testing.assert_allclose(X, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("chunk", [None, 20])
def test_probe_estimate_with_hadamard_signs_is_exact(chunk):
    """Copies of each draw carrying the T rows of a Hadamard matrix as signs average the sign
    products sum_p w_i w_j to T delta_ij exactly: the probe estimate must then equal the
    propagated one (same draws, same weights) to rounding, also when the 96 copies go through
    in chunks of 20 (the last one padded)."""
    T, n = TRAINING.steps, 3
    D, MR, lamhat = _inputs(T, n)
    w = np.array([0.7, 1.4, 1.1])
    want = response_estimate(PROBLEM, TRAINING, lamhat, MR, D, "float64", weights=w)
    H = hadamard(T).astype(float)  # H H^T = T I
    pick = np.repeat(np.arange(n), T)  # T copies of each draw, by column index
    signs = np.tile(H, (1, n))  # copy p of draw m carries column p of H
    chunk_kw = {} if chunk is None else dict(chunk_bytes=chunk * 3 * (T + 1) * 8, min_chunk=1)
    got = probe_estimate(PROBLEM, TRAINING, lamhat, MR, D, None, "float64", pick=pick,
                         weights=np.repeat(w, T), signs=signs, block=7, tri_block=5, **chunk_kw)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13 * np.abs(want).max())


def test_probe_estimate_is_unbiased_within_its_error():
    """Mean of B = 60 independent probe estimates (each from 40 copies of 5 weighted draws)
    against the propagated estimate of the same draws. Each entry's z = (mean - want) / (s /
    sqrt(B)), s the sample deviation, is Student-t with 59 degrees of freedom (each estimate is
    an average of 40 independent terms, close to Gaussian). P(|t_59| > 5) = 6e-6, so max |z| < 5
    over the 496 lower entries fails with probability 0.3%; the mean of z^2 (expectation
    59/57 = 1.04, and about +-0.07 for 496 weakly correlated entries) must lie in [0.75, 1.35]."""
    T, n, copies, B = TRAINING.steps, 5, 40, 60
    D, MR, lamhat = _inputs(T, n)
    w = np.linspace(0.5, 1.5, n)
    want = response_estimate(PROBLEM, TRAINING, lamhat, MR, D, "float64", weights=w)
    rng = np.random.default_rng(11)
    Dc, wc = np.repeat(D, copies, axis=1), np.repeat(w, copies)
    est = np.array([probe_estimate(PROBLEM, TRAINING, lamhat, MR, Dc, rng, "float64", weights=wc)
                    for _ in range(B)])
    low = np.tril_indices(T, -2)  # M_R[k, k-1] has no probe noise at k = 1 only
    mean, sd = est.mean(axis=0)[low], est.std(axis=0, ddof=1)[low]
    assert np.all(sd > 0)
    z = (mean - want[low]) / (sd / np.sqrt(B))
    assert np.max(np.abs(z)) < 5, np.max(np.abs(z))
    assert 0.75 < np.mean(z**2) < 1.35, np.mean(z**2)


def test_square_loss_probe_noise_is_what_the_algebra_says():
    """Square loss, GD: D = 1, so M_R = alpha Delta^2 G is deterministic (the sampling-free
    solution), and the probe estimate from N draws is alpha Delta^2 (G[k, j] + sum_{i != j}
    G[k, i] e_ij) with e_ij = (1/N) sum_n w_in w_jn: unbiased, variance
    (alpha Delta^2)^2 sum_{i != j, i < k} G[k, i]^2 / N, exactly. With N = 4000 each entry is a
    sum of many such terms (close to Gaussian): max |z| < 5 over the 1176 entries fails with
    probability 7e-4; mean z^2 = 1 within 4 times its spread over seeds (0.07, measured: the
    entries share the e_ij)."""
    problem = g.Problem(alpha=2, delta=0.5, lam=0.1, loss="square")
    training = g.Training("gd", eta=0.2, t_max=10, R=0.01)  # T = 50
    ex = solve_square_gd(problem, training).extras
    T, N = training.steps, 4000
    MR = ex["M_R"]
    scale = problem.alpha * problem.delta**2
    G = MR / scale
    got = probe_estimate(problem, training, ex["lamhat"], MR, np.ones((T, N)),
                         np.random.default_rng(5), "float64")
    var = (scale**2 / N) * (np.cumsum(G**2, axis=1)[:, -1:] - G**2)
    low = np.tril_indices(T, -2)
    z = (got - MR)[low] / np.sqrt(var[low])
    assert np.max(np.abs(z)) < 5, np.max(np.abs(z))
    assert 0.7 < np.mean(z**2) < 1.3, np.mean(z**2)
    np.testing.assert_allclose(np.diagonal(got, -1)[0], MR[1, 0], rtol=1e-12)  # no noise at k = 1


def test_solver_probe_and_propagate_agree_within_errors():
    """Same fixed point with either estimate of M_R: gen_error, norm and m within 4 combined
    standard errors at each of the 50 (correlated) times."""
    problem = g.Problem(alpha=2, delta=0.5)
    training = g.Training("gd", eta=0.2, t_max=10, R=0.01)
    kw = dict(samples=8000, response_samples=300, max_iter=7, tol=0, progress=False)
    a = dmft.solve_dmft(problem, training, response="probe", seed=1, **kw)
    b = dmft.solve_dmft(problem, training, response="propagate", seed=2, **kw)
    for name in ("gen_error", "norm", "m"):
        x, y = getattr(a, name)[1:], getattr(b, name)[1:]
        sigma = np.hypot(getattr(a, name + "_sem")[1:], getattr(b, name + "_sem")[1:])
        assert np.all(np.abs(x - y) <= 4 * sigma + 1e-12), (name, np.max(np.abs(x - y) / sigma))


def test_equal_time_is_the_diagonal_of_two_time():
    """C(t, t) from one triangular solve with the noise root equals the diagonal of the full
    C(t, t') up to the jitter of the root (1e-9 of the largest diagonal of M_C added to M_C):
    the difference lies in [0, eta^2 jitter sum_j Rw[k, j]^2] up to rounding."""
    from gmmdmft.dmft.kernels import equal_time, two_time
    from gmmdmft.dmft.lagged import gram, noise_root

    T = TRAINING.steps
    D, MR, lamhat = _inputs(T, 50)
    F = np.random.default_rng(2).standard_normal((T, 50)).cumsum(axis=0)
    MC = gram(F, 0.01)
    np.testing.assert_allclose(MC, 0.01 * F @ F.T, rtol=1e-12, atol=1e-14 * np.abs(MC).max())
    kernels = dict(lamhat=lamhat, mu=np.zeros(T), M_C=MC, M_R=MR * 0.1)
    m = np.linspace(0.0, 1.0, T + 1)
    Rw, _, C = two_time(PROBLEM, TRAINING, kernels, m, 0.05)
    got = equal_time(PROBLEM, TRAINING, kernels, m, 0.05, noise_root(MC)[0])
    jitter = TRAINING.eta**2 * 1e-9 * np.max(np.diagonal(MC)) * np.sum(Rw**2, axis=1)
    err = got - np.diagonal(C)
    assert np.all(err >= -1e-12 * np.diagonal(C))  # the jitter only adds variance
    assert np.all(err <= jitter * (1 + 1e-6) + 1e-12 * np.diagonal(C)), np.max(err / jitter)


def test_causal_probe_sweep_matches_exact_square_loss():
    """The burn-in (causal) sweep alone with probe estimates of M_R, against the sampling-free
    square-loss solution: 6 solver seeds, mean within 5 standard errors of the mean (Student t
    with 5 degrees of freedom: two-sided 0.4% per check) for m, C(t, t) and gen_error at
    t = 5 and 10. A wrong index or sign in the causal tangents moves C(t, t) by far more."""
    problem = g.Problem(alpha=2, delta=0.5, lam=0.1, loss="square")
    training = g.Training("gd", eta=0.2, t_max=10, R=0.01)
    ex = solve_square_gd(problem, training)
    runs = [dmft.solve_dmft(problem, training, samples=20000, max_iter=1, tol=0, seed=s,
                            progress=False) for s in range(6)]
    assert all(r.stats["timing_per_iteration"][0]["kind"] == "causal" for r in runs)
    for name in ("m", "norm", "gen_error"):
        for k in (25, 50):
            x = np.array([getattr(r, name)[k] for r in runs])
            sem = x.std(ddof=1) / np.sqrt(x.size)
            assert sem > 0 and abs(x.mean() - getattr(ex, name)[k]) <= 5 * sem, (name, k, x, getattr(ex, name)[k])
