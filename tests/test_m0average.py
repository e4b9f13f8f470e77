"""The DMFT averaged over the law of m(0) (docs/finite-size.md): the quadrature rules, the
option's checks, K = 1 against the plain solve, the law at t = 0, and the noise subtraction of
the predicted spread.

Tolerances. The quadrature tests are deterministic (rounding, 1e-12). The statistical ones
compare independent Monte-Carlo estimates whose errors are the solver's standard errors over
its 4-6 independent replicas (t-distributed with 3-5 degrees of freedom, and ~20 strongly
correlated recorded times): 4.5 combined sigma keeps the false-alarm rate below ~1% per test.
"""

import math

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft.dmft import solve_dmft
from gmmdmft.dmft.m0average import (check_m0_rule, combine, m0_average_nodes, node_options,
                                    solve_dmft_m0_average)
from gmmdmft.dmft.m0law import half_normal_cdf, half_normal_rule, m0_rule

THREE = g.Problem(clusters=3, alpha=3, delta=0.05, L=0.7, lam=0.1)
TWO = g.Problem(alpha=2, delta=0.5)
SHORT = g.Training("gd", eta=0.2, t_max=4, R=0.01)
FAST = dict(samples=600, response_samples=40, max_iter=5, tol=0)


@pytest.mark.parametrize("K", [1, 2, 3, 5, 10, 20])
def test_half_normal_rule_is_gauss_legendre_in_the_cdf(K):
    """E[q^j] = 1/(j + 1) for q = P(|u'| <= |u|) uniform: exact for j <= 2K - 1."""
    u, w = half_normal_rule(K)
    assert np.all(u > 0) and np.all(np.diff(u) > 0) and w.sum() == pytest.approx(1, abs=1e-14)
    q = half_normal_cdf(u)
    for j in range(2 * K):
        assert w @ q**j == pytest.approx(1 / (j + 1), abs=1e-12), j
    # one degree more misses by the Gauss-Legendre remainder on [0, 1], (K!)^4 / ((2K + 1)
    # ((2K)!)^2) for q^(2K): the rule is the Gauss rule of q, not an accident
    if K <= 5:
        remainder = math.factorial(K) ** 4 / ((2 * K + 1) * math.factorial(2 * K) ** 2)
        assert 1 / (2 * K + 1) - w @ q ** (2 * K) == pytest.approx(remainder, rel=1e-8)


@pytest.mark.parametrize("K", [1, 2, 3, 6])
def test_signed_rule_is_gauss_hermite(K):
    """E[u^j] of u ~ N(0, 1): 0 for odd j, (j - 1)!! for even j, exact for j <= 2K - 1."""
    u, w = m0_rule(False, K)
    for j in range(2 * K):
        want = 0.0 if j % 2 else float(math.prod(range(j - 1, 0, -2)))
        assert w @ u**j == pytest.approx(want, abs=1e-10 * max(1.0, want)), j


def test_half_normal_rule_converges_on_functions_of_abs_m0():
    """E|u| = sqrt(2/pi), E u^2 = 1: errors of the rule (algebraic, ~K^-2: |u|(q) has a
    log singularity at q = 1) measured 6.7e-3, 1.6e-3, 3.9e-4 for E|u| at K = 5, 10, 20."""
    errs = []
    for K in (5, 10, 20):
        u, w = half_normal_rule(K)
        errs.append((abs(w @ u - math.sqrt(2 / math.pi)), abs(w @ u**2 - 1)))
    assert errs[0][0] < 1e-2 and errs[1][0] < 2e-3 and errs[2][0] < 5e-4
    assert errs[2][1] < 3e-3
    assert errs[0][0] / errs[2][0] > 12  # at least ~K^-1.8


@pytest.mark.parametrize("kwargs, words", [
    (dict(m0_average=True), "m0_average needs d"),
    (dict(m0_average=True, d=1000, m0=0.001), "exclude each other"),
    (dict(m0_nodes=4), "m0_nodes = 4 is not used"),
    (dict(m0_average=True, d=1000, m0_nodes=0), "m0_nodes = 0"),
    (dict(m0_average=True, d=1000, m0_nodes=65), "m0_nodes = 65"),
    (dict(m0_average=1, d=1000), "m0_average = 1 must be true or false"),
])
def test_bad_m0_average_options_are_one_line(kwargs, words):
    with pytest.raises(g.ParameterError, match=words) as info:
        g.DMFTOptions(**kwargs)
    assert "\n" not in str(info.value)


def test_m0_average_rules_that_need_the_model():
    symmetric_r0 = g.Training("gd", eta=0.2, t_max=1, R=0)
    with pytest.raises(g.ParameterError, match="R = 0"):
        solve_dmft_m0_average(THREE, symmetric_r0, d=100)
    with pytest.raises(g.ParameterError, match="d = 3 is too small.*needs d >= 7"):
        solve_dmft_m0_average(THREE, SHORT, d=3)  # K = 10: the largest node is 2.48 sqrt(R/d)
    # a single solve refuses m0_average before any compute (its curves come from many m0)
    with pytest.raises(g.ParameterError, match="m0_average"):
        solve_dmft(THREE, SHORT, d=1000, m0_average=True)
    check_m0_rule(THREE, SHORT, g.DMFTOptions(d=1000, m0_average=True))
    with pytest.raises(g.ParameterError, match="m0 is missing"):
        check_m0_rule(THREE, SHORT, g.DMFTOptions())
    # d is used by the m0 average of any model, and alone only by symmetric ones
    check_m0_rule(TWO, SHORT, g.DMFTOptions(d=1000, m0_average=True))
    with pytest.raises(g.ParameterError, match="d = 1000 is not used"):
        check_m0_rule(TWO, SHORT, g.DMFTOptions(d=1000))


def test_signed_m0():
    """m(0) is signed: allowed in [-sqrt(R), sqrt(R)] where the model has no w -> -w symmetry
    (the curves then depend on the sign), > 0 for a symmetric model."""
    r = solve_dmft(TWO, SHORT, m0=-0.05, **FAST)
    assert r.m[0] == pytest.approx(-0.05, abs=1e-15)
    # anti-aligned start: eps_gen(0) = Phi(-m0 / sqrt(Delta R)) for two clusters at +-1
    assert r.gen_error[0] == pytest.approx(0.5 * math.erfc(-0.05 / math.sqrt(2 * 0.5 * 0.01)))
    with pytest.raises(g.ParameterError, match=r"m0 = -0.05 is out of range for a model symmetric"):
        solve_dmft(THREE, SHORT, m0=-0.05, **FAST)
    with pytest.raises(g.ParameterError, match=r"\[-sqrt\(R\), sqrt\(R\)\]"):
        solve_dmft(TWO, SHORT, m0=-0.2, **FAST)


@pytest.mark.parametrize("problem", [THREE, TWO], ids=["symmetric", "two-clusters"])
def test_one_node_is_the_plain_solve_at_the_rules_node(problem):
    """K = 1: the node of the half-normal rule is the median |u| = 0.6745 (of Gauss-Hermite
    u = 0), the node keeps all draws and the seed: the same numbers as solve_dmft there, and
    no spread."""
    d = 1000
    r = solve_dmft_m0_average(problem, SHORT, d=d, m0_nodes=1, seed=7, progress=False, **FAST)
    m0 = r.extras["m0_nodes"][0]
    want = 0.6744897501960817 * math.sqrt(SHORT.R / d) if problem.symmetric else 0.0
    assert m0 == pytest.approx(want, rel=1e-12, abs=1e-300)
    plain = solve_dmft(problem, SHORT, m0=m0, seed=7, progress=False, **FAST)
    np.testing.assert_array_equal(r.table(), plain.table())
    for name in ("gen_error", "m", "norm"):
        assert np.all(r.extras[name + "_spread"] == 0)
    assert r.method == "dmft-m0-average" and r.params["m0_nodes"] == 1


def test_the_law_at_t0_and_the_draws_per_node():
    """At t = 0 every node's m is its m0 exactly (no noise), so the averaged m and its spread
    are the rule's mean and sd of |m(0)|: E|u| = sqrt(2/pi) and sd(|u|) = sqrt(1 - 2/pi) up to
    the rule's error at K = 10 (measured 1.6e-3 and 6.7e-3); for the signed law (Gauss-Hermite)
    0 and 1 exactly. The draws add up to about N: equal shares for a symmetric model, shares
    by weight otherwise."""
    d, s = 1000, math.sqrt(SHORT.R / 1000)
    r = solve_dmft_m0_average(THREE, SHORT, d=d, progress=False, **dict(FAST, samples=4000))
    assert r.m[0] / s == pytest.approx(math.sqrt(2 / math.pi), abs=2e-3)
    assert r.extras["m_spread"][0] / s == pytest.approx(math.sqrt(1 - 2 / math.pi), abs=8e-3)
    assert r.gen_error[0] == pytest.approx(0.5, abs=1e-15) and r.m_sem[0] == pytest.approx(0, abs=1e-15)
    assert r.stats["node_samples"] == [400] * 10
    r2 = solve_dmft_m0_average(TWO, SHORT, d=d, m0_nodes=3, progress=False, **dict(FAST, samples=6000))
    assert r2.stats["node_samples"] == [1000, 4000, 1000]
    assert r2.m[0] == pytest.approx(0, abs=1e-15)
    assert r2.extras["m_spread"][0] / s == pytest.approx(1, abs=1e-12)


def test_node_options_share_draws_seeds_and_tol():
    o = g.DMFTOptions(d=1000, m0_average=True, samples=10000, response_samples=1000, tol=1e-3)
    m0, w = m0_average_nodes(THREE, SHORT, o)
    per = node_options(o, m0, w)  # shares by weight (the default of node_options)
    assert [p.seed for p in per][0] == 0 and len({p.seed for p in per}) == len(per)
    assert all(not p.m0_average and p.d is None and p.m0 == m for p, m in zip(per, m0))
    # sum_k w_k^2 (tol_k)^2 = tol^2: the average meets tol when every node meets its own
    assert sum(wk**2 * p.tol**2 for wk, p in zip(w, per)) == pytest.approx(1e-6)
    assert all(abs(p.samples - wk * 10000) <= 2 for wk, p in zip(w, per))


def test_spread_subtracts_the_monte_carlo_noise():
    """R = 0 puts every node of a two-cluster model at m0 = 0: the true spread is 0, and the
    nodes differ only by their Monte-Carlo noise. The raw sd across nodes is then of the size
    of the nodes' errors; the noise-subtracted spread S must be consistent with 0: with
    S^2 ~ N(0, sd(S^2)^2) and the error floor sqrt(sd(S^2)/2) at S ~ 0, S / sem_S =
    sqrt(2 |z|), so S <= 3 sem_S is |z| <= 4.5."""
    tr = g.Training("gd", eta=0.2, t_max=4, R=0)
    r = solve_dmft_m0_average(TWO, tr, d=1000, m0_nodes=4, progress=False, **FAST)
    assert np.all(r.extras["m0_nodes"] == 0)
    x = r.extras["node_gen_error"]
    raw = np.sqrt(r.extras["m0_weights"] @ (x - r.gen_error) ** 2)
    k = slice(1, None)  # t = 0 is exact
    assert np.median(raw[k] / r.extras["node_gen_error_sem"][:, k].mean(axis=0)) > 0.3
    spread, sem = r.extras["gen_error_spread"][k], r.extras["gen_error_spread_sem"][k]
    assert np.all(spread <= 3 * sem + 1e-15), (spread, sem)
    assert np.mean(spread) < 0.7 * np.mean(raw[k])


def test_shared_draws_agree_with_full_draws_per_node():
    """The default (a symmetric model's K nodes share the N draws: N/K each) against K
    independent solves with N draws each, through the breaking (t <= 7): two estimates of the
    same average, each with its Monte-Carlo error, within 4.5 combined sigma at every time (no
    bias from the smaller per-node solves beyond their errors)."""
    tr = g.Training("gd", eta=0.2, t_max=7, R=0.01)
    opts = dict(samples=1500, response_samples=90, max_iter=6, tol=0)
    shared = solve_dmft_m0_average(THREE, tr, d=1000, m0_nodes=3, progress=False, **opts)
    full = [solve_dmft(THREE, tr, m0=float(m), progress=False, **dict(opts, seed=100 + k))
            for k, m in enumerate(shared.extras["m0_nodes"])]
    curves, _ = combine(full, shared.extras["m0_weights"])
    diff = shared.gen_error - curves["gen_error"]
    sigma = np.hypot(shared.gen_error_sem, curves["gen_error_sem"])
    assert np.all(np.abs(diff[1:]) <= 4.5 * sigma[1:] + 1e-12), (diff, sigma)
    # the breaking happens inside the window (the test is not of two flat curves)
    assert shared.gen_error[-1] < 0.3 < 0.45 < shared.gen_error[10]


def test_nodes_at_the_solvers_noise_floor_are_flagged():
    """With 128 draws per node the solver's own noise breaks the symmetry as early as the
    smallest nodes' m0 (u = 0.016, 0.085 of sqrt(R/d)) would: their curves stay within 3
    combined sigma of the m0 -> 0 solve (measured: within 1.0-1.4 sigma over three seeds),
    while the largest node (u = 2.48) breaks at t ~ 3 and differs by > 100 sigma."""
    tr = g.Training("gd", eta=0.2, t_max=7, R=0.01)
    r = solve_dmft_m0_average(THREE, tr, d=1000, samples=1280, response_samples=128, max_iter=5,
                              tol=0, progress=False)
    assert 0 in r.stats["floor_nodes"] and 9 not in r.stats["floor_nodes"]
    assert "noise floor" in r.message and r.status == 0
    assert r.extras["floor_gen_error"].shape == r.gen_error.shape
    # a model without the w -> -w symmetry has no floor (m0 = 0 is not special there)
    two = solve_dmft_m0_average(TWO, SHORT, d=1000, progress=False, **FAST)
    assert "floor_gen_error" not in two.extras and two.stats["floor_nodes"] == []
