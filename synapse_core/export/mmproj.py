"""Pixtral's vision tower and projector as an mmproj GGUF for llama.cpp's multimodal loader.

Keys and tensor names follow llama.cpp's ``clip.cpp`` (projector type ``pixtral``). Unlike the
converter of llama.cpp at llama-cpp-python 0.3.36's time, we write ``v.token_embd.img_break``
(the [IMG_BREAK] row of the text embeddings), which clip.cpp needs to lay out image rows.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from synapse_core.export.convert import inspect_model
from synapse_core.export.gguf_write import ProgressFn, write_gguf
from synapse_core.export.tensor_map import plan_vision, text_prefixes

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""Pixtral's image normalisation (its preprocessor_config.json uses the CLIP values)."""


def _image_break_id(folder: Path) -> int:
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    for add in tok.get("added_tokens", []):
        if add["content"] == "[IMG_BREAK]":
            return int(add["id"])
    vocab = tok["model"]["vocab"]
    if "[IMG_BREAK]" in vocab:
        return int(vocab["[IMG_BREAK]"])
    raise ValueError(f"{folder / 'tokenizer.json'}: no [IMG_BREAK] token; Pixtral needs it")


def _norm_stats(folder: Path) -> tuple[list[float], list[float]]:
    for name in ("preprocessor_config.json", "processor_config.json"):
        p = folder / name
        if p.is_file():
            cfg = json.loads(p.read_text(encoding="utf-8"))
            cfg = cfg.get("image_processor", cfg)
            if "image_mean" in cfg and "image_std" in cfg:
                return list(map(float, cfg["image_mean"])), list(map(float, cfg["image_std"]))
    return list(CLIP_MEAN), list(CLIP_STD)


def convert_mmproj(model_dir: Path, out_path: Path, *, cancel: threading.Event | None = None,
                   progress: ProgressFn | None = None) -> Path:
    """Write the mmproj GGUF of a Pixtral (Llava) folder; raises ValueError for text-only models."""
    info = inspect_model(model_dir)
    if not info.has_vision:
        raise ValueError(f"{info.folder}: no vision tower; an mmproj is only made for Pixtral")
    v = info.vision_config or {}
    n_head = int(v["num_attention_heads"])
    n_layer = int(v["num_hidden_layers"])
    prefix, _ = text_prefixes(info.refs)
    emb = info.refs[f"{prefix}embed_tokens.weight"]
    plan = plan_vision(info.refs, n_head, n_layer, (emb, _image_break_id(info.folder)))
    mean, std = _norm_stats(info.folder)
    act = v.get("hidden_act", "silu")
    if act not in ("silu", "gelu"):
        raise ValueError(f"{info.folder / 'config.json'}: vision_config.hidden_act: {act!r}; "
                         "llama.cpp's Pixtral graph supports silu or gelu")

    def set_kv(w: Any) -> None:
        w.add_name(f"{info.name} mmproj")
        w.add_type("mmproj")
        w.add_file_type(1)  # mostly f16
        w.add_clip_has_vision_encoder(True)
        w.add_clip_projector_type("pixtral")
        w.add_vision_projection_dim(info.params.n_embd)
        w.add_vision_image_size(int(v.get("image_size", 1024)))
        w.add_vision_patch_size(int(v.get("patch_size", 16)))
        w.add_vision_embedding_length(int(v["hidden_size"]))
        w.add_vision_feed_forward_length(int(v["intermediate_size"]))
        w.add_vision_block_count(n_layer)
        w.add_vision_head_count(n_head)
        w.add_vision_attention_layernorm_eps(float(v.get("layer_norm_eps", 1e-5)))
        w.add_vision_image_mean(mean)
        w.add_vision_image_std(std)
        if act == "silu":
            w.add_vision_use_silu(True)
        else:
            w.add_vision_use_gelu(True)

    return write_gguf(Path(out_path), "clip", set_kv, plan, cancel=cancel, progress=progress)
