"""Text-only training of a vision model on its decoder alone, and the adapter mapped back.

A text-only run of Pixtral never touches the vision tower, yet loading the whole
LlavaForConditionalGeneration costs memory and (through Unsloth's vision path) speed. With
``model.decoder_only`` the Mistral decoder is written once as a plain causal LM (cached,
streamed shard by shard), trained like any text model, and the final adapter's names and
targets are rewritten to the full model's, so merge and export put the vision tower back.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from synapse_core.fileio import atomic_directory
from synapse_core.paths import cache_dir

_SKIP = ("vision_tower", "multi_modal_projector")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "chat_template.jinja", "generation_config.json")


def decoder_key(key: str) -> str | None:
    """A full-model weight name as the decoder's, or None for vision weights."""
    if any(s in key for s in _SKIP):
        return None
    for old, new in (("language_model.model.", "model."), ("model.language_model.", "model."),
                     ("language_model.lm_head.", "lm_head.")):
        if key.startswith(old):
            return new + key[len(old):]
    return key  # lm_head.* in the transformers 5 layout


def extract_decoder(model_dir: str | Path) -> Path:
    """The decoder of a vision model as a causal-LM folder in the user cache (built once)."""
    from safetensors import safe_open  # light: no torch import for the index
    from safetensors.torch import save_file

    src = Path(model_dir).resolve()
    shards = sorted(src.glob("*.safetensors"))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in shards)
    digest = hashlib.sha1(f"{src}|{stamp}".encode()).hexdigest()[:12]
    out = cache_dir() / "decoders" / f"{src.name}-{digest}"
    if (out / "config.json").is_file():
        return out
    cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    text = dict(cfg["text_config"])
    text.setdefault("model_type", "mistral")
    text["architectures"] = [f"{text['model_type'].capitalize()}ForCausalLM"]
    text["tie_word_embeddings"] = cfg.get("tie_word_embeddings", text.get("tie_word_embeddings",
                                                                           False))
    text["dtype"] = cfg.get("dtype", text.get("dtype", "bfloat16"))
    with atomic_directory(out) as tmp:
        weight_map: dict[str, str] = {}
        for shard in shards:
            tensors = {}
            with safe_open(str(shard), "pt") as f:
                for key in f.keys():
                    new = decoder_key(key)
                    if new is not None:
                        tensors[new] = f.get_tensor(key)
            if tensors:
                save_file(tensors, str(tmp / shard.name), metadata={"format": "pt"})
                weight_map.update({k: shard.name for k in tensors})
        if len(shards) > 1:
            (tmp / "model.safetensors.index.json").write_text(json.dumps(
                {"metadata": {}, "weight_map": weight_map}), encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps(text, indent=2), encoding="utf-8")
        for name in _TOKENIZER_FILES:
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
    return out


def adapter_to_full_model(adapter_dir: str | Path, full_model: str | Path) -> None:
    """Rewrite a decoder adapter (in place) so it loads on the full vision model."""
    from safetensors.torch import load_file, save_file

    adapter_dir = Path(adapter_dir)
    weights = adapter_dir / "adapter_model.safetensors"
    state = load_file(str(weights))
    prefix, target = "base_model.model.model.", "base_model.model.model.language_model."
    mapped = {(target + k[len(prefix):] if k.startswith(prefix) else k): v
              for k, v in state.items()}
    save_file(mapped, str(weights), metadata={"format": "pt"})
    cfg_path = adapter_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = str(full_model)
    tm = cfg.get("target_modules")
    if isinstance(tm, str):
        names = re.search(r"\(([^()]*)\)$", tm)  # the module-name group at the end
        cfg["target_modules"] = rf".*language_model.*\.({names.group(1)})" if names else tm
    elif isinstance(tm, list):
        cfg["target_modules"] = rf".*language_model.*\.({'|'.join(map(re.escape, tm))})"
    cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
