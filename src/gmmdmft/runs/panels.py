"""Figure panels: a TOML file -> a :class:`Panel` of curves, each a DMFT job and simulation jobs.

A panel file (the eight of the paper ship in ``gmmdmft/panels/``; ``panels/fig1-left.toml``
shows every key) has a title, the base ``[problem]`` and ``[training]`` parameters (the keys of
:class:`~gmmdmft.Problem` and :class:`~gmmdmft.Training`, with plug-ins as import paths),
``t_max``, ``[simulation]`` (the keys of :class:`~gmmdmft.SimulationOptions`, where ``d`` and
``seeds`` may be lists, plus ``error_bars``) and ``[dmft]`` (the keys of
:class:`~gmmdmft.DMFTOptions`) settings, ``[plot]`` options, a list of ``[[curves]]`` (each
overrides any problem/training key, and the simulated ``d`` and ``seeds``) and ``[quick]``
overrides for ``--quick``. Everything is checked when the panel is loaded, before any compute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .._fields import Spec, convert
from .._validation import ParameterError, check_choice, check_int, check_real
from ..io import read_toml
from ..model import Problem, reference_error, reference_label
from ..options import DMFTOptions, SimulationOptions
from ..training import Training
from .jobs import Job

PANELS = ("fig1-left", "fig1-right", "fig2-left", "fig2-right",
          "fig3-left", "fig3-right", "fig4-left", "fig4-right")
FIGURES = {str(i): tuple(p for p in PANELS if p.startswith(f"fig{i}-")) for i in range(1, 5)}
FIGURES["all"] = PANELS

# ------------------------------------------------------------------------------- panel schema
# key -> Spec, or a layout kind: "ints?" (an int or a list of ints), "reals" (list), "table",
# "tables"
PROBLEM_KEYS = {k: spec for k, (_, spec) in Problem.specs().items()}
TRAINING_KEYS = {k: spec for k, (_, spec) in Training.specs().items() if k != "t_max"}
_SIM = {k: spec for k, (_, spec) in SimulationOptions.specs().items()}
SIMULATION_KEYS = {**_SIM, "d": "ints?", "seeds": "ints?",
                   "error_bars": Spec("choice", "", choices=("all", "largest", "none"))}
DMFT_KEYS = {k: spec for k, (_, spec) in DMFTOptions.specs().items()}
PLOT_KEYS = {"ylim": "reals", "xlim": "reals", "inset_ylim": "reals", "inset_bounds": "reals",
             "legend_loc": Spec("str", ""), "legend_anchor": "reals",
             "marker_dt": Spec("real", "", lo=0, lo_open=True),
             "xscale": Spec("choice", "", choices=("linear", "log", "symlog")),
             "figsize": "reals"}
CURVE_KEYS = {"label": Spec("str", ""), **PROBLEM_KEYS, **TRAINING_KEYS, "d": "ints?",
              "seeds": "ints?"}
QUICK_KEYS = {"t_max": Spec("real", ""), "simulation": "table", "dmft": "table", "plot": "table"}
TOP_KEYS = {"title": Spec("str", ""), "caption": Spec("str", ""), "notes": Spec("str", ""),
            "varied": Spec("str", ""), "legend_title": Spec("str", ""),
            "inset": Spec("choice", "", choices=("train_accuracy", "norm", "none")),
            "reference": Spec("choice", "", choices=("auto", "none")),
            "t_max": Spec("real", ""), "problem": "table", "training": "table",
            "simulation": "table", "dmft": "table", "plot": "table", "curves": "tables",
            "quick": "table"}
REQUIRED_TOP = ("title", "varied", "t_max", "problem", "training", "curves")
PLOT_LENGTHS = {"ylim": 2, "xlim": 2, "inset_ylim": 2, "inset_bounds": 4, "figsize": 2,
                "legend_anchor": 2}


@dataclass
class Curve:
    """One curve of a panel: its parameters, its DMFT job and its simulation jobs (one per d)."""

    label: str
    problem: Problem
    training: Training
    dmft: Job
    sims: list  # [(d, Job)]
    error_bar_d: tuple  # the d's drawn with error bars


@dataclass
class Panel:
    name: str
    source: str
    title: str
    varied: str
    legend_title: str
    inset: str
    reference: str
    t_max: float
    curves: list
    plot: dict
    quick: bool
    caption: str = ""
    notes: str = ""
    spec: dict = field(default_factory=dict)

    @property
    def reference_value(self) -> float | None:
        if self.reference == "none":
            return None
        return reference_error(self.curves[0].problem)

    @property
    def reference_label(self) -> str:
        return reference_label(self.curves[0].problem)

    @property
    def jobs(self) -> list[Job]:
        return [j for c in self.curves for j in [c.dmft] + [s for _, s in c.sims]]


# ------------------------------------------------------------------------------ panel loading
def panel_names(which: str) -> tuple[str, ...]:
    """Panels of figure ``which`` (``"1"`` ... ``"4"`` or ``"all"``)."""
    if which not in FIGURES:
        raise ParameterError(f"figure = {which!r} is not one of: 1, 2, 3, 4, all")
    return FIGURES[which]


def read_panel_file(path) -> tuple[str, dict, str]:
    """(name, raw TOML dict, source label) of a panel given by built-in name or file path."""
    if isinstance(path, str) and path in PANELS:
        res = resources.files("gmmdmft").joinpath("panels", f"{path}.toml")
        return path, tomllib.loads(res.read_text(encoding="utf-8")), f"gmmdmft/panels/{path}.toml"
    p = Path(path)
    raw = read_toml(p, f"panel {str(path)!r}")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", p.stem).strip("-.") or "panel"
    return name, raw, str(p)


def _check_value(key: str, kind, value):
    """Type (and range) check of one TOML value."""
    if isinstance(kind, Spec):
        return convert(key, value, kind)
    if kind == "reals":
        if not isinstance(value, list) or not value:
            raise ParameterError(f"{key} = {value!r} must be a list of numbers")
        return [check_real(key, v) for v in value]
    if kind == "ints?":
        if isinstance(value, list):
            if not value:
                raise ParameterError(f"{key} = [] must not be empty")
            return [check_int(key, v, lo=1) for v in value]
        return check_int(key, value, lo=1)
    if kind == "table":
        if not isinstance(value, dict):
            raise ParameterError(f"{key} must be a table ([{key}])")
        return value
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ParameterError(f"{key} must be a non-empty list of tables ([[{key}]])")
    return value


def _check_table(where: str, table: dict, schema: dict, section: str) -> dict:
    out = {}
    for k, v in table.items():
        if k not in schema:
            raise ParameterError(f"{where}: unknown key {k!r} in {section} (allowed: "
                                 f"{', '.join(schema)})")
        try:
            out[k] = _check_value(k, schema[k], v)
        except ParameterError as e:
            raise type(e)(f"{where}: {section}: {e}") from None
    return out


def load_panel(path, *, quick: bool = False) -> Panel:
    """Read and validate a panel (built-in name or TOML path) and build its jobs.

    Every check (unknown keys, types, parameter ranges of every curve, each job's own checks)
    happens here, before any compute; errors are one-line :class:`ParameterError` naming the
    file and the curve.
    """
    name, raw, source = read_panel_file(path)
    where = f"panel {source!r}"
    top = _check_table(where, raw, TOP_KEYS, "the top level")
    for k in REQUIRED_TOP:
        if k not in top:
            raise ParameterError(f"{where}: key {k!r} is missing")
    problem0 = _check_table(where, top["problem"], PROBLEM_KEYS, "[problem]")
    training0 = _check_table(where, top["training"], TRAINING_KEYS, "[training]")
    sim0 = _check_table(where, top.get("simulation", {}), SIMULATION_KEYS, "[simulation]")
    dmft0 = _check_table(where, top.get("dmft", {}), DMFT_KEYS, "[dmft]")
    plot = _check_table(where, top.get("plot", {}), PLOT_KEYS, "[plot]")
    quick_t = _check_table(where, top.get("quick", {}), QUICK_KEYS, "[quick]")
    quick_sim = _check_table(where, quick_t.get("simulation", {}), SIMULATION_KEYS,
                             "[quick.simulation]")
    quick_dmft = _check_table(where, quick_t.get("dmft", {}), DMFT_KEYS, "[quick.dmft]")
    quick_plot = _check_table(where, quick_t.get("plot", {}), PLOT_KEYS, "[quick.plot]")
    if quick:
        plot = {**plot, **quick_plot}
    for key, n in PLOT_LENGTHS.items():
        if key in plot and len(plot[key]) != n:
            raise ParameterError(f"{where}: [plot]: {key} = {plot[key]} must have {n} numbers")

    t_max = quick_t.get("t_max", top["t_max"]) if quick else top["t_max"]
    sim = {**sim0, **(quick_sim if quick else {})}
    dm = {**dmft0, **(quick_dmft if quick else {})}
    curves, labels = [], set()
    for i, raw_curve in enumerate(top["curves"]):
        label = raw_curve.get("label")
        cw = f"{where}: curve {label!r}" if isinstance(label, str) else f"{where}: curve {i + 1}"
        c = _check_table(cw, raw_curve, CURVE_KEYS, "[[curves]]")
        if "label" not in c:
            raise ParameterError(f"{cw}: key 'label' is missing")
        if c["label"] in labels:
            raise ParameterError(f"{cw}: the label is used twice")
        labels.add(c["label"])
        try:
            curves.append(_build_curve(c, problem0, training0, sim, dm, t_max, quick, quick_sim))
        except ParameterError as e:
            raise type(e)(f"{cw}: {e}") from None
    return Panel(name=name, source=source, title=top["title"], varied=top["varied"],
                 legend_title=top.get("legend_title", top["varied"]),
                 inset=top.get("inset", "train_accuracy"), reference=top.get("reference", "auto"),
                 t_max=float(t_max), curves=curves, plot=plot, quick=quick,
                 caption=top.get("caption", ""), notes=top.get("notes", ""), spec=raw)


def _build_curve(c, problem0, training0, sim, dm, t_max, quick, quick_sim) -> Curve:
    pkeys = {k: v for k, v in c.items() if k in PROBLEM_KEYS}
    tkeys = {k: v for k, v in c.items() if k in TRAINING_KEYS}
    tr = dict(training0)
    if "tau" in tkeys or "inv_tau" in tkeys:  # the curve's persistence time replaces the base's
        tr.pop("tau", None)
        tr.pop("inv_tau", None)
    tr.update(tkeys)
    problem = Problem(**{**problem0, **pkeys})
    training = Training(**tr, t_max=t_max)

    # simulated dimensions and seeds: [simulation] < curve < [quick.simulation]
    ds = sim.get("d", SimulationOptions.specs()["d"][0])
    seeds = sim.get("seeds", SimulationOptions.specs()["seeds"][0])
    if "d" in c and not (quick and "d" in quick_sim):
        ds = c["d"]
    if "seeds" in c and not (quick and "seeds" in quick_sim):
        seeds = c["seeds"]
    ds = ds if isinstance(ds, list) else [ds]
    if isinstance(seeds, list):
        if len(seeds) != len(ds):
            raise ParameterError(f"seeds = {seeds} must have one entry per d = {ds}")
    else:
        seeds = [seeds] * len(ds)
    if len(set(ds)) != len(ds):
        raise ParameterError(f"d = {ds} lists a dimension twice")
    common = {k: v for k, v in sim.items() if k in _SIM and k not in ("d", "seeds")}
    sims = [(d, Job("simulate", problem, training, SimulationOptions(d=d, seeds=n, **common)))
            for d, n in zip(ds, seeds)]
    error_bars = check_choice("error_bars", sim.get("error_bars", "all"), ("all", "largest", "none"))
    eb = {"all": tuple(ds), "largest": (max(ds),), "none": ()}[error_bars]

    opts = dict(dm)
    if problem.symmetric and opts.get("m0") is None:
        # the symmetry breaking comes from the finite-d m(0) (docs/theory.md, "Symmetry"):
        # that of the largest simulated d unless [dmft] d says otherwise
        opts.setdefault("d", max(ds))
    elif not problem.symmetric:
        opts.pop("d", None)  # only symmetric models use it
    dmft = Job("dmft", problem, training, DMFTOptions(**opts))
    for job in [dmft] + [j for _, j in sims]:
        job.validate()
    return Curve(label=c["label"], problem=problem, training=training, dmft=dmft, sims=sims,
                 error_bar_d=eb)


def plan(panels) -> list[Job]:
    """The distinct jobs of ``panels``, longest (estimated) first."""
    jobs: dict[str, Job] = {}
    for panel in panels:
        for job in panel.jobs:
            jobs.setdefault(job.key, job)
    return sorted(jobs.values(), key=lambda j: -j.cost)
