"""tokens/s for trainers that log no num_tokens: the collator wrapper counts non-pad tokens."""

import torch

from synapse_core.training.objectives import TokenCounter, count_tokens


def test_count_tokens_uses_the_attention_mask():
    batch = {"input_ids": torch.tensor([[5, 6, 11, 11], [7, 8, 9, 11]]),
             "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]])}
    assert count_tokens(batch, pad_id=11) == 5


def test_count_tokens_padding_free_batch_counts_non_pad_ids():
    batch = {"input_ids": torch.tensor([[5, 6, 7, 8, 9, 10]]),
             "position_ids": torch.tensor([[0, 1, 2, 0, 1, 2]])}
    assert count_tokens(batch, pad_id=11) == 6


def test_token_counter_accumulates_over_batches():
    def collate(features):
        n = max(len(f) for f in features)
        ids = torch.tensor([f + [11] * (n - len(f)) for f in features])
        return {"input_ids": ids, "attention_mask": (ids != 11).long()}

    counter = TokenCounter(collate, pad_id=11)
    counter([[1, 2, 3], [4]])
    counter([[1, 2]])
    assert counter.total == 6


def test_new_tag_rows_start_distinct_from_their_text(tiny_model_dir):
    """Each added tag starts at the mean of its own text's rows, so tags are told apart even
    where a backend cannot train the LM-head rows."""
    import transformers as tf

    from synapse_core.config import REASONING_TAGS
    from synapse_core.training.backends import add_tokens_and_resize

    path = tiny_model_dir("mistral")
    model = tf.AutoModelForCausalLM.from_pretrained(path)
    tok = tf.AutoTokenizer.from_pretrained(path)
    before = len(tok)
    pieces = tok("<goal>", add_special_tokens=False)["input_ids"]
    ids = add_tokens_and_resize(model, tok, list(REASONING_TAGS))
    assert len(ids) == 56 and min(ids) >= before
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    goal = tok.convert_tokens_to_ids("<goal>")
    assert torch.allclose(emb[goal], emb[pieces].mean(0), atol=1e-6)
    assert torch.allclose(head[goal], head[pieces].mean(0), atol=1e-6)
    assert len({tuple(head[i].tolist()) for i in ids}) == len(ids)  # all distinct
