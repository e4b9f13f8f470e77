"""Parameter sweeps (gmmdmft.sweep, ``gmmdmft sweep`` / ``gmmdmft plot-sweep``).

Every point here takes milliseconds to a fraction of a second: tiny horizons, few DMFT draws,
small d. The Dask test starts (and closes) its own two-worker LocalCluster.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gmmdmft
from gmmdmft.runs import executors
from gmmdmft.runs import sweeps as sw
from gmmdmft.cli import main
from gmmdmft.io import read_result

# 3 values of b x (dmft, simulate) = 6 cheap points
SIX = """
title = "six cheap points"
method = "both"
summaries = ["min_gen_error", "final_gen_error", "t_train_accuracy_1", "final_norm"]
[base]
algorithm = "persistent-sgd"
alpha = 2.0
delta = 0.5
eta = 0.2
R = 0.01
inv_tau = 0.5
t_max = 2.0
[vary]
b = [0.3, 0.5, 0.8]
[dmft]
samples = 400
response_samples = 40
max_iter = 3
tol = 0
[simulate]
d = 60
seeds = 2
"""


def write_spec(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def run_cli(args, capfd):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capfd.readouterr()
    return info.value.code, out, err


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def serial_result(point):
    """The point computed directly by the public API, in this process."""
    pb = gmmdmft.Problem(**point["problem"])
    tr = gmmdmft.Training(**point["training"])
    o = point["options"]
    if point["method"] == "simulate":
        return gmmdmft.simulate(pb, tr, progress=False, **o)
    return gmmdmft.solve_dmft(pb, tr, progress=False, **o)


# ------------------------------------------------------------------------------ spec and points
def test_ranges_modes_and_inv_tau(tmp_path):
    spec = sw.parse_spec({
        "base": {"algorithm": "persistent-sgd", "b": 0.5},
        "vary": {"inv_tau": {"start": 0.2, "stop": 1.0, "num": 5},
                 "alpha": {"start": 1.0, "stop": 2.0, "step": 0.5}},
        "method": "simulate"})
    assert spec.vary["inv_tau"] == [0.2, 0.4, 0.6, 0.8, 1.0]  # no float noise
    assert spec.vary["alpha"] == [1.0, 1.5, 2.0]  # stop included when hit
    points = sw.expand(spec)
    assert len(points) == 15 and [p.index for p in points] == list(range(15))
    assert points[1].job.training.tau == pytest.approx(1 / 0.2)
    assert points[1].values == {"inv_tau": 0.2, "alpha": 1.5}
    assert len({p.key for p in points}) == 15
    zipped = sw.parse_spec({"mode": "zip", "vary": {"alpha": [1, 2], "delta": [0.3, 0.4]}})
    assert [p.values for p in sw.expand(zipped)] == [{"alpha": 1, "delta": 0.3},
                                                     {"alpha": 2, "delta": 0.4}]
    both = sw.parse_spec({"method": "both", "vary": {"alpha": [1, 2]}})
    assert [p.method for p in sw.expand(both)] == ["dmft", "simulate", "dmft", "simulate"]


def test_key_is_content_addressed(monkeypatch):
    spec = sw.parse_spec({"vary": {"alpha": [1.0, 2.0]}})
    keys = [p.key for p in sw.expand(spec)]
    again = sw.parse_spec({"base": {"alpha": 1.0}, "vary": {"alpha": [1.0, 2.0]}})
    assert [p.key for p in sw.expand(again)] == keys  # same computation, same key
    other = sw.parse_spec({"vary": {"alpha": [1.0, 2.0]}, "dmft": {"seed": 1}})
    assert not set(p.key for p in sw.expand(other)) & set(keys)
    monkeypatch.setattr(gmmdmft.runs.jobs, "__version__", "0.0.0-other")  # where the key is made
    assert not set(p.key for p in sw.expand(spec)) & set(keys)


def test_overrides():
    raw = sw.apply_overrides({"base": {"t_max": 50.0}, "vary": {"b": [0.3], "inv_tau": [0.6]},
                              "dmft": {"samples": 20000}},
                             ["base.t_max=2", "dmft.samples=500", "vary.b=[0.5, 0.7]",
                              "method='simulate'"])
    assert raw == {"base": {"t_max": 2}, "vary": {"b": [0.5, 0.7], "inv_tau": [0.6]},
                   "dmft": {"samples": 500}, "method": "simulate"}
    with pytest.raises(gmmdmft.ParameterError, match="KEY=VALUE"):
        sw.apply_overrides({}, ["samples"])


def test_summaries():
    t = np.arange(5) * 0.5
    curves = dict(t=t, gen_error=np.array([0.5, 0.2, 0.1, 0.15, 0.12]),
                  gen_error_sem=np.full(5, 0.01), train_accuracy=np.array([.5, .9, 1, 1, 1]),
                  norm=np.arange(5.0), norm_sem=np.zeros(5))
    s = sw.summarize(curves)
    assert s["min_gen_error"] == 0.1 and s["t_min_gen_error"] == 1.0
    assert s["final_gen_error"] == 0.12 and s["final_norm"] == 4.0
    assert s["t_train_accuracy_1"] == 1.0
    curves["train_accuracy"] = np.full(5, 0.99)
    assert np.isnan(sw.summarize(curves, ["t_train_accuracy_1"])["t_train_accuracy_1"])


# ----------------------------------------------------------------------- Dask versus serial
def test_dask_local_cluster_equals_serial(tmp_path, capfd):
    distributed = pytest.importorskip("dask.distributed")
    spec_path = write_spec(tmp_path, SIX)
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rc, stdout, err = run_cli(["sweep", spec_path, "--out", out, "--scheduler",
                                   cluster.scheduler_address], capfd)
    assert rc == 0, err
    rows = read_csv(out / "sweep.csv")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    assert [r["method"] for r in rows] == ["dmft", "simulate"] * 3
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["last_run"]["computed"] == 6 and meta["varied"] == ["b"]
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(out / "sweep.parquet")
    assert table.num_rows == 6 and table.column("key").to_pylist() == [r["key"] for r in rows]
    for r in rows:
        stored = read_result(out / "points" / f"{r['key']}.csv")
        ref = serial_result(stored.meta["job"])
        for c in ("gen_error", "train_loss", "train_accuracy", "m", "norm"):
            # the workers run 1 BLAS thread, this process 2: the sums differ in the last bits
            np.testing.assert_allclose(getattr(stored, c), getattr(ref, c), rtol=1e-12,
                                       atol=1e-15)
        summary = sw.summarize(ref)
        assert float(r["final_gen_error"]) == pytest.approx(summary["final_gen_error"], rel=1e-12)
        assert float(r["min_gen_error"]) == pytest.approx(summary["min_gen_error"], rel=1e-12)
    # lines for one varied parameter (a row per method)
    rc, _, err = run_cli(["plot-sweep", out, "--quiet"], capfd)
    assert rc == 0, err
    assert (out / "sweep.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- resume
def test_kill_client_then_resume_reuses_finished_points(tmp_path, capfd):
    psutil = pytest.importorskip("psutil")
    # 3 b x 2 inv_tau = 6 simulations of ~0.3 s each; the client is killed once 2 are stored
    spec_path = write_spec(tmp_path, SIX)
    out = tmp_path / "killed"
    args = ["sweep", str(spec_path), "--out", str(out), "--local-workers", "2", "--quiet",
            "--set", "method='simulate'", "--set", "vary.inv_tau=[0.4, 0.6]",
            "--set", "simulate.d=300", "--set", "base.t_max=100"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.Popen([sys.executable, "-m", "gmmdmft", *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = []
    t0 = time.monotonic()
    try:
        while len(list(out.glob("points/*.json"))) < 2:
            assert p.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() - t0 < 90
            try:
                children = psutil.Process(p.pid).children(recursive=True) or children
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.01)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    done = {f.stem: f.stat().st_mtime_ns for f in out.glob("points/*.csv")
            if (out / "points" / f"{f.stem}.json").exists()}
    assert 2 <= len(done) < 6
    # the pool's workers notice that their client is gone and end
    deadline = time.monotonic() + 10
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        assert time.monotonic() < deadline, "worker processes outlived the killed client"
        time.sleep(0.1)

    rc, stdout, err = run_cli(args[:5] + ["1"] + args[6:], capfd)  # resume in this process
    assert rc == 0, err
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["last_run"]["reused"] == len(done)
    assert meta["last_run"]["computed"] == 6 - len(done)
    for key, mtime in done.items():  # not recomputed, not rewritten
        assert (out / "points" / f"{key}.csv").stat().st_mtime_ns == mtime
    rows = read_csv(out / "sweep.csv")
    assert len(rows) == 6 and len({r["key"] for r in rows}) == 6
    assert [int(r["index"]) for r in rows] == list(range(6))
    assert {r["status"] for r in rows} == {"ok"}
    assert len(list(out.glob("points/*.csv"))) == 6


# ------------------------------------------------------------------------ failures
DIVERGING = """
method = "simulate"
mode = "zip"
summaries = ["final_gen_error"]
[base]
loss = "square"
[vary]
eta = [0.2, 3.0, 0.5]
t_max = [2.0, 3000.0, 2.0]
[simulate]
d = 30
"""


def test_diverging_point_is_recorded_and_the_rest_completes(tmp_path, capfd):
    spec_path = write_spec(tmp_path, DIVERGING)
    out = tmp_path / "div"
    rc, stdout, err = run_cli(["sweep", spec_path, "--out", out, "--local-workers", "1"], capfd)
    assert rc == 0, err
    rows = read_csv(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "diverged" in rows[1]["message"] and "eta" in rows[1]["message"]
    assert rows[1]["final_gen_error"] == "nan" and float(rows[2]["final_gen_error"]) > 0
    assert "warning: point 1 (simulate) failed" in err
    rec = json.loads((out / "points" / f"{rows[1]['key']}.failed.json").read_text())
    assert rec["error"] == "DivergenceError" and rec["message"] == rows[1]["message"]
    # a deterministic failure is not recomputed by a re-run, unless asked
    rc, _, err = run_cli(["sweep", spec_path, "--out", out, "--local-workers", "1", "-q"], capfd)
    assert json.loads((out / "sweep.json").read_text())["last_run"]["computed"] == 0
    rc, _, err = run_cli(["sweep", spec_path, "--out", out, "--local-workers", "1", "-q",
                          "--retry-failed"], capfd)
    assert json.loads((out / "sweep.json").read_text())["last_run"]["computed"] == 1
    assert read_csv(out / "sweep.csv")[1]["status"] == "failed"


def test_worker_exception_is_retried(tmp_path, monkeypatch):
    spec = sw.parse_spec({"method": "simulate", "vary": {"alpha": [1.0, 2.0]},
                          "base": {"t_max": 0.4}, "simulate": {"d": 20}})
    calls = {}
    real = executors.execute

    def flaky(payload):
        calls[payload["key"]] = calls.get(payload["key"], 0) + 1
        if calls[payload["key"]] == 1:
            raise OSError("worker lost")
        return real(payload)

    monkeypatch.setattr(executors, "execute", flaky)
    report = sw.run_sweep(spec, tmp_path / "o", workers=1, retries=1, progress=False)
    assert report.computed == 2 and report.errors == 0 and set(calls.values()) == {2}
    calls.clear()
    monkeypatch.setattr(executors, "execute", lambda payload: (_ for _ in ()).throw(OSError("x")))
    report = sw.run_sweep(spec, tmp_path / "o2", workers=1, retries=1, progress=False)
    assert report.errors == 2 and {r["status"] for r in report.rows} == {"error"}
    assert not list((tmp_path / "o2" / "points").iterdir())  # nothing stored: re-run retries


# ----------------------------------------------------------------------------- bad specs
GOOD = """
method = "simulate"
[base]
algorithm = "persistent-sgd"
eta = 0.2
t_max = 1.0
[vary]
b = [0.3, 0.5]
inv_tau = [0.5, 1.0]
"""

BAD_SPECS = [
    ("colour = 'red'\n" + GOOD, "unknown key 'colour'"),
    (GOOD.replace("[vary]\n", "[vary]\ngamma = [1, 2]\n"), "unknown parameter 'gamma'"),
    (GOOD.replace("eta = 0.2", "etta = 0.2"), "unknown key 'etta'"),
    (GOOD + "[dmft]\nsample = 10\n", "unknown key 'sample'"),
    (GOOD.replace("b = [0.3, 0.5]", "b = []"), "empty list"),
    (GOOD.replace("b = [0.3, 0.5]", "b = {start = 0.3, stop = 0.5, num = 0}"), "empty range"),
    (GOOD.replace("b = [0.3, 0.5]", "b = {start = 0.5, stop = 0.3, step = 0.1}"), "empty range"),
    (GOOD.replace("b = [0.3, 0.5]", "b = {start = 0.3, stop = 0.5}"), "range needs"),
    (GOOD.replace("b = [0.3, 0.5]", "b = [0.3, 1.5]"), "b = 1.5 is out of range"),
    (GOOD.replace("b = [0.3, 0.5]", "b = [0.3, 'x']"), "must be a real number"),
    (GOOD.replace("inv_tau = [0.5, 1.0]", "inv_tau = [0.5, 3.0]"), "eta(1-b)/(b tau)"),
    (GOOD.replace("inv_tau = [0.5, 1.0]", "inv_tau = [0.5, -1.0]"), "inv_tau"),
    (GOOD + "[simulate]\nd = 0\n", "d = 0"),
    (GOOD.replace('"simulate"', '"dmft"') + "[dmft]\nresponse_samples = 10\nsamples = 4\n",
     "response_samples"),
    (GOOD.replace("[base]\n", "[base]\ntau = 2.0\n"), "tau and inv_tau"),
    (GOOD.replace("method", "mode = 'zip'\nmethod").replace("b = [0.3, 0.5]", "b = [0.3]"),
     "equal length"),
    (GOOD.replace("method", "summaries = ['best']\nmethod"), "unknown summary 'best'"),
    (GOOD.replace('"simulate"', '"exact"'), "method"),
    (GOOD.replace("b = [0.3, 0.5]", "b = [0.3, 0.3]"), "appears twice"),
    (GOOD.replace("b = [0.3, 0.5]", "b = [0.3, 0.5"), "bad TOML"),
]


@pytest.mark.parametrize("text, expected", BAD_SPECS, ids=[e for _, e in BAD_SPECS])
def test_bad_spec_is_one_line_error_before_any_compute(text, expected, tmp_path, capfd,
                                                        monkeypatch):
    def no_compute(payload):
        raise AssertionError("computed a point of a bad spec")

    monkeypatch.setattr(executors, "execute", no_compute)
    spec_path = write_spec(tmp_path, text)
    out = tmp_path / "out"
    rc, stdout, err = run_cli(["sweep", spec_path, "--out", out, "--local-workers", "1"], capfd)
    assert rc == 2, (rc, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmmdmft: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err and not out.exists()


def test_bad_point_is_named(tmp_path, capfd):
    spec_path = write_spec(tmp_path, GOOD.replace("inv_tau = [0.5, 1.0]", "inv_tau = [0.5, 3.0]"))
    rc, _, err = run_cli(["sweep", spec_path, "--out", tmp_path / "o"], capfd)
    assert rc == 2 and "point 1 (simulate: b=0.3, inv_tau=3)" in err


def test_skip_invalid_points(tmp_path, capfd):
    text = "on_invalid = 'skip'\n" + GOOD.replace("inv_tau = [0.5, 1.0]", "inv_tau = [0.5, 3.0]")
    spec_path = write_spec(tmp_path, text)
    out = tmp_path / "o"
    rc, _, err = run_cli(["sweep", spec_path, "--out", out, "--local-workers", "1", "-q"], capfd)
    assert rc == 0, err
    rows = read_csv(out / "sweep.csv")
    assert [r["status"] for r in rows] == ["ok", "skipped", "ok", "ok"]
    assert "eta(1-b)/(b tau)" in rows[1]["message"]
    # heat map over the two varied parameters, the skipped cell left empty
    rc, _, err = run_cli(["plot-sweep", out, "--out", tmp_path / "map.png", "--summary",
                          "final_gen_error", "-q"], capfd)
    assert rc == 0, err
    assert (tmp_path / "map.png").stat().st_size > 1000


def test_cli_option_errors(tmp_path, capfd):
    spec_path = write_spec(tmp_path, GOOD)
    rc, _, err = run_cli(["sweep", spec_path, "--out", tmp_path / "o", "--scheduler",
                          "tcp://127.0.0.1:1", "--local-workers", "2"], capfd)
    assert rc == 2 and "exclude each other" in err
    rc, _, err = run_cli(["sweep", tmp_path / "missing.toml", "--out", tmp_path / "o"], capfd)
    assert rc == 2 and "does not exist" in err
    rc, _, err = run_cli(["sweep", spec_path, "--out", tmp_path / "o", "--local-workers", "0"],
                         capfd)
    assert rc == 2 and "local_workers" in err
    rc, _, err = run_cli(["plot-sweep", tmp_path / "nothing"], capfd)
    assert rc == 2 and "sweep.json is missing" in err
    assert not (tmp_path / "o").exists()


def test_example_spec_is_valid():
    path = Path(__file__).resolve().parents[1] / "examples" / "sweep-psgd-b-tau.toml"
    spec = sw.load_spec(path)
    points = sw.expand(spec)
    assert spec.method == "dmft" and set(spec.vary) == {"b", "inv_tau"}
    assert all(p.invalid is None for p in points) and len(points) == 16
