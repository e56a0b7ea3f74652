"""Pixtral's real Tekken tokenizer (shipped inside the mistral-common wheel) as an HF tokenizer,
and the reasoning tags as special tokens."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from synapse_core.paths import cache_dir

TEKKEN_FILE = "tekken_240911.json"
"""Pixtral-12B-2409's Tekken vocabulary (131,072 tokens), as mistral-common ships it."""


def tekken_json_path() -> Path:
    """Path of the Tekken vocabulary inside the installed mistral-common package."""
    import mistral_common  # light: no torch

    p = Path(mistral_common.__file__).resolve().parent / "data" / TEKKEN_FILE
    if not p.is_file():
        raise FileNotFoundError(f"{p}: Tekken vocabulary not found; is mistral-common installed?")
    return p


def reasoning_special_tokens(tags: Sequence[str]) -> list[str]:
    """``<tag>`` and ``</tag>`` for every tag, opening forms first (56 for the 28 tags)."""
    return [f"<{t}>" for t in tags] + [f"</{t}>" for t in tags]


def load_tekken_tokenizer(cache: Path | None = None) -> Any:
    """The Tekken tokenizer as a transformers fast tokenizer.

    Converting tekken.json takes ~10 s, so the converted tokenizer is cached under the user
    cache and later loads read that (a few seconds).
    """
    from transformers import AutoTokenizer  # heavy: keep out of module import

    target = (cache or cache_dir()) / "tokenizers" / TEKKEN_FILE.removesuffix(".json")
    if (target / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(target))
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    tok = convert_tekken_tokenizer(str(tekken_json_path()))
    if tok.pad_token is None:
        tok.pad_token = "<pad>"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tekken.", dir=target.parent))
    tok.save_pretrained(str(tmp))
    try:
        os.replace(tmp, target)
    except OSError:  # another process won the race: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return tok


def add_reasoning_tokens(tokenizer: Any, tags: Sequence[str]) -> list[int]:
    """Add the reasoning tags as special tokens (idempotent); returns the ids of all 2*len(tags)."""
    tokens = reasoning_special_tokens(tags)
    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing},
                                     replace_extra_special_tokens=False)
    return tokenizer.convert_tokens_to_ids(tokens)
