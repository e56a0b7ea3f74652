"""Events of the export queue (frozen, past tense, plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field

from synapse_core.events import Event


@dataclass(frozen=True)
class ExportQueueChanged(Event):
    """Jobs were added, removed, reordered or changed state (the pane redraws its table)."""

    job_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportStarted(Event):
    """A job started running."""

    job_id: str
    source: str


@dataclass(frozen=True)
class ExportProgressed(Event):
    """Progress inside a step; ``fraction`` in [0, 1] of that step."""

    job_id: str
    step: str
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class ExportStepFinished(Event):
    """A step completed (or was skipped, with the reason in ``detail``)."""

    job_id: str
    step: str
    seconds: float
    detail: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class ExportFinished(Event):
    """A job completed and its files were verified and moved into place."""

    job_id: str
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class ExportFailed(Event):
    """A job failed; nothing that looks finished was left behind."""

    job_id: str
    error: str


@dataclass(frozen=True)
class ExportCancelled(Event):
    """A job was cancelled by the user."""

    job_id: str
