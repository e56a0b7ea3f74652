"""The states a run can be in: one enum for state.json, ``synapse runs``, the events and the
training pane (never string literals compared in several files)."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """What ``state.json``'s ``state`` says (and ``synapse runs`` shows)."""

    STARTING = "starting"
    """The run process is loading the model or building the trainer (no step yet)."""
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    """Stopped early by a request or a signal, after a checkpoint: it can be resumed."""
    FINISHED = "finished"
    FAILED = "failed"
    """Ended with an error the run itself reported (``error`` and ``failure`` say which)."""
    DIED = "died"
    """The run process vanished without writing its end (a signal, a native crash, an OOM
    kill, the machine rebooting); ``reason`` says what was found."""
    DAMAGED = "damaged"
    """``synapse runs`` could not read the folder's files (``reason`` says why)."""

    @property
    def live(self) -> bool:
        """A state a run process should be behind (starting, running, paused)."""
        return self in LIVE_STATES

    @property
    def ended(self) -> bool:
        """A final state: nothing more will be written unless the run is resumed."""
        return not self.live and self is not RunState.DAMAGED

    @classmethod
    def parse(cls, value: object) -> RunState:
        """The state a state.json value names; an unknown value is ``DAMAGED``."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.DAMAGED


LIVE_STATES = frozenset({RunState.STARTING, RunState.RUNNING, RunState.PAUSED})
