"""The Unsloth backend (CUDA only): FastVisionModel for Pixtral (language layers only, vision
frozen), FastLanguageModel for text models; 4-bit, Unsloth's gradient checkpointing.

``import unsloth`` must run before transformers/trl/peft are imported (it patches them); the
engine does that before anything heavy when this backend is chosen. Unsloth's
``get_peft_model`` builds its own LoraConfig without trainable tokens, so the new reasoning
rows are attached afterwards through PEFT (``attach_trainable_tokens``), and a one-row
backward checks that they receive gradients (Unsloth's fused loss could bypass the LM head
module); if they do not, the run says so in the notes instead of silently not training them.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from synapse_core.config import RunConfig
from synapse_core.training.backends import (LoadedModel, _pick_optim,
                                            add_tokens_and_resize, attach_trainable_tokens,
                                            keep_adapters_small, model_source)
from synapse_core.training.moe import detect_experts


def load_unsloth(cfg: RunConfig) -> LoadedModel:
    """Load with Unsloth and wrap with LoRA + trainable new-token rows."""
    t0 = time.time()
    notes: list[str] = []
    path, is_vision, full_model = model_source(cfg, notes)
    import unsloth  # noqa: F401  # first: patches transformers/trl/peft
    import torch
    from unsloth import FastLanguageModel, FastVisionModel

    from synapse_core.training.chat_template import set_chat_template

    dtype = None if cfg.model.dtype == "auto" else getattr(torch, cfg.model.dtype)
    four_bit = bool(cfg.model.load_in_4bit and importlib.util.find_spec("bitsandbytes"))
    if cfg.model.load_in_4bit and not four_bit:
        notes.append("4-bit off: bitsandbytes not installed")
    fast = FastVisionModel if is_vision else FastLanguageModel
    kwargs: dict[str, Any] = dict(max_seq_length=cfg.model.max_seq_length, dtype=dtype,
                                  load_in_4bit=four_bit)
    if is_vision:
        kwargs["use_gradient_checkpointing"] = "unsloth"
    if cfg.model.attn_implementation not in ("auto", "flash_attention_2"):
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    model, processor = fast.from_pretrained(path, **kwargs)
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    added = (add_tokens_and_resize(model, tokenizer, cfg.reasoning.tags)
             if cfg.reasoning.add_special_tokens else [])
    set_chat_template(tokenizer)
    experts = detect_experts(model)
    if experts.has_experts:
        notes.append("Unsloth path: experts get the dense rank (its get_peft_model has no "
                     "parameter targeting); use model.backend = 'hf' for expert_r/expert_alpha")
    lora = dict(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, lora_dropout=cfg.lora.lora_dropout,
                bias="none", random_state=cfg.training.seed,
                use_gradient_checkpointing="unsloth" if cfg.training.gradient_checkpointing
                else False)
    if is_vision:
        model = FastVisionModel.get_peft_model(
            model, finetune_vision_layers=False, finetune_language_layers=True,
            finetune_attention_modules=True, finetune_mlp_modules=True, **lora)
    else:
        model = FastLanguageModel.get_peft_model(model, target_modules=list(cfg.lora.target_modules),
                                                 max_seq_length=cfg.model.max_seq_length, **lora)
    if added and cfg.lora.train_new_token_rows:
        # the input rows train through PEFT's trainable tokens; the LM head stays a plain
        # Linear because Unsloth's fused losses (SFT's cross-entropy, KTO's fused_lm_head)
        # read its weight and bias directly: a wrapped head crashed KTO and cost SFT ~1.7 GiB
        # on the H200. Its new rows keep their per-tag start (see add_tokens_and_resize).
        attach_trainable_tokens(model, {"embed_tokens": list(added)})
        notes.append("Unsloth path: the new tokens' input rows train; their LM-head rows keep "
                     "their start from each tag's text (Unsloth's fused loss reads the head)")
        try:
            reached = _new_rows_get_gradients(model, tokenizer, added)
        except Exception as e:  # a diagnostic only: say it could not run, keep training
            notes.append(f"could not check the new token rows' gradients: {e!r}"[:300])
            reached = True
        if not reached:
            notes.append("new token rows of the LM head get no gradient under Unsloth's fused "
                         "loss: only their input embeddings train")
    keep_adapters_small(model)
    fast.for_training(model)
    text_cfg = model.config.get_text_config()
    attn = getattr(text_cfg, "_attn_implementation", None) or "sdpa"
    optim = _pick_optim(cfg, True, notes)
    notes.append(f"Unsloth: {'FastVisionModel (vision frozen)' if is_vision else 'FastLanguageModel'}"
                 f", gradient checkpointing 'unsloth'")
    dtype_name = str(next((p.dtype for p in model.parameters() if p.is_floating_point()
                           and p.dtype != torch.float32), torch.float32)).removeprefix("torch.")
    return LoadedModel(model=model, tokenizer=tokenizer, backend="unsloth",
                       device=f"cuda:{torch.cuda.current_device()}", dtype=dtype_name,
                       attn_implementation=attn, load_in_4bit=four_bit, optim=optim,
                       added_token_ids=added, experts=experts,
                       is_vision=is_vision, seconds=time.time() - t0, notes=notes,
                       own_gradient_checkpointing=True, full_model=full_model)


def _new_rows_get_gradients(model: Any, tokenizer: Any, ids: list[int]) -> bool:
    """One short forward/backward: does the LM head's trainable-tokens delta get a gradient?"""
    import torch

    deltas = [p for n, p in model.named_parameters()
              if "lm_head" in n and "trainable_tokens_delta" in n and p.requires_grad]
    if not deltas:
        return True  # tied embeddings: trained through the input side
    device = next(p for p in model.parameters() if p.is_cuda).device
    seq = torch.tensor([[tokenizer.bos_token_id or 1, *ids[:4], *ids[:4]]], device=device)
    out = model(input_ids=seq, attention_mask=torch.ones_like(seq), labels=seq)
    out.loss.backward()
    ok = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in deltas)
    model.zero_grad(set_to_none=True)
    return ok
