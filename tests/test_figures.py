"""``gmmdmft figure``: the 8 panels in quick mode, the cache, panel files and bad input.

One real ``gmmdmft figure all --quick --workers 2`` run (a subprocess, as a user runs it) feeds
most tests; the others reuse its cache, so the module takes well under a minute on 2 cores.
"""

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import gmmdmft  # noqa: E402
from gmmdmft import DMFTOptions, Problem, SimulationOptions, Training  # noqa: E402
from gmmdmft.runs import figures, panels  # noqa: E402
from gmmdmft.runs.jobs import Job  # noqa: E402
from gmmdmft.cli import main  # noqa: E402
from gmmdmft.io import read_result  # noqa: E402
from gmmdmft.result import CSV_COLUMNS, Result  # noqa: E402

COUNTS = re.compile(r"(\d+) jobs: (\d+) computed, (\d+) from the cache")
PANEL_DIR = Path(gmmdmft.__file__).parent / "panels"


def run_subprocess(args, cwd):
    p = subprocess.run([sys.executable, "-m", "gmmdmft", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONWARNINGS="default"))
    return p.returncode, p.stdout, p.stderr


def run_inprocess(args, capfd):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capfd.readouterr()
    return info.value.code, out, err


def counts(err):
    m = COUNTS.search(err)
    assert m, err
    return tuple(int(g) for g in m.groups())


def assert_one_line_error(rc, out, err, *names):
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gmmdmft: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("figs")
    out = base / "out"
    rc, stdout, stderr = run_subprocess(["figure", "all", "--quick", "--out", out,
                                         "--workers", "2"], base)
    assert rc == 0, stderr
    return out, stdout, stderr


# ------------------------------------------------------------------------ the quick run
def test_quick_all_writes_every_panel(quick_run):
    out, stdout, stderr = quick_run
    n_jobs, computed, reused = counts(stderr)
    assert computed == n_jobs > 0 and reused == 0
    for name in panels.PANELS:
        png, pdf = out / f"{name}.png", out / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert pdf.read_bytes()[:5] == b"%PDF-", name
        manifest = json.loads((out / f"{name}.json").read_text())
        assert manifest["version"] == gmmdmft.__version__ and manifest["quick"] is True
        assert manifest["curves"], name
        for curve in manifest["curves"]:
            files = [curve["dmft"]["file"]] + [s["file"] for s in curve["simulations"]]
            assert len(curve["dmft"]["cache_key"]) == 64
            for f in files:
                data = read_result(out / f)
                for c in CSV_COLUMNS:
                    assert np.all(np.isfinite(getattr(data, c))), (f, c)
                assert data.meta["key"] in f"{curve['dmft']['cache_key']} " + " ".join(
                    s["cache_key"] for s in curve["simulations"])
                assert data.t[-1] <= manifest["t_max"] + 1e-9
            assert curve["training"]["t_max"] == manifest["t_max"]
    # the printed table and summary.csv: one row per curve of every panel
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    n_curves = sum(len(json.loads((out / f"{p}.json").read_text())["curves"]) for p in panels.PANELS)
    assert len(rows) == n_curves == 26
    assert {r["panel"] for r in rows} == set(panels.PANELS)
    for r in rows:
        assert 0 <= float(r["max_gap"]) <= 0.5 and math.isfinite(float(r["sem_combined"]))
    assert "max gap" in stdout and stdout.count("fig1-left") == 3


def test_static_limits_in_the_summary(quick_run):
    """Fig. 1 (right), GD at lam = 0.1 and 1: the ERM level of solve_erm in the summary and the
    manifest; Fig. 4 (left), lam = 0 below alpha*: the max-margin level; SGD curves: none."""
    out, _, _ = quick_run
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by = {}
    for r in rows:
        by.setdefault(r["panel"], []).append(r)
    fig1 = json.loads((out / "fig1-right.json").read_text())
    kinds = {}
    for curve, row in zip(fig1["curves"], by["fig1-right"]):
        problem = gmmdmft.Problem(**curve["problem"])
        if curve["asymptote"] is None:
            assert row["asymptote"] == ""
            continue
        kind = curve["asymptote"]["kind"]
        want = (gmmdmft.solve_erm(problem) if kind == "erm" else gmmdmft.max_margin(problem)).gen_error
        assert curve["asymptote"]["gen_error"] == pytest.approx(want, rel=1e-12)
        assert float(row["asymptote_gen_error"]) == pytest.approx(want, rel=1e-5)
        final = read_result(out / curve["dmft"]["file"]).gen_error[-1]
        assert float(row["dmft_final_minus_asymptote"]) == pytest.approx(final - want, abs=1e-6)
        kinds[problem.lam] = row["asymptote"]
    assert kinds == {0.0: "max-margin", 0.1: "erm", 1.0: "erm"}
    fig4 = json.loads((out / "fig4-left.json").read_text())
    levels = {c["asymptote"]["kind"] for c in fig4["curves"] if c["asymptote"]}
    assert levels == {"max-margin"}
    mm = gmmdmft.max_margin(gmmdmft.Problem(**fig4["curves"][0]["problem"])).gen_error
    assert all(c["asymptote"]["gen_error"] == pytest.approx(mm, rel=1e-12)
               for c in fig4["curves"] if c["asymptote"])


def test_fig3_left_gap_uses_the_largest_d(quick_run):
    out, _, _ = quick_run
    m = json.loads((out / "fig3-left.json").read_text())
    for curve in m["curves"]:
        ds = [s["d"] for s in curve["simulations"]]
        assert len(ds) == 2
        assert curve["comparison"]["d"] == max(ds)
        assert [s["error_bars"] for s in curve["simulations"]] == [d == max(ds) for d in ds]
        assert curve["dmft"]["options"]["d"] == max(ds)  # m0 from the largest d


def test_second_run_uses_the_cache(quick_run, capfd):
    out, _, _ = quick_run
    png = out / "fig2-left.png"
    png.unlink()
    rc, stdout, stderr = run_inprocess(["figure", "all", "--quick", "--out", out, "--workers", "2"], capfd)
    assert rc == 0, stderr
    n_jobs, computed, reused = counts(stderr)
    assert computed == 0 and reused == n_jobs
    assert png.exists()  # outputs are redrawn from the cache


def test_resume_after_interruption(quick_run, capfd):
    """A run stopped half-way left some jobs without their sidecar (written last): exactly
    those are computed again."""
    out, _, _ = quick_run
    sidecars = sorted((out / "cache").glob("*.json"))
    sidecars[0].unlink()
    sidecars[1].unlink()
    rc, _, stderr = run_inprocess(["figure", "all", "--quick", "--out", out, "--workers", "1"], capfd)
    assert rc == 0, stderr
    assert counts(stderr)[1] == 2


def test_recompute_ignores_the_cache(quick_run, capfd):
    out, _, _ = quick_run
    rc, _, stderr = run_inprocess(["figure", "1", "--quick", "--out", out, "--recompute",
                                   "--workers", "1", ], capfd)
    assert rc == 0, stderr
    n_jobs, computed, reused = counts(stderr)
    assert computed == n_jobs > 0 and reused == 0
    assert n_jobs == len(panels.plan([panels.load_panel(p, quick=True) for p in panels.FIGURES["1"]]))


def test_user_panel_file_reuses_unchanged_curves(quick_run, tmp_path, capfd):
    out, _, _ = quick_run
    text = (PANEL_DIR / "fig1-left.toml").read_text()
    mine = tmp_path / "my-panel.toml"
    mine.write_text(text.replace('label = "$b = 0.3$"\nalgorithm = "persistent-sgd"\nb = 0.3',
                                 'label = "$b = 0.4$"\nalgorithm = "persistent-sgd"\nb = 0.4'))
    rc, stdout, stderr = run_inprocess(["figure", "--panel", mine, "--quick", "--out", out,
                                        "--workers", "1"], capfd)
    assert rc == 0, stderr
    assert counts(stderr)[1:] == (2, 4)  # the new curve's DMFT and simulation only
    assert (out / "my-panel.png").exists() and (out / "my-panel.json").exists()
    with open(out / "summary.csv", newline="") as f:
        panels = [r["panel"] for r in csv.DictReader(f)]
    assert panels.count("my-panel") == 3 and panels.count("fig4-right") == 3  # merged


# ------------------------------------------------------------------------ bad input
def write_panel(tmp_path, old, new):
    text = (PANEL_DIR / "fig1-left.toml").read_text()
    assert old in text
    p = tmp_path / "bad.toml"
    p.write_text(text.replace(old, new, 1))
    return p


BAD_PANELS = [
    ("[problem]\n", "[problem]\ncolour = 'red'\n", ("colour", "[problem]")),
    ("title =", "titel = 'x'\ntitle =", ("titel",)),
    ("alpha = 2.0", "alpha = -1.0", ("alpha = -1", "[problem]")),
    ("alpha = 2.0", "alpha = 'two'", ("alpha",)),
    ("b = 0.3\n", "b = 1.5\n", ("b =", "b = 0.3")),  # names the curve by its label
    ("inv_tau = 0.6\nbatch_chain", "tau = 2.0\ninv_tau = 0.6\nbatch_chain", ("inv_tau",)),
    ('batch_chain = "exact"  ', 'batch_chain = "exact"\nbatch_chain = "exact"  ', ("TOML",)),
    ('batch_chain = "exact"  ', 'batch_chain = "linear"  ', ("eta(1-b)/(b tau)", "exact")),
    ("[[curves]]\nlabel", "[m0_average]\nsampels = 3\n\n[[curves]]\nlabel", ("sampels",)),
    ("seeds = 40", "seeds = 0", ("seeds",)),
    ("samples = 10000", "samples = 1", ("samples",)),
    ('inset = "train_accuracy"', 'inset = "loss"', ("inset",)),
    ("t_max = 100.0", "t_max = -1.0", ("t_max",)),
    ("[[curves]]\nlabel", "[[curves]]\nlabl", ("labl",)),
    ("max_iter = 4", "max_iter = 4\nmax_iter = 5", ("TOML",)),
    ("ylim = [0.095, 0.2]", "ylim = [0.095]", ("ylim",)),
    ('legend_loc = "upper left"', 'legend_loc = "top"', ("legend_loc",)),
    ('label = "$b = 0.3$"', 'label = "$b = \\foo$"', ("mathtext", "curve label")),
    ('label = "$b = 0.3$"', 'label = "$b = 0.3"', ("unbalanced",)),
    ("[quick.plot]\n", "[quick.plot]\nmarkers = 3\n", ("markers", "[quick.plot]")),
]


@pytest.mark.parametrize("old, new, names", BAD_PANELS, ids=[b[1].strip()[:30] for b in BAD_PANELS])
def test_bad_panel_file_is_one_line_before_any_compute(old, new, names, tmp_path, capfd):
    panel = write_panel(tmp_path, old, new)
    out = tmp_path / "out"
    rc, out_text, err = run_inprocess(["figure", "--panel", panel, "--quick", "--out", out], capfd)
    assert_one_line_error(rc, out_text, err, "bad.toml", *names)
    assert not out.exists()  # nothing created, nothing computed


@pytest.mark.parametrize("args, names", [
    (["5"], ("figure", "5")),
    (["one"], ("figure",)),
    ([], ("figure",)),
    (["1", "--workers", "0"], ("workers = 0",)),
    (["1", "--workers", "-2"], ("workers",)),
    (["1", "--workers", "two"], ("--workers",)),
    (["--panel", "nope.toml"], ("nope.toml", "does not exist")),
    (["1", "--colour", "red"], ("--colour",)),
])
def test_bad_figure_arguments(args, names, tmp_path, capfd):
    rc, out, err = run_inprocess(["figure", *args, "--quick", "--out", tmp_path / "o"], capfd)
    assert_one_line_error(rc, out, err, *names)
    assert not (tmp_path / "o").exists()


def test_out_is_a_file(tmp_path, capfd):
    f = tmp_path / "file"
    f.write_text("x")
    rc, out, err = run_inprocess(["figure", "1", "--quick", "--out", f], capfd)
    assert_one_line_error(rc, out, err, "out", "not a directory")
    rc, out, err = run_inprocess(["figure", "1", "--quick", "--out", f / "sub"], capfd)
    assert_one_line_error(rc, out, err, "out", "cannot create")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_bad_figure_argument_in_a_real_subprocess(tmp_path):
    rc, out, err = run_subprocess(["figure", "all", "--quick", "--workers", "0", "--out", "o"], tmp_path)
    assert_one_line_error(rc, out, err, "workers")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ units
def test_cache_key_depends_on_every_parameter(monkeypatch):
    p, t = Problem(alpha=2.0, delta=0.5), Training(algorithm="gd", t_max=10.0)
    opts = SimulationOptions(d=500, seeds=4, seed0=0, every=1, dtype="float64")

    def key(method, problem, training, options):
        return Job(method, problem, training, options).key

    k = key("simulate", p, t, opts)
    assert len(k) == 64
    # same parameters (new, equal objects) -> same key; b=None and b=1 are the same GD
    assert key("simulate", Problem(alpha=2, delta=0.5), Training(algorithm="gd", t_max=10, b=1.0),
               opts.replace()) == k
    # an option that cannot change the numbers is not in the key
    assert key("simulate", p, t, opts.replace(seeds_together=1)) == k
    others = [
        key("dmft", p, t, DMFTOptions()),
        key("simulate", Problem(alpha=2.0, delta=0.4), t, opts),
        key("simulate", Problem(alpha=2.0, delta=0.5, lam=0.1), t, opts),
        key("simulate", Problem(alpha=2.0, delta=0.5, loss="square"), t, opts),
        key("simulate", Problem(centers=(-1, 1), weights=(0.4, 0.6), labels=(-1, 1)), t, opts),
        key("simulate", p, Training(algorithm="gd", t_max=10.0, R=0.02), opts),
        key("simulate", p, Training(algorithm="gd", t_max=20.0), opts),
        key("simulate", p, Training(algorithm="gd", t_max=10.0, eta=0.1), opts),
        key("simulate", p, t, opts.replace(d=501)),
        key("simulate", p, t, opts.replace(seeds=5)),
        key("simulate", p, t, opts.replace(seed0=1)),
    ]
    assert len(set(others + [k])) == len(others) + 1
    monkeypatch.setattr(gmmdmft.runs.jobs, "__version__", "999")  # where the key is made
    assert key("simulate", p, t, opts) != k


def test_builtin_panels_load_and_match_the_captions():
    loaded = {n: panels.load_panel(n) for n in panels.PANELS}
    for n, p in loaded.items():
        quick = panels.load_panel(n, quick=True)
        assert quick.t_max < p.t_max
        # the quick set is a smoke run: an order of magnitude cheaper than the full panel
        assert sum(j.cost for j in panels.plan([quick])) < 0.1 * sum(j.cost for j in panels.plan([p]))
    f1 = loaded["fig1-left"].curves
    assert [c.training.b for c in f1] == [1.0, 0.3, 0.1]
    assert f1[2].training.eta == 0.2 and f1[2].training.batch_chain == "exact"
    assert all(c.dmft_avg is None for p in ("fig1-left", "fig1-right", "fig3-right", "fig4-left")
               for c in loaded[p].curves)  # no w -> -w symmetry: no m0 average
    assert all(c.problem == Problem(clusters=2, alpha=2, delta=0.5, lam=0) for c in f1)
    assert f1[1].training.tau == pytest.approx(1 / 0.6)
    assert [c.problem.lam for c in loaded["fig1-right"].curves] == [0.0, 0.1, 1.0]
    f2 = loaded["fig2-left"].curves
    assert [(c.training.algorithm, c.training.b) for c in f2] == [
        ("gd", 1.0), ("persistent-sgd", 0.3), ("persistent-sgd", 0.2)]
    assert all(c.problem == Problem(clusters=3, alpha=3, delta=0.05, L=0.7, lam=0.1) for c in f2)
    assert [s[0] for s in f2[0].sims] == [5000] and f2[0].dmft.options.d == 5000
    # the symmetric model's curves also get the DMFT averaged over the law of m(0) at that d
    assert all(c.dmft_avg.options.m0_average and c.dmft_avg.options.d == 5000 for c in f2)
    assert loaded["fig2-left"].inset == loaded["fig2-right"].inset == "norm"
    f3 = loaded["fig3-left"].curves
    assert [d for d, _ in f3[0].sims] == [500, 1000, 5000, 10000]
    assert f3[0].error_bar_d == (10000,) and f3[1].training.R == 1.0
    f3r = loaded["fig3-right"].curves
    assert [c.training.algorithm for c in f3r] == ["persistent-sgd"] * 3 + ["sgd"]
    assert [round(1 / c.training.tau, 6) for c in f3r[:3]] == [0.15, 0.3, 0.6]
    assert [c.training.R for c in loaded["fig4-left"].curves] == [0, 0.01, 0.1, 1, 5]
    f4r = loaded["fig4-right"].curves
    assert [c.training.R for c in f4r] == [0.01, 0.5, 5]
    assert f4r[0].training.eta == 0.1 and f4r[0].problem.delta == 0.1
    for n in ("fig1-left", "fig1-right", "fig3-right", "fig4-left"):
        assert loaded[n].t_max >= 100


def test_identical_curves_of_different_panels_run_once():
    p = [panels.load_panel(n) for n in ("fig1-left", "fig1-right", "fig4-left")]
    keys = [j.key for panel in p for j in panel.jobs]
    assert len(panels.plan(p)) == len(set(keys)) < len(keys)
    costs = [j.cost for j in panels.plan(p)]
    assert costs == sorted(costs, reverse=True)  # longest first


def _result(t, g, sem):
    z = np.zeros_like(t)
    return Result(t=t, gen_error=g, gen_error_sem=sem, train_loss=z, train_loss_sem=z,
                  train_accuracy=z, train_accuracy_sem=z, m=z, m_sem=z, norm=z, norm_sem=z,
                  method="x", params={})


def test_compare_matches_times():
    t = np.round(0.2 * np.arange(11), 12)
    dmft = _result(t, 0.1 + 0.01 * t, np.full(11, 0.001))
    ts = t[::5]  # recorded every 5 steps
    sim = _result(ts, dmft.gen_error[::5] + np.array([0.0, 0.003, -0.005]), np.full(3, 0.002))
    c = figures.compare(dmft, sim, t_max=2.0)
    assert c["gap"] == pytest.approx(0.005) and c["t"] == 2.0
    assert c["sem"] == pytest.approx(math.hypot(0.001, 0.002))
    assert c["gap_late"] == pytest.approx(0.005)
