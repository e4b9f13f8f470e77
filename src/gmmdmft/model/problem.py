"""The learning problem: a mixture, an output function, a loss, alpha, Delta, lambda
(docs/theory.md, "Model"; paper Sec. 2).

The per-sample loss is Lambda(y, h) = ell(y phi(h)) with h = w.x/sqrt(d), and the objective is
sum_mu Lambda(y_mu, h_mu) + (lam/2) |w|^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._fields import Declared, param
from .._validation import ParameterError, check_real
from .loss import LOSSES, loss_terms, resolve_loss
from .mixture import PRESETS, Mixture, build_mixture
from .output import Door, Linear, parity, resolve_output


@dataclass(frozen=True)
class Problem(Declared):
    """Gaussian-mixture classification problem (immutable, validated on construction).

    The mixture is a preset (``clusters=2``: c = +-1, y = c; ``clusters=3``: c = 0 with label
    -1, c = +-1 with label +1, weights 1/2, 1/4, 1/4) or given by ``centers``, ``weights`` and
    ``labels`` (see :class:`~gmmdmft.model.mixture.Mixture`). The output function
    (``activation``) is ``"linear"``, ``"door"`` (phi(h) = h^2 - L^2, width ``L``), an import
    path ``"module:attr"`` or an object with ``phi``, ``dphi``, ``d2phi``; the loss a name of
    :data:`~gmmdmft.model.loss.LOSSES`, an import path or an object with ``value``, ``d1``,
    ``d2`` (:mod:`gmmdmft.model.loss`, :mod:`gmmdmft.model.output`).
    """

    what = "problem"

    clusters: int | None = param(None, "choice", "Preset mixture: 2 (c = +-1, y = c) or 3 "
                                 "(c = 0 with y = -1, c = +-1 with y = +1).", choices=(2, 3),
                                 optional=True, shown_default="2 unless --centers is given")
    alpha: float = param(2.0, "real", "Sample ratio alpha = n/d.", lo=0, lo_open=True)
    delta: float = param(0.5, "real", "Cluster variance Delta.", lo=0, lo_open=True)
    lam: float = param(0.0, "real", "Ridge strength lambda.", lo=0)
    loss: object = param("logistic", "plugin", "Loss ell(y phi(h)): " + ", ".join(LOSSES)
                         + " or an import path module:attr.", metavar="NAME|MODULE:ATTR")
    L: float | None = param(None, "real", "Door width L of phi(h) = h^2 - L^2 (the door "
                            "activation only, required there).", lo=0, lo_open=True,
                            optional=True)
    activation: object = param(None, "plugin", "Output function phi: linear, door or an import "
                               "path module:attr.", optional=True, metavar="NAME|MODULE:ATTR",
                               shown_default="door for --clusters 3, else linear")
    centers: tuple | None = param(None, "reals", "Mixture centers c_k along v* "
                                  "(comma-separated; with --weights and --labels).",
                                  optional=True, metavar="C1,C2,...")
    weights: tuple | None = param(None, "reals", "Mixture weights p_k (> 0, summing to 1).",
                                  optional=True, metavar="P1,P2,...")
    labels: tuple | None = param(None, "ints", "Labels y_k = -1 or +1 of the components.",
                                 optional=True, metavar="Y1,Y2,...")

    def _check(self):
        mixture = build_mixture(self.clusters, self.centers, self.weights, self.labels)
        if self.centers is None and self.clusters is None:
            self._set("clusters", 2)
        clusters = self.clusters
        activation = self.activation
        L = self.L
        if isinstance(activation, Door):
            if L is not None and L != activation.L:
                raise ParameterError(f"L = {L:g} and activation = Door(L={activation.L:g}) disagree")
            activation, L = "door", activation.L
        elif isinstance(activation, Linear):
            activation = "linear"
        if activation is None:
            activation = "door" if clusters == 3 else "linear"
        if activation == "door":
            if L is None:
                raise ParameterError("L is missing: the door activation phi(h) = h^2 - L^2 "
                                     "(the three-cluster model) needs the width L > 0")
            L = check_real("L", L, lo=0, lo_open=True)
        elif L is not None:
            raise ParameterError(f"L = {L:g} is only used by the door activation (activation = "
                                 "'door', the default of the three-cluster model clusters = 3)")
        output = resolve_output(activation, L)
        loss = self.loss
        if not isinstance(loss, str):
            spec = getattr(loss, "spec", None)
            if isinstance(spec, str) and spec in LOSSES and type(loss) is type(LOSSES[spec]):
                loss = spec
        self._set("activation", activation)
        self._set("L", L)
        self._set("loss", loss)
        self._set("_mixture", mixture)
        self._set("_output", output)
        self._set("_ell", resolve_loss(loss))
        self._set("_parity", parity(output))
        self._set("_linear", isinstance(output, Linear))

    # ----------------------------------------------------------------- the model objects
    @property
    def mixture(self) -> Mixture:
        return self._mixture

    @property
    def output(self):
        return self._output

    @property
    def loss_function(self):
        """The loss object (the field ``loss`` holds its name or import path)."""
        return self._ell

    @property
    def symmetric(self) -> bool:
        """Whether w -> -w leaves the model invariant (an even output and a law invariant under
        c -> -c): then m = 0 is a fixed point and the DMFT needs m0 > 0 (docs/theory.md,
        "Symmetry")."""
        return self._parity == "even" and self._mixture.invariant_under(flip_label=False)

    def dmft_classes(self):
        """Classes (c, y, p) of the DMFT draws (:meth:`Mixture.dmft_classes`)."""
        return self._mixture.dmft_classes(self._parity)

    # ----------------------------------------------------------------- loss of a sample
    def phi(self, h):
        """Output phi(h)."""
        return self._output.phi(h)

    def Lambda(self, y, h):
        """Per-sample loss Lambda(y, h) = ell(y phi(h))."""
        return self._ell.value(y * self.phi(h))

    def dLambda(self, y, h):
        """Lambda'(y, h) = y ell'(y phi) phi'(h)."""
        return self.derivatives(y, h)[0]

    def d2Lambda(self, y, h):
        """Lambda''(y, h) = ell''(y phi) phi'(h)^2 + y ell'(y phi) phi''(h)."""
        return self.derivatives(y, h)[1]

    def derivatives(self, y, h):
        """(Lambda', Lambda'') evaluated together (docs/theory.md, "General mixtures")."""
        v = y * self.phi(h)
        d1, d2 = self._ell.d1(v), self._ell.d2(v)
        if self._linear:
            return y * d1, d2 * (0.0 * h + 1.0)
        dp, d2p = self._output.dphi(h), self._output.d2phi(h)
        return y * d1 * dp, d2 * dp * dp + y * d1 * d2p

    def terms(self, y, h, ops=None):
        """(Lambda, Lambda', Lambda'') together (one phi, one loss evaluation); ``ops``: array
        functions of another array library (gmmdmft._backend), None for numpy."""
        if self._linear:
            value, d1, d2 = loss_terms(self._ell, y * h, ops)
            return value, y * d1, d2
        value, d1, d2 = loss_terms(self._ell, y * self.phi(h), ops)
        dp, d2p = self._output.dphi(h), self._output.d2phi(h)
        return value, y * d1 * dp, d2 * dp * dp + y * d1 * d2p

    def correct(self, y, h):
        """True where sign(phi(h)) predicts the label y."""
        return y * self.phi(h) > 0

    # ----------------------------------------------------------------- data and errors
    def sample_clusters(self, rng, n: int):
        """Cluster centers c and labels y of n samples (:meth:`Mixture.sample`)."""
        return self._mixture.sample(rng, n)

    def gen_error(self, m, C):
        """Generalisation error from m = w.v*/d and C = |w|^2/d (paper Eq. 25,
        :meth:`Mixture.gen_error`); exact at any d. At w = 0 (C = 0, m = 0) a linear output
        ties (sign(0)) and the error is 1/2, the limit w -> 0 from a random direction."""
        return self._mixture.gen_error(m, C, self.delta, self._output)

    def model_params(self) -> dict:
        """The resolved model (mixture, output, loss) as plain data, for the records."""
        from ..plugins import import_path  # noqa: PLC0415
        return dict(mixture=self._mixture.describe(), activation=import_path(self._output)
                    if not isinstance(self._output, (Linear, Door)) else self.activation,
                    L=self.L, loss=import_path(self._ell), symmetric=self.symmetric)


def bayes_optimal_error(alpha: float, delta: float) -> float:
    """Bayes-optimal generalisation error of the two-cluster model (paper Sec. 5):
    erfc( sqrt( alpha / (2 delta (alpha + delta)) ) ) / 2; GD from w(0) = 0 reaches it after
    one step."""
    alpha = check_real("alpha", alpha, lo=0, lo_open=True)
    delta = check_real("delta", delta, lo=0, lo_open=True)
    return PRESETS[2]().bayes_optimal_error(alpha, delta)


def oracle_threshold(delta: float) -> float:
    """Threshold u* of the oracle rule 'y = +1 iff |u| > u*', u ~ N(c, delta), of the
    three-cluster model: u* = delta arccosh(exp(1/(2 delta)))."""
    delta = check_real("delta", delta, lo=0, lo_open=True)
    x = 1.0 / (2.0 * delta)
    # arccosh(e^x) = x + ln(1 + sqrt(1 - e^{-2x})), written so that small delta does not overflow
    return delta * (x + math.log1p(math.sqrt(-math.expm1(-2.0 * x))))


def threshold_error(u: float, delta: float) -> float:
    """Error of the rule 'y = +1 iff |u| > threshold' in the three-cluster model."""
    s = math.sqrt(2.0 * delta)
    return 0.5 * math.erfc(u / s) + 0.25 * (math.erf((u - 1.0) / s) + math.erf((u + 1.0) / s))


def oracle_error(delta: float) -> float:
    """Oracle error (Bayes error knowing v*) of the three-cluster model, in closed form."""
    return threshold_error(oracle_threshold(delta), delta)


def reference_error(problem: Problem) -> float:
    """The reference line of a plot: the Bayes-optimal error where it has a closed form (two
    balanced symmetric clusters), else the oracle error of the mixture."""
    bo = problem.mixture.bayes_optimal_error(problem.alpha, problem.delta)
    return bo if bo is not None else problem.mixture.oracle_error(problem.delta)


def reference_label(problem: Problem) -> str:
    """"Bayes-optimal" or "oracle": which error :func:`reference_error` gives."""
    bo = problem.mixture.bayes_optimal_error(problem.alpha, problem.delta)
    return "Bayes-optimal" if bo is not None else "oracle"
