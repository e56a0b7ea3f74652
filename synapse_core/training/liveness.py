"""One owner per run folder, and whether its process lives.

The run process holds ``run.lock`` with ``flock`` for its whole life (the kernel lets go
when the process dies, whatever kills it) and writes its pid into it, so a second writer is
refused with the owner's pid; it also rewrites ``pid`` and ``heartbeat`` in state.json every
``HEARTBEAT_S``. A run is live when its state says so, its pid is alive and its heartbeat is
fresh (``live_pid``); readers believe nothing else.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

from synapse_core.training.state import RunState

LOCK_FILE = "run.lock"

HEARTBEAT_S = 1.0
"""How often a live run process rewrites ``heartbeat`` in state.json."""
HEARTBEAT_STALE_S = 15.0
"""A heartbeat older than this (with the pid gone or not) means the process is not training:
a few seconds of a busy machine or a long checkpoint save must not look like a death."""


class RunInUse(RuntimeError):
    """Another live process writes this run folder."""

    def __init__(self, run_dir: Path, pid: int | None) -> None:
        self.run_dir, self.pid = Path(run_dir), pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"{run_dir} is in use by {who} (a run is training there); stop it "
                         f"(synapse control {run_dir} stop) or choose another folder")


class RunLock:
    """The run folder's owner lock: ``run.lock`` held with ``flock`` (the kernel drops it when
    the process dies, whatever kills it) and holding the owner's pid for the message."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise ``RunInUse`` naming the owner."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInUse(self.path.parent, lock_owner(self.path.parent)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go (the file stays; an unlocked file means no owner)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_owner(run_dir: Path) -> int | None:
    """The pid holding the folder's lock, or None when nobody holds it."""
    import fcntl

    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return int(os.read(fd, 32).decode().strip() or 0) or None
            except ValueError:
                return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def pid_alive(pid: int | None) -> bool:
    """A process with ``pid`` exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OverflowError, ValueError):
        return False
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc (macOS): kill(0) said it exists


def live_pid(state: dict[str, Any], now: float | None = None) -> int | None:
    """The pid of the run process when ``state`` (state.json) belongs to a live run: a live
    state, the pid alive and a heartbeat no older than ``HEARTBEAT_STALE_S``."""
    if not RunState.parse(state.get("state")).live:
        return None
    pid = state.get("pid")
    beat = state.get("heartbeat")
    if not isinstance(pid, int) or not isinstance(beat, (int, float)):
        return None
    if (now or time.time()) - beat > HEARTBEAT_STALE_S or not pid_alive(pid):
        return None
    return pid


def disk_error(e: BaseException) -> str | None:
    """"disk full" / "read-only" / "permission denied" for a write that failed for that
    reason (said plainly, with the path, in the run's failure), else None."""
    if not isinstance(e, OSError):
        return None
    what = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system", errno.EACCES: "permission denied (read-only?)",
            errno.EPERM: "permission denied (read-only?)", errno.EFBIG: "file too large"}
    return what.get(e.errno or 0)
