"""One HF ``TrainerCallback`` that turns the trainer's hooks into events and obeys RunControl.

It logs each step (event + metrics.jsonl row), raises ``LossNotFinite`` on a NaN/inf loss so
the run fails loudly instead of training garbage, and between optimizer steps: blocks while
paused, saves on "checkpoint now", and on stop asks the trainer to save and stop (the
trainer saves within the same step, then leaves its loop).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback  # heavy, but this module is only imported to train

from synapse_core.training.control import RunControl
from synapse_core.training.events import (CheckpointSaved, StepLogged, TrainingPaused,
                                          TrainingResumed)

_NOT_METRICS = {"loss", "learning_rate", "grad_norm", "epoch", "total_flos", "step"}


class LossNotFinite(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, loss: float) -> None:
        self.step = step
        self.loss = loss
        super().__init__(f"loss is {loss} at step {step}: training diverged")


class EngineCallback(TrainerCallback):
    """Adapts HF Trainer hooks to engine events, metrics rows and RunControl requests.

    ``emit`` takes an event; ``write_metrics`` a metrics.jsonl row; ``extra_metrics`` returns
    fields merged into each row (GPU memory, NVML readings); ``preview(step)`` is called
    every ``preview_steps`` optimizer steps when set.
    """

    def __init__(self, *, emit: Callable[[Any], None], control: RunControl,
                 write_metrics: Callable[[dict[str, Any]], None],
                 extra_metrics: Callable[[], dict[str, Any]],
                 checkpoints_dir: Path, preview: Callable[[int], None] | None = None,
                 preview_steps: int = 0) -> None:
        self.emit = emit
        self.rc = control
        self.write_metrics = write_metrics
        self.extra_metrics = extra_metrics
        self.checkpoints_dir = Path(checkpoints_dir)
        self.preview = preview
        self.preview_steps = preview_steps
        self.save_reason: str | None = None
        self.stopped_reason: str | None = None
        self._last_time = time.time()
        self._last_tokens = 0.0
        self.token_counter: Any = None  # set by build_trainer when the trainer logs no tokens

    # -- hooks -----------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._last_time = time.time()
        self._last_tokens = 0.0

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        step = state.global_step
        if self.rc.paused and not self.rc.stop_requested.is_set():
            self.emit(TrainingPaused(step=step))
            self.rc.wait_while_paused()  # blocks this worker thread only; stop() wakes it
            self.emit(TrainingResumed(step=step))
            self._last_time = time.time()  # do not count the pause in tokens/s
        if self.rc.checkpoint_requested.is_set():
            self.rc.checkpoint_requested.clear()
            control.should_save = True
            self.save_reason = "manual"
        if self.rc.stop_requested.is_set():
            control.should_save = True
            control.should_training_stop = True
            self.save_reason = self.stopped_reason = self.rc.stop_reason or "user"
        if (self.preview and self.preview_steps and step % self.preview_steps == 0
                and not control.should_training_stop):
            self.preview(step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kw: Any) -> None:
        logs = logs or {}
        if "loss" not in logs:
            return  # the end-of-training summary, not a step
        step = state.global_step
        loss = float(logs["loss"])
        now = time.time()
        tokens = logs.get("num_tokens")
        if tokens is None and self.token_counter is not None:
            tokens = self.token_counter.total
        tps = None
        if tokens is not None:
            delta = float(tokens) - self._last_tokens
            if delta < 0:  # counter restarted (resume)
                delta = float(tokens)
            dt = now - self._last_time
            tps = delta / dt if dt > 0 else None
            self._last_tokens = float(tokens)
        self._last_time = now
        metrics = {k: float(v) for k, v in logs.items()
                   if k not in _NOT_METRICS and isinstance(v, (int, float))}
        extra = self.extra_metrics()
        grad_norm = logs.get("grad_norm")
        event = StepLogged(step=step, total_steps=state.max_steps,
                           epoch=float(logs.get("epoch", state.epoch or 0.0)), loss=loss,
                           learning_rate=float(logs.get("learning_rate", 0.0)),
                           grad_norm=None if grad_norm is None else float(grad_norm),
                           tokens_per_s=tps, metrics=metrics,
                           gpu_mem_gib=extra.get("gpu_mem_gib"))
        row = {"step": step, "epoch": event.epoch, "loss": loss,
               "learning_rate": event.learning_rate, "grad_norm": event.grad_norm,
               "tokens_per_s": tps, **metrics, **extra, "ts": event.ts}
        self.write_metrics(row)
        self.emit(event)
        if not math.isfinite(loss):
            raise LossNotFinite(step, loss)

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        step = state.global_step
        path = self.checkpoints_dir / f"checkpoint-{step}"
        self.emit(CheckpointSaved(step=step, path=str(path), reason=self.save_reason or "interval"))
        self.save_reason = None
