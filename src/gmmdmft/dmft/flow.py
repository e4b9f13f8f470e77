"""The DMFT's flow limit eta -> 0 (docs/flow-limit.md): the DMFT solved at a ladder of step
sizes eta, eta/2, ..., Richardson-extrapolated with the measured order by
:func:`gmmdmft.extrapolation.flow_limit`.

This module takes the one-step-size solver as an argument instead of importing it, so that
:func:`~gmmdmft.solve_dmft` can call it for ``eta_limit = true`` without an import cycle;
:func:`gmmdmft.dmft.solve_dmft_flow_limit` passes :func:`~gmmdmft.solve_dmft`.
"""

from __future__ import annotations

from typing import Callable

from .._validation import ParameterError
from ..extrapolation import flow_limit
from ..model import Problem
from ..options import DMFTOptions
from ..result import Result
from ..training import Training

METHOD = "dmft-eta-limit"


def dmft_flow_limit(solve: Callable[..., Result], problem: Problem, training: Training,
                    options: DMFTOptions, *, progress: bool | None = None, init=None,
                    return_kernels: bool = False) -> Result:
    """The d -> infinity curves of the stochastic gradient flow (eta -> 0 at fixed b, tau).

    ``solve(problem, training, options, progress=...)`` solves at one step size (it is
    :func:`~gmmdmft.solve_dmft`); it runs at eta / 2^j for j = 0 .. ``options.eta_ladder`` - 1,
    rung j with seed ``options.seed + j`` (independent rungs). The rungs are taken on the grid
    t_k = k eta and extrapolated to eta -> 0 with the order measured on the finest three
    (docs/flow-limit.md, "Extrapolation"); the ``*_sem`` arrays are the error bar of
    docs/flow-limit.md, "Error bar" (the rungs' Monte-Carlo errors propagated, the order's
    uncertainty and the extrapolation residual).

    Returns a :class:`~gmmdmft.Result` with method ``"dmft-eta-limit"``; ``status`` 1 if a rung
    did not converge or the measured order is not near 1; ``stats`` holds the rungs' curves
    and summaries, the order and the error components. Raises ParameterError, before any
    compute, for classical SGD with b < 1 (no stochastic flow limit) and for ``init`` or
    ``return_kernels`` (the rungs have different time grids). Cost: dominated by the finest
    rung, with 2^(eta_ladder - 1) times the steps of the plain solve (solved first, so that a
    ladder that does not fit in memory is refused before anything is computed).
    """
    if init is not None or return_kernels:
        raise ParameterError("eta_limit = true does not take init or return_kernels (the "
                             "ladder's solves have different time grids)")
    rung_options = options.replace(eta_limit=False)
    wrap = DMFTOptions.specs()["seed"][1].hi + 1  # seeds stay in range

    def rung(tr, j):
        return solve(problem, tr, rung_options.replace(seed=(options.seed + j) % wrap),
                     progress=progress)

    return flow_limit(rung, training, options.eta_ladder, method=METHOD,
                      options_params=options.replace(eta_limit=True).params())
