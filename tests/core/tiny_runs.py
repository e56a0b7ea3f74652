"""Run configs shared by the training tests (imported by test modules, not collected)."""

from __future__ import annotations

from pathlib import Path

from synapse_core.config import RunConfig


def schedule_config(model_dir: Path, steps: int) -> RunConfig:
    """Reference-like schedule (warmup, cosine, dropout, NEFTune) so RNG and LR state matter:
    48 tokens, batch 2 x 1, no gradient checkpointing, no interval checkpoints."""
    cfg = RunConfig()
    cfg.model.name_or_path = str(model_dir)
    cfg.model.max_seq_length = 48
    t = cfg.training
    t.learning_rate = 1e-3
    t.max_steps = steps
    t.per_device_train_batch_size = 2
    t.gradient_accumulation_steps = 1
    t.gradient_checkpointing = False
    t.save_steps = 1000
    return cfg
