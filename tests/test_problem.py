"""Problem definition: generalisation-error formula, closed-form references, loss derivatives."""

import math

import numpy as np
import pytest

from gmmdmft import (
    ParameterError, Problem, bayes_optimal_error, oracle_error, oracle_threshold, reference_error,
)
from gmmdmft.model import threshold_error


def mc_error(problem, w, n, rng, chunk=10_000):
    """Monte-Carlo test error of w on n fresh samples drawn from the mixture in d dimensions.

    Independent of the package's sampler: x = c v*/sqrt(d) + sqrt(delta) z, v* = (1, ..., 1),
    c = +-1 (two clusters, y = c) or c in {0, 0, -1, +1} (three clusters, y = -1 iff c = 0);
    the prediction is sign(phi(w.x/sqrt(d))).
    """
    d = w.size
    wrong = 0
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        if problem.clusters == 2:
            c = rng.choice([-1.0, 1.0], size=k)
            y = c
        else:
            c = rng.choice([0.0, 0.0, -1.0, 1.0], size=k)
            y = np.where(c == 0.0, -1.0, 1.0)
        x = c[:, None] / math.sqrt(d) + math.sqrt(problem.delta) * rng.standard_normal((k, d))
        h = x @ w / math.sqrt(d)
        phi = h if problem.clusters == 2 else h**2 - problem.L**2
        wrong += int(np.count_nonzero(y * phi <= 0))
    return wrong / n


@pytest.mark.parametrize("problem, a, b", [
    (Problem(clusters=2, delta=0.5), 0.5, 1.0),
    (Problem(clusters=2, delta=0.3), -0.3, 0.7),
    (Problem(clusters=3, delta=0.3, L=1.0), 1.0, 0.5),
    (Problem(clusters=3, delta=0.5, L=0.7), -0.6, 0.9),
])
def test_gen_error_formula_matches_monte_carlo(problem, a, b):
    # A fixed w = a v* + b g at d = 200; the formula uses only m = w.v*/d and C = |w|^2/d.
    # The Monte-Carlo error p_hat over N independent fresh samples is Binomial(N, p)/N with
    # standard error sqrt(p (1 - p) / N); we accept |p_hat - p| < 5 standard errors
    # (false-alarm probability 6e-7 per case; the seeds are fixed, so the test is deterministic).
    d, N = 200, 100_000
    rng = np.random.default_rng(12345)
    w = a * np.ones(d) + b * rng.standard_normal(d)
    m, C = w.sum() / d, w @ w / d
    p = float(problem.gen_error(m, C))
    assert 0.05 < p < 0.95 and abs(p - 0.5) > 0.05  # non-trivial, so the check has power
    p_hat = mc_error(problem, w, N, rng)
    se = math.sqrt(p * (1 - p) / N)
    assert abs(p_hat - p) < 5 * se, (p_hat, p, se)


def test_gen_error_at_zero_weights_is_one_half():
    # w = 0 (C = 0, m = 0): the two-cluster prediction sign(0) is a coin flip; the three-cluster
    # door predicts y = -1 everywhere, wrong on the half of the samples with y = +1.
    assert Problem(clusters=2).gen_error(0.0, 0.0) == 0.5
    assert Problem(clusters=3, L=1.0).gen_error(0.0, 0.0) == 0.5


def test_bayes_optimal_error_value():
    # docs/theory.md "Observables" / paper: eps_BO = erfc(sqrt(alpha / (2 delta (alpha + delta)))) / 2 = 0.10295
    assert abs(bayes_optimal_error(2.0, 0.5) - 0.10295) < 1e-5
    assert reference_error(Problem(alpha=2.0, delta=0.5)) == bayes_optimal_error(2.0, 0.5)


@pytest.mark.parametrize("delta", [0.05, 0.2, 0.5, 1.0, 3.0])
def test_oracle_threshold_beats_every_other_threshold(delta):
    # Deterministic: on a grid of spacing h = 1e-4 no threshold has a lower error than u*
    # (up to float rounding, 1e-14), and the grid's best point is within one spacing of u*.
    u_star = oracle_threshold(delta)
    best = oracle_error(delta)
    grid = np.arange(0.0, 5.0, 1e-4)
    errs = np.array([threshold_error(u, delta) for u in grid])
    assert errs.min() >= best - 1e-14
    assert abs(grid[errs.argmin()] - u_star) <= 1e-4 + 1e-12
    # the general mixture's oracle (roots of the likelihood ratio) is the closed form to rounding
    assert reference_error(Problem(clusters=3, delta=delta, L=1.0)) == pytest.approx(best, rel=1e-12)
    # and against the closed form u* = delta arccosh(exp(1 / (2 delta)))
    assert u_star == pytest.approx(delta * math.acosh(math.exp(1 / (2 * delta))), rel=1e-12)


PROBLEMS = [Problem(clusters=2, loss="logistic"), Problem(clusters=2, loss="square"),
            Problem(clusters=3, L=1.0, loss="logistic"), Problem(clusters=3, L=1.0, loss="square")]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p.clusters}-{p.loss}")
def test_loss_is_finite_for_large_margins(problem):
    # |y phi(h)| up to 1e4: h up to 1e4 (linear) or sqrt(1e4 + L^2) (door); no overflow, no NaN
    hmax = 1e4 if problem.clusters == 2 else math.sqrt(1e4 + problem.L**2)
    h = np.concatenate([np.linspace(-hmax, hmax, 2001), [0.0, hmax, -hmax]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for y in (-1.0, 1.0):
            vals = [problem.Lambda(y, h), problem.dLambda(y, h), problem.d2Lambda(y, h),
                    *problem.derivatives(y, h)]
            for v in vals:
                assert np.all(np.isfinite(v))
            d1, d2 = problem.derivatives(y, h)
            # same formulas, evaluated in a different order: equal up to rounding
            np.testing.assert_allclose(d1, problem.dLambda(y, h), rtol=1e-13, atol=0)
            np.testing.assert_allclose(d2, problem.d2Lambda(y, h), rtol=1e-13, atol=1e-300)
    if problem.loss == "logistic" and problem.clusters == 2:
        # ell(v) = ln(1 + e^-v): ell(-1e4) = 1e4, ell(1e4) = 0; ell' -> -1, 0; ell'' -> 0
        assert problem.Lambda(1.0, -1e4) == pytest.approx(1e4, rel=1e-12)
        assert problem.Lambda(1.0, 1e4) == pytest.approx(0.0, abs=1e-300)
        assert problem.dLambda(1.0, -1e4) == pytest.approx(-1.0, rel=1e-12)
        assert problem.d2Lambda(1.0, -1e4) == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p.clusters}-{p.loss}")
def test_loss_derivatives_match_finite_differences(problem):
    # Central differences with step e: truncation error e^2 |f'''| / 6 and rounding error
    # ~ 1e-16 |f| / e. With e = 1e-5 and |h| <= 3 (|f'''| <= ~1e3 for the door) both are
    # below 1e-7, far inside the tolerance 1e-6 (relative) + 1e-6 (absolute).
    h = np.linspace(-3.0, 3.0, 121)
    e = 1e-5
    for y in (-1.0, 1.0):
        fd1 = (problem.Lambda(y, h + e) - problem.Lambda(y, h - e)) / (2 * e)
        fd2 = (problem.dLambda(y, h + e) - problem.dLambda(y, h - e)) / (2 * e)
        np.testing.assert_allclose(problem.dLambda(y, h), fd1, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(problem.d2Lambda(y, h), fd2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha=0.0), "alpha"), (dict(alpha=-1.0), "alpha"), (dict(alpha=math.nan), "alpha"),
    (dict(alpha=math.inf), "alpha"), (dict(delta=0.0), "delta"), (dict(delta=-0.5), "delta"),
    (dict(lam=-0.1), "lam"), (dict(lam=math.nan), "lam"), (dict(clusters=4), "clusters"),
    (dict(clusters=2.5), "clusters"), (dict(loss="hinge"), "loss"), (dict(clusters=3), "L"),
    (dict(clusters=3, L=0.0), "L"), (dict(clusters=3, L=-1.0), "L"), (dict(L=1.0), "L"),
    (dict(alpha="2"), "alpha"), (dict(alpha=True), "alpha"),
])
def test_bad_problem_parameters(kwargs, name):
    with pytest.raises(ParameterError) as info:
        Problem(**kwargs)
    msg = str(info.value)
    assert msg.startswith(name) and "\n" not in msg


def test_bad_reference_parameters():
    for args in [(0.0, 0.5), (2.0, 0.0), (math.nan, 0.5), (2.0, math.inf)]:
        with pytest.raises(ParameterError):
            bayes_optimal_error(*args)
    with pytest.raises(ParameterError):
        oracle_threshold(-1.0)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p.clusters}-{p.loss}")
def test_fused_terms_match_the_separate_functions(problem):
    """Problem.terms (one sigmoid for the logistic loss, used by the fast DMFT iteration) agrees
    with Lambda, Lambda', Lambda'' to relative 1e-13 or absolute 1e-15: -ln p and p - 1 lose the
    relative accuracy of values below ~1e-16 (large margins), which no average over draws sees."""
    hmax = 1e3 if problem.clusters == 2 else math.sqrt(1e3 + problem.L**2)
    h = np.linspace(-hmax, hmax, 4001)
    for y in (-1.0, 1.0):
        value, d1, d2 = problem.terms(y, h)
        scale = np.maximum(1.0, np.abs(h)) ** (1 if problem.clusters == 2 else 2)
        np.testing.assert_allclose(value, problem.Lambda(y, h), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(d1, problem.dLambda(y, h), rtol=1e-13, atol=1e-15 * scale.max())
        np.testing.assert_allclose(d2, problem.d2Lambda(y, h), rtol=1e-12, atol=1e-15 * scale.max())


class _TanhOutput:
    """phi = tanh without sign_probabilities (optional in the output contract)."""

    def phi(self, h):
        return np.tanh(h)

    def dphi(self, h):
        return 1.0 - np.tanh(h) ** 2

    def d2phi(self, h):
        return -2.0 * np.tanh(h) * (1.0 - np.tanh(h) ** 2)


def test_output_without_sign_probabilities_gets_the_numeric_ones():
    """sign(tanh h) = sign(h): the test error must equal the linear output's closed form; the
    numeric route (grid of 2001 points and bisection) is accurate far below 1e-9 here."""
    m, C = np.array([0.0, 0.3, 1.0]), np.array([0.01, 0.5, 2.0])
    tanh, linear = Problem(activation=_TanhOutput()), Problem()
    np.testing.assert_allclose(tanh.gen_error(m, C), linear.gen_error(m, C), rtol=0, atol=1e-9)
