"""Control of a running job from another thread (the UI, a signal handler), and from the
supervisor of a multi-process run to its rank 0 (a control file)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

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
# A multi-process run (see ``distributed``) carries RunControl requests from the supervisor
# (the app's worker thread, or ``synapse train``) to rank 0 through one small JSON file in the
# run folder, rewritten atomically with a rising sequence number; rank 0 then shares each
# decision with every rank at the end of the step (``callbacks.EngineCallback``).

CONTROL_FILE = "control.json"


class ControlFileWriter:
    """Supervisor side: ``sync(control)`` writes the file when a request changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.seq = 0
        self.checkpoints = 0
        self._last: tuple | None = None
        self.sync(RunControl())  # a file exists before the ranks start reading

    def sync(self, control: RunControl) -> bool:
        """Forward ``control``'s current requests; True when something was written."""
        if control.checkpoint_requested.is_set():
            control.checkpoint_requested.clear()  # counted: rank 0 checkpoints once per count
            self.checkpoints += 1
        stop = control.stop_requested.is_set()
        want = (stop, control.stop_reason if stop else "", control.paused and not stop,
                self.checkpoints)
        if want == self._last:
            return False
        self._last = want
        self.seq += 1
        atomic_write_json(self.path, {"seq": self.seq, "stop": want[0], "reason": want[1],
                                      "pause": want[2], "checkpoint": want[3]})
        return True


class ControlFileReader(threading.Thread):
    """Rank 0 side: applies the supervisor's requests to the local RunControl every
    ``interval_s``; a supervisor that is gone (killed, crashed) becomes a stop, so the ranks
    checkpoint and exit instead of training on as orphans."""

    def __init__(self, path: Path, control: RunControl, supervisor_pid: int | None,
                 interval_s: float = 0.2) -> None:
        super().__init__(name="synapse-control-reader", daemon=True)
        self.path = Path(path)
        self.control = control
        self.supervisor_pid = supervisor_pid
        self.interval_s = interval_s
        self.finished = threading.Event()
        self._seq = 0
        self._checkpoints = 0

    def poll(self) -> None:
        """Read the file once and apply what changed."""
        try:
            req = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            req = None  # not written yet (rewrites are atomic, so never torn)
        if req is not None and int(req.get("seq", 0)) > self._seq:
            self._seq = int(req["seq"])
            if int(req.get("checkpoint", 0)) > self._checkpoints:
                self._checkpoints = int(req["checkpoint"])
                self.control.checkpoint()
            if req.get("stop"):
                self.control.stop(str(req.get("reason") or "user"))
            elif req.get("pause"):
                self.control.pause()
            else:
                self.control.resume()
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
