"""Files: CSV + JSON sidecar round trip, atomic writes, output-path checks."""

import json
import math

import numpy as np
import pytest

import gmmdmft
from gmmdmft import ParameterError, Problem, Training, simulate
from gmmdmft.io import (check_output_path, read_result, read_toml, sidecar_path,
                        write_atomic, write_result)
from gmmdmft.result import CSV_COLUMNS


@pytest.fixture(scope="module")
def result():
    return simulate(Problem(), Training(t_max=1.0), d=30, seeds=2, progress=False)


def test_round_trip_is_exact(result, tmp_path):
    csv_path, json_path = write_result(result, tmp_path / "r.csv", command="gmmdmft simulate")
    assert json_path == sidecar_path(csv_path) == tmp_path / "r.json"
    back = read_result(csv_path)
    for c in CSV_COLUMNS:  # 17 significant digits: float64 values come back bit for bit
        assert np.array_equal(getattr(back, c), getattr(result, c), equal_nan=True), c
    meta = back.meta
    assert meta["package"] == "gmmdmft" and meta["version"] == gmmdmft.__version__
    assert meta["command"] == "gmmdmft simulate" and meta["method"] == "simulate"
    assert meta["params"]["problem"] == result.params["problem"]
    assert meta["stats"]["steps"] == 5
    # nothing but the two files: the temporaries were renamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]


def test_single_seed_sem_is_nan_in_csv_and_json_is_strict(tmp_path):
    r = simulate(Problem(), Training(t_max=0.4), d=20, seeds=1, progress=False)
    r.stats["odd"] = math.nan  # non-finite numbers become null, so the JSON stays standard
    write_result(r, tmp_path / "one.csv")
    back = read_result(tmp_path / "one.csv")
    assert np.all(np.isnan(back.gen_error_sem))
    meta = json.loads((tmp_path / "one.json").read_text())
    assert meta["stats"]["odd"] is None


def test_overwrites_existing_files(result, tmp_path):
    (tmp_path / "r.csv").write_text("old")
    (tmp_path / "r.json").write_text("old")
    write_result(result, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().startswith("t,gen_error,")
    assert json.loads((tmp_path / "r.json").read_text())["package"] == "gmmdmft"


def test_check_output_path(tmp_path):
    assert check_output_path(tmp_path / "a.csv") == tmp_path / "a.csv"
    with pytest.raises(ParameterError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "a.csv")
    (tmp_path / "f").write_text("")
    with pytest.raises(ParameterError, match="is not a directory"):
        check_output_path(tmp_path / "f" / "a.csv")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ParameterError, match="is a directory"):
        check_output_path(tmp_path / "d.csv")
    with pytest.raises(ParameterError, match=r"\.json"):
        check_output_path(tmp_path / "a.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "f"]  # the probe is removed


def test_read_result_rejects_foreign_csv(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        read_result(tmp_path / "x.csv")


def test_not_writable_directory_is_reported(tmp_path, monkeypatch):
    # Root may write into a mode-0555 directory, so the refusal is simulated at the one place
    # where the check touches the file system: creating the probe file.
    import gmmdmft.io as gio

    def refuse(directory, stem):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(gio, "_open_temp", refuse)
    with pytest.raises(ParameterError, match=r"^out = .*: directory .* is not writable"):
        check_output_path(tmp_path / "a.csv")


def test_content_key_format_is_fixed():
    # the store's files are named by this key: the same JSON, byte for byte
    import hashlib

    from gmmdmft.runs.jobs import Job
    p, t = Problem(alpha=2.0, delta=0.5), Training(algorithm="gd", t_max=10.0)
    opts = gmmdmft.SimulationOptions(d=500, seeds=3)
    text = json.dumps(dict(kind="simulate", problem=p.key_params(), training=t.key_params(),
                           options=opts.key_params(), plugins={}, version=gmmdmft.__version__),
                      sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert Job("simulate", p, t, opts).key == hashlib.sha256(text.encode()).hexdigest()


def test_write_atomic(tmp_path):
    target = tmp_path / "a.txt"
    assert write_atomic(target, "é\n") == target
    assert target.read_bytes() == "é\n".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    write_atomic(str(target), lambda f: f.write(b"from a writer"))
    assert target.read_bytes() == b"from a writer"

    def fail(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, fail)
    assert target.read_bytes() == b"from a writer"  # untouched, and no temporary file is left
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]


def test_read_toml(tmp_path):
    (tmp_path / "ok.toml").write_text("a = 1\n[b]\nc = 'x'\n")
    assert read_toml(tmp_path / "ok.toml", "spec") == {"a": 1, "b": {"c": "x"}}
    (tmp_path / "bad.toml").write_text("a = \n")
    for path, msg in [(tmp_path / "bad.toml", "bad TOML: "),
                      (tmp_path / "no.toml", "file does not exist"),
                      (tmp_path, "is a directory, not a TOML file")]:
        with pytest.raises(ParameterError) as info:
            read_toml(path, "panel 'x'")
        assert str(info.value).startswith(f"panel 'x': {msg}") and "\n" not in str(info.value)
