"""The tokenizer as GGUF metadata: Tekken (and other byte-level BPE) vocabularies.

llama.cpp reads byte-level BPE as ``tokenizer.ggml.model = "gpt2"``; the pre-tokenizer name
selects the split regex (``tekken`` for Mistral's Tekken). Added special tokens of the base
vocabulary become CONTROL tokens (hidden when detokenising); tokens added after it (the 56
reasoning tags) become USER_DEFINED, so they are matched in text and printed in output, which
the chat view needs to split the reasoning block from the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass
class Vocab:
    """Tokens in id order with their llama.cpp types, merges and special ids."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special: dict[str, int] = field(default_factory=dict)
    chat_template: str | None = None


def _pre_name(tok: dict[str, Any], folder: Path) -> str:
    text = json.dumps(tok.get("pre_tokenizer"))
    # Tekken's split regex starts with this class; llama.cpp's name for it is "tekken".
    if r"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*" in text:
        return "tekken"
    raise ValueError(f"{folder / 'tokenizer.json'}: pre_tokenizer: only the Tekken byte-level "
                     "BPE pre-tokenizer is supported by this converter")


def load_vocab(folder: Path, n_vocab: int) -> Vocab:
    """Read ``tokenizer.json`` (+ config, chat template) from a HF folder; pad to ``n_vocab``."""
    folder = Path(folder)
    path = folder / "tokenizer.json"
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: missing (a fast tokenizer.json is required)") from None
    model = tok.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: model.type: {model.get('type')!r}; only BPE is supported")
    base = model["vocab"]
    tokens: list[str | None] = [None] * n_vocab
    types = [UNUSED] * n_vocab
    for text, i in base.items():
        if i < n_vocab:
            tokens[i], types[i] = text, NORMAL
    n_base = len(base)
    for add in tok.get("added_tokens", []):
        i = int(add["id"])
        if i >= n_vocab:
            raise ValueError(f"{path}: added token {add['content']!r} has id {i} beyond the "
                             f"model's {n_vocab} embedding rows")
        tokens[i] = add["content"]
        types[i] = CONTROL if add.get("special") and i < n_base else USER_DEFINED
    for i, t in enumerate(tokens):
        if t is None:
            tokens[i] = f"[PAD{i}]"
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    index = {t: i for i, t in enumerate(tokens)}
    special: dict[str, int] = {}
    for key in ("bos", "eos", "unk", "pad"):
        val = cfg.get(f"{key}_token")
        if isinstance(val, dict):
            val = val.get("content")
        if isinstance(val, str) and val in index:
            special[key] = index[val]
    template = None
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    elif isinstance(cfg.get("chat_template"), str):
        template = cfg["chat_template"]
    return Vocab([t for t in tokens if t is not None], types, merges, _pre_name(tok, folder),
                 special, template)


def tokenizer_vocab_size(folder: Path) -> int:
    """Number of ids the tokenizer can produce (base vocab plus added tokens)."""
    tok = json.loads((Path(folder) / "tokenizer.json").read_text(encoding="utf-8"))
    ids = list(tok["model"]["vocab"].values()) + [a["id"] for a in tok.get("added_tokens", [])]
    return max(ids) + 1


def add_vocab_kv(writer: Any, vocab: Vocab) -> None:
    """Write the tokenizer keys into a GGUFWriter."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    setters = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
               "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
    for key, idx in vocab.special.items():
        setters[key](idx)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
