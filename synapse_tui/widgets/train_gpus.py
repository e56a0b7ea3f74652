"""The latest NVML readings of every GPU of the run, one line each (the charts show history)."""

from __future__ import annotations

from synapse_tui.markup import escape
from textual.widgets import Static

from synapse_core.telemetry.events import GpuSample, TelemetrySampled


def gpu_line(g: GpuSample) -> str:
    """``GPU 1 NVIDIA H200: 10.6/139.8 GiB (8%) · util 97% · 61 °C · 420 W`` (what is known)."""
    pct = 100.0 * g.mem_used_gib / g.mem_total_gib if g.mem_total_gib else 0.0
    parts = [f"[b]GPU {g.index}[/b] {escape(g.name)}: {g.mem_used_gib:.1f}/"
             f"{g.mem_total_gib:.1f} GiB ({pct:.0f}%)"]
    if g.util_pct is not None:
        parts.append(f"util {g.util_pct:.0f}%")
    if g.temp_c is not None:
        parts.append(f"{g.temp_c:.0f} °C")
    if g.power_w is not None:
        parts.append(f"{g.power_w:.0f} W")
    return " · ".join(parts)


class GpuReadings(Static):
    """One line per GPU from the newest ``TelemetrySampled`` (memory, utilisation,
    temperature, power), plus torch's allocated/reserved memory of the training process."""

    DEFAULT_CSS = """
    GpuReadings { height: auto; }
    GpuReadings.-empty { display: none; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id, classes="-empty")
        self.sample: TelemetrySampled | None = None

    def show(self, ev: TelemetrySampled) -> None:
        """Show ``ev``'s readings (nothing when it has no GPU)."""
        self.sample = ev
        lines = [gpu_line(g) for g in ev.gpus]
        if ev.torch_allocated_gib is not None:
            reserved = (f", reserved {ev.torch_reserved_gib:.1f}"
                        if ev.torch_reserved_gib is not None else "")
            lines.append(f"torch allocated {ev.torch_allocated_gib:.1f} GiB{reserved}")
        self.set_class(not lines, "-empty")
        self.update("\n".join(lines))

    def clear(self) -> None:
        """Forget the readings (a new run starts)."""
        self.sample = None
        self.add_class("-empty")
        self.update("")
