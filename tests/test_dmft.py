"""DMFT solver: exact cases, agreement with simulations, honest error bars, input checks.

Tolerances: simulations report the standard error over seeds, the solver the standard error
over its independent replicas (iterations with damping = 1); a difference of two independent
estimates is compared with k * sqrt(sem_sim^2 + sem_dmft^2). With ~10 recorded times per curve
(strongly correlated), k = 3 gives a false-alarm rate below 1% per curve for Gaussian errors.
"""


import numpy as np
import pytest

import gmmdmft as g
from gmmdmft.dmft import finite_d_m0, solve_dmft
from gmmdmft.dmft.exact import mp_response, solve_square_gd

SQUARE = g.Problem(alpha=2, delta=0.5, lam=0.1, loss="square")


def test_square_loss_response_is_marchenko_pastur():
    """Sheet §5: Rw[j+1+p, j] = E_a[(1 - eta(lam + a))^p], a ~ Marchenko-Pastur (ratio alpha).

    With D = 1 the propagated responses are deterministic, so M_R and Rw are exact up to rounding
    whatever the draws (the probe estimate's noise on this case: tests/test_response.py)."""
    tr = g.Training("gd", eta=0.2, t_max=10, R=0.01)
    r = solve_dmft(SQUARE, tr, samples=200, response_samples=20, max_iter=1, tol=0, return_kernels=True,
                   response="propagate")
    Rw = r.extras["R"]
    for j in (0, 7, 20):
        for p in (0, 1, 3, 10, 25):
            if j + 1 + p <= tr.steps:
                assert Rw[j + 1 + p, j] == pytest.approx(mp_response(SQUARE, tr, p), abs=1e-3)
    # the sampling-free solver gives the same response to rounding
    Rw_exact = solve_square_gd(SQUARE, tr).extras["R"]
    np.testing.assert_allclose(Rw, Rw_exact, atol=1e-6)  # float32 storage of the per-draw G


def test_square_loss_exact_solution_matches_reference_values():
    """Sheet §5 reference point: alpha=2, Delta=0.5, lam=0.1, eta=0.2, R=0.01 at t = 10."""
    tr = g.Training("gd", eta=0.2, t_max=10, R=0.01)
    ex = solve_square_gd(SQUARE, tr)
    assert ex.m[-1] == pytest.approx(0.6291, abs=1e-4)
    assert ex.norm[-1] == pytest.approx(0.7618, abs=1e-4)
    assert ex.gen_error[-1] == pytest.approx(0.1540, abs=1e-4)


def test_monte_carlo_solver_matches_exact_square_loss():
    """The sampling path against the sampling-free solution: no bias beyond its error bars."""
    tr = g.Training("gd", eta=0.2, t_max=20, R=0.01)
    ex = solve_square_gd(SQUARE, tr)
    r = solve_dmft(SQUARE, tr, samples=20000, response_samples=20, max_iter=6, tol=0, seed=1)
    for name in ("gen_error", "m", "norm", "train_loss", "train_accuracy"):
        got, sem, want = getattr(r, name), getattr(r, name + "_sem"), getattr(ex, name)
        k = slice(5, None, 10)
        # 4 sigma: the sem itself comes from 6 replicas (5 degrees of freedom)
        assert np.all(np.abs(got[k] - want[k]) <= 4.5 * sem[k] + 1e-12), name


CASES = {
    "gd-lam0": (g.Problem(alpha=2, delta=0.5), g.Training("gd", eta=0.2, t_max=10, R=0.01)),
    "gd-lam0.1": (g.Problem(alpha=2, delta=0.5, lam=0.1), g.Training("gd", eta=0.2, t_max=10, R=0.01)),
    "sgd-b0.3": (g.Problem(alpha=2, delta=0.5), g.Training("sgd", eta=0.2, t_max=10, R=0.01, b=0.3)),
    "psgd-b0.3": (g.Problem(alpha=2, delta=0.5),
                  g.Training("persistent-sgd", eta=0.2, t_max=10, R=0.01, b=0.3, tau=1 / 0.6)),
}


@pytest.mark.parametrize("case", CASES)
def test_two_clusters_logistic_matches_simulation(case):
    problem, training = CASES[case]
    sim = g.simulate(problem, training, d=2000, seeds=10, every=5, progress=False)
    th = solve_dmft(problem, training, samples=20000, response_samples=300, max_iter=4, tol=0, seed=3)
    idx = np.searchsorted(th.t, sim.t - 1e-9)
    diff = th.gen_error[idx] - sim.gen_error
    sigma = np.hypot(sim.gen_error_sem, th.gen_error_sem[idx])
    assert np.all(np.abs(diff[1:]) <= 3 * sigma[1:]), (diff, sigma)
    # t = 0 is exact for both: erfc(0)/2
    assert th.gen_error[0] == pytest.approx(0.5)


def test_three_clusters_matches_simulation_after_symmetry_breaking():
    problem = g.Problem(clusters=3, alpha=2, delta=0.05, L=0.7)
    training = g.Training("gd", eta=0.2, t_max=30, R=1)
    sim = g.simulate(problem, training, d=2000, seeds=10, every=10, progress=False)
    th = solve_dmft(problem, training, d=2000, samples=20000, response_samples=300, max_iter=3, tol=0, seed=0)
    assert th.m[0] == pytest.approx(finite_d_m0(1.0, 2000))
    late = sim.t >= 12  # after the symmetry-breaking transient (t ~ 2-10 at d = 2000)
    idx = np.searchsorted(th.t, sim.t[late] - 1e-9)
    assert np.max(np.abs(th.gen_error[idx] - sim.gen_error[late])) < 0.005
    assert np.max(np.abs(th.norm[idx] / sim.norm[late] - 1)) < 0.02


def test_error_bars_cover_the_scatter_of_independent_solves():
    """Independent seeds of the solver must scatter as their reported errors say (chi-square)."""
    problem, training = CASES["gd-lam0"]
    training = g.Training("gd", eta=0.2, t_max=20, R=0.01)
    runs = [solve_dmft(problem, training, samples=4000, response_samples=100, max_iter=5, tol=0, seed=s)
            for s in range(8)]
    for k in (50, 100):
        x = np.array([r.gen_error[k] for r in runs])
        sem = np.array([r.gen_error_sem[k] for r in runs])
        chi2 = np.sum((x - x.mean()) ** 2 / sem**2)
        # 7 degrees of freedom; the per-run sem has only 4: accept chi2 in the [0.1%, 99.9%]
        # band of a chi2_7 widened for the uncertainty of the sem (F(7, 4) 99.9% ~ 21.9 * 7)
        assert 0.3 < chi2 < 7 * 21.9, (k, chi2)


def test_same_seed_same_numbers_and_different_seeds_differ():
    problem, training = CASES["sgd-b0.3"]
    a = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=2, tol=0, seed=5)
    b = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=2, tol=0, seed=5)
    c = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=2, tol=0, seed=6)
    np.testing.assert_array_equal(a.table(), b.table())
    assert not np.array_equal(a.gen_error, c.gen_error)


def test_tolerance_and_status():
    problem, training = CASES["gd-lam0"]
    exact = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=3, tol=0)
    assert exact.stats["iterations"] == 3 and exact.success
    loose = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=10, tol=0.5)
    assert loose.stats["iterations"] == 6 and loose.success  # burn-in 2 + 4: the fewest that can stop
    tight = solve_dmft(problem, training, samples=2000, response_samples=50, max_iter=5, tol=1e-9)
    assert tight.status == 1 and not tight.success and "not converged" in tight.message
    assert "samples" in tight.message


def test_warm_start_from_shorter_horizon():
    problem = CASES["gd-lam0"][0]
    short = solve_dmft(problem, g.Training("gd", eta=0.2, t_max=5, R=0.01), samples=10000,
                       response_samples=200, max_iter=2, tol=0, return_kernels=True)
    long_ = solve_dmft(problem, g.Training("gd", eta=0.2, t_max=10, R=0.01), samples=10000,
                       response_samples=200, max_iter=4, tol=0, init=short, damping=0.5, seed=1)
    cold = solve_dmft(problem, g.Training("gd", eta=0.2, t_max=10, R=0.01), samples=10000,
                      response_samples=200, max_iter=4, tol=0, seed=2)
    sigma = np.hypot(long_.gen_error_sem, cold.gen_error_sem)[1:]
    assert np.all(np.abs(long_.gen_error - cold.gen_error)[1:] <= 4 * sigma + 1e-4)


def test_full_batch_persistent_sgd_is_gd():
    problem = CASES["gd-lam0"][0]
    gd = solve_dmft(problem, g.Training("gd", eta=0.2, t_max=4), samples=1000, response_samples=20, max_iter=1, tol=0)
    ps = solve_dmft(problem, g.Training("persistent-sgd", eta=0.2, t_max=4, b=1, tau=1), samples=1000,
                    response_samples=20, max_iter=1, tol=0)
    np.testing.assert_array_equal(gd.table(), ps.table())


@pytest.mark.parametrize("kwargs, word", [
    (dict(samples=1), "samples"),
    (dict(damping=0), "damping"),
    (dict(damping=1.5), "damping"),
    (dict(max_iter=0), "max_iter"),
    (dict(tol=-1), "tol"),
    (dict(tol=float("nan")), "tol"),
    (dict(m0=-0.2), "m0"),  # |m0| > sqrt(R) = 0.1
    (dict(samples=10**9), "samples"),
])
def test_bad_solver_options(kwargs, word):
    problem, training = CASES["gd-lam0"]
    with pytest.raises(g.ParameterError, match=word):
        solve_dmft(problem, training, **kwargs)


def test_three_clusters_need_m0():
    problem = g.Problem(clusters=3, alpha=2, delta=0.05, L=0.7)
    with pytest.raises(g.ParameterError, match="m0"):
        solve_dmft(problem, g.Training("gd", t_max=1, R=1))
    r = solve_dmft(problem, g.Training("gd", t_max=1, R=1), m0=0.05, samples=200, response_samples=10, max_iter=1, tol=0)
    assert r.m[0] == 0.05


def test_divergence_is_reported_with_a_hint():
    problem = g.Problem(alpha=2, delta=0.5, loss="square")
    with pytest.raises(g.DivergenceError, match="smaller eta"):
        solve_dmft(problem, g.Training("gd", eta=3.0, t_max=300), samples=200, response_samples=10, max_iter=1, tol=0)


def test_first_gd_step_from_zero_is_bayes_optimal():
    """Paper Fig. 4: from w(0) = 0, one GD step lands on the Bayes-optimal error (d = infinity).

    At k = 0 every field vanishes, F_0 = y ell'(0) is the same for all draws, so m_1 and C_1 are
    exact up to the stratified sampling of h0 (<h0> = 0 to O(1/N^1.5)).
    """
    problem = g.Problem(alpha=2, delta=0.5)
    r = solve_dmft(problem, g.Training("gd", eta=0.2, t_max=1, R=0), samples=2000, response_samples=20,
                   max_iter=2, tol=0)
    assert r.gen_error[1] == pytest.approx(g.bayes_optimal_error(2, 0.5), abs=1e-4)
