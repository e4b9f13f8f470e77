"""Running many computations: one job engine under the figure and sweep commands.

:mod:`.jobs` (a job = method, problem, training, options; its content key and cost),
:mod:`.store` (done / failed / pending, atomic), :mod:`.executors` (in-process, process pool,
Dask; one failure policy), and the two front ends that produce jobs: :mod:`.panels` +
:mod:`.figures` (the paper's figures) and :mod:`.sweeps` (parameter sweeps), with
:mod:`.summaries` (the sweep table).
"""

from .executors import RunReport, run_jobs
from .jobs import Job, execute
from .store import Store

__all__ = ["Job", "RunReport", "Store", "execute", "run_jobs"]
