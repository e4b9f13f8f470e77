"""gmmdmft: learning curves of (stochastic) gradient descent on high-dimensional Gaussian
mixtures, by finite-d simulation and by dynamical mean-field theory (DMFT).

Implements F. Mignacco, F. Krzakala, P. Urbani, L. Zdeborova, "Dynamical mean-field theory for
stochastic gradient descent in Gaussian mixture classification", NeurIPS 2020 (arXiv:2006.06098).
"""

__version__ = "0.2.0"

from ._validation import DivergenceError, ParameterError, ParameterTypeError  # noqa: E402
from .model import (  # noqa: E402
    LOSSES, Door, Exponential, Linear, Logistic, Loss, Mixture, Output, Problem, Square,
    SquaredHinge, bayes_optimal_error, oracle_error, oracle_threshold, reference_error,
    three_clusters, two_clusters,
)
from .training import ALGORITHMS, Training  # noqa: E402
from .options import DMFTOptions, SimulationOptions  # noqa: E402
from .result import Result  # noqa: E402
from .simulation import simulate  # noqa: E402
from .dmft import solve_dmft, solve_dmft_flow_limit  # noqa: E402
from .schedules import BatchChainWarning  # noqa: E402
from .statics import (  # noqa: E402
    ERMOptions, ERMResult, MaxMarginResult, max_margin, separability_threshold, solve_erm,
)

__bibtex__ = """@inproceedings{mignacco2020dynamical,
  title     = {Dynamical mean-field theory for stochastic gradient descent in Gaussian mixture classification},
  author    = {Mignacco, Francesca and Krzakala, Florent and Urbani, Pierfrancesco and Zdeborov{\\'a}, Lenka},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {33},
  year      = {2020}
}"""

__all__ = [
    "ALGORITHMS", "BatchChainWarning", "DMFTOptions", "DivergenceError", "Door", "ERMOptions",
    "ERMResult", "Exponential", "LOSSES", "Linear", "Logistic", "Loss", "MaxMarginResult",
    "Mixture", "Output", "ParameterError", "ParameterTypeError", "Problem", "Result",
    "SimulationOptions", "Square", "SquaredHinge", "Training", "bayes_optimal_error",
    "max_margin", "oracle_error", "oracle_threshold", "reference_error",
    "separability_threshold", "simulate", "solve_dmft", "solve_dmft_flow_limit", "solve_erm",
    "three_clusters", "two_clusters", "__version__",
]
