"""Training algorithms: the batch-indicator processes (docs/theory.md "Algorithms") and parameter checks."""

import math

import numpy as np
import pytest

from gmmdmft import ParameterError, Training


def run_chain(training, n, steps, seed=7):
    """Batch indicators s(k) for k = 0..steps of n samples, as the simulator draws them."""
    rng = np.random.default_rng(seed)
    S = np.empty((steps + 1, n))
    S[0] = training.initial_batch(rng, n)
    for k in range(steps):
        S[k + 1] = training.next_batch(rng, S[k])
    return S


def complete_runs(S, start_before):
    """Lengths (in steps) of the runs of 1s and of 0s that begin at a switch at step k with
    1 <= k <= start_before and end with the next switch (runs already going on at k = 0 are
    left out: their start is unknown)."""
    ones, zeros = [], []
    for col in S.T:
        switches = np.flatnonzero(np.diff(col) != 0) + 1  # steps at which a new run begins
        starts, lengths = switches[:-1], np.diff(switches)
        keep = starts <= start_before
        state = col[starts[keep]]
        ones.append(lengths[keep][state == 1])
        zeros.append(lengths[keep][state == 0])
    return np.concatenate(ones), np.concatenate(zeros)


def test_persistent_sgd_batch_fraction_stays_at_b():
    # s(0) ~ Bernoulli(b) is the stationary law, so P(s_mu(k) = 1) = b at every step k.
    # At a fixed step the fraction over n independent samples has standard error
    # sqrt(b (1 - b) / n). Averaged over T steps as well, successive steps are correlated with
    # lag-1 coefficient r = 1 - p01 - p10 (a two-state chain), so the standard error of the
    # time-and-sample average is sqrt(b (1 - b) / (n T) * (1 + r) / (1 - r)). Accept 5 sigma.
    b, tau, eta = 0.3, 1 / 0.6, 0.2  # the paper's Fig. 1 setting
    tr = Training(algorithm="persistent-sgd", b=b, tau=tau, eta=eta)
    n, T = 4000, 1000
    S = run_chain(tr, n, T)
    p01, p10 = tr.switch_probabilities
    r = 1 - p01 - p10
    se_step = math.sqrt(b * (1 - b) / n)
    for k in (0, T // 2, T):
        assert abs(S[k].mean() - b) < 5 * se_step
    se_all = math.sqrt(b * (1 - b) / (n * T) * (1 + r) / (1 - r))
    assert abs(S[1:].mean() - b) < 5 * se_all


def test_persistent_sgd_dwell_times():
    # Per step a sample in the batch leaves it with probability p10 = eta (1 - b) / (b tau), and
    # one out of it enters with p01 = eta / tau (docs/theory.md "Algorithms"). A complete run in the batch therefore
    # lasts L steps with L ~ Geometric(p10): mean 1/p10 steps = eta/p10 = b tau / (1 - b) time
    # units, variance (1 - p10) / p10^2; out of the batch: 1/p01 steps = tau time units.
    # (The wording "dwell time in the batch matches b tau" contradicts its own per-step
    # probabilities; b tau / (1 - b) is what those probabilities give, and is what we test.)
    # Runs are taken only if they start in the first half of a chain of T steps, so that a run is
    # cut by the end with probability <= (1 - p)^(T/2) < 1e-20: no length bias. The sample mean of
    # N geometric lengths has standard error sqrt((1 - p) / (p^2 N)); accept 5 sigma.
    b, tau, eta = 0.3, 1 / 0.6, 0.2
    tr = Training(algorithm="persistent-sgd", b=b, tau=tau, eta=eta)
    p01, p10 = tr.switch_probabilities
    assert p01 == pytest.approx(eta / tau) and p10 == pytest.approx(eta * (1 - b) / (b * tau))
    n, T = 2000, 1000
    S = run_chain(tr, n, T, seed=11)
    ones, zeros = complete_runs(S, start_before=T // 2)
    for lengths, p, time_units in ((ones, p10, b * tau / (1 - b)), (zeros, p01, tau)):
        assert (1 - p) ** (T // 2) < 1e-20
        N = lengths.size
        assert N > 10_000
        se = math.sqrt((1 - p) / (p * p * N))
        assert abs(lengths.mean() - 1 / p) < 5 * se, (lengths.mean(), 1 / p, se)
        assert eta / p == pytest.approx(time_units, rel=1e-12)
        # geometric shape: P(L = 1) = p, binomial standard error sqrt(p (1 - p) / N)
        assert abs(np.mean(lengths == 1) - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_sgd_batches_are_independent_bernoulli():
    # s_mu(k) i.i.d. Bernoulli(b): fraction b with standard error sqrt(b(1-b)/(nT)), and the
    # lag-1 agreement P(s(k+1) = s(k)) = b^2 + (1-b)^2 with standard error sqrt(q(1-q)/(nT)).
    b = 0.3
    tr = Training(algorithm="sgd", b=b)
    n, T = 2000, 200
    S = run_chain(tr, n, T)
    se = math.sqrt(b * (1 - b) / (n * (T + 1)))
    assert abs(S.mean() - b) < 5 * se
    q = b * b + (1 - b) ** 2
    same = np.mean(S[1:] == S[:-1])
    assert abs(same - q) < 5 * math.sqrt(q * (1 - q) / (n * T))


def test_gd_and_b_one_are_deterministic():
    rng = np.random.default_rng(0)
    for tr in (Training(), Training(algorithm="sgd", b=1.0),
               Training(algorithm="persistent-sgd", b=1.0, tau=1.0)):
        assert not tr.stochastic
        assert np.all(tr.initial_batch(rng, 100) == 1.0)
    assert Training(algorithm="sgd").b == 1.0


def test_steps_and_times():
    tr = Training(eta=0.2, t_max=10.0)
    assert tr.steps == 50
    np.testing.assert_allclose(tr.times, 0.2 * np.arange(51))


@pytest.mark.parametrize("kwargs, name", [
    (dict(algorithm="adam"), "algorithm"),
    (dict(eta=0.0), "eta"), (dict(eta=-0.1), "eta"), (dict(eta=math.nan), "eta"),
    (dict(eta=0.2, t_max=0.1), "t_max"), (dict(t_max=math.inf), "t_max"),
    (dict(R=-0.01), "R"), (dict(R=math.nan), "R"),
    (dict(algorithm="sgd", b=0.0), "b"), (dict(algorithm="sgd", b=-0.5), "b"),
    (dict(algorithm="sgd", b=1.5), "b"), (dict(algorithm="sgd", b=math.nan), "b"),
    (dict(b=0.5), "b"),  # gd is full batch
    (dict(algorithm="persistent-sgd", b=0.5), "tau"),
    (dict(algorithm="persistent-sgd", b=0.5, tau=0.0), "tau"),
    (dict(algorithm="persistent-sgd", b=0.5, tau=-1.0), "tau"),
    (dict(algorithm="persistent-sgd", b=0.5, tau=0.1, eta=0.2), "eta/tau"),
    (dict(algorithm="persistent-sgd", b=0.1, tau=1.0, eta=0.2), "eta(1-b)/(b tau)"),
    (dict(algorithm="sgd", b=0.5, tau=1.0), "tau"),
])
def test_bad_training_parameters(kwargs, name):
    with pytest.raises(ParameterError) as info:
        Training(**kwargs)
    msg = str(info.value)
    assert msg.startswith(name) and "\n" not in msg


def test_persistent_sgd_boundary_probabilities_are_allowed():
    # eta/tau = 1 and eta(1-b)/(b tau) = 1 are probabilities, hence allowed
    Training(algorithm="persistent-sgd", b=0.5, tau=0.2, eta=0.2)
