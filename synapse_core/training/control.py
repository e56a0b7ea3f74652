"""Control of a running job from another thread (the UI, a signal handler)."""

from __future__ import annotations

import threading


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
