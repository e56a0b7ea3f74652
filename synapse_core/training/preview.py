"""Preview generations during training, with the banned words suppressed."""

from __future__ import annotations

from typing import Any, Sequence

from synapse_core.training.events import PreviewGenerated


def banned_sequences(tokenizer: Any, words: Sequence[str]) -> list[list[int]]:
    """Token-id sequences to forbid at generation time for ``words``.

    Uses the data module's ``banned_token_ids`` when present; otherwise the word in its
    usual casings, with and without a leading space (how it appears mid-sentence).
    """
    try:
        from synapse_core.data.banned import banned_token_ids
    except ImportError:
        banned_token_ids = None
    if banned_token_ids is not None:
        seqs = banned_token_ids(tokenizer, list(words))
        if isinstance(seqs, (list, tuple)) and all(
                isinstance(s, (list, tuple)) and s and all(isinstance(i, int) for i in s)
                for s in seqs):
            return [list(s) for s in seqs]
    found: set[tuple[int, ...]] = set()
    for word in words:
        for variant in {word, word.lower(), word.capitalize(), word.upper()}:
            for text in (variant, " " + variant):
                ids = tokenizer.encode(text, add_special_tokens=False)
                if ids:
                    found.add(tuple(ids))
    return [list(s) for s in sorted(found)]


class Previewer:
    """Generates a short reply to a fixed prompt with the training model, greedily."""

    def __init__(self, model: Any, tokenizer: Any, prompt: str, max_new_tokens: int,
                 banned: list[list[int]]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.banned = banned

    def generate(self, step: int) -> PreviewGenerated:
        """One preview (the model is put back in training mode afterwards)."""
        import torch  # heavy

        tok = self.tokenizer
        ids = tok.apply_chat_template([{"role": "user", "content": self.prompt}],
                                      add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        device = next(self.model.parameters()).device
        ids = {k: v.to(device) for k, v in ids.items()}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens,
                                          do_sample=False, bad_words_ids=self.banned or None,
                                          pad_token_id=tok.pad_token_id, use_cache=True)
        finally:
            if was_training:
                self.model.train()
        new = out[0, ids["input_ids"].shape[1]:]
        return PreviewGenerated(step=step, prompt=self.prompt,
                                text=tok.decode(new, skip_special_tokens=False))
