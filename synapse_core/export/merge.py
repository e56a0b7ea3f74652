"""Merge a training run's LoRA adapter into its base model, reloaded in 16-bit.

Merging into 4-bit weights loses quality (the merged deltas are rounded to 4 bits), so the base
is loaded again in bf16 here whatever the training used. The adapter's tokenizer holds the 56
reasoning tokens: the base's embeddings are resized to it before the adapter loads, and PEFT's
``trainable_token_indices`` (or ``modules_to_save``) put the trained rows back when merging.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

from synapse_core.config import DEMO_MODEL
from synapse_core.export.errors import ExportError

RUN_CONFIG_FILES = ("run.toml", "config.toml")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def is_adapter_run(source: Path) -> bool:
    """True when ``source`` is a run folder with a trained adapter (else a plain HF model)."""
    return (Path(source) / "adapter" / "adapter_config.json").is_file()


def base_model_of(run_dir: Path) -> Path:
    """The base model folder of a run: ``model.name_or_path`` of its config."""
    run_dir = Path(run_dir)
    for name in RUN_CONFIG_FILES:
        p = run_dir / name
        if p.is_file():
            try:
                raw = tomllib.loads(p.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as e:
                raise ExportError(f"{p}: {e}") from None
            name_or_path = (raw.get("model") or {}).get("name_or_path", DEMO_MODEL)
            break
    else:
        adapter_cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text("utf-8"))
        name_or_path = adapter_cfg.get("base_model_name_or_path") or DEMO_MODEL
    if name_or_path == DEMO_MODEL:
        from synapse_core.modeling.tiny import ensure_demo_model

        return ensure_demo_model()
    path = Path(name_or_path).expanduser()
    if not path.is_absolute():
        path = (run_dir / path) if (run_dir / path).exists() else path
    if not (path / "config.json").is_file():
        raise ExportError(f"{run_dir}: model.name_or_path {name_or_path!r} is not a local model "
                          "folder (export works offline: download the base model first)")
    return path


def merge_adapter(run_dir: Path, out_dir: Path, max_shard_size: str = "2GB") -> Path:
    """Write the merged bf16 model (sharded safetensors + tokenizer) to ``out_dir``."""
    import torch  # heavy: the merge runs in torch
    import transformers as tf
    from peft import PeftModel

    from synapse_core.export.safetensors_io import read_header

    run_dir = Path(run_dir)
    adapter = run_dir / "adapter"
    for f in sorted(adapter.glob("*.safetensors")):
        try:
            read_header(f)  # a truncated adapter is an error naming it, not PEFT's traceback
        except (ValueError, OSError) as e:
            raise ExportError(f"the adapter is damaged: {e}") from None
    base = base_model_of(run_dir)
    cfg = json.loads((base / "config.json").read_text(encoding="utf-8"))
    cls: Any = (tf.LlavaForConditionalGeneration if cfg.get("model_type") == "llava"
                else tf.AutoModelForCausalLM)
    model = cls.from_pretrained(str(base), dtype=torch.bfloat16)
    tok = tf.AutoTokenizer.from_pretrained(str(adapter))
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tok) > rows:
        model.resize_token_embeddings(len(tok))
    model = PeftModel.from_pretrained(model, str(adapter))
    model = model.merge_and_unload()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), max_shard_size=max_shard_size, safe_serialization=True)
    tok.save_pretrained(str(out_dir))
    for name in PROCESSOR_FILES:
        if (base / name).is_file() and not (out_dir / name).exists():
            shutil.copy2(base / name, out_dir / name)
    del model
    return out_dir
