"""The open model through the public API: user losses and outputs from modules outside the
package (examples/plugins), their one-line errors, the torch backend's refusal, and the general
mixture (validation, sampling, DMFT classes, test and oracle errors, the w -> -w symmetry)."""

import ast
import math
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft import Mixture, ParameterError, Problem, Training
from gmmdmft.dmft.draws import assign_classes

PLUGINS = Path(__file__).resolve().parent.parent / "examples" / "plugins"
HINGE = "squared_hinge:SquaredHinge"
FOUR = dict(centers=(-1.5, -0.5, 0.5, 1.5), weights=(0.2, 0.3, 0.3, 0.2), labels=(1, -1, -1, 1))
ASYM = dict(centers=(-0.5, 1.5), weights=(0.6, 0.4), labels=(-1, 1))


@pytest.fixture(autouse=True)
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))


def one_line_error(match, fn, *args, **kwargs):
    with pytest.raises(ParameterError, match=match) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value), str(info.value)
    return str(info.value)


def same_curves(a, b, rtol=0.0, gen_atol=0.0):
    """Every observable of two results equal (to rtol); gen_error and its sem to gen_atol
    absolute besides."""
    for name in ("train_loss", "train_accuracy", "m", "norm", "norm_sem"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=0,
                                   err_msg=name)
    for name in ("gen_error", "gen_error_sem"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=gen_atol,
                                   err_msg=name)


# ----------------------------------------------------------------------------- the user loss
def test_user_loss_is_under_20_lines_and_does_not_import_the_package():
    source = (PLUGINS / "squared_hinge.py").read_text()
    assert len(source.splitlines()) < 20
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in getattr(node, "names", [])}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported == {"numpy"}


def test_plugin_loss_builds_and_its_import_path_is_recorded():
    problem = Problem(loss=HINGE)
    assert problem.params()["loss"] == HINGE
    assert problem.key_params()["loss"] == HINGE
    assert problem.model_params()["loss"] == HINGE
    assert type(problem.loss_function).__module__ == "squared_hinge"
    training = Training("gd", eta=0.2, t_max=0.4)
    res = g.simulate(problem, training, d=50, progress=False)
    assert res.params["problem"]["loss"] == HINGE and res.params["model"]["loss"] == HINGE
    # a problem rebuilt from its records has the same loss (the string is what travels)
    assert Problem(**problem.params()).loss_function.value(np.array([0.0])) == 0.5


@pytest.mark.parametrize("algorithm, extra", [("gd", {}), ("sgd", dict(b=0.3))])
def test_plugin_loss_gives_the_builtin_numbers(algorithm, extra):
    """Same seed, same numbers: the plug-in computes ell, ell', ell'' with the same numpy
    expressions as the built-in "squared-hinge" (whose fused ``terms``, used by the lagged DMFT
    sweep, computes gap * gap where the plug-in squares: identical in IEEE arithmetic), so
    the curves must agree to rounding: we allow 1e-12 relative."""
    training = Training(algorithm, eta=0.2, t_max=3.0, R=0.01, **extra)
    plug, built = Problem(loss=HINGE, lam=0.05), Problem(loss="squared-hinge", lam=0.05)
    sim = [g.simulate(p, training, d=200, seeds=2, progress=False) for p in (plug, built)]
    same_curves(*sim, rtol=1e-12)
    kw = dict(samples=600, response_samples=100, max_iter=3, tol=0, seed=7, progress=False)
    dm = [g.solve_dmft(p, training, **kw) for p in (plug, built)]
    same_curves(*dm, rtol=1e-12)
    assert dm[0].params["problem"]["loss"] == HINGE


# ----------------------------------------------------------------------------- bad plug-ins
BAD = '''
import numpy as np

class NoD2:
    def value(self, v): return v * v
    def d1(self, v): return 2 * v

class NaNLoss:
    def value(self, v): return np.log1p(v)      # NaN below v = -1
    def d1(self, v): return 1 / (1 + v)
    def d2(self, v): return -1 / (1 + v) ** 2

class InfLoss:
    def value(self, v): return np.exp(-20 * v)  # overflows at v = -50
    def d1(self, v): return -20 * np.exp(-20 * v)
    def d2(self, v): return 400 * np.exp(-20 * v)

class Shape:
    def value(self, v): return v[:3]
    def d1(self, v): return v
    def d2(self, v): return v

class Raises:
    def value(self, v): raise RuntimeError("boom")
    def d1(self, v): return v
    def d2(self, v): return v

class NoDphi:
    def phi(self, h): return h
    def d2phi(self, h): return 0 * h

class NeedsArgs:
    def __init__(self, a): self.a = a
'''


@pytest.fixture
def bad_module(tmp_path, monkeypatch):
    (tmp_path / "badplugins.py").write_text(textwrap.dedent(BAD))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "badplugins"
    sys.modules.pop("badplugins", None)


@pytest.mark.parametrize("spec, match", [
    ("no_such_module_gmm:Loss", r"loss = 'no_such_module_gmm:Loss': cannot import module"),
    ("badplugins:Missing", r"module 'badplugins' has no attribute 'Missing'"),
    ("badplugins:NoD2", r"has no method d2\(\)"),
    ("badplugins:NaNLoss", r"value\(x\) is not finite at x = -50"),
    ("badplugins:InfLoss", r"value\(x\) is not finite at x = -50"),
    ("badplugins:Shape", r"value\(x\) returned shape \(3,\) for an input of shape \(1004,\)"),
    ("badplugins:Raises", r"value\(x\) failed on a numpy array \(RuntimeError: boom\)"),
    ("badplugins:NeedsArgs", r"cannot create NeedsArgs\(\) without arguments"),
])
def test_bad_plugin_loss_is_one_line_before_any_compute(bad_module, spec, match):
    # the error comes from Problem(...): nothing has been simulated or solved
    msg = one_line_error(match, Problem, loss=spec)
    assert msg.startswith("loss = "), msg


def test_bad_plugin_output_is_one_line(bad_module):
    one_line_error(r"activation = 'badplugins:NoDphi' has no method dphi\(\)", Problem,
                   activation="badplugins:NoDphi")
    one_line_error(r"activation = 'nope_gmm:Phi': cannot import", Problem,
                   activation="nope_gmm:Phi")
    one_line_error(r"loss = 'no-colon' is not one of", Problem, loss="no-colon")


# ----------------------------------------------------------------------------- output plug-ins
def test_plugin_door_gives_the_builtin_door_numbers():
    """outputs:Door is phi = h^2 - 1 without parity or sign_probabilities: its parity is found
    on the probe grid (even, so the three-cluster model is symmetric) and its test error comes
    from the numeric sign-probability path. The dynamics use the same arithmetic as the
    built-in Door(L=1), so every curve but gen_error is equal to 1e-12 relative; gen_error is
    the closed form against bisection to 2^-60 of a grid cell: we allow 1e-9 absolute."""
    plug = Problem(clusters=3, activation="outputs:Door", alpha=3.0, delta=0.05)
    built = Problem(clusters=3, L=1.0, alpha=3.0, delta=0.05)
    assert plug.symmetric and plug.dmft_classes() == built.dmft_classes()
    training = Training("gd", eta=0.2, t_max=3.0, R=1.0)
    sim = [g.simulate(p, training, d=200, seeds=2, progress=False) for p in (plug, built)]
    same_curves(*sim, rtol=1e-12, gen_atol=1e-9)
    kw = dict(samples=600, response_samples=100, max_iter=3, tol=0, d=200, progress=False)
    dm = [g.solve_dmft(p, training, **kw) for p in (plug, built)]
    same_curves(*dm, rtol=1e-12, gen_atol=1e-9)


def test_plugin_tanh_output_dmft_agrees_with_simulation():
    """phi = tanh(h) (outputs:Tanh, odd by the probe grid) through simulate and solve_dmft.

    Two clusters, logistic loss, GD, alpha = 2, Delta = 0.5, lam = 0.1, R = 1 (so that tanh
    saturates from the start), t <= 4. Simulation: d = 1000, 6 seeds; DMFT: 3000 draws, 6
    iterations. We require |gap| <= 4 SEM + 0.004 at every step, SEM the combined standard
    error: 4 SEM keeps the false-alarm rate of ~20 correlated times below 1e-3, and 0.004
    bounds the finite-d bias at d = 1000 (measured: the largest gap is 0.0015, z = 2.1).
    The check has power: the DMFT of the linear output (what a solver that ignored phi would
    give) misses the tanh simulation by up to 0.047 (z = 27), far outside the bound."""
    problem = Problem(activation="outputs:Tanh", lam=0.1)
    assert problem.dmft_classes() == [(1.0, 1, 1.0)]  # odd: c = +1 stands for c = +-1
    training = Training("gd", eta=0.2, t_max=4.0, R=1.0)
    kw = dict(samples=3000, response_samples=300, max_iter=6, tol=0, progress=False)
    sim = g.simulate(problem, training, d=1000, seeds=6, progress=False)
    dm = g.solve_dmft(problem, training, **kw)
    bound = 4 * np.hypot(sim.gen_error_sem, dm.gen_error_sem) + 0.004
    gap = np.abs(sim.gen_error - dm.gen_error)
    assert np.all(gap <= bound), (gap.max(), np.max(gap - bound))
    lin = g.solve_dmft(Problem(lam=0.1), training, **dict(kw, max_iter=3))
    assert np.any(np.abs(sim.gen_error - lin.gen_error) > bound)


def mc_error(mixture, delta, phi, w, n, rng, chunk=10_000):
    """Monte-Carlo test error of sign(phi(w.x/sqrt(d))) on n fresh samples, independent of the
    package's sampler: component k with probability p_k (rng.choice), x = c_k v*/sqrt(d) +
    sqrt(delta) z, v* = (1, ..., 1); a tie phi = 0 (probability 0) counts as an error."""
    d = w.size
    c_all, y_all = np.asarray(mixture["centers"]), np.asarray(mixture["labels"], float)
    wrong = 0
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        idx = rng.choice(len(c_all), size=k, p=np.asarray(mixture["weights"]))
        x = c_all[idx, None] / math.sqrt(d) + math.sqrt(delta) * rng.standard_normal((k, d))
        wrong += int(np.count_nonzero(y_all[idx] * phi(x @ w / math.sqrt(d)) <= 0))
    return wrong / n


@pytest.mark.parametrize("mixture, activation, L, a, b, delta", [
    (FOUR, "outputs:ShiftedDoor", None, 0.9, 0.5, 0.1),   # numeric sign-probability path
    (FOUR, "door", 1.0, 0.8, 0.6, 0.05),                    # closed form, four clusters
    (ASYM, "linear", None, 0.4, 0.8, 0.5),                # closed form, asymmetric mixture
    (ASYM, "outputs:Tanh", None, -0.3, 0.9, 0.5),         # numeric path, asymmetric mixture
])
def test_gen_error_matches_monte_carlo(mixture, activation, L, a, b, delta):
    """A fixed w = a v* + b g at d = 200; the formula uses only m = w.v*/d and C = |w|^2/d.
    The Monte-Carlo error over N = 10^5 fresh samples is Binomial(N, p)/N, standard error
    sqrt(p (1 - p) / N) <= 1.6e-3; we accept 5 standard errors (false alarm 6e-7 per case,
    fixed seeds). The cases are chosen non-trivial (0.05 < p < 0.95, |p - 1/2| > 0.05)."""
    problem = Problem(**mixture, activation=activation, L=L, delta=delta)
    if activation.startswith("outputs:"):
        assert not hasattr(problem.output, "sign_probabilities")
    d, N = 200, 100_000
    rng = np.random.default_rng(2024)
    w = a * np.ones(d) + b * rng.standard_normal(d)
    p = float(problem.gen_error(w.sum() / d, w @ w / d))
    assert 0.05 < p < 0.95 and abs(p - 0.5) > 0.05, p
    p_hat = mc_error(mixture, delta, problem.output.phi, w, N, rng)
    assert abs(p_hat - p) < 5 * math.sqrt(p * (1 - p) / N), (p_hat, p)


def test_numeric_sign_probabilities_match_the_closed_forms():
    """The numeric path (grid of 2001 points over +-12 sd, 60 bisections per sign change)
    against the linear and door closed forms over a range of means and widths: its error is
    the Gaussian mass beyond 12 sd (1e-32) plus the bisection's 2^-60 of a grid cell, so 1e-12
    absolute is a safe bound."""
    from gmmdmft.model.output import numeric_sign_probabilities
    mean = np.linspace(-2.0, 2.0, 41)[:, None]
    sd = np.array([0.05, 0.3, 1.0, 3.0])[None, :]
    for out in (g.Linear(), g.Door(0.8)):
        want = out.sign_probabilities(mean, sd)
        got = numeric_sign_probabilities(out.phi, mean, sd)
        for x, y in zip(got, want):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- torch backend
def test_torch_backend_refuses_a_numpy_plugin_and_runs_the_builtins():
    """A loss written with numpy (np.maximum, .astype) cannot take tensors: one line before any
    compute. The built-in losses run on torch and, float64 throughout on the same draws, agree
    with numpy to rounding (1e-9 relative). An output written with numpy ufuncs only (tanh) may
    run on torch CPU, as numpy hands a tensor back through its __array_wrap__; the solver then
    has checked the values against numpy: it must either refuse in one line or agree."""
    pytest.importorskip("torch")
    training = Training("gd", eta=0.2, t_max=1.0)
    kw = dict(samples=400, response_samples=50, max_iter=3, tol=0, progress=False,
              response_dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy on torch's __array_wrap__
        one_line_error(r"backend = 'torch' cannot run this model \(loss = "
                       r"'squared_hinge:SquaredHinge'", g.solve_dmft, Problem(loss=HINGE),
                       training, backend="torch", **kw)
    for problem in [Problem(loss=loss) for loss in g.LOSSES] + [Problem(clusters=3, L=1.0)]:
        opts = dict(kw, d=500) if problem.symmetric else kw
        tor = g.solve_dmft(problem, training, backend="torch", **opts)
        ref = g.solve_dmft(problem, training, backend="numpy", **opts)
        np.testing.assert_allclose(tor.gen_error, ref.gen_error, rtol=1e-9, atol=1e-12,
                                   err_msg=problem.loss)
    tanh = Problem(activation="outputs:Tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy on torch's __array_wrap__
        try:
            tor = g.solve_dmft(tanh, training, backend="torch", **kw)
        except ParameterError as e:
            assert "\n" not in str(e) and "backend = 'torch' cannot run this model" in str(e)
        else:
            ref = g.solve_dmft(tanh, training, backend="numpy", **kw)
            np.testing.assert_allclose(tor.gen_error, ref.gen_error, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- general mixtures
@pytest.mark.parametrize("kwargs, match", [
    (dict(centers=(-1, 1), weights=(0.5, 0.4), labels=(-1, 1)), r"weights = \(0.5, 0.4\) is out "
     r"of range: must sum to 1 \(they sum to 0.9\)"),
    (dict(centers=(-1, 0, 1), weights=(0.5, 0.5), labels=(-1, 1)), r"centers, weights and labels "
     r"must have the same length \(now 3, 2 and 2\)"),
    (dict(centers=(-1, 1), weights=(0.5, 0.5), labels=(0, 1)), r"labels = \(0, 1\) is out of "
     r"range: each label must be -1 or \+1"),
    (dict(centers=(-1, 1), weights=(0.5, 0.5), labels=(1, 1)), r"both labels -1 and \+1 must occur"),
    (dict(centers=(-1, 1), weights=(1.2, -0.2), labels=(-1, 1)), r"each weight must be > 0"),
    (dict(centers=(1.0,), weights=(1.0,), labels=(1,)), r"at least 2 components"),
])
def test_mixture_validation_is_one_line(kwargs, match):
    one_line_error(match, Mixture, **kwargs)
    one_line_error(match, Problem, **kwargs)  # the same check through the problem


def test_mixture_needs_all_three_lists_and_excludes_a_preset():
    one_line_error(r"labels is missing", Problem, centers=(-1, 1), weights=(0.5, 0.5))
    one_line_error(r"clusters = 2 and centers exclude each other", Problem, clusters=2, **ASYM)


@pytest.mark.parametrize("weights", [(0.2, 0.3, 0.3, 0.2), (0.1234567891, 0.2, 0.3, 0.3765432109)])
def test_sampling_proportions(weights):
    """n = 2e5 samples: each component's count is Binomial(n, p_k); we accept 5 standard errors
    sqrt(n p (1 - p)) (false alarm 6e-7 per component). The first weights go through the exact
    table path, the second (not a fraction with denominator <= 1000) through rng.choice. Each
    sample's label is its component's."""
    mix = Mixture(centers=(-1.5, -0.5, 0.5, 1.5), weights=weights, labels=(1, -1, -1, 1))
    n = 200_000
    c, y = mix.sample(np.random.default_rng(5), n)
    for ck, yk, pk in mix.components:
        sel = c == ck
        assert abs(sel.sum() - n * pk) < 5 * math.sqrt(n * pk * (1 - pk)), (ck, sel.sum() / n, pk)
        assert np.all(y[sel] == yk)


def test_dmft_classes_fold_the_symmetry():
    two = Problem(clusters=2)
    assert two.dmft_classes() == [(1.0, 1, 1.0)]  # odd output, (c, y) -> (-c, -y)
    assert Problem(clusters=3, L=1.0).dmft_classes() == [(0.0, -1, 0.5), (1.0, 1, 0.5)]
    four = Problem(**FOUR, activation="door", L=1.0)
    assert four.dmft_classes() == [(0.5, -1, 0.6), (1.5, 1, 0.4)]
    asym = Problem(**ASYM)
    assert asym.dmft_classes() == [(-0.5, -1, 0.6), (1.5, 1, 0.4)]  # not folded
    # two clusters with the even door: c -> -c flips y, so no fold
    assert Problem(clusters=2, activation="door", L=1.0).dmft_classes() == [(-1.0, -1, 0.5),
                                                                            (1.0, 1, 0.5)]
    # imbalanced pair with y = c: not invariant under (c, y) -> (-c, -y)
    imb = Problem(centers=(-1, 1), weights=(0.75, 0.25), labels=(-1, 1))
    assert len(imb.dmft_classes()) == 2


def test_draws_hold_the_classes_in_exact_proportion():
    """The DMFT draws: counts N p_k (largest remainder) and every prefix in proportion to
    within one draw per class."""
    which = assign_classes(1000, [0.6, 0.4])
    assert np.bincount(which).tolist() == [600, 400]
    for n in (10, 37, 250, 999):
        counts = np.bincount(which[:n], minlength=2)
        assert np.all(np.abs(counts - n * np.array([0.6, 0.4])) <= 1.0), (n, counts)
    from gmmdmft.dmft.draws import Draws
    dr = Draws(Problem(**ASYM), Training("gd", t_max=1.0), 1000, 0.0, np.random.default_rng(0))
    assert (dr.c == -0.5).sum() == 600 and np.all(dr.y[dr.c == -0.5] == -1)
    assert (dr.c == 1.5).sum() == 400 and np.all(dr.y[dr.c == 1.5] == 1)


def test_symmetry_detection():
    assert not Problem(clusters=2).symmetric
    assert Problem(clusters=3, L=1.0).symmetric
    assert Problem(**FOUR, activation="door", L=1.0).symmetric
    assert Problem(**FOUR, activation="outputs:Door").symmetric  # parity found numerically
    assert not Problem(**FOUR, activation="outputs:ShiftedDoor").symmetric
    assert not Problem(**FOUR, activation="outputs:Tanh").symmetric  # odd output
    assert not Problem(**ASYM, activation="door", L=1.0).symmetric
    lopsided = dict(FOUR, weights=(0.2, 0.3, 0.25, 0.25))
    assert not Problem(**lopsided, activation="door", L=1.0).symmetric
    # a symmetric model needs m0 > 0: one line before any compute
    training = Training("gd", t_max=1.0, R=1.0)
    one_line_error(r"m0 is missing: this model is symmetric under w -> -w", g.solve_dmft,
                   Problem(**FOUR, activation="door", L=1.0), training)
    assert g.DMFTOptions(d=4000).initial_m0(Problem(**FOUR, activation="door", L=1.0),
                                             training) == math.sqrt(2 / (math.pi * 4000))


def bayes_error_by_integral(mixture, delta):
    """Bayes error knowing v*: integral of min(sum_{y=+1} p_k N(u; c_k, Delta),
    sum_{y=-1} p_k N(u; c_k, Delta)) du, trapezoid on 2e5 points over the centers +- 12 sd."""
    c, p, y = (np.asarray(mixture[k], float) for k in ("centers", "weights", "labels"))
    sd = math.sqrt(delta)
    u = np.linspace(c.min() - 12 * sd, c.max() + 12 * sd, 200_001)
    dens = p * np.exp(-(u[:, None] - c) ** 2 / (2 * delta)) / math.sqrt(2 * math.pi * delta)
    f = np.minimum(dens[:, y > 0].sum(axis=1), dens[:, y < 0].sum(axis=1))
    return float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(u)))


def threshold_scan(mixture, delta, door: bool):
    """The best rule 'y = s sign(u - theta)' (door: 'y = s sign(|u| - theta)') over a grid of
    20001 thresholds and both signs s."""
    from scipy.special import ndtr
    theta = np.linspace(-4.0, 4.0, 20001) if not door else np.linspace(0.0, 4.0, 20001)
    sd = math.sqrt(delta)
    best = 1.0
    for s in (1, -1):
        err = 0.0
        for ck, yk, pk in zip(mixture["centers"], mixture["labels"], mixture["weights"]):
            above = ndtr((ck - theta) / sd)  # P(u > theta)
            if door:
                above = above + ndtr((-theta - ck) / sd)  # P(|u| > theta)
            wrong_plus = 1 - above if s * yk > 0 else above
            err = err + pk * wrong_plus
        best = min(best, float(np.min(err)))
    return best


@pytest.mark.parametrize("mixture, delta, door", [
    (ASYM, 0.5, False), (FOUR, 0.05, True), (FOUR, 0.3, True),
    (dict(centers=(-1.0, 1.0), weights=(0.5, 0.5), labels=(-1, 1)), 0.5, False),
])
def test_oracle_error_matches_a_threshold_scan(mixture, delta, door):
    """For these mixtures the Bayes rule knowing v* is one threshold on u (or on |u| for the
    symmetric four clusters): a scan over 20001 thresholds (step 4e-4, so its minimum exceeds
    the optimum by O(step^2) ~ 1e-7) must match the oracle error to 1e-6, and the direct
    integral of the smaller weighted density to 1e-9 (trapezoid on a fine grid)."""
    oracle = Mixture(**mixture).oracle_error(delta)
    scan = threshold_scan(mixture, delta, door)
    assert oracle <= scan + 1e-12 and scan - oracle < 1e-6, (oracle, scan)
    assert abs(oracle - bayes_error_by_integral(mixture, delta)) < 1e-9


def test_oracle_error_with_three_boundaries():
    """Alternating labels need three decision boundaries (not a threshold rule): the oracle
    error must equal the integral of the smaller weighted density, and beat every threshold."""
    alt = dict(centers=(-1.5, -0.5, 0.5, 1.5), weights=(0.1, 0.4, 0.3, 0.2), labels=(1, -1, 1, -1))
    oracle = Mixture(**alt).oracle_error(0.1)
    assert len(Mixture(**alt).oracle_regions(0.1)) == 3
    assert abs(oracle - bayes_error_by_integral(alt, 0.1)) < 1e-9
    assert oracle < threshold_scan(alt, 0.1, door=False) - 0.01
