"""The fast DMFT iteration: blocked M_R against the plain recursion, the lagged iteration against
the all-causal one, and the torch backend against numpy (float64: equal up to rounding)."""

import numpy as np
import pytest
import gmmdmft as g
from gmmdmft import dmft
from gmmdmft.dmft.lagged import lagged_sweep, noise_root
from gmmdmft.dmft.response import response_estimate
from gmmdmft._backend import get_backend
from gmmdmft._validation import ParameterError
from gmmdmft.cli import main
from gmmdmft.result import OBSERVABLES


def _plain_response_estimate(problem, training, lamhat, MR, D, w):
    """M_R[k, j] = alpha Delta^2 <w D_k G[k, j] D_j>, G by the forward recursion of docs/theory.md "DMFT", one draw at a
    time, no blocking (the reference for the blocked BLAS-3 version)."""
    T, NR = D.shape
    eta, Delta = training.eta, problem.delta
    est = np.zeros((T, T))
    for n in range(NR):
        G = np.zeros((T + 1, T))
        for k in range(T):
            G[k + 1, k] = 1.0
            for j in range(k):
                mem = sum(MR[k, i] * G[i, j] for i in range(j + 1, k))
                G[k + 1, j] = (1 - eta * (problem.lam + lamhat[k] + Delta * D[k, n])) * G[k, j] + eta**2 * mem
        est += w[n] * D[:, n][:, None] * G[:T] * D[:, n][None, :]
    return problem.alpha * Delta**2 / NR * np.tril(est, -1)


@pytest.mark.parametrize("block,sub,chunk", [(8, 3, 2**12), (16, 16, 2**30), (5, 2, 3 * 41 * 40 * 8)])
def test_blocked_response_matches_plain_recursion(block, sub, chunk):
    problem = g.Problem(alpha=2, delta=0.5, lam=0.1)
    training = g.Training("gd", eta=0.2, t_max=8, R=0.01)  # T = 40
    T, NR = training.steps, 7
    rng = np.random.default_rng(3)
    D = rng.random((T, NR)) * 0.25
    MR = np.tril(rng.standard_normal((T, T)), -1) * 0.3
    lamhat = rng.random(T) * 0.1
    w = rng.random(NR) + 0.5
    ref = _plain_response_estimate(problem, training, lamhat, MR, D, w)
    got = response_estimate(problem, training, lamhat, MR, D, "float64", weights=w,
                                  block=block, sub=sub, chunk_bytes=chunk, min_chunk=1, work={})
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14 * np.abs(ref).max())


def test_noise_root_cholesky_and_eigen_fallback():
    rng = np.random.default_rng(0)
    F = rng.standard_normal((30, 5))
    M = F @ F.T  # rank 5: Cholesky with the jitter still works
    L, causal = noise_root(M)
    assert causal and np.allclose(np.triu(L, 1), 0)
    np.testing.assert_allclose(L @ L.T, M, atol=1e-6 * np.abs(M).max())
    M_neg = M - 0.5 * np.eye(30) * np.abs(M).max()  # indefinite: Cholesky fails, eigenvalues clipped
    root, causal = noise_root(M_neg)
    vals, vecs = np.linalg.eigh(M_neg)
    assert not causal
    np.testing.assert_allclose(root @ root.T, (vecs * np.clip(vals, 0, None)) @ vecs.T, atol=1e-10)


def test_lagged_iteration_agrees_with_causal_iteration():
    """The lagged iteration (M_C from the previous iteration) has the fixed point of the causal
    one (M_C estimated as the draws advance): same curves within the combined Monte-Carlo error."""
    problem = g.Problem(alpha=2, delta=0.5)
    training = g.Training("gd", eta=0.2, t_max=20, R=0.01)
    kw = dict(samples=10000, response_samples=400, max_iter=8, tol=0, progress=False)
    fast = dmft.solve_dmft(problem, training, lagged=True, seed=1, **kw)
    slow = dmft.solve_dmft(problem, training, lagged=False, seed=2, **kw)
    assert [t["kind"] for t in fast.stats["timing_per_iteration"]] == ["causal"] + ["lagged"] * 7
    assert all(t["kind"] == "causal" for t in slow.stats["timing_per_iteration"])
    for name in ("gen_error", "norm", "m"):
        a, b = getattr(fast, name)[1:], getattr(slow, name)[1:]
        sigma = np.hypot(getattr(fast, name + "_sem")[1:], getattr(slow, name + "_sem")[1:])
        # 4 sigma at each of 100 correlated times (a few effective independent ones)
        assert np.all(np.abs(a - b) <= 4 * sigma + 1e-12), (name, np.max(np.abs(a - b) / sigma))


CASES = {
    "gd": (g.Problem(alpha=2, delta=0.5), g.Training("gd", eta=0.2, t_max=10, R=0.01)),
    "psgd-lam": (g.Problem(alpha=2, delta=0.5, lam=0.1),
                 g.Training("persistent-sgd", eta=0.2, t_max=10, R=0.01, b=0.3, tau=1 / 0.6)),
    "three-clusters": (g.Problem(clusters=3, L=0.7, alpha=2, delta=0.05),
                       g.Training("gd", eta=0.2, t_max=10, R=1.0)),
    "square-sgd": (g.Problem(alpha=2, delta=0.5, loss="square"),
                   g.Training("sgd", eta=0.2, t_max=10, R=0.01, b=0.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_backend_equals_numpy_in_float64(case):
    pytest.importorskip("torch")
    problem, training = CASES[case]
    kw = dict(samples=4000, response_samples=200, max_iter=4, tol=0, G_dtype="float64",
              progress=False, seed=3, **({"d": 2000} if problem.symmetric else {}))
    a = dmft.solve_dmft(problem, training, backend="numpy", **kw)
    b = dmft.solve_dmft(problem, training, backend="torch", device="cpu", **kw)
    for name in OBSERVABLES:
        x, y = getattr(a, name), getattr(b, name)
        # rounding only: different summation orders, amplified a little by the iteration
        np.testing.assert_allclose(y, x, rtol=1e-8, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(getattr(b, name + "_sem"), getattr(a, name + "_sem"),
                                   rtol=1e-5, atol=1e-8, err_msg=name)


def test_torch_backend_float32_responses_close_to_numpy():
    pytest.importorskip("torch")
    problem, training = CASES["gd"]
    kw = dict(samples=4000, response_samples=200, max_iter=3, tol=0, progress=False, seed=4)
    a = dmft.solve_dmft(problem, training, backend="numpy", **kw)
    b = dmft.solve_dmft(problem, training, backend="torch", **kw)
    np.testing.assert_allclose(b.gen_error, a.gen_error, rtol=1e-5)


def test_backend_choices_are_checked_before_compute(capfd, tmp_path):
    with pytest.raises(ParameterError, match="backend = 'jax' is not one of"):
        get_backend("jax")
    with pytest.raises(ParameterError, match="needs backend = 'torch'"):
        get_backend("numpy", "cuda")
    try:
        import torch
    except ImportError:
        with pytest.raises(ParameterError, match="PyTorch is not installed"):
            get_backend("torch")
        return
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="device = 'cuda' is not available"):
            get_backend(None, "cuda")
        out = tmp_path / "x.csv"
        with pytest.raises(SystemExit) as info:
            main(["dmft", "--t-max", "1", "--device", "cuda", "--out", str(out)])
        err = capfd.readouterr().err
        assert info.value.code == 2 and not out.exists()
        assert err.count("\n") == 1 and "gmmdmft: error: device = 'cuda' is not available" in err
    assert get_backend(None, "cpu").name == "numpy"


def test_lagged_sweep_reports_divergence():
    """Square loss, eta = 10: h is multiplied by 1 - eta alpha Delta = -9 per step."""
    problem = g.Problem(alpha=2, delta=0.5, loss="square")
    training = g.Training("gd", eta=10.0, t_max=4000, R=0.01)
    T = training.steps
    old = dict(lamhat=np.zeros(T), mu=np.zeros(T), M_C=np.eye(T), M_R=np.zeros((T, T)))
    with pytest.raises(g.DivergenceError, match=r"not finite at time step \d+ .*smaller eta"), \
            np.errstate(all="ignore"):
        lagged_sweep(problem, training, old, np.ones(T), 200, 0.0, np.random.default_rng(0),
                           "float64")


def test_benchmark_cost_model_counts_the_triangular_flops():
    """The roofline's FLOP count of M_R is the triangular propagation, N_R T^3 / 3 to leading
    order, and the noise and memory products N T^2 each."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from performance import cost_model

    T, N, NR = 2048, 1000, 10
    c = cost_model(T, N, NR)
    # corrections of relative order block / T: the diagonal blocks are done as rectangles
    assert abs(c["M_R"]["flops"] / (NR * T**3 / 3) - 1) < 0.15
    for phase in ("noise", "memory", "M_C"):
        assert abs(c[phase]["flops"] / (N * T**2) - 1) < 0.1, phase
