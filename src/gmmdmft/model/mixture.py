"""Mixtures on the v* line: x = c v*/sqrt(d) + sqrt(Delta) z, with (c, y) drawn from
{(c_k, y_k) with probability p_k} (docs/theory.md, "Model" and "General mixtures").

A :class:`Mixture` is plain data (centers, weights, labels) with what the rest of the package
needs from a data law: sampling for the simulator (:meth:`Mixture.sample`), the classes of
the DMFT draws with their symmetry folded in (:meth:`Mixture.dmft_classes`), the test error
of a classifier from its overlaps (m, C) (:meth:`Mixture.gen_error`), the oracle error of the
best classifier that knows v* (:meth:`Mixture.oracle_error`) and, for two balanced symmetric
clusters, the Bayes-optimal error (:meth:`Mixture.bayes_optimal_error`). The paper's models are
the presets :func:`two_clusters` and :func:`three_clusters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.optimize import brentq
from scipy.special import erfc, logsumexp

from .._validation import ParameterError
from .output import sign_probabilities

WEIGHT_SUM_TOL = 1e-9


@dataclass(frozen=True)
class Mixture:
    """Centers c_k, weights p_k (> 0, summing to 1) and labels y_k = +-1, K >= 2 components.

    Validated on construction: lists of equal length, weights that sum to 1, labels -1 or +1,
    both labels present.
    """

    centers: tuple
    weights: tuple
    labels: tuple

    def __post_init__(self):
        c, w, y = (tuple(float(v) for v in self.centers), tuple(float(v) for v in self.weights),
                   tuple(self.labels))
        if not (len(c) == len(w) == len(y)):
            raise ParameterError(f"centers, weights and labels must have the same length "
                                 f"(now {len(c)}, {len(w)} and {len(y)})")
        if len(c) < 2:
            raise ParameterError(f"centers = {_show(c)}: a mixture needs at least 2 components")
        if any(not math.isfinite(v) for v in c):
            raise ParameterError(f"centers = {_show(c)} is out of range: must be finite numbers")
        if any(not (v > 0 and math.isfinite(v)) for v in w):
            raise ParameterError(f"weights = {_show(w)} is out of range: each weight must be > 0")
        if abs(sum(w) - 1.0) > WEIGHT_SUM_TOL:
            raise ParameterError(f"weights = {_show(w)} is out of range: must sum to 1 "
                                 f"(they sum to {sum(w):.12g})")
        if any(v not in (-1, 1) or isinstance(v, bool) for v in y):
            raise ParameterError(f"labels = {_show(y)} is out of range: each label must be -1 or +1")
        if len(set(y)) < 2:
            raise ParameterError(f"labels = {_show(y)}: both labels -1 and +1 must occur")
        object.__setattr__(self, "centers", c)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "labels", tuple(int(v) for v in y))

    @property
    def components(self) -> list[tuple[float, int, float]]:
        """[(c_k, y_k, p_k)] in the given order."""
        return list(zip(self.centers, self.labels, self.weights))

    # ------------------------------------------------------------------ symmetry
    def invariant_under(self, flip_label: bool) -> bool:
        """Whether the law of (c, y) is invariant under c -> -c (and y -> -y if ``flip_label``)."""
        comps = self.components

        def weight(c, y):
            return sum(q for c2, y2, q in comps if _close(c2, c) and y2 == y)

        return all(abs(weight(-c, -y if flip_label else y) - weight(c, y)) <= 1e-12
                   for c, y, _ in comps)

    def dmft_classes(self, parity: str | None) -> list[tuple[float, int, float]]:
        """The quenched classes (c, y, p) of the DMFT draws, sorted by c, with the model's sign
        symmetry folded in (docs/theory.md, "Symmetry").

        With an odd output and a law invariant under (c, y) -> (-c, -y), the field r, the force
        F and u = c + sqrt(Delta) h0 change sign together and every kernel is unchanged, so each
        pair is represented by its member with c > 0 (c = 0: y = +1) at twice the weight; with
        an even output and a law invariant under c -> -c (y unchanged) the same holds with
        c >= 0. Otherwise every component is its own class.
        """
        if parity == "odd" and self.invariant_under(flip_label=True):
            def rep(c, y):
                return (c, y) if c > 0 or (c == 0 and y > 0) else (abs(c), -y)
        elif parity == "even" and self.invariant_under(flip_label=False):
            def rep(c, y):
                return abs(c), y
        else:
            def rep(c, y):
                return c, y
        merged: dict = {}
        for c, y, p in self.components:
            key = rep(c, y)
            merged[key] = merged.get(key, 0.0) + p
        return sorted(((c, y, p) for (c, y), p in merged.items()), key=lambda k: (k[0], k[1]))

    # ------------------------------------------------------------------ data
    def sample(self, rng: np.random.Generator, n: int):
        """Cluster centers c and labels y of n samples (float arrays).

        Weights that are fractions with a denominator q <= 1000 are drawn exactly, as uniform
        indices into a table of q entries (each component repeated p_k q times, in order);
        others by ``rng.choice(K, p=weights)``.
        """
        table = self._table()
        if table is not None:
            idx = table[rng.choice(len(table), size=n)]
        else:
            idx = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        return np.asarray(self.centers)[idx], np.asarray(self.labels, dtype=float)[idx]

    def _table(self):
        fracs = [Fraction(p).limit_denominator(1000) for p in self.weights]
        if any(abs(float(f) - p) > 1e-12 for f, p in zip(fracs, self.weights)) or sum(fracs) != 1:
            return None
        q = math.lcm(*(f.denominator for f in fracs))
        if q > 1000:
            return None
        return np.repeat(np.arange(len(fracs)), [int(f * q) for f in fracs])

    # ------------------------------------------------------------------ errors
    def gen_error(self, m, C, delta: float, output):
        """Test error of sign(phi(w.x/sqrt(d))) from m = w.v*/d and C = |w|^2/d (paper Eq. 25,
        docs/theory.md "Observables"): given c, w.x/sqrt(d) ~ N(c m, Delta C) exactly, so
        eps = sum_k p_k P(y_k phi(h) <= 0 | c_k), a tie phi = 0 counting half."""
        m = np.asarray(m, dtype=float)
        sd = np.sqrt(delta * np.asarray(C, dtype=float))
        err = 0.0
        for c, y, p in self.components:
            pos, neg = sign_probabilities(output, c * m, sd)
            err = err + p * (neg if y > 0 else pos)
        return np.asarray(err)[()]

    def oracle_regions(self, delta: float) -> np.ndarray:
        """Sorted points where the oracle's decision on u = c + sqrt(Delta) g changes: the roots
        of sum_{y_k=+1} p_k N(u; c_k, Delta) = sum_{y_k=-1} p_k N(u; c_k, Delta)."""
        f = self._log_ratio(delta)
        sd = math.sqrt(delta)
        u = np.linspace(min(self.centers) - 12 * sd, max(self.centers) + 12 * sd, 20001)
        sign = np.sign(f(u))
        roots = list(u[sign == 0])
        for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
            roots.append(brentq(f, u[i], u[i + 1], xtol=1e-15, rtol=1e-15))
        return np.array(sorted(roots))

    def _log_ratio(self, delta):
        c = np.asarray(self.centers)
        logw = np.log(np.asarray(self.weights))
        y = np.asarray(self.labels)

        def f(u):
            u = np.atleast_1d(np.asarray(u, float))
            logs = logw[None, :] - (u[:, None] - c[None, :]) ** 2 / (2 * delta)
            out = (logsumexp(np.where(y > 0, logs, -np.inf), axis=1)
                   - logsumexp(np.where(y < 0, logs, -np.inf), axis=1))
            return out if out.size > 1 else float(out[0])
        return f

    def oracle_error(self, delta: float) -> float:
        """Error of the Bayes rule that knows v*: it sees u = x.v*/sqrt(d) ~ N(c, Delta) (the
        part of x orthogonal to v* is noise independent of the class) and predicts the label
        of larger posterior weight, region by region between :meth:`oracle_regions`."""
        f = self._log_ratio(delta)
        edges = np.concatenate([[-np.inf], self.oracle_regions(delta), [np.inf]])
        s = math.sqrt(2.0 * delta)
        err = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            if math.isinf(a) and math.isinf(b):
                mid = 0.0
            elif math.isinf(a):
                mid = b - 1.0
            elif math.isinf(b):
                mid = a + 1.0
            else:
                mid = 0.5 * (a + b)
            predict = 1 if f(mid) > 0 else -1
            err += sum(p * _normal_mass(a, b, c, s) for c, y, p in self.components if y != predict)
        return float(err)

    def bayes_optimal_error(self, alpha: float, delta: float) -> float | None:
        """Bayes-optimal error at sample ratio alpha, in closed form for two balanced clusters
        at +-a with opposite labels: erfc( sqrt( alpha / (2 D (alpha + D)) ) ) / 2 with
        D = Delta / a^2 (paper Sec. 5; reached by the first GD step from w(0) = 0). None for
        other mixtures."""
        comps = self.components
        if len(comps) != 2:
            return None
        (c1, y1, p1), (c2, y2, p2) = comps
        if not (abs(c1 + c2) <= 1e-12 * abs(c1) and c1 != 0 and y1 != y2
                and abs(p1 - 0.5) <= 1e-12):
            return None
        D = delta / (c1 * c1)
        return 0.5 * math.erfc(math.sqrt(alpha / (2.0 * D * (alpha + D))))

    def describe(self) -> dict:
        return dict(centers=list(self.centers), weights=list(self.weights), labels=list(self.labels))


def _normal_mass(a: float, b: float, c: float, s: float) -> float:
    """P(a < u < b) for u ~ N(c, s^2 / 2), written with erfc so that tails keep their digits."""
    za, zb = (a - c) / s, (b - c) / s
    if za >= 0:
        return 0.5 * (erfc(za) - erfc(zb))
    if zb <= 0:
        return 0.5 * (erfc(-zb) - erfc(-za))
    return 1.0 - 0.5 * erfc(-za) - 0.5 * erfc(zb)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _show(values) -> str:
    return "(" + ", ".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in values) + ")"


def two_clusters() -> Mixture:
    """The paper's two-cluster model: c = -1 and +1 with probability 1/2 each, y = c."""
    return Mixture(centers=(-1.0, 1.0), weights=(0.5, 0.5), labels=(-1, 1))


def three_clusters() -> Mixture:
    """The paper's three-cluster model: c = 0 with probability 1/2 and label -1, c = -1 and
    +1 with probability 1/4 each and label +1."""
    return Mixture(centers=(0.0, -1.0, 1.0), weights=(0.5, 0.25, 0.25), labels=(-1, 1, 1))


PRESETS = {2: two_clusters, 3: three_clusters}


def build_mixture(clusters=None, centers=None, weights=None, labels=None) -> Mixture:
    """The mixture of a preset (``clusters`` 2 or 3; 2 when nothing is given) or of
    ``centers``, ``weights`` and ``labels`` (all three, and no preset)."""
    given = dict(centers=centers, weights=weights, labels=labels)
    if all(v is None for v in given.values()):
        return PRESETS[2 if clusters is None else clusters]()
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ParameterError(f"{missing[0]} is missing: a mixture needs centers, weights and "
                             "labels together (or a preset: clusters = 2 or 3)")
    if clusters is not None:
        raise ParameterError(f"clusters = {clusters} and centers exclude each other: give a "
                             "preset (clusters) or centers, weights and labels")
    return Mixture(**given)
