"""Drawing one panel of the paper's figures (matplotlib; imported only by ``gmmdmft figure``).

Layout as in the paper: DMFT as continuous lines, simulations as symbols with error bars
(standard error over seeds), the dashed grey reference line (Bayes-optimal or oracle error), an
inset (training accuracy, or the weight norm |w|^2/d for Fig. 2), axis labels t and
epsilon_gen, and a legend naming the varied parameter.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..statics.asymptote import LINE_STYLES

MARKERS = ("o", "s", "^", "D", "v", "P", "X")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
INSET_LABELS = {"train_accuracy": "train. acc.", "norm": r"$\|\mathbf{w}\|^2/d$"}


LEGEND_LOCS = ("outside", "best", "upper right", "upper left", "lower left", "lower right", "right",
               "center left", "center right", "lower center", "upper center", "center")


def check_panel_text(panel) -> None:
    """Raise ValueError naming the first title, legend title or label that matplotlib cannot
    typeset (bad mathtext), or a legend location it does not know; called before any compute."""
    from matplotlib.mathtext import MathTextParser

    loc = panel.plot.get("legend_loc", "best")
    if loc not in LEGEND_LOCS:
        raise ValueError(f"[plot]: legend_loc = {loc!r} is not one of: {', '.join(LEGEND_LOCS)}")
    parser = MathTextParser("path")
    texts = [("title", panel.title), ("legend_title", panel.legend_title)]
    texts += [(f"curve label {c.label!r}", c.label) for c in panel.curves]
    for what, text in texts:
        if text.replace("\\$", "").count("$") % 2:
            raise ValueError(f"{what}: unbalanced $ (mathtext)")
        if "$" in text:
            try:
                parser.parse(text)
            except ValueError as e:
                msg = " ".join(str(e).split())
                raise ValueError(f"{what}: bad mathtext ({msg[-120:]})") from None


def marker_indices(t: np.ndarray, dt: float | None, t_max: float) -> np.ndarray:
    """Indices of the recorded times closest to 0, dt, 2 dt, ... (all of them without dt)."""
    inside = np.flatnonzero(t <= t_max + 1e-9)
    if dt is None or len(inside) == 0:
        return inside
    targets = np.arange(0.0, t_max + 1e-9, dt)
    tt = t[inside]
    pos = np.clip(np.searchsorted(tt, targets), 1, len(tt) - 1) if len(tt) > 1 else np.zeros(len(targets), int)
    if len(tt) > 1:
        left = pos - 1
        pos = np.where(np.abs(tt[left] - targets) <= np.abs(tt[pos] - targets), left, pos)
    return inside[np.unique(pos)]


def draw_panel(panel, data, png_path, pdf_path, levels=None) -> None:
    """Draw ``panel`` from ``data`` = [(curve, dmft Result, [(d, simulation Result)], m0-averaged
    dmft Result or None)]. Where a curve has the m0 average (models with the w -> -w symmetry)
    it is the line, with its predicted seed-to-seed spread as a light band, and the DMFT from
    the mean m0 (the paper's) is dashed. ``levels`` (one per curve, or None): the t -> infinity
    limit of the curve from the static theory (:class:`gmmdmft.statics.asymptote.Asymptote`),
    drawn in the curve's colour, dotted (ERM minimiser) or dash-dotted (max margin)."""
    opts = panel.plot
    outside = opts.get("legend_loc") == "outside"
    figsize = tuple(opts.get("figsize", (6.6, 3.8) if outside else (5.0, 3.8)))
    fig = Figure(figsize=figsize, dpi=150)
    left, bottom, height = 0.7 / figsize[0], 0.5 / figsize[1], 1 - 0.85 / figsize[1]
    width = (0.69 if outside else 0.97) - left
    ax = fig.add_axes((left, bottom, width, height))
    ins = None
    if panel.inset != "none":
        bounds = opts.get("inset_bounds", (0.5, 0.5, 0.46, 0.44))
        ins = ax.inset_axes(bounds)
    all_d = sorted({d for _, _, sims, _ in data for d, _ in sims})
    marker_of = {d: MARKERS[i % len(MARKERS)] for i, d in enumerate(all_d)}
    dt = opts.get("marker_dt")
    handles = []
    averaged = False
    levels = list(levels) if levels is not None else [None] * len(data)
    limit_kinds = set()
    for i, (curve, dres, sims, avg) in enumerate(data):
        color = COLORS[i % len(COLORS)]
        if levels[i] is not None:
            limit_kinds.add(levels[i].kind)
            ax.axhline(levels[i].gen_error, ls=LINE_STYLES[levels[i].kind], color=color,
                       lw=1.1, zorder=2)
        keep = dres.t <= panel.t_max + 1e-9
        line = dres if avg is None else avg
        ax.plot(line.t[keep], line.gen_error[keep], "-", color=color, lw=1.4, zorder=3)
        if avg is not None:
            averaged = True
            spread = np.nan_to_num(avg.extras.get("gen_error_spread", np.zeros_like(avg.t)))
            ax.fill_between(avg.t[keep], np.clip(avg.gen_error - spread, 0, 1)[keep],
                            np.clip(avg.gen_error + spread, 0, 1)[keep], color=color,
                            alpha=0.15, lw=0, zorder=2)
            ax.plot(dres.t[keep], dres.gen_error[keep], "--", color=color, lw=0.9, zorder=3)
        if ins is not None:
            ins.plot(line.t[keep], getattr(line, panel.inset)[keep], "-", color=color, lw=1.0)
        for d, sres in sims:
            idx = marker_indices(sres.t, dt, panel.t_max)
            yerr = None
            if d in curve.error_bar_d:
                yerr = np.nan_to_num(sres.gen_error_sem[idx])
            ax.errorbar(sres.t[idx], sres.gen_error[idx], yerr=yerr, fmt=marker_of[d], ms=3.2,
                        mfc="none" if len(all_d) > 1 and d not in curve.error_bar_d else color,
                        mec=color, ecolor=color, elinewidth=0.8, capsize=1.5, lw=0, zorder=4)
            if ins is not None:
                ins.plot(sres.t[idx], getattr(sres, panel.inset)[idx], marker_of[d], ms=2.0,
                         color=color, mfc=color, lw=0)
        single = len(all_d) == 1
        handles.append(Line2D([], [], color=color, lw=1.4, marker=marker_of[all_d[0]] if single else None,
                              ms=3.5, label=curve.label))
    if averaged:
        handles.append(Line2D([], [], ls="-", color="0.3", lw=1.4, label="DMFT, avg. over $m(0)$"))
        handles.append(Patch(color="0.3", alpha=0.15, lw=0, label="predicted seed spread"))
        handles.append(Line2D([], [], ls="--", color="0.3", lw=0.9, label="DMFT, mean $|m(0)|$"))
    for kind in sorted(limit_kinds):
        text = ("ERM minimiser" if kind == "erm" else "max margin") + " ($t \\to \\infty$)"
        handles.append(Line2D([], [], ls=LINE_STYLES[kind], color="0.3", lw=1.1, label=text))
    ref = panel.reference_value
    if ref is not None:
        ax.axhline(ref, ls="--", color="0.5", lw=1.0, zorder=1)
        handles.append(Line2D([], [], ls="--", color="0.5", lw=1.0, label=panel.reference_label))
    if len(all_d) > 1:
        for d in all_d:
            handles.append(Line2D([], [], lw=0, marker=marker_of[d], color="0.3", ms=3.5,
                                  mfc="0.3" if any(d in c.error_bar_d for c, _, _, _ in data) else "none",
                                  label=f"sim. $d = {d}$"))
    ax.set_xlabel(r"$t$")
    ax.set_ylabel(r"$\varepsilon_{\mathrm{gen}}$")
    ax.set_xscale(opts.get("xscale", "linear"))
    ax.set_xlim(*opts.get("xlim", (0.0, panel.t_max)))
    if "ylim" in opts:
        ax.set_ylim(*opts["ylim"])
    title = panel.title + ("  [quick]" if panel.quick else "")
    ax.set_title(title, fontsize=8.5)
    legend = dict(handles=handles, title=panel.legend_title, fontsize=7, title_fontsize=7,
                  frameon=True, framealpha=0.85)
    if outside:
        leg = ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), **legend)
    else:
        if "legend_anchor" in opts:
            legend["bbox_to_anchor"] = tuple(opts["legend_anchor"])
        leg = ax.legend(loc=opts.get("legend_loc", "best"), **legend)
    leg.set_zorder(10)
    fig.text(0.995, 0.005, "lines: DMFT ($d \\to \\infty$), symbols: simulations",
             fontsize=6, color="0.4", ha="right", va="bottom")
    if ins is not None:
        ins.set_xlim(*opts.get("xlim", (0.0, panel.t_max)))
        ins.set_xscale(opts.get("xscale", "linear"))
        if "inset_ylim" in opts:
            ins.set_ylim(*opts["inset_ylim"])
        ins.set_ylabel(INSET_LABELS[panel.inset], fontsize=7, labelpad=1)
        ins.tick_params(labelsize=6, pad=1.5, length=2)
    for path in (png_path, pdf_path):
        fig.savefig(path, dpi=150)
