"""`gmmdmft dmft`: bad solver options are one line and exit 2; a run writes CSV, JSON and npz."""

import json

import numpy as np
import pytest

from test_cli import HEADER, assert_one_line_error, files_under, run_inprocess, run_subprocess

TINY = ["--t-max", "1", "--samples", "400", "--response-samples", "20", "--max-iter", "2", "--quiet"]


@pytest.mark.parametrize("args, name", [
    (["--samples", "1"], "samples"),
    (["--response-samples", "1"], "response_samples"),
    (["--damping", "0"], "damping"),
    (["--damping", "1.5"], "damping"),
    (["--max-iter", "0"], "max_iter"),
    (["--tol", "-1"], "tol"),
    (["--tol", "nan"], "tol"),
    (["--m0", "-0.5"], "m0"),
    (["--m0", "1", "--R", "0.01"], "m0"),
    (["--clusters", "3", "--L", "0.7"], "m0"),
    (["--seed", "-1"], "seed"),
    (["--eta", "0"], "eta"),
    (["--samples", "abc"], "samples"),
])
def test_bad_dmft_input(args, name, tmp_path, capfd):
    out = tmp_path / "o.csv"
    rc, o, e = run_inprocess(["dmft", *TINY, *args, "--out", out], capfd)
    assert_one_line_error(rc, o, e, name)
    assert files_under(tmp_path) == []


def test_dmft_divergence_is_one_line(tmp_path):
    rc, o, e = run_subprocess(["dmft", "--loss", "square", "--eta", "3", "--t-max", "300",
                               "--samples", "200", "--response-samples", "10", "--max-iter", "1",
                               "--out", tmp_path / "o.csv"], tmp_path)
    assert_one_line_error(rc, o, e, "eta")
    assert files_under(tmp_path) == []


def test_dmft_writes_curves_sidecar_and_kernels(tmp_path, capfd):
    out, npz = tmp_path / "d.csv", tmp_path / "k.npz"
    rc, o, e = run_inprocess(["dmft", *TINY, "--out", out, "--save-kernels", npz], capfd)
    assert rc == 0, e
    assert out.read_text().splitlines()[0] == HEADER
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["method"] == "dmft" and meta["params"]["samples"] == 400
    assert meta["stats"]["iterations"] == 2 and "timing" in meta["stats"]
    z = np.load(npz)
    assert {"C", "R", "M_C", "M_R", "lamhat", "mu", "t"} <= set(z.files)
    assert z["C"].shape == (6, 6)
    assert json.loads(str(z["meta"]))["params"]["samples"] == 400


def test_unmet_tolerance_is_reported(tmp_path, capfd):
    rc, o, e = run_inprocess(["dmft", *TINY[:-3], "--max-iter", "5", "--tol", "1e-12"], capfd)
    assert rc == 0
    assert "warning: not converged" in e
