"""The objectives (KTO, SFT) as TRL trainers, configured from the run config.

Config keys carry transformers' ``TrainingArguments`` names, so most pass straight through.
KTO rows are ``{"prompt": [messages], "completion": [assistant message], "label": bool}``;
SFT rows are ``{"messages": [...]}`` and train on the assistant tokens only, packed
padding-free (TRL's best-fit packing with per-row position ids) when ``packing`` is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from synapse_core.config import RunConfig


class EmptyDataset(ValueError):
    """No rows to train on (or none of the shape the objective needs)."""


def check_rows(objective: str, rows: list[dict[str, Any]]) -> None:
    """Fail early, naming the first bad row, instead of deep inside TRL."""
    if not rows:
        raise EmptyDataset("no training rows: the prepared dataset is empty "
                           "(all rows filtered or dropped?)")
    need = ("prompt", "completion", "label") if objective == "kto" else ("messages",)
    for i, row in enumerate(rows):
        missing = [k for k in need if k not in row]
        if missing:
            raise EmptyDataset(f"row {i}: missing {', '.join(missing)} for objective "
                               f"{objective!r} (has {', '.join(sorted(row))})")
    if objective == "kto" and len(rows) < 2:
        raise EmptyDataset("KTO needs at least 2 rows (its KL term pairs rows in a batch)")


def training_args_kwargs(cfg: RunConfig, output_dir: Path, *, optim: str, bf16: bool,
                         use_cpu: bool, max_steps: int | None = None) -> dict[str, Any]:
    """kwargs shared by KTOConfig and SFTConfig (plus DDP's under torchrun)."""
    t = cfg.training
    return dict(**ddp_kwargs(use_cpu),
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        num_train_epochs=t.num_train_epochs,
        max_steps=t.max_steps if max_steps is None else max_steps,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        optim=optim,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the steps
        lr_scheduler_type=t.lr_scheduler_type,
        max_grad_norm=t.max_grad_norm,
        neftune_noise_alpha=t.neftune_noise_alpha or None,  # 0 = off; transformers: None
        weight_decay=t.weight_decay,
        bf16=bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        logging_strategy="steps",
        logging_nan_inf_filter=False,  # a NaN loss must reach the engine, not be averaged away
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=use_cpu,
        max_length=cfg.model.max_seq_length,
    )


def ddp_kwargs(use_cpu: bool) -> dict[str, Any]:
    """TrainingArguments for DDP when this process is one of several torchrun ranks: every
    trainable parameter (LoRA, new token rows) is used each step, so DDP need not search for
    unused ones (Unsloth's multi-GPU advice too); gloo on the CPU, NCCL on GPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return {}
    return dict(ddp_find_unused_parameters=False, ddp_backend="gloo" if use_cpu else "nccl")


def build_trainer(cfg: RunConfig, model: Any, tokenizer: Any, rows: list[dict[str, Any]],
                  args_kwargs: dict[str, Any], callbacks: list[Any]) -> Any:
    """A TRL KTOTrainer or SFTTrainer over ``rows`` (the model is already a PEFT model)."""
    from datasets import Dataset  # heavy

    t = cfg.training
    if t.objective == "kto":
        from trl import KTOConfig, KTOTrainer

        # KTO reads its batches in order (its KL term pairs neighbours), so shuffle once here,
        # seeded: the order is the same on resume
        ds = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"],
                                 "label": bool(r["label"])} for r in rows]).shuffle(seed=t.seed)
        args = KTOConfig(beta=t.beta, desirable_weight=t.desirable_weight,
                         undesirable_weight=t.undesirable_weight, **args_kwargs)
        return KTOTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                          callbacks=callbacks)
    from trl import SFTConfig, SFTTrainer

    ds = Dataset.from_list([{"messages": r["messages"]} for r in rows])
    # TRL's default chunked loss reads lm_head.weight directly, which would skip (and never
    # train) the new token rows PEFT keeps beside the LM head: use the plain loss then
    head = model.get_output_embeddings()
    wrapped_head = type(head).__name__ == "TrainableTokensWrapper"
    if wrapped_head:
        args_kwargs = {**args_kwargs, "loss_type": "nll"}
    args = SFTConfig(packing=t.packing, packing_strategy="bfd",
                     padding_free=t.packing, assistant_only_loss=t.assistant_only_loss,
                     **args_kwargs)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                         callbacks=callbacks)
    # SFT under Unsloth logs no num_tokens: count the collated batches' tokens ourselves so
    # tokens/s reaches the panel on every backend
    trainer.data_collator = TokenCounter(trainer.data_collator, tokenizer.pad_token_id)
    return trainer


def count_tokens(batch: Any, pad_id: int | None) -> int:
    """Non-pad tokens in a collated batch (attention mask when there is one; a padding-free
    packed batch has none and no pads)."""
    mask = batch.get("attention_mask") if hasattr(batch, "get") else None
    if mask is not None:
        return int(mask.sum())
    ids = batch.get("input_ids") if hasattr(batch, "get") else None
    if ids is None:
        return 0
    return int((ids != pad_id).sum()) if pad_id is not None else int(ids.numel())


class TokenCounter:
    """Wraps a data collator and adds up the non-pad tokens of every batch it builds."""

    def __init__(self, collator: Any, pad_id: int | None) -> None:
        self.collator = collator
        self.pad_id = pad_id
        self.total = 0

    def __call__(self, features: Any, *args: Any, **kwargs: Any) -> Any:
        batch = self.collator(features, *args, **kwargs)
        self.total += count_tokens(batch, self.pad_id)
        return batch
