"""Command line: every bad input is one line on stderr, exit code 2, no traceback, no file.

Most cases run the entry point in this process (``gmmdmft.cli.main``, with the real stdout and
stderr captured at the file-descriptor level); a representative subset also runs as a real
``python -m gmmdmft`` subprocess, which is what a user sees.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gmmdmft
from gmmdmft import bayes_optimal_error, oracle_error, oracle_threshold
from gmmdmft.cli import main
from gmmdmft.result import CSV_COLUMNS

HEADER = "t,gen_error,gen_error_sem,train_loss,train_loss_sem,train_accuracy,train_accuracy_sem,m,m_sem,norm,norm_sem"
SMALL = ["--d", "40", "--t-max", "0.6", "--quiet"]  # a run that takes milliseconds


def run_inprocess(args, capfd):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capfd.readouterr()
    return info.value.code, out, err


def run_subprocess(args, cwd):
    env = dict(os.environ, PYTHONWARNINGS="default")
    p = subprocess.run([sys.executable, "-m", "gmmdmft", *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(rc, out, err, name):
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gmmdmft: error: ")
    assert name in lines[0], (name, lines[0])


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in Path(path).rglob("*"))


# (extra simulate arguments, config-file text or None, text that must name the parameter)
BAD = [
    (["--alpha", "0"], None, "alpha"),
    (["--alpha", "-1"], None, "alpha"),
    (["--delta", "0"], None, "delta"),
    (["--delta", "-0.5"], None, "delta"),
    (["--lam", "-0.1"], None, "lam"),
    (["--R", "-0.01"], None, "R ="),
    (["--eta", "0"], None, "eta"),
    (["--eta", "-0.2"], None, "eta"),
    (["--eta", "0.2", "--t-max", "0.1"], None, "t_max"),
    (["--d", "0"], None, "d ="),
    (["--seeds", "0"], None, "seeds"),
    (["--algorithm", "sgd", "--b", "0"], None, "b ="),
    (["--algorithm", "sgd", "--b", "1.5"], None, "b ="),
    (["--algorithm", "persistent-sgd", "--b", "-0.3", "--tau", "1"], None, "b ="),
    (["--algorithm", "persistent-sgd", "--b", "0.3", "--tau", "0"], None, "tau"),
    (["--algorithm", "persistent-sgd", "--b", "0.3", "--tau", "-1"], None, "tau"),
    (["--algorithm", "persistent-sgd", "--b", "0.5", "--tau", "0.1", "--eta", "0.2"], None, "eta/tau"),
    (["--algorithm", "persistent-sgd", "--b", "0.1", "--tau", "1", "--eta", "0.2"], None,
     "eta(1-b)/(b tau)"),
    (["--clusters", "3"], None, "L"),
    (["--clusters", "3", "--L", "0"], None, "L ="),
    (["--clusters", "3", "--L", "-1"], None, "L ="),
    (["--L", "1"], None, "L ="),
    (["--clusters", "4"], None, "--clusters"),
    (["--loss", "hinge"], None, "loss = 'hinge'"),  # a name or an import path: any string
    (["--loss", "no_such_module:Loss"], None, "no_such_module"),
    (["--loss", "math:pi"], None, "value()"),
    (["--activation", "tanh"], None, "activation"),
    (["--centers=-1,1", "--weights=0.5,0.6", "--labels=-1,1"], None, "sum to 1"),
    (["--centers=-1,1,2", "--weights=0.5,0.5", "--labels=-1,1"], None, "same length"),
    (["--centers=-1,1", "--weights=0.5,0.5", "--labels=0,1"], None, "labels"),
    (["--centers=-1,1", "--weights=0.5,0.5"], None, "labels is missing"),
    (["--centers=-1,1", "--weights=0.5,0.5", "--labels=-1,1", "--clusters", "2"], None,
     "exclude each other"),
    (["--centers=a,b", "--weights=0.5,0.5", "--labels=-1,1"], None, "--centers"),
    (["--t-max", "1e300"], None, "t_max"),
    (["--t-max", "1e9"], None, "t_max"),
    (["--seeds", "1000000000000"], None, "seeds"),
    ([], "d = true\n", "d = True"),
    ([], "clusters = true\n", "clusters = True"),
    ([], "centers = [-1, 1]\nweights = [0.5, 0.5]\nlabels = [-1, 2]\n", "labels"),
    (["--algorithm", "adam"], None, "--algorithm"),
    (["--dtype", "float16"], None, "--dtype"),
    (["--alpha", "nan"], None, "alpha"),
    (["--alpha", "inf"], None, "alpha"),
    (["--delta", "-inf"], None, "delta"),
    (["--eta", "nan"], None, "eta"),
    (["--R", "inf"], None, "R ="),
    (["--algorithm", "sgd", "--b", "nan"], None, "b ="),
    (["--clusters", "3", "--L", "inf"], None, "L ="),
    (["--t-max", "inf"], None, "t_max"),
    (["--alpha", "two"], None, "--alpha"),
    (["--d", "1e3"], None, "--d"),
    (["--colour", "red"], None, "--colour"),
    ([], "colour = 'red'\n", "colour"),
    ([], "alpha = 'two'\n", "alpha"),
    ([], "alpha = true\n", "alpha"),
    ([], "d = 2.5\n", "d ="),
    ([], "loss = 3\n", "loss"),
    ([], "clusters = 4\n", "clusters"),
    ([], "alpha = nan\n", "alpha"),
    ([], "delta = -inf\n", "delta"),
    ([], "[problem]\nalpha = 2\n", "problem"),
    ([], "alpha = \n", "TOML"),
    ([], "alpha = 2\nalpha = 3\n", "TOML"),
    ([], "t_max = 1\nt-max = 2\n", "t_max"),
    (["--loss", "square", "--eta", "50", "--t-max", "5000", "--d", "100"], None, "eta"),
    (["--d", "10000000"], None, "d ="),
    (["--every", "0"], None, "every"),
    (["--seed0", "-1"], None, "seed0"),
    (["--seeds-together", "0"], None, "seeds_together"),
    ([], "seeds_together = 1.5\n", "seeds_together"),
]


@pytest.mark.parametrize("args, config, name", BAD, ids=[" ".join(a) or c for a, c, _ in BAD])
def test_bad_input_is_one_line_exit_2_no_file(args, config, name, tmp_path, capfd):
    outdir = tmp_path / "out"
    outdir.mkdir()
    argv = ["simulate", *SMALL, *args, "--out", outdir / "res.csv"]
    if config is not None:
        cfg = tmp_path / "run.toml"
        cfg.write_text(config)
        argv += ["--config", cfg]
    rc, out, err = run_inprocess(argv, capfd)
    assert_one_line_error(rc, out, err, name)
    assert files_under(outdir) == []


def test_missing_config_file(tmp_path, capfd):
    rc, out, err = run_inprocess(["simulate", *SMALL, "--config", tmp_path / "nope.toml",
                                  "--out", tmp_path / "res.csv"], capfd)
    assert_one_line_error(rc, out, err, "nope.toml")
    assert files_under(tmp_path) == []


def test_output_directory_missing(tmp_path, capfd):
    rc, out, err = run_inprocess(["simulate", *SMALL, "--out", tmp_path / "no" / "res.csv"], capfd)
    assert_one_line_error(rc, out, err, "out")
    assert "does not exist" in err
    assert files_under(tmp_path) == []


def test_output_parent_is_a_file(tmp_path, capfd):
    # a path below a regular file can never be written, whoever runs the tests (root included)
    (tmp_path / "file").write_text("x")
    rc, out, err = run_inprocess(["simulate", *SMALL, "--out", tmp_path / "file" / "res.csv"], capfd)
    assert_one_line_error(rc, out, err, "out")
    assert files_under(tmp_path) == ["file"]


def test_output_directory_not_writable(tmp_path, capfd):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        try:  # root (and some file systems) ignore the mode bits: then the case cannot be made
            (ro / "probe").write_text("x")
        except OSError:
            pass
        else:
            (ro / "probe").unlink()
            pytest.skip("this user can write into a mode-0555 directory (root)")
        rc, out, err = run_inprocess(["simulate", *SMALL, "--out", ro / "res.csv"], capfd)
        assert_one_line_error(rc, out, err, "out")
        assert "not writable" in err
        assert files_under(ro) == []
    finally:
        ro.chmod(0o755)


def test_output_must_not_be_json(tmp_path, capfd):
    rc, out, err = run_inprocess(["simulate", *SMALL, "--out", tmp_path / "res.json"], capfd)
    assert_one_line_error(rc, out, err, "out")


SUBPROCESS_BAD = [
    ["--alpha", "-1"],
    ["--alpha", "nan"],
    ["--alpha", "two"],
    ["--algorithm", "persistent-sgd", "--b", "0.1", "--tau", "1"],
    ["--clusters", "3"],
    ["--loss", "square", "--eta", "50", "--t-max", "5000", "--d", "100"],
    ["--out", "missing-dir/res.csv"],
]


@pytest.mark.parametrize("args", SUBPROCESS_BAD, ids=" ".join)
def test_bad_input_in_a_real_subprocess(args, tmp_path):
    # no --quiet here: the closing messages must not appear either when the run fails
    rc, out, err = run_subprocess(["simulate", "--d", "40", "--t-max", "0.6", *args,
                                   *([] if "--out" in args else ["--out", "res.csv"])], tmp_path)
    name = {"--out": "out"}.get(args[0], args[0].lstrip("-"))
    if args[:2] == ["--algorithm", "persistent-sgd"]:
        name = "eta(1-b)/(b tau)"
    elif args[0] == "--loss":
        name = "eta"
    elif args[0] == "--clusters":
        name = "L"
    assert_one_line_error(rc, out, err, name)
    assert files_under(tmp_path) == []


def test_bad_reference_input(capfd):
    for args, name in ([["--alpha", "-1"], "alpha"], [["--delta", "0"], "delta"],
                       [["--delta", "nan"], "delta"], [["--clusters", "5"], "--clusters"]):
        rc, out, err = run_inprocess(["reference", *args], capfd)
        assert_one_line_error(rc, out, err, name)


# --------------------------------------------------------------------------- successful runs
def test_simulate_writes_csv_and_json(tmp_path):
    args = ["simulate", "--algorithm", "persistent-sgd", "--b", "0.3", "--tau", "1.6667",
            "--alpha", "2", "--delta", "0.5", "--eta", "0.2", "--R", "0.01", "--t-max", "2",
            "--d", "60", "--seeds", "3", "--every", "3", "--out", "fig.csv"]
    rc, out, err = run_subprocess(args, tmp_path)
    assert rc == 0, err
    assert "Traceback" not in err
    assert "wall time" in err and "fig.json" in err
    assert sorted(files_under(tmp_path)) == ["fig.csv", "fig.json"]
    lines = (tmp_path / "fig.csv").read_text().splitlines()
    assert lines[0] == HEADER == ",".join(CSV_COLUMNS)
    rows = [list(map(float, line.split(","))) for line in lines[1:]]
    assert [round(r[0], 12) for r in rows] == [0.0, 0.6, 1.2, 1.8, 2.0]  # every 3rd step + last
    assert all(len(r) == 11 for r in rows)
    meta = json.loads((tmp_path / "fig.json").read_text())
    assert meta["package"] == "gmmdmft" and meta["version"] == gmmdmft.__version__
    assert meta["status"] == 0 and meta["message"]
    p = meta["params"]
    assert p["problem"] == {"clusters": 2, "alpha": 2.0, "delta": 0.5, "lam": 0.0,
                            "loss": "logistic", "L": None, "activation": "linear",
                            "centers": None, "weights": None, "labels": None}
    assert p["model"]["mixture"] == {"centers": [-1.0, 1.0], "weights": [0.5, 0.5], "labels": [-1, 1]}
    assert p["training"] == {"algorithm": "persistent-sgd", "eta": 0.2, "t_max": 2.0, "R": 0.01,
                             "b": 0.3, "tau": 1.6667, "inv_tau": None, "batch_chain": "linear"}
    assert p["d"] == 60 and p["seeds"] == 3 and p["seed_list"] == [0, 1, 2] and p["every"] == 3
    assert meta["stats"]["wall_time"] > 0
    assert meta["command"].startswith("gmmdmft simulate --algorithm persistent-sgd")
    assert meta["created"].endswith("+00:00")


def test_simulate_without_out_prints_the_table(tmp_path, capfd):
    rc, out, err = run_inprocess(["simulate", "--d", "30", "--t-max", "0.4", "--seeds", "2"], capfd)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == HEADER and len(lines) == 1 + 3
    assert "wall time" in err
    assert files_under(tmp_path) == []


def test_simulate_seeds_together_does_not_change_the_table(capfd):
    args = ["simulate", "--algorithm", "sgd", "--b", "0.5", "--d", "30", "--t-max", "0.6",
            "--seeds", "3", "--quiet"]
    tables = []
    for extra in ([], ["--seeds-together", "1"], ["--seeds-together", "2"]):
        rc, out, err = run_inprocess([*args, *extra], capfd)
        assert rc == 0, err
        tables.append(out)
    assert tables[0].startswith(HEADER) and tables[0] == tables[1] == tables[2]


def test_config_file_and_flag_override(tmp_path, capfd):
    cfg = tmp_path / "run.toml"
    cfg.write_text('alpha = 3.0\ndelta = 0.25\nt_max = 0.4\nd = 30\nseeds = 2\n'
                   'algorithm = "sgd"\nb = 0.5\nloss = "square"\n'
                   f'out = "{(tmp_path / "from-config.csv").as_posix()}"\n')
    rc, out, err = run_inprocess(["simulate", "--config", cfg, "--alpha", "1.5", "--quiet"], capfd)
    assert rc == 0, err
    assert err == "" and out == ""  # --quiet
    meta = json.loads((tmp_path / "from-config.json").read_text())
    assert meta["params"]["problem"]["alpha"] == 1.5       # the flag wins
    assert meta["params"]["problem"]["delta"] == 0.25      # from the file
    assert meta["params"]["problem"]["loss"] == "square"
    assert meta["params"]["training"]["algorithm"] == "sgd"
    assert meta["params"]["training"]["b"] == 0.5
    assert meta["params"]["d"] == 30 and meta["params"]["seeds"] == 2
    # the flag --out also overrides the file's out
    rc, out, err = run_inprocess(["simulate", "--config", cfg, "--out", tmp_path / "flag.csv",
                                  "--quiet"], capfd)
    assert rc == 0 and (tmp_path / "flag.csv").exists() and (tmp_path / "flag.json").exists()


def test_reference_two_and_three_clusters(tmp_path, capfd):
    rc, out, err = run_subprocess(["reference", "--clusters", "2", "--alpha", "2", "--delta", "0.5"],
                                  tmp_path)
    assert rc == 0 and err == ""
    assert "0.10295" in out and repr(bayes_optimal_error(2, 0.5)) in out
    rc, out, err = run_inprocess(["reference", "--clusters", "3", "--delta", "0.3"], capfd)
    assert rc == 0
    # the oracle of a general mixture (roots of its likelihood ratio): the closed forms of the
    # three-cluster model to rounding
    numbers = [float(x) for x in re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", out)]
    assert any(abs(x - oracle_error(0.3)) < 1e-14 for x in numbers)
    assert any(abs(x - oracle_threshold(0.3)) < 1e-12 for x in numbers)
    assert "Bayes-optimal" not in out  # no closed form for three clusters


def test_help_and_version(capfd):
    for args in (["--help"], ["simulate", "--help"], ["reference", "--help"], []):
        rc, out, err = run_inprocess(args, capfd)
        assert rc == 0 and "Usage" in out and err == ""
    rc, out, err = run_inprocess(["--version"], capfd)
    assert rc == 0 and gmmdmft.__version__ in out


def test_progress_without_a_terminal_is_one_line_records(tmp_path):
    """stderr is a pipe here: no bar (no carriage returns), one line per interval instead (an
    interval of 0 writes at every update, so the run cannot end before its first record)."""
    env = dict(os.environ, GMMDMFT_PROGRESS_INTERVAL="0")
    p = subprocess.run([sys.executable, "-m", "gmmdmft", "simulate", "--d", "300", "--t-max", "40",
                        "--seeds", "2", "--every", "50", "--out", "r.csv"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr
    records = [line for line in p.stderr.splitlines() if line.startswith("gmmdmft: simulate: ")]
    assert records and all("elapsed" in line for line in records), p.stderr
    assert len(records) < 1000


def test_progress_records_come_while_a_long_step_runs():
    """Without a terminal the records come from a timer, also when no update arrives (one job
    of many minutes), and stop with close()."""
    import io
    import time

    from gmmdmft._progress import Progress
    stream = io.StringIO()
    bar = Progress(total=10, desc="figure: 0/3", unit="", stream=stream, interval=0.05)
    time.sleep(0.3)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and all(ln.startswith("gmmdmft: figure: 0/3: ") for ln in lines)
    time.sleep(0.2)
    assert stream.getvalue().splitlines() == lines


def test_two_time_needs_a_single_file_output(tmp_path, capfd):
    rc, out, err = run_inprocess(["simulate", *SMALL, "--two-time", "--out", tmp_path / "r.csv"],
                                 capfd)
    assert_one_line_error(rc, out, err, "two_time")
    assert files_under(tmp_path) == []
    rc, out, err = run_inprocess(["simulate", *SMALL, "--two-time", "--out", tmp_path / "r.npz"],
                                 capfd)
    assert rc == 0, err
    assert files_under(tmp_path) == ["r.npz"]
    assert gmmdmft.io.read_result(tmp_path / "r.npz").C.shape == (4, 4)  # t = 0, 0.2, 0.4, 0.6


# ---------------------------------------------------------------------------- gmmdmft erm
def test_erm_json_is_solve_erm(capfd):
    """``erm --json``: one JSON object whose numbers are solve_erm's (same solver, same options)."""
    import json
    rc, out, err = run_inprocess(["erm", "--alpha", "2", "--delta", "0.5", "--lam", "0.1",
                                  "--json"], capfd)
    assert rc in (0, None), err
    data = json.loads(out)
    want = gmmdmft.solve_erm(gmmdmft.Problem(alpha=2, delta=0.5, lam=0.1))
    for key in ("gen_error", "m", "q", "train_loss", "train_accuracy"):
        assert data[key] == pytest.approx(getattr(want, key), rel=1e-12), key
    assert data["status"] == 0 and data["params"]["version"] == gmmdmft.__version__
    rc, out, err = run_inprocess(["erm", "--max-margin", "--delta", "0.5", "--json"], capfd)
    mm = gmmdmft.max_margin(gmmdmft.Problem(alpha=2, delta=0.5))
    data = json.loads(out)
    assert data["gen_error"] == pytest.approx(mm.gen_error, rel=1e-12)
    assert data["alpha_star"] == pytest.approx(mm.alpha_star, rel=1e-12)


@pytest.mark.parametrize("args, name", [
    (["--lam", "0"], "lam = 0"),                       # separable, logistic: no minimiser
    (["--activation", "door", "--L", "1"], "activation"),  # non-convex
    (["--lam", "-1"], "lam"),
    (["--tol", "0"], "tol"),
    (["--max-margin", "--alpha", "7"], "alpha = 7"),   # above alpha*(0.5) = 6.66
])
def test_erm_bad_inputs_are_one_line(args, name, capfd):
    rc, out, err = run_inprocess(["erm", *args], capfd)
    assert_one_line_error(rc, out, err, name)
    assert out == ""
