"""The job engine under figures and sweeps: plug-ins travel by import path to spawned and Dask
workers, their source is in the key, objects without an import path are refused, and pool
workers end when their client is killed (figure as sweep)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gmmdmft
from gmmdmft.runs.jobs import Job

from test_sweep import read_csv, run_cli

PLUGIN = textwrap.dedent('''
    import numpy as np

    class SquaredHinge:
        """ell(v) = max(0, 1 - v)^2 / 2, written outside gmmdmft."""
        def value(self, v):
            return 0.5 * np.maximum(1.0 - v, 0.0) ** 2
        def d1(self, v):
            return -np.maximum(1.0 - v, 0.0)
        def d2(self, v):
            return (v < 1.0).astype(float)
''')

SPEC = """
method = "both"
summaries = ["final_gen_error", "min_gen_error"]
[base]
loss = "{loss}"
alpha = 2.0
delta = 0.5
t_max = 1.0
[vary]
lam = [0.0, 0.1]
[dmft]
samples = 400
response_samples = 40
max_iter = 3
tol = 0
[simulate]
d = 60
seeds = 2
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A module ``plug_sq`` outside the package, on this process's path and the environment's
    PYTHONPATH (which spawned and Dask workers read)."""
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "plug_sq.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(d), os.environ.get("PYTHONPATH", "")]))
    yield d
    sys.modules.pop("plug_sq", None)


def rows_of(out):
    return read_csv(out / "sweep.csv")


def test_plugin_loss_sweep_on_two_local_workers_equals_the_builtin(plugin_dir, tmp_path, capfd):
    spec = tmp_path / "plug.toml"
    spec.write_text(SPEC.format(loss="plug_sq:SquaredHinge"))
    rc, _, err = run_cli(["sweep", spec, "--out", tmp_path / "o", "--local-workers", "2", "-q"], capfd)
    assert rc == 0, err
    rows = rows_of(tmp_path / "o")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, rows
    meta = json.loads((tmp_path / "o" / "points" / f"{rows[0]['key']}.json").read_text())
    assert meta["params"]["problem"]["loss"] == "plug_sq:SquaredHinge"
    # the same sweep with the built-in squared hinge, in this process: the same numbers (the
    # workers run 1 BLAS thread, this process 2: sums differ in the last bits)
    builtin = tmp_path / "builtin.toml"
    builtin.write_text(SPEC.format(loss="squared-hinge"))
    rc, _, err = run_cli(["sweep", builtin, "--out", tmp_path / "b", "--local-workers", "1", "-q"],
                         capfd)
    assert rc == 0, err
    for a, b in zip(rows, rows_of(tmp_path / "b")):
        assert a["key"] != b["key"]  # the loss's import path is in the key
        for c in ("final_gen_error", "min_gen_error"):
            assert float(a[c]) == pytest.approx(float(b[c]), rel=1e-10), (a, b)


def test_plugin_loss_sweep_on_a_two_worker_dask_cluster(plugin_dir, tmp_path, capfd):
    distributed = pytest.importorskip("dask.distributed")
    spec = tmp_path / "plug.toml"
    spec.write_text(SPEC.format(loss="plug_sq:SquaredHinge"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rc, _, err = run_cli(["sweep", spec, "--out", tmp_path / "o", "--scheduler",
                              cluster.scheduler_address, "-q"], capfd)
    assert rc == 0, err
    rows = rows_of(tmp_path / "o")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, rows


def test_dask_workers_that_cannot_import_a_plugin_fail_before_any_compute(tmp_path, capfd,
                                                                          monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    d = tmp_path / "here-only"
    d.mkdir()
    (d / "plug_local.py").write_text(PLUGIN)
    spec = tmp_path / "plug.toml"
    spec.write_text(SPEC.format(loss="plug_local:SquaredHinge"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        monkeypatch.syspath_prepend(str(d))  # this process sees it, the started workers do not
        rc, _, err = run_cli(["sweep", spec, "--out", tmp_path / "o", "--scheduler",
                              cluster.scheduler_address, "-q"], capfd)
    sys.modules.pop("plug_local", None)
    assert rc == 2 and err.count("\n") == 1 and "plug_local" in err and "Dask worker" in err, err
    assert not list((tmp_path / "o" / "points").glob("*.csv"))


def test_the_plugin_source_is_in_the_key(plugin_dir):
    def key():
        p = gmmdmft.Problem(loss="plug_sq:SquaredHinge")
        return Job("simulate", p, gmmdmft.Training(), gmmdmft.SimulationOptions()).key

    before = key()
    (plugin_dir / "plug_sq.py").write_text(PLUGIN + "\n# a new version of the plug-in\n")
    assert key() != before


def test_an_object_without_import_path_is_refused_for_workers():
    class Local:
        def value(self, v):
            return np.log1p(np.exp(-v))

        def d1(self, v):
            return -1.0 / (1.0 + np.exp(v))

        def d2(self, v):
            return 1.0 / (2.0 + np.exp(v) + np.exp(-v))

    problem = gmmdmft.Problem(loss=Local())  # fine in this process
    r = gmmdmft.simulate(problem, gmmdmft.Training(t_max=0.4), d=20, progress=False)
    assert np.isfinite(r.gen_error).all()
    job = Job("simulate", problem, gmmdmft.Training(t_max=0.4), gmmdmft.SimulationOptions(d=20))
    with pytest.raises(gmmdmft.ParameterError, match="import path"):
        job.validate()


SLOW_PANEL = """
title = "slow"
varied = "lam"
t_max = 400.0
[problem]
alpha = 2.0
delta = 0.5
[training]
eta = 0.2
[simulation]
d = 1500
seeds = 4
[dmft]
samples = 400
response_samples = 20
max_iter = 2
tol = 0
[[curves]]
label = "a"
lam = 0.0
[[curves]]
label = "b"
lam = 0.1
"""


def _children(pid):
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_kill_9_of_a_figure_client_ends_its_workers(tmp_path):
    panel = tmp_path / "slow.toml"
    panel.write_text(SLOW_PANEL)
    p = subprocess.Popen([sys.executable, "-m", "gmmdmft", "figure", "--panel", str(panel),
                          "--out", str(tmp_path / "o"), "--workers", "2", "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers = []
        while len(workers) < 2:  # the pool's workers (and its resource tracker) have started
            assert p.poll() is None and time.monotonic() < deadline
            workers = [c for c in _children(p.pid) if _alive(c)]
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 20
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "worker processes outlived the killed client by 20 s"
        time.sleep(0.2)
