"""Results you can hold: read_result -> Result, the .npz file, to_pandas, plot, C and R."""

import json
import sys

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft.io import NPZ_FORMAT, read_result, write_result
from gmmdmft.result import CSV_COLUMNS, OBSERVABLES, TIDY_COLUMNS

PROBLEM = g.Problem(alpha=2.0, delta=0.5)
TRAINING = g.Training("gd", eta=0.2, t_max=1.0, R=0.01)


@pytest.fixture(scope="module")
def sim():
    return g.simulate(PROBLEM, TRAINING, d=40, seeds=3, two_time=True, progress=False)


@pytest.fixture(scope="module")
def dmft():
    return g.solve_dmft(PROBLEM, TRAINING, samples=400, response_samples=40, max_iter=5, tol=0,
                        return_kernels=True, progress=False)


def test_npz_round_trip_is_exact_with_extras_and_metadata(sim, dmft, tmp_path):
    for r in (sim, dmft):
        path, sidecar = write_result(r, tmp_path / f"{r.method}.npz", command="a command")
        assert sidecar is None and path.suffix == ".npz"
        back = read_result(path)
        assert isinstance(back, g.Result)
        for c in CSV_COLUMNS:
            assert np.array_equal(getattr(back, c), getattr(r, c), equal_nan=True), c
        assert sorted(back.extras) == sorted(r.extras)
        for k, v in r.extras.items():
            assert np.array_equal(back.extras[k], v, equal_nan=True), k
        assert (back.method, back.status, back.message) == (r.method, r.status, r.message)
        assert back.params == json.loads(json.dumps(r.params))
        assert back.meta["format"] == NPZ_FORMAT and back.meta["version"] == g.__version__
        assert back.meta["command"] == "a command" and back.meta["extras"] == sorted(r.extras)
    # numpy alone reads it, without pickles
    with np.load(tmp_path / "dmft.npz", allow_pickle=False) as f:
        assert json.loads(str(f["meta"]))["method"] == "dmft"
        assert f["C"].shape == (TRAINING.steps + 1, TRAINING.steps + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dmft.npz", "simulate.npz"]


def test_csv_reads_back_as_a_result(sim, tmp_path):
    write_result(sim, tmp_path / "r.csv", command="gmmdmft simulate", meta={"cache_key": "k"})
    back = read_result(tmp_path / "r.csv")
    assert isinstance(back, g.Result) and back.method == "simulate" and back.status == 0
    assert back.params["d"] == 40 and back.params["seed_list"] == [0, 1, 2]
    assert back.meta["cache_key"] == "k" and back.meta["command"] == "gmmdmft simulate"
    assert back.extras == {} and back.C is None  # a CSV holds the curves only
    assert back.problem() == PROBLEM
    (tmp_path / "r.json").unlink()
    alone = read_result(tmp_path / "r.csv")
    assert alone.meta is None and alone.status == -1 and "without its JSON sidecar" in alone.message
    assert np.array_equal(alone.gen_error, sim.gen_error)


def test_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not a gmmdmft result"):
        read_result(tmp_path / "x.npz")


def test_to_pandas_is_a_tidy_table(sim):
    pd = pytest.importorskip("pandas")
    df = sim.to_pandas()
    assert tuple(df.columns) == TIDY_COLUMNS
    assert len(df) == len(OBSERVABLES) * len(sim.t)
    assert set(df["method"]) == {"simulate"}
    for o in OBSERVABLES:
        rows = df[df["observable"] == o]
        np.testing.assert_array_equal(rows["t"], sim.t)
        np.testing.assert_array_equal(rows["value"], getattr(sim, o))
        np.testing.assert_array_equal(rows["sem"], getattr(sim, o + "_sem"))
    wide = df.pivot(index="t", columns="observable", values="value")
    np.testing.assert_array_equal(wide["norm"].to_numpy(), sim.norm)
    assert isinstance(df, pd.DataFrame)


def test_to_pandas_without_pandas_says_how_to_install(sim, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes "import pandas" fail
    with pytest.raises(ImportError, match=r"pip install 'gmmdmft\[pandas\]'"):
        sim.to_pandas()


def test_plot_draws_the_curve_its_band_and_the_reference(sim, dmft):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = dmft.plot()
    sim.plot(ax=ax, label="d = 40")
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_array_equal(lines["dmft"].get_ydata(), dmft.gen_error)
    np.testing.assert_array_equal(lines["d = 40"].get_xdata(), sim.t)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels.count("Bayes-optimal") == 1  # drawn once for the two results of one problem
    ref = lines["Bayes-optimal"].get_ydata()
    assert ref[0] == pytest.approx(g.bayes_optimal_error(2.0, 0.5), rel=1e-12)
    assert len(ax.collections) == 2  # one error band per curve
    band = ax.collections[1].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(np.max(sim.gen_error + sim.gen_error_sem), rel=1e-12)
    ax2 = sim.plot(observable="norm")
    assert ax2 is not ax and [ln.get_label() for ln in ax2.get_lines()] == ["simulate"]
    with pytest.raises(g.ParameterError, match="observable = 'gen'"):
        sim.plot(observable="gen")
    plt.close("all")


def test_three_clusters_plot_the_oracle_line():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    p = g.Problem(clusters=3, L=0.7, delta=0.05)
    r = g.simulate(p, g.Training(t_max=0.4, R=1.0), d=30, seeds=2, progress=False)
    ax = r.plot()
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert lines["oracle"].get_ydata()[0] == pytest.approx(g.oracle_error(0.05), rel=1e-12)
    plt.close("all")


def test_dmft_two_time_conventions(dmft):
    """R[k, j]: response at t_k to a kick at t_j: 1 one step after the kick, 0 before it."""
    T = TRAINING.steps
    C, R = dmft.C, dmft.R
    assert C.shape == (T + 1, T + 1) and R.shape == (T + 1, T)
    np.testing.assert_allclose(C, C.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(C), dmft.norm, rtol=1e-13)  # averaged like the curves
    np.testing.assert_allclose(np.diag(dmft.C_sem), dmft.norm_sem, rtol=1e-10, atol=1e-16)
    j = np.arange(T)
    np.testing.assert_allclose(R[j + 1, j], 1.0, rtol=0, atol=1e-12)
    assert np.all(R[np.triu_indices(T)] == 0.0)  # k <= j
    assert C[0, 0] == pytest.approx(TRAINING.R, rel=1e-12)  # C(0, 0) = R exactly (m0 = 0)
    # three iterations after the burn-in: finite errors; zero where R is fixed (R[j+1, j])
    assert np.all(np.isfinite(dmft.C_sem)) and np.all(dmft.R_sem[j + 1, j] == 0)


def test_simulation_two_time_is_consistent_and_free_when_off(sim):
    assert sim.C.shape == (len(sim.t), len(sim.t))
    np.testing.assert_allclose(np.diag(sim.C), sim.norm, rtol=1e-12)
    np.testing.assert_allclose(sim.C, sim.C.T, rtol=0, atol=1e-15)
    for o, curves in sim.per_seed.items():
        assert curves.shape == (3, len(sim.t))
        np.testing.assert_allclose(curves.mean(axis=0), getattr(sim, o), rtol=1e-13, atol=1e-16)
    lone = g.simulate(PROBLEM, TRAINING, d=40, seeds=3, two_time=True, seeds_together=1,
                      progress=False)
    np.testing.assert_allclose(lone.C, sim.C, rtol=1e-12)  # grouping does not change C
    # standard error over 3 seeds of w(t).w(t')/d, computed by hand from the per-seed runs
    off = g.simulate(PROBLEM, TRAINING, d=40, seeds=3, progress=False)
    assert off.C is None and off.per_seed is None and off.extras == {}
    for c in CSV_COLUMNS:
        np.testing.assert_array_equal(getattr(off, c), getattr(sim, c))


def test_simulation_two_time_sem_is_over_seeds():
    """C_sem is the standard error over seeds: for two seeds |C1 - C2| / 2."""
    a = g.simulate(PROBLEM, TRAINING, d=40, seeds=1, seed0=0, two_time=True, progress=False)
    b = g.simulate(PROBLEM, TRAINING, d=40, seeds=1, seed0=1, two_time=True, progress=False)
    both = g.simulate(PROBLEM, TRAINING, d=40, seeds=2, two_time=True, progress=False)
    assert np.all(np.isnan(a.C_sem))
    np.testing.assert_allclose(both.C, (a.C + b.C) / 2, rtol=1e-12)
    np.testing.assert_allclose(both.C_sem, np.abs(a.C - b.C) / 2, rtol=1e-9, atol=1e-17)


def test_two_time_memory_is_checked():
    msg = r"^d = 10000 with two_time at 9000001 recorded times \(every = 1\) needs .* GiB"
    with pytest.raises(g.ParameterError, match=msg):
        g.simulate(PROBLEM, g.Training(eta=0.01, t_max=9e4), d=10**4, two_time=True,
                   progress=False)


def test_simulation_loop_runs_with_one_blas_thread_for_small_data():
    """The time loop limits BLAS to one thread (small products would otherwise wait for time
    slices on a busy machine); seen from inside the loop by a loss that records the limit."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    if blas_threads() < 2:
        pytest.skip("BLAS runs one thread here anyway")
    seen = []

    class Recording(g.Logistic):
        def d1(self, v):
            seen.append(blas_threads())
            return super().d1(v)

    problem = g.Problem(loss=Recording())
    g.simulate(problem, TRAINING, d=40, seeds=2, seeds_together=1, progress=False)
    assert seen and set(seen[-TRAINING.steps:]) == {1}
    assert blas_threads() >= 2  # restored after the loop
