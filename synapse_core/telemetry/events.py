"""Telemetry events."""

from __future__ import annotations

from dataclasses import dataclass

from synapse_core.events import Event


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment. ``index`` follows CUDA's numbering (CUDA_DEVICE_ORDER respected)."""

    index: int
    name: str
    mem_used_gib: float
    mem_total_gib: float
    util_pct: float | None
    temp_c: float | None
    power_w: float | None


@dataclass(frozen=True)
class TelemetrySampled(Event):
    gpus: tuple[GpuSample, ...]
    torch_allocated_gib: float | None = None
    torch_reserved_gib: float | None = None


@dataclass(frozen=True)
class TelemetryUnavailable(Event):
    """Said once when there is no GPU or NVML. ``reason`` is the whole sentence for a log;
    ``cause`` the condition alone ("no GPU found"), for a display that words it itself."""

    reason: str
    cause: str = ""
