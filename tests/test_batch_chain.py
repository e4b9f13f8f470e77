"""Persistent SGD's per-step batch chains: linear, exact and clipped (docs/flow-limit.md,
"Batch chains")."""

import math
import warnings

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft import ParameterError, ParameterTypeError, Training
from gmmdmft.schedules import BatchChainWarning

from test_training import complete_runs, run_chain

# (chain, b, 1/tau, eta, stationary fraction): linear where it is valid, exact and clipped at
# the paper's Fig. 1 (left) point, where linear is refused (eta(1-b)/(b tau) = 1.08)
CASES = [
    ("linear", 0.3, 0.6, 0.2, 0.3),
    ("exact", 0.1, 0.6, 0.2, 0.1),
    ("clipped", 0.1, 0.6, 0.2, 0.12 / 1.12),
]


def psgd(b, inv_tau, eta, chain, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchChainWarning)
        return Training(algorithm="persistent-sgd", b=b, inv_tau=inv_tau, eta=eta,
                        batch_chain=chain, **kw)


@pytest.mark.parametrize("chain, b, inv_tau, eta, frac", CASES)
def test_stationary_occupation(chain, b, inv_tau, eta, frac):
    # The fraction of n samples in the batch at one step has standard error
    # sqrt(f (1 - f) / n) (f the stationary fraction). Over T steps as well, the two-state chain
    # has autocorrelation r^k with r = 1 - p01 - p10 (negative for the clipped chain here), so
    # the time-and-sample mean has standard error sqrt(f (1 - f)/(n T) (1 + r)/(1 - r)).
    # s(0) ~ Bernoulli(b), which is stationary for linear and exact; the clipped chain relaxes
    # from b to f as r^k, so steps before k0 = 20 are left out (a bias |r|^k0 |b - f| < 1e-15).
    # 5 sigma.
    tr = psgd(b, inv_tau, eta, chain)
    p01, p10 = tr.switch_probabilities
    assert p01 / (p01 + p10) == pytest.approx(frac, rel=1e-12)
    assert tr.schedule.stationary_fraction == pytest.approx(frac, rel=1e-12)
    n, T, k0 = 4000, 1000, 20
    S = run_chain(tr, n, T)
    r = 1 - p01 - p10
    assert abs(r) ** k0 * abs(b - frac) < 1e-15
    assert abs(S[0].mean() - b) < 5 * math.sqrt(b * (1 - b) / n)
    assert abs(S[T].mean() - frac) < 5 * math.sqrt(frac * (1 - frac) / n)
    se_all = math.sqrt(frac * (1 - frac) / (n * (T - k0)) * (1 + r) / (1 - r))
    assert abs(S[k0 + 1:].mean() - frac) < 5 * se_all


@pytest.mark.parametrize("chain, b, inv_tau, eta, frac", CASES)
def test_dwell_times_are_geometric(chain, b, inv_tau, eta, frac):
    # A run in the batch lasts L ~ Geometric(p10) steps, out of it Geometric(p01): the mean of N
    # complete runs has standard error sqrt((1 - p)/(p^2 N)) and the fraction of 1-step runs
    # binomial error sqrt(p (1 - p)/N). Runs are taken if they start in the first half (cut by
    # the end with probability (1 - p)^(T/2) < 1e-12). 5 sigma. The clipped chain at Fig. 1
    # (left) has p10 = 1: every run in the batch lasts exactly one step.
    tr = psgd(b, inv_tau, eta, chain)
    p01, p10 = tr.switch_probabilities
    n, T = 2000, 1000
    ones, zeros = complete_runs(run_chain(tr, n, T, seed=11), start_before=T // 2)
    for lengths, p in ((ones, p10), (zeros, p01)):
        assert (1 - p) ** (T // 2) < 1e-12
        N = lengths.size
        assert N > 5000
        if p == 1.0:
            assert np.all(lengths == 1)
            continue
        assert abs(lengths.mean() - 1 / p) < 5 * math.sqrt((1 - p) / (p * p * N))
        assert abs(np.mean(lengths == 1) - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_exact_probabilities_and_their_order_eta2_distance_to_linear():
    # exact: p01 = b (1 - e^{-r eta}), p10 = (1 - b)(1 - e^{-r eta}), r = 1/(b tau). Taylor:
    # p01 - eta/tau = -b (r eta)^2/2 + O(eta^3) and p10 - eta (1-b)/(b tau) = -(1 - b)(r eta)^2/2
    # + O(eta^3): the difference over eta^2 tends to -b r^2/2 (resp. -(1-b) r^2/2) with a
    # relative O(r eta) correction, checked to 2 r eta relative.
    b, tau = 0.3, 1 / 0.6
    r = 1 / (b * tau)
    for eta in (1e-2, 1e-3, 1e-4):
        lin = psgd(b, 1 / tau, eta, "linear").switch_probabilities
        ex = psgd(b, 1 / tau, eta, "exact").switch_probabilities
        assert ex[0] == pytest.approx(b * -math.expm1(-r * eta), rel=1e-14)
        assert ex[1] == pytest.approx((1 - b) * -math.expm1(-r * eta), rel=1e-14)
        assert ex[0] / (ex[0] + ex[1]) == pytest.approx(b, rel=1e-13)
        for e, l, w in zip(ex, lin, (b, 1 - b)):
            assert (e - l) / eta**2 == pytest.approx(-w * r * r / 2, rel=2 * r * eta)
    # exact is a probability for every eta, however large
    big = psgd(0.1, 0.6, 50.0, "exact", t_max=100.0).switch_probabilities
    assert 0 < big[0] <= 0.1 and 0 < big[1] <= 0.9


def test_clipped_warns_with_the_stationary_fraction_and_equals_linear_when_uncut():
    with pytest.warns(BatchChainWarning) as record:
        tr = Training(algorithm="persistent-sgd", b=0.1, inv_tau=0.6, eta=0.2,
                      batch_chain="clipped")
    msg = str(record[0].message)
    assert issubclass(BatchChainWarning, UserWarning)
    assert "\n" not in msg and "stationary batch fraction" in msg and "0.107143" in msg
    assert tr.switch_probabilities == (pytest.approx(0.12), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing cut: no warning, and the linear chain
        uncut = Training(algorithm="persistent-sgd", b=0.3, inv_tau=0.6, eta=0.2,
                         batch_chain="clipped")
    lin = Training(algorithm="persistent-sgd", b=0.3, inv_tau=0.6, eta=0.2)
    assert uncut.switch_probabilities == lin.switch_probabilities


@pytest.mark.parametrize("kwargs, start, error", [
    (dict(algorithm="persistent-sgd", b=0.1, inv_tau=0.6, eta=0.2), "eta(1-b)/(b tau) = 1.08",
     ParameterError),
    (dict(algorithm="persistent-sgd", b=0.5, tau=0.1, eta=0.2), "eta/tau = 2", ParameterError),
    (dict(algorithm="persistent-sgd", b=0.5, tau=1.0, batch_chain="euler"), "batch_chain",
     ParameterError),
    (dict(algorithm="persistent-sgd", b=0.5, tau=1.0, batch_chain=1), "batch_chain",
     ParameterTypeError),
    (dict(algorithm="gd", batch_chain="exact"), "batch_chain", ParameterError),
    (dict(algorithm="sgd", b=0.5, batch_chain="clipped"), "batch_chain", ParameterError),
])
def test_bad_chain_values_are_one_line_errors(kwargs, start, error):
    with pytest.raises(error) as info:
        Training(**kwargs)
    msg = str(info.value)
    assert msg.startswith(start) and "\n" not in msg
    if "linear" in msg and "out of range" in msg:  # the linear refusal names both alternatives
        assert "batch-chain exact" in msg and "clipped" in msg


@pytest.mark.parametrize("chain", ["linear", "exact", "clipped"])
def test_b_one_draws_no_randomness_and_is_gd(chain):
    tr = psgd(1.0, 0.6, 0.2, chain, t_max=2.0)
    assert not tr.stochastic
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    s = tr.initial_batch(rng, 50)
    assert np.all(tr.next_batch(rng, s) == 1.0) and rng.bit_generator.state == state
    problem = g.Problem(clusters=2, alpha=2.0, delta=0.5)
    gd = g.simulate(problem, Training(t_max=2.0), d=60, seeds=2)
    ps = g.simulate(problem, tr, d=60, seeds=2)
    for name in ("gen_error", "train_loss", "m", "norm"):
        np.testing.assert_array_equal(getattr(ps, name), getattr(gd, name))


def test_chain_is_recorded_in_params_and_read_back():
    tr = psgd(0.1, 0.6, 0.2, "exact", t_max=1.0)
    assert tr.params()["batch_chain"] == "exact" and tr.key_params()["batch_chain"] == "exact"
    back = Training.from_mapping(tr.params())
    assert back == tr and back.switch_probabilities == tr.switch_probabilities
    res = g.simulate(g.Problem(clusters=2, alpha=2.0, delta=0.5), tr, d=40)
    assert res.params["training"]["batch_chain"] == "exact"
    assert Training.from_mapping({"algorithm": "gd"}).batch_chain == "linear"
