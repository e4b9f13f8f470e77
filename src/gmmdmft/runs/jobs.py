"""Jobs: one computation (method, problem, training, options), its content key and its cost.

A :class:`Job` is what every front end (the figure panels, the sweep specs) produces and what
the executors (:mod:`gmmdmft.runs.executors`) run. It travels to a worker process or a Dask
worker as plain data (:meth:`Job.payload`): the parameters with plug-ins as import paths,
never live objects, so that any process that can import the plug-ins can rebuild it
(:func:`execute`). Its key (:meth:`Job.key`) is the sha256 of a canonical JSON of the method,
every parameter that can change the numbers (the declared fields with ``key=True``), the
package version and a fingerprint of each plug-in module's source: the name of its entry in a
:class:`~gmmdmft.runs.store.Store`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from .. import __version__, plugins
from .._validation import DivergenceError, ParameterError, one_line
from ..model import Problem
from ..options import DMFTOptions, SimulationOptions
from ..training import Training

#: method -> its options class
METHODS = {"simulate": SimulationOptions, "dmft": DMFTOptions}

# cost model: seconds on one core of the 2-core development machine (refitted Dec 2026 to the
# job wall times of a full `figure all` run, one BLAS thread per worker). Only the ratios
# matter for the scheduling (longest first); the progress bar's ETA comes from the measured
# rate.
SIM_COST_PER_ENTRY_STEP = 0.9e-9    # two mat-vecs with the n x d data matrix, per entry
SIM_COST_PER_STEP = 1e-4            # Python overhead per step
SIM_COST_PER_ENTRY_SETUP = 3e-8     # drawing the data matrix, per entry
DMFT_COST_T2N = 2e-10               # process, noise, M_C and the probe M_R: per T^2 N per iteration
DMFT_COST_T3NR = 3e-11              # M_R by propagation (BLAS-3 responses): per T^3 N_R per iteration
DMFT_COST_CAUSAL_T3 = 64 * 1e-10    # the first (causal) sweep's M_R from 64 draws, per T^3
DMFT_COST_PER_STEP = 2e-4           # per time step per iteration


@dataclass(frozen=True)
class Job:
    """One computation: ``method`` ("simulate" or "dmft") at one parameter point."""

    method: str
    problem: Problem
    training: Training
    options: SimulationOptions | DMFTOptions

    def __post_init__(self):
        if self.method not in METHODS:
            raise ParameterError(f"method = {self.method!r} is not one of: {', '.join(METHODS)}")
        if not isinstance(self.options, METHODS[self.method]):
            raise ParameterError(f"options of a {self.method} job must be "
                                 f"{METHODS[self.method].__name__}")

    def validate(self) -> None:
        """Every check that can fail before the computation starts: the DMFT's m0 rule, and
        plug-ins that a worker process could import (an object without an import path works
        in this process only)."""
        if self.method == "dmft" and self.options.m0_average:
            from ..dmft.m0average import check_m0_rule  # noqa: PLC0415
            check_m0_rule(self.problem, self.training, self.options)
        elif self.method == "dmft":
            self.options.initial_m0(self.problem, self.training)
        for name, value in self.plugin_specs().items():
            if not plugins.is_import_path(value) and value.startswith("<"):
                raise ParameterError(f"{name} = {value}: give it as an import path "
                                     "'module:attr' so that worker processes can import it")

    def plugin_specs(self) -> dict:
        """The problem's loss and activation as recorded (names or import paths)."""
        p = self.problem.params()
        return {"loss": p["loss"], "activation": p["activation"]}

    @property
    def key(self) -> str:
        """sha256 of the canonical JSON of what determines the numbers (module docstring)."""
        fingerprints = {spec: plugins.fingerprint(spec) for spec in self.plugin_specs().values()
                        if plugins.is_import_path(spec)}
        obj = dict(kind=self.method, problem=self.problem.key_params(),
                   training=self.training.key_params(), options=self.options.key_params(),
                   plugins=fingerprints, version=__version__)
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def cost(self) -> float:
        """Estimated seconds on one core (see the constants above); an eta -> 0 ladder is the
        sum of its rungs (2^j T steps), an m0 average K + 1 solves sharing the draws."""
        o = self.options
        rungs = o.eta_ladder if o.eta_limit else 1
        return sum(self._cost_at(self.training.steps * 2**j) for j in range(rungs)) + 0.01

    def _cost_at(self, T: int) -> float:
        o = self.options
        if self.method == "simulate":
            entries = max(1, round(self.problem.alpha * o.d)) * o.d
            per_seed = (T * (SIM_COST_PER_ENTRY_STEP * entries + SIM_COST_PER_STEP)
                        + SIM_COST_PER_ENTRY_SETUP * entries)
            return o.seeds * per_seed
        it = o.max_iter
        solves = 1
        if o.m0_average:  # the nodes share the draws; each adds its per-step and causal costs
            from ..dmft.m0average import default_m0_nodes  # noqa: PLC0415
            solves = (o.m0_nodes or default_m0_nodes(self.problem)) + self.problem.symmetric
        shared = it * DMFT_COST_T2N * T * T * o.samples
        if o.response == "propagate":
            shared += (it - 1) * DMFT_COST_T3NR * T**3 * o.response_samples
        return shared + solves * (it * DMFT_COST_PER_STEP * T + DMFT_COST_CAUSAL_T3 * T**3)

    def payload(self) -> dict:
        """Plain data for a worker process (:func:`execute` rebuilds the job from it)."""
        return dict(method=self.method, problem=self.problem.params(),
                    training=self.training.params(), options=self.options.params(),
                    key=self.key, version=__version__)

    def describe(self) -> str:
        tr, p = self.training, self.problem
        what = tr.algorithm + ("" if tr.algorithm == "gd" else f" b={tr.b:g}")
        if tr.tau is not None:
            what += f" 1/tau={1 / tr.tau:g}"
        model = (f"clusters={p.clusters}" if p.centers is None
                 else "centers=" + ",".join(f"{c:g}" for c in p.centers))
        extra = f" d={self.options.d}" if self.method == "simulate" else ""
        return f"{self.method} {model} {what} lam={p.lam:g} R={tr.R:g} eta={tr.eta:g}{extra}"


def job_from_payload(payload: dict) -> Job:
    """The :class:`Job` of a payload (plug-ins imported again, everything validated)."""
    method = payload["method"]
    return Job(method, Problem(**payload["problem"]), Training(**payload["training"]),
               METHODS[method](**payload["options"]))


def execute(payload: dict) -> dict:
    """Run one job (in a worker process, a Dask worker or this process).

    Returns ``{"key", "ok": True, "result", "wall"}``, or for a deterministic failure
    (:class:`~gmmdmft.DivergenceError`, :class:`~gmmdmft.ParameterError`) ``{"key", "ok":
    False, "error": type name, "message", "wall"}``. Anything else (a worker dying, out of
    memory) propagates, so that the executor retries it.
    """
    if payload.get("version") != __version__:
        raise RuntimeError(f"this worker runs gmmdmft {__version__} but the job was made with "
                           f"{payload.get('version')}: install the same version on every worker")
    from ..dmft import solve_dmft  # noqa: PLC0415 (numerics only where they run)
    from ..simulation import simulate  # noqa: PLC0415

    t0 = time.perf_counter()
    try:
        job = job_from_payload(payload)
        run = simulate if job.method == "simulate" else solve_dmft
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = run(job.problem, job.training, job.options, progress=False)
    except (ParameterError, DivergenceError) as e:
        return dict(key=payload["key"], ok=False, error=type(e).__name__, message=one_line(e),
                    wall=time.perf_counter() - t0)
    return dict(key=payload["key"], ok=True, result=result, wall=time.perf_counter() - t0)
