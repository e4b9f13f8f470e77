"""Executors: run the pending jobs of a store in this process, on a local process pool or on a
Dask cluster, with one failure policy.

* A job that fails deterministically (a divergence, a parameter error: the same inputs fail
  again) is stored as failed with its message, and the run goes on; ``retry_failed`` computes
  such jobs again.
* A job whose worker fails for another reason (the worker process died, an unexpected
  exception) is run again up to ``retries`` times, then reported as an error and left pending
  (the next run tries again).
* Results come back to the client, which stores them as they arrive (workers need no access
  to the store); the longest jobs (:attr:`Job.cost`) start first.
* Pool workers have one BLAS thread each and end when the client dies (``kill -9``).
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from .._progress import Progress
from .._validation import ParameterError, check_int, one_line
from ._pool import process_pool, single_blas_threads, stop_pool
from .jobs import execute
from .store import DONE, FAILED, Store


@dataclass
class RunReport:
    """What a run did: counts, the messages of failed and not-converged jobs, the engine."""

    jobs: int
    computed: int = 0
    reused: int = 0
    failed: dict = field(default_factory=dict)  # key -> message (stored as failed)
    errors: dict = field(default_factory=dict)  # key -> message (gave up, left pending)
    warnings: list = field(default_factory=list)  # not-converged messages
    wall: float = 0.0
    engine: str = ""


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_jobs(jobs, store: Store, *, workers: int | None = None, scheduler: str | None = None,
             retries: int = 2, retry_failed: bool = False, recompute: bool = False,
             progress: bool | None = None, command: str | None = None,
             log: Callable[[str], None] | None = None, desc: str = "jobs") -> RunReport:
    """Compute the jobs that ``store`` does not hold yet (all of them with ``recompute``).

    ``workers``: local worker processes (default: the number of cores; 1 runs in this
    process); ``scheduler``: the address of a Dask scheduler (or a connected
    ``dask.distributed.Client``) instead. Each finished job is
    stored at once, so an interrupted run (Ctrl-C) keeps it and the next run resumes.
    """
    log = log or (lambda msg: None)
    retries = check_int("retries", retries, lo=0)
    unique = list({j.key: j for j in jobs}.values())
    todo = [j for j in unique if recompute or store.state(j.key) is None
            or (retry_failed and store.state(j.key) == FAILED)]
    report = RunReport(jobs=len(unique), reused=len(unique) - len(todo))
    todo.sort(key=lambda j: -j.cost)
    if scheduler is not None:
        address = scheduler if isinstance(scheduler, str) else scheduler.scheduler.address
        report.engine = f"on the Dask cluster at {address}"
    else:
        workers = check_int("workers", default_workers() if workers is None else workers, lo=1)
        workers = min(workers, max(1, len(todo)))
        report.engine = "in this process" if workers == 1 else f"on {workers} local worker processes"
    store.remove_stale_temporaries()
    t_start = time.perf_counter()
    bar = Progress(total=round(sum(j.cost for j in todo), 1), desc=f"{desc}: 0/{len(todo)}",
                   unit="", progress=progress)
    done = 0

    def finished(job, outcome: dict | None, exc: BaseException | None) -> None:
        nonlocal done
        done += 1
        bar.set_description(f"{desc}: {done}/{len(todo)}")
        bar.update(round(job.cost, 1))
        if exc is not None:
            report.errors[job.key] = f"{type(exc).__name__}: {one_line(exc)}"
            log(f"{job.describe()}: gave up after {retries} retries: {report.errors[job.key]}")
            return
        store.save(job, outcome, command)
        report.computed += 1
        if not outcome["ok"]:
            report.failed[job.key] = outcome["message"]
        elif outcome["result"].status != 0:
            report.warnings.append(f"{job.describe()}: {outcome['result'].message}")

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(todo, scheduler, retries, finished)
        elif workers == 1:
            _run_serial(todo, retries, finished)
        else:
            _run_pool(todo, workers, retries, finished)
    except BaseException:
        bar.close()
        log(f"interrupted: {done} of {len(todo)} jobs finished in this run are kept in "
            f"{store.directory}; the same command resumes")
        raise
    bar.close()
    report.wall = time.perf_counter() - t_start
    return report


def _run_serial(todo, retries, finished) -> None:
    for job in todo:
        exc = outcome = None
        for _attempt in range(retries + 1):
            try:
                outcome, exc = execute(job.payload()), None
                break
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - retried, then recorded as an error
                exc = e
        finished(job, outcome, exc)


def _run_pool(todo, workers, retries, finished) -> None:
    """A local process pool; a pool broken by a dying worker is replaced and its unfinished
    jobs run again (each at most ``retries`` more times)."""
    attempts = {j.key: 0 for j in todo}
    remaining = list(todo)
    with single_blas_threads():
        while remaining:
            pool = process_pool(min(workers, len(remaining)), watch_parent=True)
            again = []
            try:
                futures = {pool.submit(execute, j.payload()): j for j in remaining}
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        outcome, exc = fut.result(), None
                    except cf.process.BrokenProcessPool as e:
                        outcome, exc = None, RuntimeError(f"a worker process died ({e}); too "
                                                          "little memory?")
                    except Exception as e:  # noqa: BLE001 - retried, then recorded
                        outcome, exc = None, e
                    if exc is not None and attempts[job.key] < retries:
                        attempts[job.key] += 1
                        again.append(job)
                        continue
                    finished(job, outcome, exc)
            except BaseException:
                stop_pool(pool)
                del pool
                gc.collect()  # let the pool's queues be finalised now, not at interpreter exit
                raise
            pool.shutdown(wait=True)
            remaining = again


def connect(scheduler: str, timeout: float = 10.0):
    """A dask.distributed Client connected to ``scheduler`` (one-line errors)."""
    try:
        from dask.distributed import Client  # noqa: PLC0415
    except ImportError:
        raise ParameterError("--scheduler needs dask.distributed: pip install 'gmmdmft[sweep]'") from None
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise ParameterError(f"scheduler = {scheduler!r}: cannot connect ({one_line(e)})") from None


def check_workers_import(client, modules) -> None:
    """Refuse, before any compute, plug-in modules that the Dask workers cannot import."""
    if not modules:
        return
    import importlib  # noqa: PLC0415

    def probe(names):
        bad = {}
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as e:  # noqa: BLE001
                bad[name] = f"{type(e).__name__}: {one_line(e)}"
        return bad

    for worker, bad in client.run(probe, sorted(modules)).items():
        if bad:
            name, why = next(iter(bad.items()))
            raise ParameterError(f"plug-in module {name!r} cannot be imported on the Dask worker "
                                 f"{worker} ({why}): install it there or put it on the workers' "
                                 "PYTHONPATH")


def _run_dask(todo, scheduler, retries, finished) -> None:
    """Submit every job to a Dask cluster. Task keys are the job keys, so a job submitted
    twice (e.g. by a re-run while the first is still on the cluster) runs once."""
    from dask.distributed import as_completed  # noqa: PLC0415

    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        modules = {spec.partition(":")[0] for j in todo for spec in j.plugin_specs().values()
                   if ":" in spec}
        check_workers_import(client, modules)
        futures = {}
        try:
            for job in todo:
                fut = client.submit(execute, job.payload(), key=f"gmmdmft-job-{job.key}",
                                    retries=retries, pure=False)
                futures[fut] = job
            for fut in as_completed(futures):
                job = futures[fut]
                if fut.status == "error":
                    finished(job, None, fut.exception())
                else:
                    finished(job, fut.result(), None)
                fut.release()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    finally:
        if isinstance(scheduler, str):
            client.close()


__all__ = ["DONE", "FAILED", "RunReport", "check_workers_import", "connect", "default_workers",
           "run_jobs"]
