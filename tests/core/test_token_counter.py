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
