"""One HF ``TrainerCallback`` that turns the trainer's hooks into events and obeys RunControl.

It logs each step (event + metrics.jsonl row), raises ``LossNotFinite`` on a NaN/inf loss so
the run fails loudly instead of training garbage, and between optimizer steps: blocks while
paused, saves on "checkpoint now", and on stop asks the trainer to save and stop (the
trainer saves within the same step, then leaves its loop). Under torchrun (several ranks)
the requests are all-reduced at every step end so all ranks act on the same step, and
tokens/s is the global figure.
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


def _process_group() -> tuple[Any, Any] | None:
    """(torch.distributed, the device its collectives use) when this process is one rank of
    several (torchrun), else None."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    on_nccl = "nccl" in str(dist.get_backend())
    device = torch.device("cuda", torch.cuda.current_device()) if on_nccl else torch.device("cpu")
    return dist, device


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
        self.token_counter: Any = None  # set by the engine when the trainer logs no tokens
        self._pause_pending = False
        self._paused_s = 0.0  # paused time since the last logged step (not training time)
        self._group: tuple[Any, Any] | None = None  # (torch.distributed, device) with > 1 rank
        self.world_size = 1

    # -- hooks -----------------------------------------------------------------------------

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._last_time = time.time()
        self._last_tokens = 0.0
        self._group = _process_group()
        self.world_size = self._group[0].get_world_size() if self._group else 1

    def _group_flags(self) -> tuple[bool, bool, bool]:
        """(stop, checkpoint, pause) as the whole process group decides them: each rank's
        requests (only rank 0 receives any) all-reduced with MAX, so every rank saves,
        pauses and stops at the same step. One process: this process's requests."""
        stop = self.rc.stop_requested.is_set()
        checkpoint = self.rc.checkpoint_requested.is_set()
        if checkpoint:
            self.rc.checkpoint_requested.clear()
        pause = self.rc.paused and not stop
        if not self._group:
            return stop, checkpoint, pause
        import torch  # already loaded: this runs inside HF's training loop

        dist, device = self._group
        flags = torch.tensor([stop, checkpoint, pause], dtype=torch.int32, device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, checkpoint, pause = (bool(x) for x in flags.tolist())
        return stop, checkpoint, pause

    def _global_tokens(self, local: float) -> float:
        """The token count summed over the ranks (each counts only its own batches)."""
        if not self._group:
            return local
        import torch

        dist, device = self._group
        total = torch.tensor([int(local)], dtype=torch.int64, device=device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total.item())

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        step = state.global_step
        stop, checkpoint, pause = self._group_flags()
        if pause and not stop and control.should_log:
            # paused after this step's row is logged (``on_log``, same step, before the
            # save): the step on the chart and the step the pause names are the same
            self._pause_pending = True
        elif pause and not stop:
            stop, checkpoint = self._pause(step, checkpoint)
        self._act(control, stop, checkpoint)
        if (self.preview and self.preview_steps and step % self.preview_steps == 0
                and not control.should_training_stop):
            self.preview(step)

    def _pause(self, step: int, checkpoint: bool) -> tuple[bool, bool]:
        """Block until resumed or stopped; returns (stop, checkpoint) as decided meanwhile.
        The paused time is left out of the next tokens/s."""
        self.emit(TrainingPaused(step=step))
        paused_at = time.time()
        stop, pause = False, True
        while pause and not stop:
            # one process: block until resumed or stopped. Several: every rank meets
            # again every 0.5 s, so no collective waits long enough to time out
            self.rc.wait_while_paused(0.5 if self._group else None)
            stop, checkpoint_now, pause = self._group_flags()
            checkpoint = checkpoint or checkpoint_now
        self._paused_s += time.time() - paused_at
        self.emit(TrainingResumed(step=step))
        return stop, checkpoint

    def _act(self, control: Any, stop: bool, checkpoint: bool) -> None:
        if checkpoint:
            control.should_save = True
            self.save_reason = self.save_reason or "manual"
        if stop:
            control.should_save = True
            control.should_training_stop = True
            self.save_reason = self.stopped_reason = self.rc.stop_reason or "user"

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kw: Any) -> None:
        logs = logs or {}
        if "loss" not in logs:
            return  # the end-of-training summary, not a step
        step = state.global_step
        loss = float(logs["loss"])
        now = time.time()
        tokens = logs.get("num_tokens")  # TRL gathers it over the ranks: already global
        if tokens is None and self.token_counter is not None:
            tokens = self._global_tokens(self.token_counter.total)
        tps = None
        if tokens is not None:
            delta = float(tokens) - self._last_tokens
            if delta < 0:  # counter restarted (resume)
                delta = float(tokens)
            dt = now - self._last_time - self._paused_s
            tps = delta / dt if dt > 0 else None
            self._last_tokens = float(tokens)
        self._last_time = now
        self._paused_s = 0.0
        metrics = {k: float(v) for k, v in logs.items()
                   if k not in _NOT_METRICS and isinstance(v, (int, float))}
        extra = self.extra_metrics()
        grad_norm = logs.get("grad_norm")
        event = StepLogged(step=step, total_steps=state.max_steps,
                           epoch=float(logs.get("epoch", state.epoch or 0.0)), loss=loss,
                           learning_rate=float(logs.get("learning_rate", 0.0)),
                           grad_norm=None if grad_norm is None else float(grad_norm),
                           tokens_per_s=tps, metrics=metrics,
                           gpu_mem_gib=extra.get("gpu_mem_gib"), world_size=self.world_size)
        row = {"step": step, "epoch": event.epoch, "loss": loss,
               "learning_rate": event.learning_rate, "grad_norm": event.grad_norm,
               "tokens_per_s": tps, **metrics, **extra, "world_size": self.world_size,
               "ts": event.ts}
        self.write_metrics(row)
        self.emit(event)
        if not math.isfinite(loss):
            raise LossNotFinite(step, loss)
        if self._pause_pending:  # asked for at this step's end: the row is out, now wait
            self._pause_pending = False
            stop, checkpoint = self._pause(step, False)
            self._act(control, stop, checkpoint)

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        step = state.global_step
        path = self.checkpoints_dir / f"checkpoint-{step}"
        self.emit(CheckpointSaved(step=step, path=str(path), reason=self.save_reason or "interval"))
        self.save_reason = None
