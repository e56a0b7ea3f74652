"""Events the training engine emits (plain values only, safe to cross threads)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from synapse_core.events import Event


@dataclass(frozen=True)
class RunStarted(Event):
    """A run began (or resumed). ``total_steps`` are optimizer steps."""

    run_dir: str
    objective: str
    model: str
    total_steps: int
    num_train_epochs: float
    train_rows: int
    resumed_from_step: int = 0
    world_size: int = 1          # training processes (torchrun ranks); 1 = in-process


SETUP_PHASES: tuple[str, ...] = ("data", "libraries", "model", "trainer", "first_step")
"""The set-up a run goes through before its first step, in order (``SetupProgressed.phase``)."""


@dataclass(frozen=True)
class SetupProgressed(Event):
    """The run began the next part of its set-up, before the first training step: shown as
    progress ("set-up 3/5: loading the model demo") instead of a bare 0%.

    ``phase`` is one of ``SETUP_PHASES``; ``index`` its 1-based position among ``count``;
    ``message`` says what is happening in the user's terms."""

    phase: str
    message: str
    index: int
    count: int = len(SETUP_PHASES)


@dataclass(frozen=True)
class ModelLoaded(Event):
    """The model is loaded and wrapped for training; says what was chosen and why."""

    backend: str                 # "unsloth" or "hf"
    device: str                  # "cuda:0", "cpu"
    dtype: str                   # "bfloat16", "float32", ...
    attn_implementation: str     # "flash_attention_2", "sdpa", "eager"
    load_in_4bit: bool
    optim: str                   # the optimizer actually used
    trainable_params: int
    total_params: int
    added_tokens: int            # reasoning special tokens added to the tokenizer
    experts: str                 # "no experts (dense model)" or what was targeted
    seconds: float
    notes: tuple[str, ...] = ()  # fallbacks said aloud (e.g. paged_adamw_8bit -> adamw_torch)


@dataclass(frozen=True)
class StepLogged(Event):
    """One logged optimizer step. Every one must reach the chart."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float | None = None
    tokens_per_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # objective metrics (KTO rewards, KL)
    gpu_mem_gib: float | None = None   # torch allocated on the training device, if CUDA
    world_size: int = 1                # ranks; tokens_per_s is the global figure over all


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A checkpoint is on disk. ``reason``: interval, manual, stop, signal, end."""

    step: int
    path: str
    reason: str


@dataclass(frozen=True)
class PreviewGenerated(Event):
    """A sample generation with the banned words suppressed."""

    step: int
    prompt: str
    text: str


@dataclass(frozen=True)
class TrainingPaused(Event):
    step: int


@dataclass(frozen=True)
class TrainingResumed(Event):
    step: int


@dataclass(frozen=True)
class TrainingFinished(Event):
    """The run ended without error. ``stopped`` is True when stopped early by the user/signal."""

    run_dir: str
    step: int
    adapter_path: str
    stopped: bool = False
    reason: str = "completed"


@dataclass(frozen=True)
class TrainingFailed(Event):
    """The run ended with an error. ``failure``: oom, nan, config, model, data, checkpoint (a
    file of the checkpoint to resume from cannot be read), disk, died
    (the run process vanished: a signal, a native crash, an OOM kill; ``exit_code`` says
    how, negative for a signal), error."""

    message: str
    failure: str = "error"
    hint: str = ""
    traceback: str = ""
    run_dir: str = ""
    step: int = 0
    exit_code: int | None = None


@dataclass(frozen=True)
class RequestAcknowledged(Event):
    """The run process took a control request (``action``: stop, pause, resume, checkpoint)
    from its control file; ``seq`` is the request's number there (``synapse control`` waits
    for it)."""

    action: str
    seq: int


@functools.cache
def event_classes() -> dict[str, type[Event]]:
    """Every event kind a run writes to events.jsonl, by class name."""
    from synapse_core.events import LogLine
    from synapse_core.telemetry.events import TelemetrySampled, TelemetryUnavailable

    return {c.__name__: c for c in (RunStarted, SetupProgressed, ModelLoaded, StepLogged,
                                     CheckpointSaved, PreviewGenerated, TrainingPaused,
                                     TrainingResumed, TrainingFinished, TrainingFailed,
                                     RequestAcknowledged, LogLine, TelemetrySampled,
                                     TelemetryUnavailable)}


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event written with ``Event.to_dict`` (used to stream events across processes:
    the multi-GPU supervisor tails rank 0's events.jsonl). Raises KeyError for an unknown kind;
    fields a newer writer added are dropped, so an old reader still gets the event."""
    import dataclasses

    from synapse_core.telemetry.events import GpuSample

    d = dict(d)
    classes = event_classes()
    kind = d.pop("kind")
    if kind not in classes and "traceback" in d and "message" in d:
        d["failure"] = kind  # a TrainingFailed written before its failure had a field name
        kind = "TrainingFailed"
    cls = classes[kind]
    if cls is TrainingFailed and "failure_kind" in d:
        d["failure"] = d.pop("failure_kind")  # written by an older version
    known = _field_names(cls)
    d = {k: v for k, v in d.items() if k in known}
    if "notes" in d and isinstance(d["notes"], list):
        d["notes"] = tuple(d["notes"])
    if "gpus" in d and isinstance(d["gpus"], list):
        d["gpus"] = tuple(GpuSample(**g) if isinstance(g, dict) else g for g in d["gpus"])
    return cls(**d)


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    import dataclasses

    return frozenset(f.name for f in dataclasses.fields(cls))
