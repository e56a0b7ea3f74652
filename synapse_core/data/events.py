"""Events of the data domain (loading progress), for sinks and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from synapse_core.events import Event


@dataclass(frozen=True)
class DatasetLoadProgressed(Event):
    """Some more rows were read. ``total_bytes`` is 0 when unknown (rows for a saved dataset)."""

    path: str
    rows: int
    bad_lines: int
    bytes_read: int
    total_bytes: int


@dataclass(frozen=True)
class DatasetLoaded(Event):
    """The whole dataset was read and scored."""

    path: str
    rows: int
    bad_lines: int
    desirable: int
    undesirable: int
    flagged: int


@dataclass(frozen=True)
class DatasetLoadFailed(Event):
    """The dataset could not be read at all."""

    path: str
    message: str
