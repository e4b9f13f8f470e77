"""The t -> infinity limits as d -> infinity (docs/statics.md): the ridge minimiser of a convex
loss (:func:`solve_erm`), the max-margin classifier (:func:`max_margin`) and the separability
threshold (:func:`separability_threshold`), and the level a GD curve tends to
(:func:`asymptote`)."""

from .asymptote import Asymptote, asymptote
from .erm import solve_erm
from .margin import max_margin, separability_threshold
from .options import ERMOptions
from .result import ERMResult, MaxMarginResult

__all__ = ["Asymptote", "ERMOptions", "ERMResult", "MaxMarginResult", "asymptote", "max_margin",
           "separability_threshold", "solve_erm"]
