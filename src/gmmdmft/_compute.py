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

    o = options
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if kind == "simulate":
            return simulate(problem, training, d=o["d"], seeds=o["seeds"], seed0=o["seed0"],
                            every=o["every"], dtype=o["dtype"], progress=False)
        damping = {"damping": o["damping"]} if "damping" in o else {}
        return solve_dmft(problem, training, samples=o["samples"],
                          response_samples=o["response_samples"], max_iter=o["max_iter"],
                          tol=o["tol"], seed=o["seed"], m0=o.get("m0"), d=o.get("d"),
                          progress=False, **damping)
