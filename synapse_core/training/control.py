"""Control of a running job from another thread (the UI, a signal handler), and from the
supervisor of a multi-process run to its rank 0 (a control file)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

from synapse_core.fileio import atomic_write_json


class RunControl:
    """Thread-safe requests to a running engine: stop, pause/resume, checkpoint now.

    The engine polls these between optimizer steps: a stop checkpoints first, then ends
    within one step; a pause blocks the engine thread (not the UI) until resumed or stopped.
    """

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.checkpoint_requested = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stop_reason = "user"

    def stop(self, reason: str = "user") -> None:
        """Ask the run to checkpoint and stop (``reason`` goes into the events)."""
        self.stop_reason = reason
        self.stop_requested.set()
        self._running.set()  # wake a paused run so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Ask for a checkpoint at the end of the current step."""
        self.checkpoint_requested.set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True when running (or stopping)."""
        return self._running.wait(timeout)


# -- across processes ----------------------------------------------------------------------
# Requests reach a run process through one small JSON file in its run folder, ``control.json``,
# rewritten atomically under a lock with a rising sequence number, so several writers (the
# app's supervisor, a second dashboard, ``synapse control``) never undo each other: ``stop``
# is sticky, ``pause`` is the wanted state, ``checkpoint`` counts the requests. The run
# process applies each new sequence number to its RunControl and acknowledges it with a
# ``RequestAcknowledged`` event in events.jsonl. A multi-process run relays them to rank 0
# the same way (``distributed``), and rank 0 shares each decision with every rank at the end
# of the step (``callbacks.EngineCallback``).

CONTROL_FILE = "control.json"
ACTIONS = ("stop", "pause", "resume", "checkpoint")
"""What ``send_request`` accepts (the words of ``synapse control``)."""


def read_requests(path: Path) -> dict[str, Any]:
    """The control file's content (defaults when absent or unreadable)."""
    base: dict[str, Any] = {"seq": 0, "action": "", "stop": False, "reason": "",
                            "pause": False, "checkpoint": 0}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return base
    if isinstance(data, dict):
        base.update({k: data[k] for k in base if k in data})
    return base


def send_request(path: Path, action: str, reason: str = "user") -> int:
    """Write one request (``ACTIONS``) into the control file at ``path``; returns its
    sequence number (the run acknowledges it with a ``RequestAcknowledged`` of that seq)."""
    import fcntl

    if action not in ACTIONS:
        raise ValueError(f"unknown request {action!r}; one of {', '.join(ACTIONS)}")
    path = Path(path)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # read-modify-write: one writer at a time
        req = read_requests(path)
        req["seq"] = int(req["seq"]) + 1
        req["action"] = action
        if action == "stop":
            req.update(stop=True, reason=reason, pause=False)
        elif action in ("pause", "resume"):
            req["pause"] = action == "pause"
        else:
            req["checkpoint"] = int(req["checkpoint"]) + 1
        atomic_write_json(path, req)
        return int(req["seq"])


def reset_requests(path: Path) -> None:
    """A fresh control file for a (re)started run: no stop, no pause; the sequence number
    keeps rising so an old acknowledgement never answers a new request."""
    import fcntl

    path = Path(path)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        req = read_requests(path)
        req.update(action="", stop=False, reason="", pause=False)
        atomic_write_json(path, req)


class ControlFileWriter:
    """Supervisor side: ``sync(control)`` turns what changed in a local RunControl (the
    app's keys, a signal) into requests in the control file; ``reset`` starts it afresh
    (a new launch), else the requests already there stand (attaching to a live run)."""

    def __init__(self, path: Path, reset: bool = False) -> None:
        self.path = Path(path)
        self.seq = 0
        self._paused = False
        self._stopped = False
        if reset or not self.path.exists():
            reset_requests(self.path)  # a file exists before a reader starts

    def sync(self, control: RunControl) -> bool:
        """Forward ``control``'s new requests; True when something was written."""
        wrote = False
        if control.checkpoint_requested.is_set():
            control.checkpoint_requested.clear()  # handed over: the run checkpoints once
            self.seq = send_request(self.path, "checkpoint")
            wrote = True
        if control.stop_requested.is_set():
            if not self._stopped:
                self._stopped = True
                self.seq = send_request(self.path, "stop", control.stop_reason or "user")
                wrote = True
        elif control.paused != self._paused:
            self._paused = control.paused
            self.seq = send_request(self.path, "pause" if self._paused else "resume")
            wrote = True
        return wrote


class ControlFileReader(threading.Thread):
    """Run side: applies the control file's requests to the local RunControl every
    ``interval_s``, and calls ``acknowledge(action, seq)`` for each new one taken.
    ``supervisor_pid`` (rank 0 of a multi-process run: the run process) gone becomes a stop,
    so the ranks checkpoint and exit instead of training on as orphans."""

    def __init__(self, path: Path, control: RunControl, supervisor_pid: int | None = None,
                 interval_s: float = 0.2,
                 acknowledge: Callable[[str, int], None] | None = None) -> None:
        super().__init__(name="synapse-control-reader", daemon=True)
        self.path = Path(path)
        self.control = control
        self.supervisor_pid = supervisor_pid
        self.interval_s = interval_s
        self.acknowledge = acknowledge
        self.finished = threading.Event()
        self._seq = 0
        self._checkpoints = 0
        start = read_requests(self.path)  # what was asked before this run began is history,
        self._seq = int(start["seq"])      # except a standing pause or stop
        self._checkpoints = int(start["checkpoint"])
        if start["stop"]:
            self.control.stop(str(start["reason"] or "user"))
        elif start["pause"]:
            self.control.pause()

    def poll(self) -> None:
        """Read the file once and apply what changed."""
        req = read_requests(self.path)
        if int(req["seq"]) > self._seq:
            self._seq = int(req["seq"])
            if int(req["checkpoint"]) > self._checkpoints:
                self._checkpoints = int(req["checkpoint"])
                self.control.checkpoint()
            if req["stop"]:
                self.control.stop(str(req["reason"] or "user"))
            elif req["pause"]:
                self.control.pause()
            else:
                self.control.resume()
            if self.acknowledge is not None:
                self.acknowledge(str(req["action"] or "update"), self._seq)
        if self.supervisor_pid and not _pid_alive(self.supervisor_pid):
            self.control.stop("supervisor gone")

    def run(self) -> None:
        while not self.finished.wait(self.interval_s):
            self.poll()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
