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
:mod:`.m0law` and :mod:`.m0average` (the DMFT averaged over the law of m(0), docs/finite-size.md).
"""

from ..options import finite_d_m0
from .kernels import KERNELS, two_time
from .m0average import solve_dmft_m0_average
from .solver import solve_dmft

__all__ = ["KERNELS", "finite_d_m0", "solve_dmft", "solve_dmft_m0_average", "two_time"]
