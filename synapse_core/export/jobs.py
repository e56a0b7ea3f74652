"""An export job: what to export, how, and how far it got (plain data, persisted as JSON)."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

STEPS = ("merge", "convert", "mmproj", "quantize", "verify")
"""The steps of a job, in order (merge and mmproj may be skipped)."""

STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass
class StepState:
    """One step's state: pending, running, done, skipped, failed or cancelled."""

    state: str = "pending"
    progress: float = 0.0
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ExportJob:
    """One export: a run folder (adapter) or a plain HF model folder, to GGUF."""

    source: str
    quant: str = "q4_k_m"
    overrides: dict[str, str] = field(default_factory=lambda: {r"_exps\.": "q6_k"})
    mmproj: bool = True
    verify: bool = True
    min_top1_agreement: float = 0.9
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    state: str = "queued"
    steps: dict[str, StepState] = field(default_factory=lambda: {s: StepState() for s in STEPS})
    log: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    verification: dict[str, Any] | None = None
    error: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    @property
    def name(self) -> str:
        """Folder name of the job's outputs: source folder name + job id."""
        src = self.source.rstrip("/").rsplit("/", 1)[-1] or "model"
        return f"{src}-{self.quant}-{self.id}"

    @property
    def progress(self) -> float:
        """Overall fraction done (steps weighted equally; skipped steps count as done)."""
        total = 0.0
        for s in self.steps.values():
            total += 1.0 if s.state in ("done", "skipped") else s.progress
        return total / len(self.steps)

    @property
    def current_step(self) -> str:
        """The running step's name, else ''."""
        return next((n for n, s in self.steps.items() if s.state == "running"), "")

    def reset(self) -> None:
        """Back to queued with fresh steps (retry)."""
        self.state = "queued"
        self.steps = {s: StepState() for s in STEPS}
        self.outputs, self.verification, self.error = {}, None, ""
        self.started = self.finished = None
        self.log.append("retried")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExportJob":
        """Build from ``to_dict`` output; unknown keys are ignored (newer files)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        steps = known.get("steps") or {}
        known["steps"] = {s: StepState(**steps.get(s, {})) for s in STEPS}
        return cls(**known)
