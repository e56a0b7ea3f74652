"""Chat core: reasoning split from the answer while streaming; banned words suppressed."""

from __future__ import annotations

import numpy as np
import pytest

from synapse_core.export.chat import ChatSession, ReasoningSplitter, SequenceBan


def test_splitter_handles_tags_split_across_chunks():
    s = ReasoningSplitter()
    chunks = ["Hi <reas", "oning><goal>x</goal> think</reas", "oning>🧙 The answer", " is 42 <"]
    outs = [s.feed(c) for c in chunks] + [s.flush()]
    assert "".join(r for r, _ in outs) == "<goal>x</goal> think"
    assert "".join(a for _, a in outs) == "Hi 🧙 The answer is 42 <"
    assert s.reasoning == "<goal>x</goal> think" and not s.in_reasoning


def test_splitter_unclosed_reasoning_stays_reasoning():
    s = ReasoningSplitter()
    s.feed("<reasoning>still thinking </reas")
    r, a = s.flush()
    assert s.reasoning == "still thinking </reas" and s.answer == "" and r == "</reas"


def test_sequence_ban_blocks_only_the_completing_token():
    ban = SequenceBan([[5, 7, 9], [3]])
    scores = np.zeros(12, dtype=np.float32)
    out = ban(np.array([1, 5, 7]), scores.copy())
    assert out[9] == -np.inf and np.isfinite(np.delete(out, 9)).all()
    out = ban(np.array([1, 5, 8]), scores.copy())
    assert np.isfinite(out).all()


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory):
    from synapse_core.export.convert import convert_to_gguf

    return convert_to_gguf(tiny_model_dir("mistral"), tmp_path_factory.mktemp("chat") / "m.gguf")


def test_banned_word_is_suppressed_in_generation(tiny_gguf):
    free = ChatSession(tiny_gguf, banned_words=[])
    first = free.send("Tell me about entropy.", max_tokens=4, temperature=0.0)
    assert first.answer
    # the greedy reply's first word becomes the banned word
    text = first.answer.split()[0]
    free.close()
    banned = ChatSession(tiny_gguf, banned_words=[text])
    banned.load()
    assert banned.logit_bias or (banned.ban and banned.ban.seqs)
    again = banned.send("Tell me about entropy.", max_tokens=4, temperature=0.0)
    banned.close()
    assert not again.answer.startswith(text), (text, again.answer)
