"""The model: mixtures on the v* line, output functions, losses, and the problem built from
them (one concern per module; docs/theory.md, "Model" and "The model contract")."""

from .loss import LOSSES, Exponential, Logistic, Loss, Square, SquaredHinge, resolve_loss
from .mixture import Mixture, three_clusters, two_clusters
from .output import OUTPUTS, Door, Linear, Output, resolve_output
from .problem import (Problem, bayes_optimal_error, oracle_error, oracle_threshold,
                      reference_error, reference_label, threshold_error)

__all__ = ["LOSSES", "OUTPUTS", "Door", "Exponential", "Linear", "Logistic", "Loss", "Mixture",
           "Output", "Problem", "Square", "SquaredHinge", "bayes_optimal_error", "oracle_error",
           "oracle_threshold", "reference_error", "reference_label", "resolve_loss",
           "resolve_output", "three_clusters", "threshold_error", "two_clusters"]
