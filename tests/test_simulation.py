"""Finite-d simulator: the Bayes-optimal first GD step, determinism, options, failures."""

import math

import numpy as np
import pytest
from scipy.special import erfc

from gmmdmft import DivergenceError, ParameterError, Problem, Training, bayes_optimal_error, simulate
from gmmdmft.result import CSV_COLUMNS, OBSERVABLES

FIELDS = tuple(CSV_COLUMNS)


def assert_identical(a, b):
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f


def test_first_gd_step_reaches_bayes_optimal_error():
    # Paper Sec. 5 / Fig. 4: GD from w(0) = 0 (R = 0), lam = 0, reaches eps_BO after one step.
    #
    # Finite-d error, derived. With w(0) = 0 every h_mu = 0, so Lambda'(y, 0) = y ell'(0) and
    # w(1) is proportional to sum_mu y_mu x_mu = n v*/sqrt(d) + sqrt(delta n) g, g ~ N(0, I_d)
    # (y = c for two clusters). With G = g.v*/sqrt(d) ~ N(0, 1) and K = |g|^2 - G^2 ~ chi2(d-1)
    # independent of G, the exact finite-d test error of w(1) is
    #     eps_1 = erfc( A / sqrt(2 delta (A^2 + delta n K)) ) / 2,   A = n + sqrt(delta n) G,
    # whose d -> infinity limit is eps_BO. At d = 2000 we evaluate its mean E_d and its seed-to-
    # seed standard deviation s_d from 10^6 draws of (G, K): s_d ~ 0.039/sqrt(d) = 8.8e-4 and
    # |E_d - eps_BO| ~ 0.01/d = 5e-6 (an O(1/d) bias, far below the noise).
    # The mean over S seeds must then lie within 5 s_d/sqrt(S) (noise) + |E_d - eps_BO| (bias)
    # + 5 s_d/sqrt(1e6) (error of our estimate of E_d) of eps_BO.
    alpha, delta, d, S = 2.0, 0.5, 2000, 8
    res = simulate(Problem(alpha=alpha, delta=delta, lam=0.0), Training(eta=0.2, t_max=0.2, R=0.0),
                   d=d, seeds=S, progress=False)
    assert res.gen_error[0] == 0.5  # w = 0: a coin flip
    eps1 = res.gen_error[1]

    n = round(alpha * d)
    rng = np.random.default_rng(2024)
    M = 10**6
    G, K = rng.standard_normal(M), rng.chisquare(d - 1, M)
    A = n + math.sqrt(delta * n) * G
    draws = 0.5 * erfc(A / np.sqrt(2 * delta * (A * A + delta * n * K)))
    E_d, s_d = draws.mean(), draws.std()
    eps_bo = bayes_optimal_error(alpha, delta)
    assert s_d * math.sqrt(d) == pytest.approx(0.039, rel=0.05)  # the O(1/sqrt d) fluctuation
    assert abs(E_d - eps_bo) < 1e-4                               # the O(1/d) bias is negligible

    tol = 5 * s_d / math.sqrt(S) + abs(E_d - eps_bo) + 5 * s_d / math.sqrt(M)
    assert abs(eps1 - eps_bo) < tol, (eps1, eps_bo, tol)
    # the simulated seed-to-seed spread agrees with s_d: S - 1 times the variance ratio is
    # chi2(S - 1) distributed, inside its 0.05% and 99.95% quantiles [0.485, 26.0] (7 d.o.f.)
    # except with probability 1e-3
    ratio = (res.gen_error_sem[1] * math.sqrt(S) / s_d) ** 2 * (S - 1)
    assert 0.485 < ratio < 26.0, ratio


@pytest.mark.parametrize("problem", [Problem(), Problem(clusters=3, L=1.0, delta=0.3)],
                         ids=["2clusters", "3clusters"])
def test_sgd_and_persistent_sgd_with_b_one_equal_gd_bit_for_bit(problem):
    kw = dict(d=80, seeds=2, progress=False)
    gd = simulate(problem, Training(t_max=2.0), **kw)
    sgd = simulate(problem, Training(algorithm="sgd", b=1.0, t_max=2.0), **kw)
    psgd = simulate(problem, Training(algorithm="persistent-sgd", b=1.0, tau=1.0, t_max=2.0), **kw)
    assert_identical(gd, sgd)
    assert_identical(gd, psgd)


def test_same_seed_same_output_different_seed_different_output():
    problem = Problem()
    tr = Training(algorithm="persistent-sgd", b=0.3, tau=1 / 0.6, t_max=2.0)
    a = simulate(problem, tr, d=60, seeds=2, seed0=3, progress=False)
    b = simulate(problem, tr, d=60, seeds=2, seed0=3, progress=False)
    c = simulate(problem, tr, d=60, seeds=2, seed0=4, progress=False)
    assert_identical(a, b)
    for f in ("gen_error", "train_loss", "m", "norm"):
        assert not np.array_equal(getattr(a, f), getattr(c, f)), f
    assert a.params["seed_list"] == [3, 4] and c.params["seed_list"] == [4, 5]


@pytest.mark.parametrize("problem", [Problem(), Problem(clusters=3, L=1.0, delta=0.3)],
                         ids=["2clusters", "3clusters"])
def test_float32_agrees_with_float64(problem):
    # Both runs use the same random numbers (X is drawn in float64, then stored in float32).
    # Float32 unit roundoff is u = 2^-24 = 6e-8; a dot product of n terms is off by at most
    # about n u relative (here n = 600: 4e-5) and typically sqrt(n) u (1.5e-6); over the 20
    # steps of a (contracting) GD run the relative difference stays far below rtol = 1e-4 (we
    # measure ~1e-7). The training accuracy is a count: a sample whose margin is within
    # rounding of 0 may flip, so we allow 2/n.
    tr = Training(t_max=4.0)
    a = simulate(problem, tr, d=300, seeds=2, progress=False)
    b = simulate(problem, tr, d=300, seeds=2, progress=False, dtype="float32")
    n = 600
    for f in ("gen_error", "train_loss", "m", "norm"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-4, atol=1e-7, err_msg=f)
    assert np.max(np.abs(a.train_accuracy - b.train_accuracy)) <= 2 / n
    assert b.params["dtype"] == "float32"


def test_every_records_every_kth_step_and_the_last():
    problem, tr = Problem(), Training(eta=0.2, t_max=2.0)  # 10 steps
    full = simulate(problem, tr, d=50, seeds=2, progress=False)
    part = simulate(problem, tr, d=50, seeds=2, every=3, progress=False)
    idx = np.array([0, 3, 6, 9, 10])
    np.testing.assert_allclose(part.t, 0.2 * idx)
    np.testing.assert_allclose(full.t, 0.2 * np.arange(11), rtol=0, atol=1e-12)
    for f in FIELDS[1:]:
        assert np.array_equal(getattr(part, f), getattr(full, f)[idx], equal_nan=True), f


def test_result_shapes_and_sem():
    r = simulate(Problem(), Training(t_max=1.0), d=40, seeds=1, progress=False)
    assert r.success and r.table().shape == (6, len(CSV_COLUMNS))
    for o in OBSERVABLES:
        assert np.all(np.isnan(getattr(r, o + "_sem")))  # one seed: no error estimate
    assert np.all(np.isfinite(r.table()[:, [0, 1, 3, 5, 7, 9]]))


def test_three_clusters_reports_abs_m():
    r = simulate(Problem(clusters=3, L=1.0), Training(t_max=1.0), d=40, seeds=3, progress=False)
    assert np.all(r.m >= 0)


def test_divergence_raises_and_suggests_smaller_eta():
    # square loss, eta = 50: |w| grows by a factor ~100 per step and overflows within ~70 steps
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(DivergenceError, match="eta"):
            simulate(Problem(loss="square"), Training(eta=50.0, t_max=5000.0), d=100,
                     progress=False)


def test_memory_refusal_before_allocating():
    # d = 10^7 at alpha = 2 would need 1.6e15 bytes; refused at once with a ParameterError
    with pytest.raises(ParameterError, match=r"^d = 10000000 needs"):
        simulate(Problem(), Training(), d=10**7, progress=False)


@pytest.mark.parametrize("kwargs, name", [
    (dict(d=0), "d"), (dict(d=2.5), "d"), (dict(seeds=0), "seeds"), (dict(seed0=-1), "seed0"),
    (dict(every=0), "every"), (dict(dtype="float16"), "dtype"),
])
def test_bad_simulate_arguments(kwargs, name):
    kw = dict(d=10, progress=False) | kwargs
    with pytest.raises(ParameterError) as info:
        simulate(Problem(), Training(t_max=0.4), **kw)
    assert str(info.value).startswith(name)


# ------------------------------------------------------------------ several seeds advanced together
def _one_seed_reference(problem, training, d, seed, dtype):
    """The per-seed loop as it was before seeds were grouped (a literal copy, recording every
    step): observables[5, T + 1] of one seed."""
    from gmmdmft.simulation import make_data  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    X, c, y = make_data(problem, d, rng, dtype)
    n = X.shape[0]
    w = (math.sqrt(training.R) * rng.standard_normal(d)).astype(dtype)
    s = training.initial_batch(rng, n)
    T = training.steps
    out = np.empty((5, T + 1))
    for k in range(T + 1):
        h = X @ w
        m = float(w.sum(dtype=np.float64)) / d
        C = float(np.dot(w, w)) / d
        out[:, k] = (problem.gen_error(m, C), problem.Lambda(y, h).mean(),
                     problem.correct(y, h).mean(), abs(m) if problem.clusters == 3 else m, C)
        if k == T:
            break
        g = s * problem.dLambda(y, h)
        w = w - training.eta * (problem.lam * w + X.T @ g.astype(dtype, copy=False))
        if training.stochastic:
            s = training.next_batch(rng, s)
    return out


TOGETHER_TRAININGS = {
    "gd": Training(t_max=2.0, R=0.5),
    "sgd": Training(algorithm="sgd", b=0.4, t_max=2.0, R=0.5),
    "persistent-sgd": Training(algorithm="persistent-sgd", b=0.3, tau=1 / 0.6, t_max=2.0, R=0.5),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("problem", [Problem(lam=0.1), Problem(clusters=3, L=1.0, delta=0.3)],
                         ids=["2clusters", "3clusters"])
@pytest.mark.parametrize("algorithm", list(TOGETHER_TRAININGS))
def test_seeds_together_give_the_curves_of_seeds_one_at_a_time(algorithm, problem, dtype):
    # Each seed keeps its own random stream, so grouping changes nothing but (possibly) the last
    # bits of the BLAS products: compare every seed's curves with the old per-seed loop, and the
    # averaged curves over groups of 1, 2 (uneven: 5 = 3 + 2) and all seeds.
    training, d, seeds, seed0 = TOGETHER_TRAININGS[algorithm], 40, 5, 7
    ref = np.stack([_one_seed_reference(problem, training, d, seed0 + i, dtype)
                    for i in range(seeds)], axis=1)  # [observable, seed, step]
    results = {st: simulate(problem, training, d=d, seeds=seeds, seed0=seed0, dtype=dtype,
                            seeds_together=st, progress=False) for st in (1, 2, seeds)}
    assert results[seeds].stats["seeds_together"] == seeds
    assert results[2].stats["seeds_together"] == 2  # groups of 3 and 2 seeds
    # np.matmul on the stack calls the same BLAS gemv per seed as X @ w and X.T @ g, so the
    # numbers agree bit for bit here; the tolerance allows another BLAS to round the products
    # differently (last bits: 1e-16 relative in float64, 6e-8 in float32, over 10 steps)
    rtol = 1e-12 if dtype == "float64" else 1e-6
    for st, res in results.items():
        for name, samples in zip(OBSERVABLES, ref):
            mean = samples.mean(axis=0)
            sem = samples.std(axis=0, ddof=1) / math.sqrt(seeds)
            np.testing.assert_allclose(getattr(res, name), mean, rtol=rtol, atol=rtol * 1e-3,
                                       err_msg=f"{name}, seeds_together={st}")
            np.testing.assert_allclose(getattr(res, name + "_sem"), sem, rtol=1e3 * rtol,
                                       atol=rtol * 1e-3, err_msg=f"{name}_sem, seeds_together={st}")


def test_seeds_together_default_and_stats():
    problem, tr = Problem(), Training(t_max=1.0)  # 5 steps
    r = simulate(problem, tr, d=30, seeds=4, progress=False)  # a few kB: all 4 together
    assert r.stats["seeds_together"] == 4
    assert r.stats["time_per_step"] == pytest.approx(r.stats["step_time"] / (4 * 5))
    assert 0 < r.stats["matvec_time"] < r.stats["step_time"]
    assert simulate(problem, tr, d=30, seeds=2, seeds_together=9, progress=False).stats["seeds_together"] == 2


def test_seeds_together_divergence_names_the_seed():
    # one group of 3 seeds that all diverge: the error names the first to do so, at once
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(DivergenceError, match=r"seed [567]\): use a smaller eta"):
            simulate(Problem(loss="square"), Training(eta=50.0, t_max=5000.0), d=100, seeds=3,
                     seed0=5, seeds_together=3, progress=False)


@pytest.mark.parametrize("value", [0, -1, 1.5, "2"])
def test_bad_seeds_together(value):
    with pytest.raises(ParameterError, match=r"^seeds_together = .* must be") as info:
        simulate(Problem(), Training(t_max=0.4), d=10, seeds_together=value, progress=False)
    assert "\n" not in str(info.value)


def test_seeds_together_memory_refusal():
    # d = 10^4, alpha = 2: 1.6 GB per seed; 10^5 of them cannot fit, a single one is not refused
    # by this check (the run itself is never started: seeds_together is checked first)
    with pytest.raises(ParameterError, match=r"^d = 10000 with seeds_together = 100000 needs .* lower seeds_together"):
        simulate(Problem(), Training(), d=10**4, seeds=10**5, seeds_together=10**5, progress=False)
