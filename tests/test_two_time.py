"""The DMFT C(t, t') against the finite-d C(t, t') = w(t).w(t')/d of simulations."""

import numpy as np
import pytest

import gmmdmft as g

PROBLEM = g.Problem(alpha=2.0, delta=0.5)
CASES = {
    "gd": g.Training("gd", eta=0.2, t_max=6.0, R=0.01),
    "persistent-sgd": g.Training("persistent-sgd", eta=0.2, t_max=6.0, R=0.01, b=0.3,
                                 tau=1 / 0.6),
}


@pytest.mark.parametrize("name", CASES)
def test_dmft_two_time_correlation_matches_finite_d(name):
    """C(t_k, t_j) of the DMFT and of simulations at d = 400 (20 seeds) agree within errors.

    Both are estimates with their own standard errors: the simulation's over 20 independent
    seeds (19 degrees of freedom), the DMFT's over its 6 averaged iterations (independent
    replicas at damping 1), so the difference of the two at each of the 66 pairs k <= j of the
    11 recorded times has the combined error s = sqrt(sem_sim^2 + sem_dmft^2). The DMFT's error
    is 0.3-0.5 of the simulation's here, so s has about 15 degrees of freedom; for Student's t
    with 15 d.o.f. P(|t| > 4.5) = 4e-4, and a union bound over the 66 (strongly correlated)
    pairs puts the false-alarm rate below 3%. The finite-d bias of C is O(1/d) relative,
    0.25% at d = 400, against a relative error of at least 2% per pair (sd over seeds of
    C ~ C / sqrt(d), divided by sqrt(20)): it is negligible. The same comparison with the
    simulation's times shifted by one record fails by a factor > 10 (checked below), so the
    test sees an error in which time is which.
    """
    training = CASES[name]
    sim = g.simulate(PROBLEM, training, d=400, seeds=20, every=3, two_time=True, progress=False)
    dmft = g.solve_dmft(PROBLEM, training, samples=8000, response_samples=200, max_iter=8, tol=0,
                        return_kernels=True, progress=False)
    k = np.round(sim.t / training.eta).astype(int)  # the recorded steps, on the DMFT's grid
    C_dmft, sem_dmft = dmft.C[np.ix_(k, k)], dmft.C_sem[np.ix_(k, k)]
    s = np.sqrt(sim.C_sem**2 + sem_dmft**2)
    upper = np.triu_indices(len(k))
    z = ((sim.C - C_dmft) / s)[upper]
    assert np.all(np.isfinite(z))
    assert np.max(np.abs(z)) < 4.5, (name, np.max(np.abs(z)))
    shifted = (sim.C[1:, 1:] - C_dmft[:-1, :-1]) / np.sqrt(sim.C_sem[1:, 1:]**2
                                                          + sem_dmft[:-1, :-1]**2)
    assert np.max(np.abs(shifted)) > 45
