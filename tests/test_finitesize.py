"""The finite-size fit x(t; d) = x_inf(t) + a(t)/d (docs/finite-size.md, "The 1/d fit").

Calibration on synthetic data with known errors: R = 4000 replicas of the four means at
d = 250, 500, 1000, 2000 (each replica a column, as the recorded times are). For an unbiased
fit with honest errors the pulls (estimate - truth)/error are N(0, 1) and chi^2 follows
chi^2 with 2 degrees of freedom; the sample mean of the pulls has sd 1/sqrt(R) = 0.016, their
sample sd an sd of ~1/sqrt(2R) = 0.011, the mean chi^2 an sd of sqrt(2 * 2 / R) = 0.032 and
the fraction of p < 0.05 an sd of sqrt(0.05 * 0.95 / R) = 0.0034: each is asserted at 4 sd.
"""

import math

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft.finitesize import (finite_size, fit_finite_size, fit_inverse_d,
                                simulation_options)

DS = (250, 500, 1000, 2000)
REPLICAS = 4000


def test_fit_recovers_a_known_law_with_calibrated_errors():
    rng = np.random.default_rng(1)
    inf, a = 0.21, 13.0
    sems = np.array([0.02, 0.012, 0.008, 0.005])[:, None] * np.ones((1, REPLICAS))
    means = inf + a / np.array(DS, float)[:, None] + sems * rng.standard_normal(sems.shape)
    f = fit_inverse_d(DS, means, sems)
    assert f["dof"] == 2
    for name, truth in (("inf", inf), ("a", a)):
        pull = (f[name] - truth) / f[name + "_sem"]
        assert abs(pull.mean()) < 4 / math.sqrt(REPLICAS), name
        assert abs(pull.std() - 1) < 4 / math.sqrt(2 * REPLICAS), name
    # the covariance: the pull of a combination inf + a/d* uses var + 2 cov/d* + var_a/d*^2
    dstar = 700.0
    comb = f["inf"] + f["a"] / dstar
    sd = np.sqrt(f["inf_sem"] ** 2 + 2 * f["cov"] / dstar + f["a_sem"] ** 2 / dstar**2)
    assert abs(((comb - inf - a / dstar) / sd).std() - 1) < 4 / math.sqrt(2 * REPLICAS)
    assert abs(f["chi2"].mean() - 2) < 4 * math.sqrt(4 / REPLICAS)
    from scipy.stats import chi2
    frac = np.mean(chi2.sf(f["chi2"], 2) < 0.05)
    assert abs(frac - 0.05) < 4 * math.sqrt(0.05 * 0.95 / REPLICAS)


def test_fit_is_exact_on_exact_data_and_flags_a_wrong_law():
    x = 0.3 + 5.0 / np.array(DS, float)
    f = fit_inverse_d(DS, x[:, None], np.full((4, 1), 1e-3))
    assert f["inf"][0] == pytest.approx(0.3, abs=1e-12) and f["a"][0] == pytest.approx(5, abs=1e-9)
    assert f["chi2"][0] == pytest.approx(0, abs=1e-12)
    # a 1/sqrt(d) law is not 1/d: chi^2 = 69 here, P(chi^2_2 > 30) = 3e-7
    y = 0.3 + 2.0 / np.sqrt(np.array(DS, float))
    assert fit_inverse_d(DS, y[:, None], np.full((4, 1), 1e-3))["chi2"][0] > 30
    # two d: no degrees of freedom left
    two = fit_inverse_d(DS[:2], x[:2, None], np.full((2, 1), 1e-3))
    assert two["dof"] == 0 and np.isnan(two["chi2"][0])
    assert two["inf"][0] == pytest.approx(0.3, abs=1e-12)


@pytest.mark.parametrize("ds, seeds, words", [
    ((500,), 10, "at least 2 distinct"),
    ((500, 500), 10, "at least 2 distinct"),
    ((500, 1000), 1, "seeds = 1"),
    ((500, 1000), (10, 1), "seeds = 1"),
    ((500, 1000), (10, 10, 10), "one per d"),
    (500, 10, "must be a list"),
    ((500, 0), 10, "ds = 0"),
])
def test_bad_inputs_are_one_line(ds, seeds, words):
    with pytest.raises(g.ParameterError, match=words) as info:
        finite_size(g.Problem(), g.Training(t_max=1), ds=ds, seeds=seeds)
    assert "\n" not in str(info.value)


def test_per_d_options_use_disjoint_seeds():
    opts = simulation_options((100, 200, 400), (3, 4, 5), g.SimulationOptions(seed0=7, every=2))
    assert [(o.d, o.seeds, o.seed0, o.every) for o in opts] == [
        (100, 3, 7, 2), (200, 4, 10, 2), (400, 5, 14, 2)]


def test_small_run_end_to_end():
    """Real simulations (tiny d) through the fit; the DMFT comparison aligns the times."""
    p, tr = g.Problem(alpha=2, delta=0.5), g.Training("gd", eta=0.2, t_max=1, R=0.01)
    dm = g.DMFTOptions(samples=400, response_samples=20, max_iter=4, tol=0)
    r = finite_size(p, tr, ds=(40, 80, 160), seeds=4, options=g.SimulationOptions(every=2),
                    dmft=dm, progress=False)
    assert r.ds == (40, 80, 160) and len(r.simulations) == 3 and r.t.tolist() == [0.0, 0.4, 0.8, 1.0]
    seeds = [s.params["seed_list"] for s in r.simulations]
    assert seeds == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    gap, sigma, z = r.gap()
    k = np.searchsorted(r.dmft.t, r.t)
    np.testing.assert_allclose(gap, r.fits["gen_error"].inf - r.dmft.gen_error[k])
    assert np.all(sigma > 0) and r.fits["norm"].dof == 1
    again = fit_finite_size(p, tr, r.simulations, r.dmft)
    np.testing.assert_array_equal(again.fits["m"].inf, r.fits["m"].inf)


def test_drawing_returns_the_axes(tmp_path):
    from gmmdmft.plot.finitesize import draw_finite_size
    p, tr = g.Problem(alpha=2, delta=0.5), g.Training("gd", eta=0.2, t_max=1, R=0.01)
    r = finite_size(p, tr, ds=(40, 80), seeds=3, progress=False)
    axes = draw_finite_size(r, times=[0.4, 1.0])
    assert len(axes) == 2 and len(axes[1].lines) >= 2
    axes[0].figure.savefig(tmp_path / "fs.png")
    assert (tmp_path / "fs.png").stat().st_size > 1000
