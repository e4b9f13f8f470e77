"""BLAS threading for the time loops.

The solver's time loops do one small matrix-vector product per step (n x 2*10^4 with n < 64).
A multi-threaded BLAS hands each such call to its worker threads and waits for them: when the
other core is busy (another process, a Dask worker) each call then waits for a time slice,
measured here at ~8 ms per call instead of 0.14 ms. The loops therefore run with one BLAS
thread; the large matrix products between them keep all threads.
"""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

_controller: ThreadpoolController | None = None


def one_blas_thread():
    """Context manager: BLAS limited to one thread inside (cheap to enter, ~0.1 ms)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
