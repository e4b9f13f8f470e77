"""The public :func:`solve_dmft`: one entry for every DMFT method of the options.

``DMFTOptions.eta_limit`` routes to the eta -> 0 ladder (:mod:`.flow`, docs/flow-limit.md),
whose rungs come back here; ``DMFTOptions.m0_average`` to the average over the law of m(0)
(:mod:`.m0average`, docs/finite-size.md); otherwise the plain solve of :mod:`.solver`
(docs/theory.md, "Solver"). The options are validated once, before any compute.
"""

from __future__ import annotations

from .._validation import ParameterError
from ..result import Result
from . import solver
from .flow import dmft_flow_limit
from .m0average import solve_dmft_m0_average


def solve_dmft(problem, training, options=None, *, init: Result | None = None,
               return_kernels: bool = False, progress: bool | None = None,
               **keywords) -> Result:
    options = solver._options(problem, training, options, keywords)
    if options.eta_limit:
        return dmft_flow_limit(solve_dmft, problem, training, options, progress=progress,
                               init=init, return_kernels=return_kernels)
    if options.m0_average:
        if init is not None or return_kernels:
            raise ParameterError("m0_average = true does not take init or return_kernels (its "
                                 "curves average solves at several m0)")
        return solve_dmft_m0_average(problem, training, options, progress=progress)
    return solver.solve_dmft(problem, training, options, init=init,
                             return_kernels=return_kernels, progress=progress)


solve_dmft.__doc__ = solver.solve_dmft.__doc__.replace(
    "    Returns\n", "    With ``options.eta_limit`` the curves are the eta -> 0 extrapolation of a\n"
    "    ladder of solves (:func:`.flow.dmft_flow_limit`); with ``options.m0_average`` their\n"
    "    average over the law of m(0) at dimension ``d`` (:func:`.m0average.solve_dmft_m0_average`).\n\n"
    "    Returns\n", 1)
