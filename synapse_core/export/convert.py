"""Our own streaming HF -> GGUF converter (bf16/f16/f32) for the decoders we export.

Why our own and not llama.cpp's ``convert_hf_to_gguf.py``: that script is not shipped in the
llama-cpp-python wheel (finding the matching version means a network clone, the failure this
project exists to avoid), and it loads whole shards. Ours reads tensor by tensor (see
``safetensors_io``), so a 12B model converts within a few GB of RAM, and it covers exactly the
architectures we train: Mistral/Llama decoders, Pixtral's language model, Mixtral experts.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synapse_core.export.gguf_write import ProgressFn, write_gguf
from synapse_core.export.safetensors_io import TensorRef, index_folder
from synapse_core.export.tensor_map import TextParams, plan_text, text_params
from synapse_core.export.vocab import add_vocab_kv, load_vocab, tokenizer_vocab_size

FILE_TYPES = {"f32": 0, "f16": 1, "bf16": 32}
"""llama_ftype of an unquantized GGUF."""


@dataclass
class ModelInfo:
    """What a HF model folder holds, as far as export is concerned."""

    folder: Path
    config: dict[str, Any]
    text_config: dict[str, Any]
    vision_config: dict[str, Any] | None
    refs: dict[str, TensorRef]
    params: TextParams

    @property
    def has_vision(self) -> bool:
        """True for Pixtral (Llava) checkpoints with a vision tower."""
        return self.vision_config is not None

    @property
    def is_moe(self) -> bool:
        """True when the decoder has experts."""
        return self.params.n_expert > 0

    @property
    def name(self) -> str:
        """A display name (the folder name)."""
        return self.folder.name


def inspect_model(folder: Path) -> ModelInfo:
    """Read config.json and the safetensors headers; say plainly what is unsupported."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{cfg_path}: missing; not a HF model folder") from None
    mtype = cfg.get("model_type")
    vision = None
    if mtype in ("llava", "mistral3"):
        text = cfg.get("text_config") or {}
        vision = cfg.get("vision_config")
        if vision and vision.get("model_type") != "pixtral":
            raise ValueError(f"{cfg_path}: vision_config.model_type: "
                             f"{vision.get('model_type')!r}; only Pixtral vision is supported")
    elif mtype in ("mistral", "llama", "mixtral", "qwen2_moe"):
        text = cfg
    else:
        raise ValueError(f"{cfg_path}: model_type: {mtype!r} is not supported by the converter "
                         "(supported: mistral, llama, mixtral, qwen2_moe, llava with Pixtral vision)")
    if text.get("model_type", "mistral") not in ("mistral", "llama", "mixtral", "qwen2_moe"):
        raise ValueError(f"{cfg_path}: text_config.model_type: {text.get('model_type')!r} "
                         "is not supported")
    return ModelInfo(folder, cfg, text, vision, index_folder(folder), text_params(text))


def _embedding_rows(info: ModelInfo) -> int:
    for key in ("language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight",
                "model.embed_tokens.weight"):
        if key in info.refs:
            return info.refs[key].shape[0]
    return info.params.vocab_size


def convert_to_gguf(model_dir: Path, out_path: Path, *, out_type: str = "bf16",
                    cancel: threading.Event | None = None,
                    progress: ProgressFn | None = None) -> Path:
    """Convert the decoder of a HF folder to one GGUF file (written atomically)."""
    if out_type not in FILE_TYPES:
        raise ValueError(f"out_type: {out_type!r}; choose one of {', '.join(FILE_TYPES)}")
    info = inspect_model(model_dir)
    hp = info.params
    n_vocab = max(_embedding_rows(info), tokenizer_vocab_size(info.folder))
    vocab = load_vocab(info.folder, n_vocab)
    plan = plan_text(info.refs, hp, out_type, n_vocab)

    def set_kv(w: Any) -> None:
        w.add_name(info.name)
        w.add_file_type(FILE_TYPES[out_type])
        w.add_vocab_size(n_vocab)
        w.add_context_length(hp.n_ctx)
        w.add_embedding_length(hp.n_embd)
        w.add_block_count(hp.n_layer)
        w.add_feed_forward_length(hp.n_ff)
        w.add_head_count(hp.n_head)
        w.add_head_count_kv(hp.n_head_kv)
        w.add_rope_dimension_count(hp.head_dim)
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)
        w.add_rope_freq_base(hp.rope_theta)
        w.add_layer_norm_rms_eps(hp.rms_eps)
        if hp.n_expert:
            w.add_expert_count(hp.n_expert)
            w.add_expert_used_count(hp.n_expert_used)
        if hp.n_ff_exp:
            w.add_expert_feed_forward_length(hp.n_ff_exp)
        if hp.n_ff_shexp:
            w.add_expert_shared_feed_forward_length(hp.n_ff_shexp)
        add_vocab_kv(w, vocab)

    return write_gguf(Path(out_path), hp.arch, set_kv, plan, cancel=cancel, progress=progress)


def estimate_gguf_bytes(model_dir: Path, out_type: str = "bf16") -> int:
    """Bytes the converted decoder will take (for the disk-space check before the step)."""
    info = inspect_model(model_dir)
    n_vocab = max(_embedding_rows(info), tokenizer_vocab_size(info.folder))
    return sum(p.nbytes for p in plan_text(info.refs, info.params, out_type, n_vocab))
