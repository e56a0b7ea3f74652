"""The training panel's data: every logged step and telemetry sample, kept in plain lists.

No point is ever dropped here: the chart may draw a min/max summary when there are more
points than terminal cells (``downsample_minmax``), but the lists hold every step.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from synapse_core.telemetry.events import TelemetrySampled
from synapse_core.training.events import StepLogged


@dataclass
class TrainingSeries:
    """Curves of one run: loss and learning rate per step, GPU memory/utilisation over time."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norm: list[float | None] = field(default_factory=list)
    tel_seconds: list[float] = field(default_factory=list)
    gpu_mem_gib: list[float] = field(default_factory=list)
    gpu_util_pct: list[float] = field(default_factory=list)
    gpu_mem_total_gib: float | None = None
    gpu_mem_by_index: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Each GPU's own memory curve: index -> (seconds, GiB)."""
    gpu_util_by_index: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Each GPU's own utilisation curve: index -> (seconds, %)."""
    last_metrics: dict[str, float] = field(default_factory=dict)
    _t0: float | None = None

    def clear(self) -> None:
        """Forget everything (a new run starts)."""
        self.__init__()  # type: ignore[misc]

    def add_step(self, ev: StepLogged) -> None:
        """Append one logged step (every one, in arrival order)."""
        self.steps.append(ev.step)
        self.loss.append(ev.loss)
        self.learning_rate.append(ev.learning_rate)
        self.grad_norm.append(ev.grad_norm)
        if ev.metrics:
            self.last_metrics = dict(ev.metrics)

    def add_telemetry(self, ev: TelemetrySampled) -> None:
        """Append one telemetry sample: memory summed and utilisation averaged over GPUs,
        and each GPU's own readings beside them."""
        if not ev.gpus:
            return
        if self._t0 is None:
            self._t0 = ev.ts
        t = ev.ts - self._t0
        self.tel_seconds.append(t)
        for g in ev.gpus:
            xs, ys = self.gpu_mem_by_index.setdefault(g.index, ([], []))
            xs.append(t)
            ys.append(g.mem_used_gib)
            if g.util_pct is not None:
                xs, ys = self.gpu_util_by_index.setdefault(g.index, ([], []))
                xs.append(t)
                ys.append(g.util_pct)
        self.gpu_mem_gib.append(sum(g.mem_used_gib for g in ev.gpus))
        self.gpu_mem_total_gib = sum(g.mem_total_gib for g in ev.gpus)
        utils = [g.util_pct for g in ev.gpus if g.util_pct is not None]
        self.gpu_util_pct.append(sum(utils) / len(utils) if utils else math.nan)

    def load_rows(self, rows: list[dict[str, Any]]) -> None:
        """Fill from ``metrics.jsonl`` rows of a past run (rows without a loss are skipped)."""
        self.clear()
        for row in rows:
            if "step" not in row or row.get("loss") is None:
                continue
            self.steps.append(int(row["step"]))
            self.loss.append(float(row["loss"]))
            self.learning_rate.append(float(row.get("learning_rate") or 0.0))
            self.grad_norm.append(row.get("grad_norm"))
            metrics = row.get("metrics")
            if isinstance(metrics, dict) and metrics:
                self.last_metrics = {k: float(v) for k, v in metrics.items()
                                     if isinstance(v, (int, float))}


def downsample_minmax(xs: list[float], ys: list[float], max_points: int
                      ) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points that keep every bucket's minimum and maximum.

    A terminal chart has fewer cells than a long run has steps; drawing each bucket's
    extremes keeps spikes visible, where plain striding would hide them.
    """
    n = len(xs)
    if n <= max_points or max_points < 4:
        return list(xs), list(ys)
    buckets = max_points // 2
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        seg = ys[lo:hi]  # slices and the built-in min/max run in C: this runs 5 times a second
        i_min = lo + seg.index(min(seg))
        i_max = lo + seg.index(max(seg))
        for i in sorted({i_min, i_max}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


class StepClock:
    """Seconds per optimizer step over the last ``window`` steps, for the ETA."""

    def __init__(self, window: int = 20) -> None:
        self._marks: deque[tuple[float, int]] = deque(maxlen=window)

    def reset(self) -> None:
        """Forget the marks (a run starts or resumes after a pause)."""
        self._marks.clear()

    def mark(self, ts: float, step: int) -> None:
        """Record that ``step`` was logged at time ``ts``."""
        self._marks.append((ts, step))

    def eta_seconds(self, step: int, total: int) -> float | None:
        """Estimated seconds to ``total`` steps; None until two steps were seen."""
        if len(self._marks) < 2 or total <= 0:
            return None
        (t0, s0), (t1, s1) = self._marks[0], self._marks[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return max(0, total - step) * (t1 - t0) / (s1 - s0)


def format_eta(seconds: float | None) -> str:
    """``1h02m``, ``3m07s``, ``12s`` or ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
