"""The demo model carries the reasoning tags in its vocabulary, initialised as training would."""

from __future__ import annotations

from synapse_core.config import REASONING_TAGS
from synapse_core.modeling.tiny import build_tiny_model
from synapse_core.modeling.tokenizer import reasoning_special_tokens


def test_tiny_model_built_with_the_reasoning_tags(tekken_tokenizer, tmp_path) -> None:
    import torch
    import transformers as tf

    before = len(tekken_tokenizer)
    path = build_tiny_model("mistral", tmp_path / "m", tokenizer=tekken_tokenizer,
                            reasoning_tags=REASONING_TAGS)
    assert len(tekken_tokenizer) == before  # the caller's tokenizer is left as it was

    tok = tf.AutoTokenizer.from_pretrained(str(path))
    tags = reasoning_special_tokens(REASONING_TAGS)
    ids = tok.convert_tokens_to_ids(tags)
    assert len(tok) == before + len(tags) and min(ids) >= before
    goal, end_goal = ids[tags.index("<goal>")], ids[tags.index("</goal>")]
    assert tok("<goal>x</goal>", add_special_tokens=False)["input_ids"] == [
        goal, *tekken_tokenizer("x", add_special_tokens=False)["input_ids"], end_goal]

    model = tf.AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] % 64 == 0 and emb.shape[0] >= len(tok)
    # each tag's row starts at the mean of its text's pieces, as a run adding it would do
    pieces = tekken_tokenizer("<goal>", add_special_tokens=False)["input_ids"]
    want = emb[pieces].mean(0)
    assert torch.allclose(emb[goal], want, atol=2e-2)
    assert not torch.allclose(emb[goal], emb[end_goal])  # distinct starts
