"""Progress of long runs: a tqdm bar on a terminal, one-line records in a log.

``progress=None`` (the default everywhere) shows a bar when standard error is a terminal and
the run lasts more than ``delay`` seconds, and otherwise writes one line every ``interval``
seconds (30 by default; from a timer thread, so also while one long step is running) to
standard error -- ``gmmdmft: dmft: 3/12 it, 25%, 41 s elapsed, about
2 min left`` -- so that a run started from a batch script or with its output redirected leaves a
trace in its log, not nothing and not a stream of carriage returns. ``True`` forces the bar,
``False`` shows nothing. The environment variable ``GMMDMFT_PROGRESS_INTERVAL`` (seconds)
changes the interval of the records.
"""

from __future__ import annotations

import os
import sys
import threading
import time

INTERVAL = 30.0


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("GMMDMFT_PROGRESS_INTERVAL", INTERVAL)))
    except ValueError:
        return INTERVAL


class Progress:
    """``update(n)``, ``set_postfix(**values)``, ``set_description(text)``, ``close()``."""

    def __init__(self, total: float, desc: str, unit: str, progress: bool | None = None,
                 delay: float = 2.0, interval: float | None = None, stream=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.n = 0.0
        self.postfix = ""
        self.t0 = time.monotonic()
        self.last = self.t0
        self.interval = _interval() if interval is None else interval
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.mode = "off" if progress is False else "bar" if (progress or tty) else "log"
        self.bar = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = None
        if self.mode == "log" and self.interval > 0:
            # a record every interval even when no update comes (one job of many minutes)
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
        if self.mode == "bar":
            from tqdm.auto import tqdm  # noqa: PLC0415
            self.bar = tqdm(total=total, desc=desc, unit=unit, delay=0 if progress else delay,
                            leave=False, file=self.stream)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "log" and time.monotonic() - self.last >= self.interval:
            self.log_line()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval / 2):
            if time.monotonic() - self.last >= self.interval:
                self.log_line()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def set_description(self, text: str) -> None:
        self.desc = text
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=False)

    def log_line(self) -> None:
        with self._lock:
            self._write_line()

    def _write_line(self) -> None:
        now = time.monotonic()
        self.last = now
        elapsed = now - self.t0
        frac = self.n / self.total if self.total else 0.0
        left = f", about {_duration(elapsed * (1 - frac) / frac)} left" if 0 < frac < 1 else ""
        extra = f", {self.postfix}" if self.postfix else ""
        done = f"{self.n:g}/{self.total:g} {self.unit}, " if self.unit else ""
        print(f"gmmdmft: {self.desc}: {done}{100 * frac:.0f}%, {_duration(elapsed)} "
              f"elapsed{left}{extra}", file=self.stream, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
