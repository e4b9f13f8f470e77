"""The DMFT of the open-model cases (validation/open_model.md) with today's default solver,
against the simulations recorded there (validation/data/open_model_sims.json: gmmdmft.simulate
at d = 4000, 8 seeds, eps_gen at every time unit in each case's window).

    python validation/open_model_dmft.py > validation/open_model_dmft.md

Criterion (issue 10): |eps_sim - eps_dmft| <= 0.003 + 2 SEM at every recorded time, SEM the
simulations' and the DMFT's standard errors combined. The simulations do not depend on the DMFT
solver, so they are reused rather than run again.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

import gmmdmft as g

HERE = Path(__file__).resolve().parent
WINDOWS = {"door-4": (10.0, 50.0)}
DMFT = {"door-4": dict(d=4000)}


def main() -> None:
    data = json.loads((HERE / "data" / "open_model_sims.json").read_text())
    print("# Open-model cases: today's default DMFT against the recorded simulations\n")
    print(f"gmmdmft {g.__version__}; simulations: {data['source']}. `python "
          "validation/open_model_dmft.py` (the plug-in loss is imported from examples/plugins).\n")
    print("| case | times | max abs gap | at t | z there | worst gap / allowed | max abs z | "
          "DMFT sem (max) | pass | DMFT status, iterations | DMFT wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, case in data["cases"].items():
        problem = g.Problem(**case["problem"])
        training = g.Training(**case["training"])
        t0 = time.perf_counter()
        r = g.solve_dmft(problem, training, progress=False, **DMFT.get(name, {}))
        wall = time.perf_counter() - t0
        t = np.asarray(case["t"])
        lo, hi = WINDOWS.get(name, (0.0, math.inf))
        sel = (t >= lo - 1e-9) & (t <= hi + 1e-9)
        k = np.rint(t[sel] / training.eta).astype(int)
        sim, ssem = np.asarray(case["gen_error"])[sel], np.asarray(case["gen_error_sem"])[sel]
        gap = sim - r.gen_error[k]
        sem = np.hypot(ssem, r.gen_error_sem[k])
        allowed = 0.003 + 2 * sem
        i = int(np.argmax(np.abs(gap)))
        ratio = np.abs(gap) / allowed
        j = int(np.argmax(ratio))
        z = gap / np.where(sem > 0, sem, np.nan)
        ok = bool(np.all(np.abs(gap) <= allowed))
        print(f"| {name} | {sel.sum()} | {gap[i]:+.4f} | {t[sel][i]:g} | {z[i]:+.2f} | "
              f"{ratio[j]:.2f} (t={t[sel][j]:g}) | {np.nanmax(np.abs(z)):.2f} | "
              f"{np.max(r.gen_error_sem[k]):.4f} | {'PASS' if ok else 'FAIL'} | "
              f"{r.status} ({r.stats['iterations']} it.) | {wall:.0f} s |", flush=True)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, str(HERE.parent / "examples" / "plugins"))
    main()
