"""gmmdmft: learning curves of (stochastic) gradient descent on high-dimensional Gaussian
mixtures, by finite-d simulation and by dynamical mean-field theory (DMFT).

Implements F. Mignacco, F. Krzakala, P. Urbani, L. Zdeborova, "Dynamical mean-field theory for
stochastic gradient descent in Gaussian mixture classification", NeurIPS 2020 (arXiv:2006.06098).
"""

__version__ = "0.2.0"

from ._validation import DivergenceError, ParameterError  # noqa: E402
from .problem import (  # noqa: E402
    LOSSES, Loss, Problem, bayes_optimal_error, oracle_error, oracle_threshold, reference_error,
)
from .training import ALGORITHMS, Training  # noqa: E402
from .result import Result  # noqa: E402
from .simulation import simulate  # noqa: E402
from .dmft import solve_dmft  # noqa: E402

__bibtex__ = """@inproceedings{mignacco2020dynamical,
  title     = {Dynamical mean-field theory for stochastic gradient descent in Gaussian mixture classification},
  author    = {Mignacco, Francesca and Krzakala, Florent and Urbani, Pierfrancesco and Zdeborov{\\'a}, Lenka},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {33},
  year      = {2020}
}"""

__all__ = [
    "ALGORITHMS", "LOSSES", "DivergenceError", "Loss", "ParameterError", "Problem", "Result",
    "Training", "bayes_optimal_error", "oracle_error", "oracle_threshold", "reference_error",
    "simulate", "solve_dmft", "__version__",
]
