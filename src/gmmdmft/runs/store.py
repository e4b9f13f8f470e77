"""The store of finished jobs: one directory, one entry per content key, written atomically.

An entry is ``<key>.csv`` + ``<key>.json`` (the curves and their sidecar, as
:func:`gmmdmft.io.write_result` writes them, the sidecar last and holding ``"key"``) for a
job that finished, or ``<key>.failed.json`` for a deterministic failure (a divergence, a
parameter error) with its message. A key with neither is pending. Entries are written by the
client as each job comes back, so killing the client loses only the jobs still running, and
the same command resumes from what is stored.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path

from .. import __version__
from ..io import read_result, write_atomic, write_result
from ..result import Result

DONE, FAILED = "done", "failed"


class Store:
    """Finished and failed jobs under ``directory`` (created when missing)."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        """(curves CSV, its JSON sidecar, failure record) of ``key``."""
        d = self.directory
        return d / f"{key}.csv", d / f"{key}.json", d / f"{key}.failed.json"

    def state(self, key: str) -> str | None:
        """``"done"``, ``"failed"`` or None (pending)."""
        csv_path, json_path, failed = self.paths(key)
        if csv_path.is_file() and _read_json(json_path).get("key") == key:
            return DONE
        if _read_json(failed).get("key") == key:
            return FAILED
        return None

    def save(self, job, outcome: dict, command: str | None = None) -> None:
        """Store a job's outcome (:func:`gmmdmft.runs.jobs.execute`)."""
        csv_path, _, failed = self.paths(job.key)
        if outcome["ok"]:
            write_result(outcome["result"], csv_path, command=command,
                         meta=dict(key=job.key, job=job.payload()))
            if failed.exists():  # an older failure, now recomputed
                failed.unlink()
        else:
            rec = dict(package="gmmdmft", version=__version__, created=_now(), command=command,
                       key=job.key, job=job.payload(), status="failed", error=outcome["error"],
                       message=outcome["message"], wall_time=outcome["wall"])
            write_atomic(failed, json.dumps(rec, indent=2) + "\n")

    def load(self, key: str) -> Result:
        """The :class:`~gmmdmft.Result` of a finished job."""
        return read_result(self.paths(key)[0])

    def failure(self, key: str) -> dict:
        """The failure record of ``key`` (empty when there is none)."""
        return _read_json(self.paths(key)[2])

    def remove_stale_temporaries(self, min_age: float = 60.0) -> None:
        """Remove temporary files (``.NAME.PID.HEX.tmp``) of a writer that was killed: their
        process is gone and they are older than ``min_age`` seconds."""
        now = time.time()
        for tmp in self.directory.glob(".*.tmp"):
            try:
                pid = int(tmp.name.split(".")[-3])
                if now - tmp.stat().st_mtime < min_age:
                    continue
                os.kill(pid, 0)
            except ProcessLookupError:
                try:
                    tmp.unlink()
                except OSError:
                    pass
            except (ValueError, IndexError, OSError):
                continue


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
