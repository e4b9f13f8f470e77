"""The quenched variables of N draws of the effective process (docs/theory.md, "Solver").

Variance reduction, all exact in law:

* the classes (c, y) of the mixture are drawn in their exact proportions, interleaved so that
  every prefix of the draws (the first N_R estimate M_R in the causal sweep) holds them in
  proportion, with the model's sign symmetry folded in (:meth:`Mixture.dmft_classes`: for the
  two-cluster model c = +1 stands for c = +-1);
* h0 and h(0) are stratified (Latin-hypercube) normals within each class, which makes
  <u> = <c>, <u^2> = <c^2> + Delta, ... nearly exact;
* the response draws are importance-sampled (:func:`pick_response_draws`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri


class Draws:
    """c, y, h0, h(0) and u = c + sqrt(Delta) h0 of N draws (float arrays)."""

    def __init__(self, problem, training, N: int, m0: float, rng):
        self.N = N
        classes = problem.dmft_classes()
        which = assign_classes(N, [p for _, _, p in classes])
        self.c = np.array([c for c, _, _ in classes], dtype=float)[which]
        self.y = np.array([y for _, y, _ in classes], dtype=float)[which]
        self.h0 = np.empty(N)
        self.h_init = np.empty(N)
        sd0 = math.sqrt(max(training.R - m0 * m0, 0.0))
        for k in range(len(classes)):
            idx = np.flatnonzero(which == k)
            self.h0[idx] = stratified_normal(rng, idx.size)
            self.h_init[idx] = sd0 * stratified_normal(rng, idx.size)
        self.u = self.c + math.sqrt(problem.delta) * self.h0


def assign_classes(N: int, weights) -> np.ndarray:
    """Class index of each of N draws: counts N p_k rounded by largest remainder, interleaved in
    the order of the quantiles (j + 1/2)/n_k (ties by class order), so that any prefix holds the
    classes in proportion: equal weights give 0, 1, 0, 1, ..."""
    w = np.asarray(weights, dtype=float)
    raw = N * w / w.sum()
    counts = np.floor(raw).astype(int)
    short = N - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    keys = np.concatenate([(np.arange(n) + 0.5) / n for n in counts if n > 0])
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(counts) if n > 0])
    return labels[np.argsort(keys, kind="stable")]


def stratified_normal(rng, n):
    """n standard normals, one in each of n equiprobable strata, in random order."""
    q = (rng.permutation(n) + rng.random(n)) / n
    return ndtri(q)


def pick_response_draws(score, n, rng):
    """Importance sampling of the draws whose responses estimate M_R.

    M_R[k, j] = alpha Delta^2 <D_k G[k, j] D_j> is carried by the draws whose Lambda'' stays
    large (at late times, the few samples near the decision boundary), so draws are picked with
    probability p proportional to sum_k D_k^2 (floored at 1e-3 of the mean) and weighted by
    1/(N p): an unbiased estimate of the average over all N draws. Measured at alpha = 2,
    Delta = 0.5, GD, t = 50: the iteration-to-iteration scatter of gen_error drops from 0.0021 to
    0.0007 at equal cost.
    """
    score = np.asarray(score, dtype=np.float64)  # sum_k D_k^2 per draw
    score = score + (1e-3 * score.mean() + 1e-300)
    prob = score / score.sum()
    pick = np.sort(rng.choice(prob.size, size=n, replace=True, p=prob))
    return pick, 1.0 / (prob.size * prob[pick])
