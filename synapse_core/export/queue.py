"""The persistent export queue: jobs in ``OUT/queue.json``, run one at a time by a worker thread.

Every change is written atomically, so the queue survives a restart. A job found ``running``
when the queue is loaded was interrupted (the process died mid-job): it is marked ``failed``
with the reason "interrupted", and its staging folder is removed. It is not requeued on its
own: a merge or a 12B conversion is minutes of work that should not restart silently at
launch; the user retries it with one key.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from synapse_core.events import EventSink, NullSink
from synapse_core.export.errors import ExportCancelled
from synapse_core.export.events import (ExportCancelled as ExportCancelledEvent, ExportFailed,
                                        ExportFinished, ExportQueueChanged, ExportStarted)
from synapse_core.export.jobs import ExportJob
from synapse_core.fileio import atomic_write_json

QUEUE_FILE = "queue.json"


class ExportQueue:
    """Jobs, their persistence, and the worker thread that runs them in order."""

    def __init__(self, out_dir: Path, sink: EventSink | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.sink: EventSink = sink or NullSink()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: list[ExportJob] = []
        self._cancel: dict[str, threading.Event] = {}
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._remove_after: set[str] = set()
        self.notices: list[str] = []
        """What loading the queue file had to set aside (the pane shows them)."""
        self._load()

    # -- persistence --------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The queue file."""
        return self.out_dir / QUEUE_FILE

    def _load(self) -> None:
        """Read the queue file. A file that is not a queue is set aside as ``.bad`` (the queue
        starts empty); bad job entries are dropped, the file copied aside first, and the good
        ones kept. Each case adds a line to ``notices``."""
        if not self.path.is_file():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            self._set_aside(f"line {e.lineno}: not valid JSON ({e.msg})", keep=False)
            return
        except (UnicodeDecodeError, OSError) as e:
            self._set_aside(f"unreadable ({e})", keep=False)
            return
        if not isinstance(raw, dict) or not isinstance(raw.get("jobs", []), list):
            what = (f"a {type(raw).__name__ if raw is not None else 'null'}"
                    if not isinstance(raw, dict) else f'"jobs" is {json.dumps(raw["jobs"])[:40]}')
            self._set_aside(f"not a queue ({what}; expected {{\"jobs\": [...]}})", keep=False)
            return
        bad = []
        for i, d in enumerate(raw.get("jobs", [])):
            try:
                job = ExportJob.from_dict(d)
            except (ValueError, TypeError) as e:
                bad.append(f"jobs[{i}]: {e}")
                continue
            if job.state == "running":
                job.state, job.error = "failed", "interrupted: the app stopped while it ran"
                job.log.append(job.error)
                for st in job.steps.values():
                    if st.state == "running":
                        st.state = "failed"
                from synapse_core.export.pipeline import staging_dir

                shutil.rmtree(staging_dir(self.out_dir, job), ignore_errors=True)
            self._jobs.append(job)
        if bad:
            self._set_aside(f"{len(bad)} bad job(s) left out, {len(self._jobs)} kept: "
                            + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""), keep=True)
        self._save()

    def _set_aside(self, reason: str, keep: bool) -> None:
        bad = self.path.with_name(self.path.name + ".bad")
        if bad.exists():
            bad = self.path.with_name(f"{self.path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bad")
        (shutil.copy2 if keep else os.replace)(self.path, bad)
        self.notices.append(f"{self.path}: {reason}; the file as it was is saved as {bad.name}")
        if not keep:
            self._save()  # an empty queue in its place

    def _save(self) -> None:
        with self._lock:
            data = {"version": 1, "jobs": [j.to_dict() for j in self._jobs]}
        atomic_write_json(self.path, data)

    def _changed(self) -> None:
        self._save()
        self.sink.emit(ExportQueueChanged(tuple(j.id for j in self._jobs)))

    # -- queries ------------------------------------------------------------------------------
    def jobs(self) -> list[ExportJob]:
        """A snapshot (copies) of the jobs in queue order."""
        with self._lock:
            return [ExportJob.from_dict(j.to_dict()) for j in self._jobs]

    def get(self, job_id: str) -> ExportJob:
        """A copy of one job; KeyError naming the id if unknown."""
        with self._lock:
            return ExportJob.from_dict(self._find(job_id).to_dict())

    def _find(self, job_id: str) -> ExportJob:
        for j in self._jobs:
            if j.id == job_id:
                return j
        raise KeyError(f"no export job {job_id!r}")

    # -- edits --------------------------------------------------------------------------------
    def add(self, source: str | Path, **settings: Any) -> ExportJob:
        """Queue an export of ``source`` (run folder or HF folder); returns the job."""
        job = ExportJob(source=str(source), **settings)
        with self._wake:
            self._jobs.append(job)
            self._changed()
            self._wake.notify_all()
        return job

    def cancel(self, job_id: str) -> None:
        """Cancel a queued job at once, or ask a running one to stop between tensors."""
        with self._lock:
            job = self._find(job_id)
            if job.state == "queued":
                job.state = "cancelled"
                job.log.append("cancelled before it started")
                self._changed()
                self.sink.emit(ExportCancelledEvent(job.id))
            elif job.state == "running":
                self._cancel[job.id].set()
                job.log.append("cancel requested")

    def retry(self, job_id: str) -> None:
        """Queue a failed or cancelled job again (fresh steps)."""
        with self._wake:
            job = self._find(job_id)
            if job.state not in ("failed", "cancelled"):
                raise ValueError(f"job {job_id}: only failed or cancelled jobs can be retried "
                                 f"(it is {job.state})")
            job.reset()
            self._changed()
            self._wake.notify_all()

    def remove(self, job_id: str) -> bool:
        """Remove a job that is not running (its exported files stay on disk): True. A running
        job being cancelled is removed once it has stopped: False. ValueError for a running
        job that was not cancelled."""
        with self._lock:
            job = self._find(job_id)
            if job.state == "running":
                ev = self._cancel.get(job.id)
                if ev is None or not ev.is_set():
                    raise ValueError(f"job {job_id}: cancel it before removing it")
                self._remove_after.add(job.id)
                return False
            self._jobs.remove(job)
            self._changed()
            return True

    def is_cancelling(self, job_id: str) -> bool:
        """The job runs and a cancel was asked for."""
        with self._lock:
            ev = self._cancel.get(job_id)
            return ev is not None and ev.is_set()

    def move(self, job_id: str, delta: int) -> None:
        """Move a queued job up (negative) or down (positive) in the queue."""
        with self._lock:
            job = self._find(job_id)
            if job.state != "queued":
                raise ValueError(f"job {job_id}: only queued jobs can be reordered")
            i = self._jobs.index(job)
            k = max(0, min(len(self._jobs) - 1, i + delta))
            self._jobs.insert(k, self._jobs.pop(i))
            self._changed()

    # -- the worker ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._lock:
            if self._worker and self._worker.is_alive():
                return
            self._stopping = False
            self._worker = threading.Thread(target=self.serve, name="export-queue", daemon=True)
            self._worker.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to stop after cancelling the running job; wait for it."""
        with self._wake:
            self._stopping = True
            for ev in self._cancel.values():
                ev.set()
            self._wake.notify_all()
        if self._worker:
            self._worker.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (tests, the CLI); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake:
            while any(j.state in ("queued", "running") for j in self._jobs):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def _next(self) -> ExportJob | None:
        with self._wake:
            while not self._stopping:
                job = next((j for j in self._jobs if j.state == "queued"), None)
                if job is not None:
                    job.state, job.started = "running", time.time()
                    self._cancel[job.id] = threading.Event()
                    self._changed()
                    return job
                self._wake.wait()
        return None

    def _persist(self, job: ExportJob) -> None:
        with self._lock:
            self._changed()

    def serve(self) -> None:
        """Run queued jobs one at a time until ``stop()``; blocks (call it in a worker thread:
        ``start()`` does, and the TUI pane runs it in a Textual thread worker)."""
        from synapse_core.export.pipeline import run_job

        while True:
            job = self._next()
            if job is None:
                return
            self.sink.emit(ExportStarted(job.id, job.source))
            try:
                outputs = run_job(job, self.out_dir, self.sink, self._cancel[job.id],
                                  on_change=self._persist)
            except ExportCancelled:
                self._end(job, "cancelled", "cancelled by the user")
                self.sink.emit(ExportCancelledEvent(job.id))
            except Exception as e:  # any failure becomes the job's state and message
                self._end(job, "failed", f"{type(e).__name__}: {e}")
                self.sink.emit(ExportFailed(job.id, job.error))
            else:
                job.outputs = outputs
                self._end(job, "done", "")
                summary = (job.verification or {}).get("summary", "")
                self.sink.emit(ExportFinished(job.id, dict(outputs), summary))

    def _end(self, job: ExportJob, state: str, error: str) -> None:
        with self._wake:
            job.state, job.error, job.finished = state, error, time.time()
            if error:
                job.log.append(error)
            self._cancel.pop(job.id, None)
            if job.id in self._remove_after:
                self._remove_after.discard(job.id)
                self._jobs.remove(job)
            self._changed()
            self._wake.notify_all()
