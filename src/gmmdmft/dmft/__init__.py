"""Dynamical mean-field theory (DMFT) of GD / SGD / persistent SGD in discrete time
(docs/theory.md, "DMFT"; the paper's Eqs. 15-20 with step eta, exact for step-eta SGD as
d -> infinity).

One training sample's field follows the effective process

    r_k     = sqrt(Delta) h_k + m_k (c + sqrt(Delta) h0)
    F_k     = s_k Lambda'(y, r_k),      D_k = s_k Lambda''(y, r_k)
    h_{k+1} = (1 - eta (lam + lamhat_k)) h_k + eta^2 sum_{j<k} M_R[k, j] h_j + eta (xi_k - sqrt(Delta) F_k)

with xi a Gaussian path of covariance M_C, and the kernels are averages over the process:

    lamhat_k = alpha Delta <D_k>,             mu_k = alpha <(c + sqrt(Delta) h0) F_k>
    M_C[k,j] = alpha Delta <F_k F_j>,         M_R[k,j] = alpha Delta^2 <D_k G[k,j] D_j>   (j < k)
    G[j+1,j] = 1,  G[k+1,j] = (1 - eta (lam + lamhat_k + Delta D_k)) G[k,j] + eta^2 sum_{j<i<k} M_R[k,i] G[i,j]
    m_{k+1}  = m_k - eta (lam m_k + mu_k)

Modules: :mod:`.solver` (:func:`solve_dmft`), :mod:`.draws` (the quenched variables),
:mod:`.causal` (the burn-in sweep), :mod:`.lagged` (the fast sweep), :mod:`.response` (M_R),
:mod:`.kernels` (two-time functions), :mod:`.exact` (the sampling-free square-loss solver),
:mod:`.m0law` and :mod:`.m0average` (the DMFT averaged over the law of m(0), docs/finite-size.md),
:mod:`.flow` (the flow limit eta -> 0 over a ladder of solves).
"""

from ..options import DMFTOptions, finite_d_m0
from ..result import Result
from .flow import dmft_flow_limit
from .kernels import KERNELS, two_time
from .entry import solve_dmft
from .m0average import solve_dmft_m0_average
from .solver import _options


def solve_dmft_flow_limit(problem, training, options: DMFTOptions | None = None, *,
                          progress: bool | None = None, **keywords) -> Result:
    """:func:`solve_dmft` with ``eta_limit = true``: the eta -> 0 extrapolation of solves at
    eta, eta/2, ..., eta/2^(eta_ladder - 1) (:func:`.flow.dmft_flow_limit`; docs/flow-limit.md).
    ``options`` and ``keywords`` as for :func:`solve_dmft`."""
    options = _options(problem, training, options, keywords)
    return dmft_flow_limit(solve_dmft, problem, training, options, progress=progress)

__all__ = ["KERNELS", "dmft_flow_limit", "finite_d_m0", "solve_dmft", "solve_dmft_flow_limit",
           "solve_dmft_m0_average", "two_time"]
