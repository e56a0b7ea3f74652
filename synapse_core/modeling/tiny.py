"""Tiny random-init models of the real architectures, with the real Tekken tokenizer.

These are what the demo trains on a CPU and what the tests use: the same classes as the real
models (LlavaForConditionalGeneration with a Pixtral vision tower and a Mistral decoder;
Mistral; Mixtral and Qwen2-MoE for experts), only narrow and shallow. Widths are multiples of
256 so llama.cpp's K-quants apply to them (narrower rows fall back to other types silently).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from synapse_core.fileio import atomic_directory
from synapse_core.paths import cache_dir

TINY_KINDS = ("pixtral", "mistral", "mixtral", "qwen2_moe")
DEMO_VERSION = "v2"
"""v2: the reasoning tags are in the demo model's vocabulary from the start (see
``ensure_demo_model``)."""
PIXTRAL_IMAGE_TOKEN_ID = 10  # "[IMG]" in Tekken, as in Pixtral-12B-2409


@dataclass(frozen=True)
class TinySize:
    """Shape of a tiny decoder (defaults: ~68M parameters, mostly the 131k-row embeddings)."""

    hidden_size: int = 256
    intermediate_size: int = 512
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    num_experts: int = 4
    num_experts_per_tok: int = 2


def _text_kwargs(size: TinySize, vocab: int) -> dict[str, Any]:
    return dict(vocab_size=vocab, hidden_size=size.hidden_size,
                intermediate_size=size.intermediate_size,
                num_hidden_layers=size.num_hidden_layers,
                num_attention_heads=size.num_attention_heads,
                num_key_value_heads=size.num_key_value_heads, head_dim=size.head_dim,
                max_position_embeddings=32768, rms_norm_eps=1e-5, tie_word_embeddings=False,
                bos_token_id=1, eos_token_id=2, pad_token_id=11)


def tiny_config(kind: str, vocab_size: int, size: TinySize = TinySize()) -> Any:
    """The transformers config of a tiny model of ``kind`` (one of TINY_KINDS)."""
    import transformers as tf  # heavy

    kw = _text_kwargs(size, vocab_size)
    if kind == "mistral":
        return tf.MistralConfig(rope_theta=1e9, **kw)
    if kind == "mixtral":
        return tf.MixtralConfig(rope_theta=1e6, num_local_experts=size.num_experts,
                                num_experts_per_tok=size.num_experts_per_tok, **kw)
    if kind == "qwen2_moe":
        kw.pop("head_dim")
        return tf.Qwen2MoeConfig(num_experts=size.num_experts,
                                 num_experts_per_tok=size.num_experts_per_tok,
                                 moe_intermediate_size=size.intermediate_size,
                                 shared_expert_intermediate_size=size.intermediate_size,
                                 decoder_sparse_step=1, mlp_only_layers=[], **kw)
    if kind == "pixtral":
        vision = tf.PixtralVisionConfig(hidden_size=256, intermediate_size=512,
                                        num_hidden_layers=2, num_attention_heads=4, head_dim=64,
                                        image_size=256, patch_size=16, rope_theta=10000.0)
        text = tf.MistralConfig(rope_theta=1e9, **kw)
        return tf.LlavaConfig(vision_config=vision, text_config=text,
                              image_token_index=PIXTRAL_IMAGE_TOKEN_ID,
                              projector_hidden_act="gelu", vision_feature_layer=-1,
                              vision_feature_select_strategy="full", multimodal_projector_bias=True,
                              tie_word_embeddings=False)
    raise ValueError(f"unknown tiny model kind {kind!r}; choose one of {', '.join(TINY_KINDS)}")


def build_tiny_model(kind: str, out_dir: str | os.PathLike[str], *, seed: int = 0,
                     size: TinySize = TinySize(), tokenizer: Any = None,
                     reasoning_tags: Sequence[str] = ()) -> Path:
    """Build a random-init tiny model of ``kind`` with the Tekken tokenizer and save it.

    With ``reasoning_tags`` the tags are added to the tokenizer and the embeddings resized
    and initialised exactly as training does it when it loads a model without them (each
    row at the mean of its text's pieces), so a run on this model finds them there. The
    folder is written under a temporary name and renamed when complete, so a crash never
    leaves a half-built model that looks finished.
    """
    import torch  # heavy
    import transformers as tf

    from synapse_core.modeling.tokenizer import load_tekken_tokenizer

    out = Path(out_dir)
    tok = tokenizer if tokenizer is not None else load_tekken_tokenizer()
    if reasoning_tags and tokenizer is not None:
        tok = copy.deepcopy(tok)  # adding the tags must not change the caller's tokenizer
    cfg = tiny_config(kind, len(tok), size)
    torch.manual_seed(seed)
    if kind == "pixtral":
        model = tf.LlavaForConditionalGeneration(cfg)
    else:
        model = tf.AutoModelForCausalLM.from_config(cfg)
    if reasoning_tags:
        from synapse_core.training.backends import add_tokens_and_resize

        add_tokens_and_resize(model, tok, list(reasoning_tags))
    model = model.to(torch.bfloat16)
    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if kind == "pixtral":
            _save_pixtral_processor(tmp, tok)
    return out


def _save_pixtral_processor(folder: Path, tok: Any) -> None:
    import transformers as tf

    image_processor_cls = getattr(tf, "PixtralImageProcessorPil", None) or tf.PixtralImageProcessor
    image_processor = image_processor_cls(patch_size={"height": 16, "width": 16})
    try:
        proc = tf.PixtralProcessor(image_processor=image_processor, tokenizer=tok, patch_size=16,
                                   image_token="[IMG]", image_break_token="[IMG_BREAK]",
                                   image_end_token="[IMG_END]")
    except ImportError:
        # PixtralProcessor needs torchvision, which the CPU install does not carry (PyPI's
        # torchvision does not import beside the CPU torch): keep the image processor's config
        # so the folder still describes the vision input; text-only training needs no more.
        image_processor.save_pretrained(str(folder))
        return
    proc.save_pretrained(str(folder))


def demo_model_path() -> Path:
    """Where the demo model lives in the user cache."""
    return cache_dir() / "models" / f"demo-pixtral-tiny-{DEMO_VERSION}"


def ensure_demo_model() -> Path:
    """The tiny demo Pixtral, built into the user cache on first use (a few seconds).

    Its vocabulary already holds the reference's reasoning tags: resizing the 131k-row
    embedding and LM head when a run loads it cost ~2 s of every demo run's set-up (two fresh
    random inits of 131k x 256 before the copy); now it is done once here. Runs still train
    the tags' rows (they are found, not added) and add any other configured tags as usual."""
    from synapse_core.config import REASONING_TAGS

    path = demo_model_path()
    if (path / "config.json").is_file():
        return path
    return build_tiny_model("pixtral", path, seed=3407, reasoning_tags=REASONING_TAGS)
