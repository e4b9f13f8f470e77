"""One computation of the figure and sweep commands, from plain options (orchestration).

Both commands describe a computation as a kind (``"simulate"`` or ``"dmft"``), a
:class:`~gmmdmft.Problem`, a :class:`~gmmdmft.Training` and a dict of method options (the
options that enter its content key, :func:`gmmdmft.io.content_key`); :func:`compute` turns
that into the call of :func:`gmmdmft.simulate` or :func:`gmmdmft.solve_dmft`. The numerics are
imported only when a computation runs (in a worker process, a Dask worker or this process).
"""

from __future__ import annotations

import numpy as np


def compute(kind: str, problem, training, options: dict):
    """The :class:`~gmmdmft.result.Result` of one computation, without progress bar and with
    numpy's floating-point warnings off (a diverging run raises its own error).

    ``options``: for ``"simulate"`` d, seeds, seed0, every, dtype; for ``"dmft"`` samples,
    response_samples, max_iter, tol, seed and optionally damping (else the solver's default),
    m0 and d.
    """
    from .dmft import solve_dmft  # noqa: PLC0415 (numerics only where they run)
    from .simulation import simulate  # noqa: PLC0415

    from .options import DMFTOptions, SimulationOptions  # noqa: PLC0415

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if kind == "simulate":
            o = {k: v for k, v in options.items() if k in SimulationOptions.specs()}
            return simulate(problem, training, SimulationOptions(**o), progress=False)
        o = {k: v for k, v in options.items() if k in DMFTOptions.specs()}
        return solve_dmft(problem, training, DMFTOptions(**o), progress=False)
