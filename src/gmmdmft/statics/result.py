"""Results of the static theory: :class:`ERMResult` (the ridge minimiser, docs/statics.md
"The fixed point") and :class:`MaxMarginResult` (docs/statics.md, "The max-margin limit")."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field


def _plain(value):
    """JSON-able data: non-finite floats become None (JSON has no inf or nan)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _plain(value.item())
    return value


@dataclass
class ERMResult:
    """The minimiser of sum_mu ell(y_mu w.x_mu/sqrt(d)) + (lam/2)|w|^2 as d -> infinity, in the
    manner of :class:`gmmdmft.Result` (docs/statics.md, "The fixed point").

    Attributes
    ----------
    gen_error : float
        Test error eps = sum_k p_k Phi(-y_k c_k m / sqrt(Delta q)).
    m, q : float
        m = w.v*/d and q = |w|^2/d of the minimiser (q is ``norm`` of :class:`gmmdmft.Result`).
    V : float
        Response of a training margin to its own cavity field (the prox step V); inf for the
        ridgeless square loss at alpha < 1 (the lam -> 0+ limit, where the conjugates are 0).
    mhat, qhat, Vhat : float
        The conjugate parameters.
    train_loss : float
        (1/n) sum_mu ell(margin_mu) = E ell(h*), the convention of :class:`gmmdmft.Result`.
    train_accuracy : float
        Fraction of training samples with a positive margin, P(h* > 0).
    residual : float
        Relative change |F(x) - x| of (m, q, V) under one more application of the fixed-point
        map (0 for the closed form).
    iterations : int
        Evaluations of the fixed-point map (0 for the closed form).
    quadrature_error : float
        Relative change of the map's output when the quadrature is refined twice (0 for the
        closed form); below ``quad_tol`` when ``status`` is 0.
    params : dict
        The problem (``problem.params()``), the resolved model, the solver's options and the
        package version.
    status : int
        0: converged to ``tol`` with a converged quadrature; 1: not (``message`` says why).
    message : str
    method : str
        ``"closed form"`` (square loss) or ``"fixed point"``.
    """

    gen_error: float
    m: float
    q: float
    V: float
    mhat: float
    qhat: float
    Vhat: float
    train_loss: float
    train_accuracy: float
    residual: float
    iterations: int
    quadrature_error: float
    params: dict = field(default_factory=dict)
    status: int = 0
    message: str = "success"
    method: str = "fixed point"

    @property
    def success(self) -> bool:
        return self.status == 0

    @property
    def rho(self) -> float:
        """Cosine between w and v*: m / sqrt(q)."""
        return self.m / math.sqrt(self.q) if self.q > 0 else math.nan

    def as_dict(self) -> dict:
        """Plain JSON-able data (every attribute, ``success`` and ``rho``; inf/nan -> None)."""
        out = dataclasses.asdict(self)
        out.update(success=self.success, rho=self.rho)
        return _plain(out)

    def __repr__(self) -> str:
        return (f"ERMResult(method={self.method!r}, status={self.status}, "
                f"gen_error={self.gen_error:.6g}, m={self.m:.6g}, q={self.q:.6g}, "
                f"residual={self.residual:.2g})")


@dataclass
class MaxMarginResult:
    """The max-margin classifier as d -> infinity (docs/statics.md, "The max-margin limit").

    Attributes
    ----------
    gen_error : float
        Test error sum_k p_k Phi(-y_k c_k rho / sqrt(Delta)).
    rho : float
        Cosine between w and v* (= m at |w|^2/d = 1).
    kappa : float
        The margin: min_mu y_mu w.x_mu/sqrt(d) at |w|^2/d = 1.
    m, q : float
        Overlaps in the hard-margin SVM normalisation (min |w|^2 subject to every margin
        >= 1): m = rho/kappa, q = 1/kappa^2; the lam -> 0+ limit of the ridge minimiser of the
        squared hinge (and hinge) loss.
    support_fraction : float
        Fraction of training samples on the margin (the support vectors).
    alpha_star : float
        The separability threshold alpha*(Delta) of the mixture.
    params : dict
        The problem, the resolved model and the package version.
    """

    gen_error: float
    rho: float
    kappa: float
    m: float
    q: float
    support_fraction: float
    alpha_star: float
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain JSON-able data."""
        return _plain(dataclasses.asdict(self))
