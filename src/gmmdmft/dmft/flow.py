"""The DMFT's flow limit eta -> 0 (docs/flow-limit.md): :func:`solve_dmft` at a ladder of step
sizes eta, eta/2, ..., Richardson-extrapolated with the measured order by
:func:`gmmdmft.extrapolation.flow_limit`."""

from __future__ import annotations

from ..extrapolation import flow_limit
from ..model import Problem
from ..options import DMFTOptions
from ..result import Result
from ..training import Training
from .solver import _options, solve_dmft

METHOD = "dmft-eta-limit"


def solve_dmft_flow_limit(problem: Problem, training: Training,
                          options: DMFTOptions | None = None, *, progress: bool | None = None,
                          **keywords) -> Result:
    """The d -> infinity curves of the stochastic gradient flow (eta -> 0 at fixed b and tau).

    Solves the DMFT (:func:`~gmmdmft.solve_dmft`, with ``options``) at eta / 2^j for
    j = 0 .. ``eta_ladder`` - 1 (rung j with seed ``seed + j``, so that the rungs are
    independent), takes them on the grid t_k = k eta and extrapolates to eta -> 0 with the order
    measured on the finest three (docs/flow-limit.md, "Extrapolation"). The ``*_sem`` arrays
    are the error bar of docs/flow-limit.md, "Error bar": the rungs' Monte-Carlo errors
    propagated, the order's uncertainty and the extrapolation residual.

    Returns a :class:`~gmmdmft.Result` with method ``"dmft-eta-limit"``; ``status`` 1 if a rung
    did not converge or the measured order is not near 1; ``stats`` holds the rungs' curves and
    summaries, the order and the error components. Raises ParameterError for classical SGD with
    b < 1 (no flow limit), before any compute. Cost: dominated by the finest rung, which has
    2^(eta_ladder - 1) times the steps of the plain solve (solved first, so that a ladder that
    does not fit in memory is refused before anything is computed).
    """
    options = _options(problem, training, options, keywords).replace(eta_limit=True)
    rung_options = options.replace(eta_limit=False)

    def solve(tr, j):
        return solve_dmft(problem, tr, rung_options.replace(seed=(rung_options.seed + j) % 2**63),
                          progress=progress)

    return flow_limit(solve, training, options.eta_ladder, method=METHOD,
                      options_params=options.params())
