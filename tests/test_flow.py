"""The flow limit eta -> 0: Richardson extrapolation with the measured order over a ladder of
step sizes (docs/flow-limit.md)."""

import math

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft import ParameterError
from gmmdmft.dmft.exact import solve_square_gd
from gmmdmft.extrapolation import flow_limit, ladder, richardson
from gmmdmft.result import OBSERVABLES

H = 0.2 / 2.0 ** np.arange(3)  # the ladder eta, eta/2, eta/4
T_GRID = np.linspace(0.0, 5.0, 401)


def synthetic(step, noise=0.0, seed=0):
    """values[obs] (3, n) = Y(t) + step(h, t) (+ independent noise of sd ``noise``), all five
    observables alike, with the truth Y(t) = 0.1 + 0.05 exp(-t)."""
    truth = 0.1 + 0.05 * np.exp(-T_GRID)
    rng = np.random.default_rng(seed)
    y = np.array([truth + step(h, T_GRID) for h in H])
    y = y + noise * rng.standard_normal(y.shape)
    s = np.full_like(y, noise)
    return truth, {o: y for o in OBSERVABLES}, {o: s for o in OBSERVABLES}


def test_richardson_recovers_a_pure_power_exactly():
    # y_h = Y + a(t) h^p with p = 1: d1 = 2 d2 at every t, so rho = 2 exactly and Y is
    # recovered to rounding (the values are O(0.1): 1e-13 is a few hundred ulps); the two-term
    # extrapolation agrees, so the residual vanishes too.
    truth, v, s = synthetic(lambda h, t: 0.03 * h * np.sin(1 + t))
    ex = richardson(v, s)
    assert ex.resolved and ex.near and ex.asymptotic
    assert ex.order == pytest.approx(1.0, abs=1e-9) and ex.order_used == ex.order
    np.testing.assert_allclose(ex.value["gen_error"], truth, rtol=0, atol=1e-13)
    assert np.max(ex.residual["m"]) < 1e-13 and np.max(ex.error["norm"]) < 1e-13


def test_richardson_error_bar_covers_a_second_order_term():
    # y_h = Y + a h + c h^2 (c h = a/2 at the coarsest rung): the measured order is
    # log2 rho with rho = (a h/2 + 3 c h^2/4) / (a h/4 + 3 c h^2/16) at every time, and the
    # residual max(|Y - Y1|, |Y - Y2|) is at least the error of Y, because Y2 (orders 1 and 2
    # through the three rungs) is exact for this model.
    a, c = 0.02, 0.05
    truth, v, s = synthetic(lambda h, t: (a * h + c * h * h) * np.exp(-0.3 * t))
    ex = richardson(v, s)
    h = H[0]
    rho = (a * h / 2 + 3 * c * h * h / 4) / (a * h / 4 + 3 * c * h * h / 16)
    assert ex.order == pytest.approx(math.log2(rho), rel=1e-9) and ex.near
    err = np.abs(ex.value["gen_error"] - truth)
    assert err.max() > 1e-4  # the measured order alone does not extrapolate this exactly
    assert np.all(ex.residual["gen_error"] >= err - 1e-15)
    assert np.all(ex.error["gen_error"] >= err - 1e-15)


def test_richardson_with_noise_measures_the_order_and_covers_the_truth():
    # y_h = Y + a h(t) + independent N(0, sigma^2) noise at each of 401 times. The step effect
    # (a h/4 ~ 7e-4 at the finest difference) is resolved, the measured order is within 3 of
    # its (upper-bound) standard errors of 1. The error bar is at least the propagated
    # Monte-Carlo error, so |Y - truth| <= 2 error bars has probability >= 95.4%; over n = 400
    # independent times the covered fraction has sd <= sqrt(0.046 * 0.954 / 400) = 0.0105, so
    # it must exceed 0.954 - 5 * 0.0105 = 0.90.
    sigma = 2e-4
    truth, v, s = synthetic(lambda h, t: 0.015 * h * (1 + t), noise=sigma, seed=5)
    ex = richardson(v, s)
    assert ex.resolved
    assert abs(ex.order - 1) < 3 * ex.order_sem
    z = np.abs(ex.value["gen_error"] - truth)[1:] / ex.error["gen_error"][1:]
    assert np.mean(z <= 2) > 0.90
    mc = ex.mc["gen_error"]
    assert np.all(ex.error["gen_error"] >= mc)
    rho = 2.0**ex.order_used
    np.testing.assert_allclose(mc, sigma * math.sqrt(rho * rho + 1) / (rho - 1), rtol=1e-12)


def test_richardson_flags_an_order_far_from_one_and_an_unresolved_step():
    # a cubic step effect gives rho = 8 (p = 3), resolved without noise: not asymptotic, so the
    # expected order 1 is used; pure noise (no step effect) is not resolved.
    _, v, s = synthetic(lambda h, t: 0.5 * h**3 * (1 + t))
    ex = richardson(v, s)
    assert ex.resolved and ex.order == pytest.approx(3.0, rel=1e-9)
    assert not ex.near and not ex.asymptotic and ex.order_used == 1.0
    assert "not near the expected order 1" in ex.notes[0]
    _, v, s = synthetic(lambda h, t: 0.0 * t, noise=1e-3, seed=2)
    ex = richardson(v, s)
    assert not ex.resolved and ex.asymptotic and ex.order_used == 1.0
    assert "not resolved" in ex.notes[0]


def test_flow_limit_of_the_exact_square_loss_dmft():
    # The sampling-free square-loss GD solver has no Monte-Carlo error, so the ladder
    # eta = 0.2, 0.1, 0.05 resolves the order exactly. Against the solve at eta = 0.2/16, whose
    # own step effect is about 1/15 of the plain solve's (first order: y_eta - y_ref =
    # a (eta - eta/16)), the extrapolation must be within its error bar plus that amount, and
    # at least 5 times closer than the plain solve where the plain gap is above 1e-4.
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5, lam=0.1, loss="square")
    training = g.Training(eta=0.2, t_max=3.0)
    solve = lambda tr, j: solve_square_gd(problem, tr)  # noqa: E731
    res = flow_limit(solve, training, 3, method="exact")
    assert res.status == 0 and res.stats["order_resolved"] and res.stats["order_near_expected"]
    assert abs(res.stats["order"] - 1) < 0.2
    ref = solve_square_gd(problem, training.replace(eta=0.2 / 16))
    for obs in ("gen_error", "m", "norm", "train_loss"):
        y_ref = getattr(ref, obs)[::16]
        plain = np.abs(res.stats["rungs"][0]["curves"][obs] - y_ref)
        gap = np.abs(getattr(res, obs) - y_ref)
        assert np.all(gap <= getattr(res, obs + "_sem") + plain / 15 + 1e-12), obs
        big = plain > 1e-4
        assert big.sum() >= 5 and np.all(gap[big] < plain[big] / 5), obs
    # at eta = 0.4 the largest eigenmode oscillates (eta times the top of the Hessian's
    # spectrum, lam + Delta (1 + sqrt(alpha))^2 = 3.0, is 1.2 > 1): the measured order is far
    # from 1 and the result says that the ladder is not in the asymptotic regime
    coarse = flow_limit(solve, training.replace(eta=0.4), 3, method="exact")
    assert coarse.status == 1 and "not in the asymptotic regime" in coarse.message
    assert abs(coarse.stats["order"] - 1) > 1


def test_dmft_flow_limit_is_closer_to_a_small_step_than_the_plain_solve():
    # A cheap Monte-Carlo DMFT (GD, logistic, N = 4000 draws, 4 averaged iterations) at
    # eta = 0.2, 0.1, 0.05 against a solve at eta = 0.2/16 = 0.0125. First order:
    # y_0.2 - y_ref = a (0.2 - 0.0125) and y_ref - y_0 = a 0.0125, i.e. 1/15 of the plain gap.
    # At each coarse time the extrapolation must agree with the reference within 3 combined
    # standard errors sqrt(err^2 + sem_ref^2) plus that 1/15; the step effect of the plain
    # solve must be resolved (> 5 combined sem) at >= 4 times, where the extrapolation must
    # also be closer than the plain solve.
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    training = g.Training(eta=0.2, t_max=1.6)
    kw = dict(samples=4000, response_samples=200, max_iter=6, tol=0.0, progress=False)
    res = g.solve_dmft_flow_limit(problem, training, **kw)
    assert res.method == "dmft-eta-limit" and len(res.t) == 9
    ref = g.solve_dmft(problem, training.replace(eta=0.0125), seed=7, **kw)
    y_ref, s_ref = ref.gen_error[::16], ref.gen_error_sem[::16]
    rung0 = res.stats["rungs"][0]
    plain, s_plain = rung0["curves"]["gen_error"], rung0["sems"]["gen_error"]
    gap_plain = np.abs(plain - y_ref)
    gap = np.abs(res.gen_error - y_ref)
    assert np.all(gap <= 3 * np.hypot(res.gen_error_sem, s_ref) + gap_plain / 15)
    resolved = gap_plain > 5 * np.hypot(s_plain, s_ref)
    assert resolved.sum() >= 4
    assert np.all(gap[resolved] < gap_plain[resolved])


@pytest.mark.parametrize("call", ["dmft", "simulate"])
def test_classical_sgd_has_no_flow_limit(call):
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    training = g.Training(algorithm="sgd", b=0.3, eta=0.2, t_max=1.0)
    with pytest.raises(ParameterError) as info:
        if call == "dmft":
            g.solve_dmft_flow_limit(problem, training, samples=100, response_samples=50)
        else:
            g.simulate(problem, training, d=50, eta_limit=True)
    msg = str(info.value)
    assert msg.startswith("algorithm = 'sgd'") and "no stochastic flow limit" in msg
    assert "\n" not in msg
    # b = 1 is GD, which has one
    assert len(ladder(g.Training(algorithm="sgd", b=1.0, eta=0.2, t_max=1.0))) == 3


def test_ladder_trainings_and_bad_ladders():
    tr = g.Training(algorithm="persistent-sgd", b=0.3, inv_tau=0.6, eta=0.2, t_max=3.0,
                    batch_chain="exact")
    rungs = ladder(tr, 4)
    assert [r.eta for r in rungs] == [0.2, 0.1, 0.05, 0.025]
    assert [r.steps for r in rungs] == [15, 30, 60, 120]
    assert all(r.tau == tr.tau and r.b == tr.b and r.batch_chain == "exact" for r in rungs)
    for bad in (2, 13):
        with pytest.raises(ParameterError, match="^eta_ladder"):
            g.DMFTOptions(eta_ladder=bad)
        with pytest.raises(ParameterError, match="^eta_ladder"):
            g.SimulationOptions(eta_ladder=bad)
    with pytest.raises(ParameterError, match="^eta_limit"):
        g.DMFTOptions(eta_limit=1)
    with pytest.raises(ParameterError, match="^two_time = true is not available with eta_limit"):
        g.SimulationOptions(eta_limit=True, two_time=True)
    with pytest.raises(ParameterError, match="^seed0 = .* is out of range with eta_limit"):
        g.SimulationOptions(eta_limit=True, seeds=10, seed0=2**32 - 5)


def test_flow_limit_params_persist(tmp_path):
    from gmmdmft.io import read_result, write_result
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    training = g.Training(algorithm="persistent-sgd", b=0.3, inv_tau=0.6, eta=0.2, t_max=0.8,
                          batch_chain="exact")
    res = g.simulate(problem, training, d=40, seeds=3, every=2, eta_limit=True)
    assert res.method == "simulate-eta-limit" and np.allclose(res.t, [0, 0.4, 0.8])
    p = res.params
    assert p["eta_limit"] is True and p["eta_ladder"] == 3 and p["eta_ladder_etas"] == [0.2, 0.1, 0.05]
    assert p["training"] == training.params() and p["training"]["batch_chain"] == "exact"
    assert p["seed_list"] == list(range(9))  # rung j: seeds 3j ... 3j + 2
    assert [r["params"]["training"]["eta"] for r in res.stats["rungs"]] == [0.2, 0.1, 0.05]
    assert g.Training.from_mapping(p["training"]) == training
    opts = {k: p[k] for k in g.SimulationOptions.specs()}
    assert g.SimulationOptions.from_mapping(opts).eta_limit is True
    write_result(res, tmp_path / "r.csv")
    back = read_result(tmp_path / "r.csv")
    np.testing.assert_allclose(back.gen_error, res.gen_error, rtol=1e-15)
    np.testing.assert_allclose(back.gen_error_sem, res.gen_error_sem, rtol=1e-15)
    assert back.method == "simulate-eta-limit"
    assert back.params["eta_ladder_etas"] == [0.2, 0.1, 0.05]
    assert back.params["training"]["batch_chain"] == "exact"
    assert back.stats["order_used"] == res.stats["order_used"]
    dp = g.DMFTOptions(eta_limit=True, eta_ladder=4).params()
    assert g.DMFTOptions.from_mapping(dp) == g.DMFTOptions(eta_limit=True, eta_ladder=4)


def test_solve_dmft_routes_eta_limit():
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    res = g.solve_dmft(problem, g.Training(eta=0.2, t_max=0.4), samples=200,
                       response_samples=20, max_iter=3, tol=0.0, eta_limit=True, progress=False)
    assert res.method == "dmft-eta-limit"


def test_flow_limit_refuses_init_and_kernels():
    from gmmdmft.dmft import dmft_flow_limit
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    for kw in (dict(return_kernels=True), dict(init=object())):
        with pytest.raises(ParameterError, match="^eta_limit = true does not take"):
            dmft_flow_limit(g.solve_dmft, problem, g.Training(t_max=0.4), g.DMFTOptions(), **kw)
