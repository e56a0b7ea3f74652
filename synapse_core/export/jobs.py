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
        """Build from ``to_dict`` output; unknown keys are ignored (newer files). ValueError
        naming the field when a value has the wrong type (``job_problems``)."""
        problems = job_problems(d)
        if problems:
            raise ValueError("; ".join(problems))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        steps = known.get("steps") or {}
        known["steps"] = {s: StepState(**steps.get(s, {})) for s in STEPS}
        return cls(**known)


_NUM = (int, float)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,), "quant": (str,), "overrides": (dict,), "mmproj": (bool,),
    "verify": (bool,), "min_top1_agreement": _NUM, "id": (str,), "state": (str,),
    "steps": (dict,), "log": (list,), "outputs": (dict,), "verification": (dict, type(None)),
    "error": (str,), "created": _NUM, "started": (*_NUM, type(None)),
    "finished": (*_NUM, type(None))}
_STEP_TYPES: dict[str, tuple[type, ...]] = {"state": (str,), "progress": _NUM, "detail": (str,),
                                            "seconds": _NUM}


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def job_problems(d: Any) -> list[str]:
    """What is wrong with one job entry of the queue file, each as ``field: problem``."""
    if not isinstance(d, dict):
        return [f"a job must be an object, not {_kind(d)}"]
    out = [] if "source" in d else ["source: missing"]
    for key, types in _FIELD_TYPES.items():
        if key in d and (not isinstance(d[key], types) or
                         (bool not in types and isinstance(d[key], bool))):
            out.append(f"{key}: {_kind(d[key])} {d[key]!r:.40} is not "
                       + " or ".join("null" if t is type(None) else t.__name__ for t in types))
    if isinstance(d.get("state"), str) and d["state"] not in STATES:
        out.append(f"state: {d['state']!r:.40} is not one of {', '.join(STATES)}")
    for key in ("overrides", "outputs"):
        if isinstance(d.get(key), dict) and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in d[key].items()):
            out.append(f"{key}: every key and value must be a string")
    if isinstance(d.get("log"), list) and not all(isinstance(x, str) for x in d["log"]):
        out.append("log: every line must be a string")
    for name, st in (d.get("steps") if isinstance(d.get("steps"), dict) else {}).items():
        if not isinstance(st, dict):
            out.append(f"steps.{name}: {_kind(st)} is not an object")
            continue
        for key, types in _STEP_TYPES.items():
            if key in st and (not isinstance(st[key], types) or isinstance(st[key], bool)):
                out.append(f"steps.{name}.{key}: {_kind(st[key])} is not "
                           + " or ".join(t.__name__ for t in types))
        extra = set(st) - set(_STEP_TYPES)
        if extra:
            out.append(f"steps.{name}: unknown keys {', '.join(sorted(map(str, extra)))}")
    return out
