"""Drawing a finite-size extrapolation (:class:`gmmdmft.finitesize.FiniteSizeResult`;
docs/finite-size.md, "The 1/d fit"): left, the curves at each d (symbols, seed errors), the
extrapolation x_inf(t) (band: +- its error) and the DMFT (line); right, x against 1/d at a few
times with the fitted lines, x_inf and the DMFT at 1/d = 0."""

from __future__ import annotations

import numpy as np

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
LABELS = {"gen_error": r"$\varepsilon_{\rm gen}$", "train_loss": "training loss",
          "train_accuracy": "training accuracy", "m": "$m$", "norm": r"$\|\mathbf{w}\|^2/d$"}


def draw_finite_size(result, name: str = "gen_error", axes=None, times=None):
    """Draw ``result`` for the observable ``name`` on ``axes`` (two matplotlib axes; a new
    figure when None) and return the axes. ``times``: the times of the right panel (default
    four, evenly spread after t = 0)."""
    if axes is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(10, 4), layout="constrained")
        axes = fig.subplots(1, 2)
    left, right = axes
    fit, t = result.fits[name], result.t
    for i, (d, sim) in enumerate(zip(result.ds, result.simulations)):
        left.errorbar(t, getattr(sim, name), yerr=getattr(sim, name + "_sem"), fmt="o", ms=2.5,
                      lw=0.8, color=COLORS[i % len(COLORS)], label=f"d = {d}")
    left.plot(t, fit.inf, color="k", lw=1.2, label=r"fit $d \to \infty$")
    left.fill_between(t, fit.inf - fit.inf_sem, fit.inf + fit.inf_sem, color="k", alpha=0.2, lw=0)
    if result.dmft is not None:
        left.plot(result.dmft.t, getattr(result.dmft, name), "--", color="#555555", lw=1.2,
                  label="DMFT")
    left.set_xlabel("$t$")
    left.set_ylabel(LABELS.get(name, name))
    left.legend(fontsize=8)
    if times is None:
        times = np.linspace(t[0], t[-1], 5)[1:]
    x = 1.0 / np.asarray(result.ds, dtype=float)
    xs = np.linspace(0.0, x.max() * 1.05, 50)
    for j, tt in enumerate(times):
        i = int(np.argmin(np.abs(t - tt)))
        color = COLORS[j % len(COLORS)]
        y = [getattr(s, name)[i] for s in result.simulations]
        e = [getattr(s, name + "_sem")[i] for s in result.simulations]
        right.errorbar(x, y, yerr=e, fmt="o", ms=3, color=color, label=f"t = {t[i]:g}")
        right.plot(xs, fit.inf[i] + fit.a[i] * xs, "-", color=color, lw=0.8)
        right.errorbar([0.0], [fit.inf[i]], yerr=[fit.inf_sem[i]], fmt="s", ms=4, color=color,
                       mfc="white")
        if result.dmft is not None:
            k = int(np.searchsorted(result.dmft.t, t[i] - 1e-9))
            right.plot([0.0], [getattr(result.dmft, name)[k]], "x", color="k", ms=6)
    right.set_xlabel("$1/d$")
    right.set_ylabel(LABELS.get(name, name))
    right.legend(fontsize=8, title="open: fit at 1/d = 0; x: DMFT", title_fontsize=7)
    return axes
