"""Every kind of bad input is one line naming the parameter, the value and the allowed range,
before any compute, with no file written: the API raises ParameterError (a TypeError subclass
of it for wrong types), the command line prints ``gmmdmft: error: ...`` and exits with 2.

The cases are classes, each tried through several parameters: absurd magnitudes (1e300, 1e9,
1e12), booleans where numbers belong, options the model does not use, divergences that stay
finite for a while, unknown file formats, objects of the wrong type or in the wrong order, and
unknown names of backends and devices."""

import numpy as np
import pytest

import gmmdmft as g
from gmmdmft import ParameterError, ParameterTypeError

from test_cli import assert_one_line_error, files_under, run_inprocess

TINY_DMFT = ["--t-max", "1", "--samples", "400", "--response-samples", "20", "--max-iter", "2",
             "--quiet"]


@pytest.mark.parametrize("command, args, name", [
    ("simulate", ["--t-max", "1e300"], "t_max"),
    ("simulate", ["--t-max", "1e9"], "t_max"),
    ("simulate", ["--eta", "1e-300"], "t_max"),
    ("dmft", ["--t-max", "1e300"], "t_max"),
    ("dmft", ["--t-max", "1e9"], "t_max"),
    ("dmft", ["--t-max", "1e5"], "t_max"),  # 5e5 steps fit the step cap, not the memory
    ("simulate", ["--seeds", "1000000000000"], "seeds"),
    ("simulate", ["--seeds", "100000", "--t-max", "100000", "--d", "10"], "seeds"),
    ("simulate", ["--d", "1000000000000"], "d ="),
    ("simulate", ["--seed0", "1e30"], "seed0"),
    ("dmft", ["--samples", "1000000000000"], "samples"),
    ("dmft", ["--max-iter", "1000000000000"], "max_iter"),
    ("dmft", ["--seed", "99999999999999999999"], "seed"),
    ("simulate", ["--alpha", "1e300", "--d", "100"], "alpha"),
])
def test_absurd_magnitudes(command, args, name, tmp_path, capfd):
    base = ["--d", "40", "--t-max", "0.6", "--quiet"] if command == "simulate" else TINY_DMFT
    rc, out, err = run_inprocess([command, *base, *args, "--out", tmp_path / "r.csv"], capfd)
    assert_one_line_error(rc, out, err, name)
    assert files_under(tmp_path) == []


def test_absurd_magnitudes_name_the_steps_or_memory_in_the_api():
    with pytest.raises(ParameterError, match=r"t_max = 1e\+09 .*10\^7 steps"):
        g.Training(t_max=1e9)
    with pytest.raises(ParameterError, match="t_max"):
        g.solve_dmft(g.Problem(), g.Training(t_max=2e4))  # 1e5 steps: memory, naming T


@pytest.mark.parametrize("toml, name", [
    ("d = true\n", "d = True"), ("clusters = true\n", "clusters = True"),
    ("seeds = false\n", "seeds = False"), ("alpha = true\n", "alpha = True"),
    ("every = true\n", "every = True"), ("seeds_together = true\n", "seeds_together = True"),
    ("centers = [true, false]\nweights = [0.5, 0.5]\nlabels = [-1, 1]\n", "centers"),
    ("labels = [-1, true]\ncenters = [-1, 1]\nweights = [0.5, 0.5]\n", "labels"),
])
def test_booleans_are_not_numbers_in_a_config(toml, name, tmp_path, capfd):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    out = tmp_path / "o"
    out.mkdir()
    rc, o, e = run_inprocess(["simulate", "--d", "40", "--t-max", "0.6", "--quiet", "--config",
                              cfg, "--out", out / "r.csv"], capfd)
    assert_one_line_error(rc, o, e, name)
    assert files_under(out) == []


@pytest.mark.parametrize("call", [
    lambda: g.SimulationOptions(d=True), lambda: g.SimulationOptions(seeds=True),
    lambda: g.DMFTOptions(samples=True), lambda: g.DMFTOptions(lagged=1),
    lambda: g.Problem(clusters=True), lambda: g.Problem(alpha=True),
    lambda: g.Training(eta=False), lambda: g.Training(algorithm=2),
    lambda: g.simulate(g.Problem(), g.Training(t_max=0.4), d=True),
])
def test_booleans_and_wrong_types_in_the_api(call):
    with pytest.raises(ParameterTypeError) as info:
        call()
    assert isinstance(info.value, TypeError) and "\n" not in str(info.value)


@pytest.mark.parametrize("command, args, name", [
    ("dmft", ["--d", "2000"], "d = 2000"),  # two clusters: no symmetry to break
    ("dmft", ["--centers=-0.5,1.5", "--weights=0.6,0.4", "--labels=-1,1", "--d", "500"], "d = 500"),
    ("dmft", ["--clusters", "3", "--L", "0.7", "--m0", "0.01", "--d", "500"], "exclude each other"),
    ("simulate", ["--L", "0.7"], "L = 0.7"),
    ("simulate", ["--tau", "2"], "tau = 2"),
    ("simulate", ["--algorithm", "gd", "--b", "0.5"], "b = 0.5"),
    ("simulate", ["--inv-tau", "0.5", "--algorithm", "sgd", "--b", "0.5"], "tau = 2"),
])
def test_options_the_model_does_not_use_are_errors(command, args, name, tmp_path, capfd):
    base = ["--d", "40", "--t-max", "0.6", "--quiet"] if command == "simulate" else TINY_DMFT
    if command == "simulate" and "--d" in args:
        base = base[2:]
    rc, o, e = run_inprocess([command, *base, *args, "--out", tmp_path / "r.csv"], capfd)
    assert_one_line_error(rc, o, e, name)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("command, extra", [
    ("dmft", ["--samples", "400", "--response-samples", "20", "--max-iter", "3"]),
    ("simulate", ["--d", "50"]),
    ("simulate", ["--d", "50", "--every", "50", "--seeds", "3"]),
])
@pytest.mark.parametrize("loss, eta", [("square", "5"), ("exponential", "40")])
def test_a_divergence_that_stays_finite_is_reported_as_divergence(command, extra, loss, eta,
                                                                   tmp_path, capfd):
    """Square loss at eta = 5: the field is multiplied by about 1 - eta alpha Delta = -4 per step,
    so |w|^2/d passes 1e30 in ~25 steps long before it overflows; 'not converged' would hide it."""
    rc, o, e = run_inprocess([command, "--loss", loss, "--eta", eta, "--t-max", "400", *extra,
                              "--quiet", "--out", tmp_path / "r.csv"], capfd)
    assert_one_line_error(rc, o, e, "diverged")
    assert "smaller eta" in e and files_under(tmp_path) == []


@pytest.mark.parametrize("suffix", [".xyz", ".csv", ""])
def test_plot_sweep_unknown_image_format(suffix, tmp_path, capfd):
    pytest.importorskip("matplotlib")
    spec = tmp_path / "s.toml"
    spec.write_text('method = "simulate"\n[base]\nt_max = 0.4\n[vary]\nalpha = [1.0, 2.0]\n'
                    '[simulate]\nd = 20\n')
    rc, o, e = run_inprocess(["sweep", spec, "--out", tmp_path / "sw", "--local-workers", "1",
                              "-q"], capfd)
    assert rc == 0, e
    before = files_under(tmp_path)
    rc, o, e = run_inprocess(["plot-sweep", tmp_path / "sw", "--out", tmp_path / f"x{suffix}"],
                             capfd)
    assert_one_line_error(rc, o, e, "out")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("call, name", [
    (lambda: g.simulate({"alpha": 2}, g.Training()), "problem"),
    (lambda: g.simulate(g.Training(), g.Problem()), "problem"),
    (lambda: g.solve_dmft(g.Training(), g.Problem()), "problem"),
    (lambda: g.solve_dmft(g.Problem(), {"eta": 0.2}), "training"),
    (lambda: g.solve_dmft(g.Problem(), g.Training(), g.SimulationOptions()), "options"),
    (lambda: g.simulate(g.Problem(), g.Training(), g.DMFTOptions()), "options"),
    (lambda: g.solve_dmft(g.Problem(), g.Training(), {"samples": 10}), "options"),
])
def test_objects_of_the_wrong_type_or_order(call, name):
    with pytest.raises(ParameterTypeError) as info:
        call()
    assert str(info.value).startswith(name) and "\n" not in str(info.value)


@pytest.mark.parametrize("kw, name", [
    (dict(device="tpu"), "device = 'tpu'"), (dict(backend="jax"), "backend = 'jax'"),
    (dict(device="cuda", backend="numpy"), "device = 'cuda'"),
    (dict(response_dtype="float16"), "response_dtype"), (dict(sampels=10), "sampels"),
])
def test_unknown_backends_devices_and_options(kw, name):
    with pytest.raises(ParameterError) as info:
        g.solve_dmft(g.Problem(), g.Training(t_max=0.4), **kw)
    assert name in str(info.value) and "None" not in str(info.value).split(":")[0]


def test_unknown_simulate_option():
    with pytest.raises(ParameterError, match="seed is not an option of simulate"):
        g.simulate(g.Problem(), g.Training(t_max=0.4), seed=3)
    assert np.isfinite(g.simulate(g.Problem(), g.Training(t_max=0.4), d=10).gen_error).all()
