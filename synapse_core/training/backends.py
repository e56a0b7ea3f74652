"""Loading the base model for training: Unsloth on a CUDA GPU, transformers + PEFT elsewhere.

Both backends end in the same place: a PEFT model with LoRA on the language layers (and the
experts, for a mixture-of-experts model), the reasoning tags added to the tokenizer with
their embedding rows initialised at the mean row and trained through PEFT's trainable
tokens (the rest of the embedding stays frozen), the reasoning chat template set, and a
``LoadedModel`` that says what was chosen (device, dtype, attention, 4-bit) and why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_core.config import DEMO_MODEL, RunConfig
from synapse_core.training.moe import ExpertInfo, detect_experts, expert_lora_kwargs


class ModelNotFound(Exception):
    """The configured model is neither a local folder nor in the offline HF cache."""


@dataclass
class LoadedModel:
    """The wrapped model, its tokenizer and the choices made while loading."""

    model: Any
    tokenizer: Any
    backend: str
    device: str
    dtype: str
    attn_implementation: str
    load_in_4bit: bool
    optim: str
    added_token_ids: list[int]
    experts: ExpertInfo
    is_vision: bool
    seconds: float
    notes: list[str] = field(default_factory=list)
    full_model: str = ""  # set when a vision model's decoder is trained alone
    own_gradient_checkpointing: bool = False  # Unsloth's: keep HF's switched off


def cuda_available() -> bool:
    import torch  # heavy

    return torch.cuda.is_available()


def choose_backend(cfg: RunConfig) -> str:
    """'unsloth' when asked (or auto) and CUDA + unsloth are there, else 'hf'."""
    want = cfg.model.backend
    if want == "hf":
        return "hf"
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if want == "unsloth" and not (has_unsloth and cuda_available()):
        raise RuntimeError("model.backend = 'unsloth' needs a CUDA GPU and the unsloth package")
    if want == "auto" and _has_experts_in_config(cfg.model.name_or_path):
        return "hf"  # expert rank/alpha need PEFT parameter targeting, which Unsloth lacks
    return "unsloth" if has_unsloth and cuda_available() else "hf"


def _has_experts_in_config(name_or_path: str) -> bool:
    import json

    p = Path(os.path.expanduser(name_or_path)) / "config.json"
    if not p.is_file():
        return False
    cfg = json.loads(p.read_text(encoding="utf-8"))
    cfg = cfg.get("text_config", cfg)
    return any(cfg.get(k) for k in ("num_local_experts", "num_experts", "n_routed_experts"))


def resolve_model_path(name_or_path: str) -> str:
    """A local folder for ``name_or_path``: the demo model, a folder, or an offline HF cache hit."""
    if name_or_path == DEMO_MODEL:
        from synapse_core.modeling.tiny import ensure_demo_model

        return str(ensure_demo_model())
    p = Path(os.path.expanduser(name_or_path))
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ModelNotFound(f"model.name_or_path: {p} has no config.json (not a model folder)")
        return str(p)
    try:
        from huggingface_hub import snapshot_download  # light enough, only on this path

        return snapshot_download(name_or_path, local_files_only=True)
    except Exception as e:  # LocalEntryNotFoundError, HFValidationError, OSError
        raise ModelNotFound(
            f"model.name_or_path: {name_or_path!r} is not a local folder and is not in the "
            f"Hugging Face cache (no download is attempted); download it first or point to "
            f"a folder ({type(e).__name__})") from e


def model_source(cfg: RunConfig, notes: list[str]) -> tuple[str, bool, str]:
    """(folder to load, is a vision model, the full model's folder when training its decoder
    alone)."""
    path = resolve_model_path(cfg.model.name_or_path)
    is_vision = _is_vision_config(path)
    if is_vision and cfg.model.decoder_only and cfg.model.text_only:
        from synapse_core.training.decoder_only import extract_decoder

        decoder = extract_decoder(path)
        notes.append("decoder only: training the language model alone; the adapter is "
                     "mapped back to the full model at the end")
        return str(decoder), False, path
    return path, is_vision, ""


def _pick_dtype(cfg: RunConfig, on_cuda: bool, notes: list[str]) -> Any:
    import torch

    want = cfg.model.dtype
    if want != "auto":
        return getattr(torch, want)
    if on_cuda:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # CPU: fp32 trains tiny models exactly; bf16 on CPU is slower and loses precision
    notes.append("dtype auto on CPU: float32")
    return torch.float32


def _pick_attn(cfg: RunConfig, on_cuda: bool, notes: list[str]) -> str:
    want = cfg.model.attn_implementation
    has_fa2 = importlib.util.find_spec("flash_attn") is not None
    if want == "flash_attention_2" and not (has_fa2 and on_cuda):
        notes.append("flash_attention_2 asked for but flash_attn/CUDA missing: using sdpa")
        return "sdpa"
    if want != "auto":
        return want
    if has_fa2 and on_cuda:
        return "flash_attention_2"
    notes.append("attention: sdpa (flash_attn not installed)" if on_cuda
                 else "attention: sdpa (CPU)")
    return "sdpa"


def _pick_optim(cfg: RunConfig, on_cuda: bool, notes: list[str]) -> str:
    optim = cfg.training.optim
    if optim in ("paged_adamw_8bit", "adamw_8bit"):
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        if not (on_cuda and has_bnb):
            why = "no CUDA" if not on_cuda else "bitsandbytes not installed"
            notes.append(f"optimizer {optim} -> adamw_torch ({why})")
            return "adamw_torch"
    return optim


def _is_vision_config(model_dir: str) -> bool:
    import json

    cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    return "vision_config" in cfg and "text_config" in cfg


def add_tokens_and_resize(model: Any, tokenizer: Any, tags: list[str]) -> list[int]:
    """Add the reasoning tags, resize the embeddings (multiple of 64) and start each new row
    at the mean of the rows of its own text (``<goal>`` -> ``<``, ``goal``, ``>``): every tag
    gets a distinct, meaningful start, so even a row that the backend cannot train (the LM
    head under Unsloth's fused loss) tells the tags apart."""
    import torch

    from synapse_core.modeling.tokenizer import add_reasoning_tokens, reasoning_special_tokens

    old_rows = model.get_input_embeddings().weight.shape[0]
    before = len(tokenizer)
    # the tags' plain-text pieces, read before the tags become single tokens
    pieces = [tokenizer(t, add_special_tokens=False)["input_ids"]
              for t in reasoning_special_tokens(tags)]
    ids = add_reasoning_tokens(tokenizer, tags)
    new = [(i, p) for i, p in zip(ids, pieces) if i >= before]
    if not new:
        return list(ids)
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64, mean_resizing=False)
    with torch.no_grad():
        for emb in (model.get_input_embeddings(), model.get_output_embeddings()):
            if emb is None:
                continue
            w = emb.weight
            mean = w[:before].float().mean(0)
            for i, p in new:
                ok = [j for j in p if j < before]
                w[i] = (w[ok].float().mean(0) if ok else mean).to(w.dtype)
            if w.shape[0] > len(tokenizer):  # padding rows past the vocabulary
                w[len(tokenizer):] = mean.to(w.dtype)
    return list(ids)


def _token_layers(model: Any, ids: list[int]) -> dict[str, list[int]]:
    """trainable_token_indices for the input embedding and, when untied, the LM head."""
    out = {"embed_tokens": list(ids)}
    text_cfg = model.config.get_text_config()
    tied = getattr(model.config, "tie_word_embeddings", False) or getattr(
        text_cfg, "tie_word_embeddings", False)
    if not tied and model.get_output_embeddings() is not None:
        out["lm_head"] = list(ids)
    return out


def lora_config_kwargs(cfg: RunConfig, model: Any, experts: ExpertInfo, is_vision: bool,
                       token_ids: list[int], notes: list[str] | None = None) -> dict[str, Any]:
    """kwargs of peft.LoraConfig: language-layer targets, experts, trainable new tokens.
    Fallbacks it had to take are appended to ``notes``."""
    names = "|".join(re.escape(n) for n in cfg.lora.target_modules)
    scope = r".*language_model.*" if is_vision else r".*"
    extra = expert_lora_kwargs(experts, cfg.lora.expert_r, cfg.lora.expert_alpha,
                               cfg.lora.train_router)
    pattern = rf"{scope}\.({names})"
    if "extra_target_modules" in extra:
        pattern = rf"(?:{pattern}|.*\.{extra.pop('extra_target_modules')})"
    dropout = cfg.lora.lora_dropout
    if experts.fused_params and dropout:
        # PEFT's parameter LoRA (fused experts) has no dropout, and one LoraConfig has one
        # dropout for all layers
        dropout = 0.0
        if notes is not None:
            notes.append(f"lora_dropout {cfg.lora.lora_dropout} -> 0 (PEFT cannot apply "
                         "dropout to fused expert parameters)")
    kwargs: dict[str, Any] = dict(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha,
                                  lora_dropout=dropout, bias="none",
                                  task_type="CAUSAL_LM", target_modules=pattern, **extra)
    if token_ids and cfg.lora.train_new_token_rows:
        kwargs["trainable_token_indices"] = _token_layers(model, token_ids)
    return kwargs


def attach_trainable_tokens(peft_model: Any, indices: dict[str, list[int]]) -> None:
    """Add PEFT trainable tokens to an already-built LoRA model (the Unsloth path, whose
    get_peft_model does not take them); saved in the adapter config like the HF path's."""
    from peft.tuners.tuners_utils import BaseTuner
    from peft.utils.other import set_additional_trainable_modules

    name = peft_model.active_adapter
    pcfg = peft_model.peft_config[name]
    pcfg.trainable_token_indices = indices
    set_additional_trainable_modules(model=peft_model.base_model, peft_config=pcfg,
                                     model_config=BaseTuner.get_model_config(peft_model),
                                     adapter_name=name)


def keep_adapters_small(peft_model: Any) -> None:
    """Never write the whole resized embedding into adapters and checkpoints.

    PEFT saves both full embedding matrices whenever the vocabulary grew (2.7 GB per
    checkpoint at 12B); the new rows already live in the adapter as trainable tokens and
    the old rows are the base model's. Bound on this instance only (not the library)."""
    import functools

    peft_model.save_pretrained = functools.partial(type(peft_model).save_pretrained,
                                                   peft_model, save_embedding_layers=False)


def _freeze_vision(model: Any) -> None:
    for name, p in model.named_parameters():
        if "vision_tower" in name or "multi_modal_projector" in name:
            p.requires_grad_(False)


def load_model(cfg: RunConfig, *, backend: str | None = None) -> LoadedModel:
    """Load, add tokens, wrap with LoRA; raises ModelNotFound for a missing model."""
    backend = backend or choose_backend(cfg)
    if backend == "unsloth":
        from synapse_core.training.unsloth_backend import load_unsloth

        return load_unsloth(cfg)
    return load_hf(cfg)


def load_hf(cfg: RunConfig) -> LoadedModel:
    """transformers + PEFT (+ bitsandbytes 4-bit on CUDA)."""
    t0 = time.time()
    notes: list[str] = []
    path, is_vision, full_model = model_source(cfg, notes)
    import torch  # heavy: only when training
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    from synapse_core.training.chat_template import set_chat_template

    on_cuda = torch.cuda.is_available()
    dtype = _pick_dtype(cfg, on_cuda, notes)
    attn = _pick_attn(cfg, on_cuda, notes)
    optim = _pick_optim(cfg, on_cuda, notes)
    four_bit = bool(cfg.model.load_in_4bit and on_cuda
                    and importlib.util.find_spec("bitsandbytes") is not None)
    if cfg.model.load_in_4bit and not four_bit:
        notes.append("4-bit off: needs CUDA and bitsandbytes" if not on_cuda
                     else "4-bit off: bitsandbytes not installed")
    kwargs: dict[str, Any] = dict(dtype=dtype, attn_implementation=attn)
    if four_bit:
        kwargs["quantization_config"] = tf.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    cls = tf.LlavaForConditionalGeneration if is_vision else tf.AutoModelForCausalLM
    model = cls.from_pretrained(path, **kwargs)
    tokenizer = tf.AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    added = (add_tokens_and_resize(model, tokenizer, cfg.reasoning.tags)
             if cfg.reasoning.add_special_tokens else [])
    set_chat_template(tokenizer)
    if is_vision:
        _freeze_vision(model)
    if four_bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
    experts = detect_experts(model)
    lcfg = LoraConfig(**lora_config_kwargs(cfg, model, experts, is_vision, added, notes))
    with warnings.catch_warnings():
        # PEFT checks rank_pattern keys against module names only, so an expert pattern
        # (matched against the parameter name, and applied) is reported as unmatched
        warnings.filterwarnings("ignore", message=".*pattern keys did not match.*")
        model = get_peft_model(model, lcfg)
    keep_adapters_small(model)
    device = f"cuda:{torch.cuda.current_device()}" if on_cuda else "cpu"
    return LoadedModel(model=model, tokenizer=tokenizer, backend="hf", device=device,
                       dtype=str(dtype).removeprefix("torch."), attn_implementation=attn,
                       load_in_4bit=four_bit, optim=optim, added_token_ids=added,
                       experts=experts, is_vision=is_vision, seconds=time.time() - t0,
                       notes=notes, full_model=full_model)


def param_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total
