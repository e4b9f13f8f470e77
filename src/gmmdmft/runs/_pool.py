"""Local process pools of the figure and sweep commands (orchestration, no numerics).

* :func:`process_pool`: a :class:`concurrent.futures.ProcessPoolExecutor` of spawned workers,
  each with one BLAS thread (the pool supplies the parallelism), Ctrl-C ignored (the client
  handles it and stops them) and, with ``watch_parent``, ending when the client dies.
* :func:`single_blas_threads`: the BLAS thread variables set to 1 while a pool runs (its
  workers are spawned as work is submitted), so that spawned workers read them before numpy
  loads its BLAS; this process's BLAS is not affected (it is loaded already) and the
  variables are restored afterwards.
* :func:`stop_pool`: cancel what has not started and end the running workers (Ctrl-C or an
  error).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import threading
import time

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def single_blas_threads():
    """Set the BLAS thread variables to 1 in ``os.environ``; restore them (or their absence) on
    leaving."""
    saved = {v: os.environ.get(v) for v in BLAS_THREAD_VARS}
    os.environ.update({v: "1" for v in BLAS_THREAD_VARS})
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def _watch_parent(parent_pid: int) -> None:
    """End this worker when the client dies (e.g. kill -9), instead of computing on."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(0.5)


def worker_init(parent_pid: int | None = None) -> None:
    """Initializer of a pool worker: one BLAS thread, Ctrl-C ignored (the client stops the
    workers), tqdm's lock a thread lock and, when ``parent_pid`` is given, a watchdog that ends
    the worker when that process is gone."""
    for var in BLAS_THREAD_VARS:
        os.environ[var] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing semaphore, which a terminated worker would leak
    from tqdm import tqdm  # noqa: PLC0415
    tqdm.set_lock(threading.RLock())
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def process_pool(workers: int, *, watch_parent: bool = False) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes initialised by :func:`worker_init` (with this
    process as the parent to watch when ``watch_parent``). Create and use it inside
    :func:`single_blas_threads`: workers are started as work is submitted."""
    # spawned (not forked) workers start a fresh interpreter, which reads the BLAS thread
    # variables before numpy loads its BLAS
    ctx = multiprocessing.get_context("spawn")
    initargs = (os.getpid(),) if watch_parent else ()
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init,
                                  initargs=initargs)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel what has not started, end the running workers and wait for the pool's manager
    thread (Ctrl-C or an error); returns within seconds."""
    # shutdown() forgets the processes and the manager thread: take them first (private
    # attributes, guarded)
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
    if manager is not None:  # it sees the workers gone and releases the pool's queues
        manager.join(timeout=5)
    pool.shutdown(wait=True)
