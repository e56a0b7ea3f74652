"""Banned words: whole-word, case-insensitive, Unicode-normalised; generation-time ids."""

from __future__ import annotations

import pytest

from synapse_core.config import BANNED_WORDS, RunConfig
from synapse_core.data.banned import BannedMatcher, banned_token_ids, banned_words_bias
from synapse_core.data.rows import build_record
from synapse_core.data.banned import matcher_from_config

M = BannedMatcher(BANNED_WORDS)


@pytest.mark.parametrize("text,found", [
    ("Ah, I see.", ["Ah"]), ("—Ah! There it is", ["Ah"]), ("ah", ["Ah"]),
    ("Aha, got it", []), ("ah-ha moment", []), ("Ah's echo", []), ("Sarah", []), ("bah", []),
    ("Let us DELVE in", ["delve"]), ("delves and delving", []), ("re-delve", []),
    ("a rich tapestry.", ["tapestry"]), ("embark; revolutionize", ["embark", "revolutionize"]),
    ("Ｄｅｌｖｅ", ["delve"]), ("(tapestry)", ["tapestry"]), ("under_delve", []),
])
def test_word_boundaries(text: str, found: list[str]) -> None:
    assert [m.word for m in M.find(text)] == found


def test_offsets_refer_to_the_original_text() -> None:
    text = "ﬁne ﬁrst: Ｄｅｌｖｅ and delve"
    spans = [(m.start, m.end) for m in M.find(text, 3)]
    assert [text[a:b] for a, b in spans] == ["Ｄｅｌｖｅ", "delve"]
    assert all(m.message == 3 for m in M.find(text, 3))


def test_policy_keep_ignores_and_user_turns_are_not_flagged() -> None:
    cfg = RunConfig()
    obj = {"conversations": [{"from": "human", "value": "delve into it"},
                             {"from": "gpt", "value": "Ah, sure."}]}
    r = build_record(obj, 1, cfg, matcher_from_config(cfg))
    assert [(b.word, b.message) for b in r.banned] == [("Ah", 1)]
    cfg.banned_words.policy = "keep"
    assert build_record(obj, 1, cfg, matcher_from_config(cfg)).banned == []


def test_token_ids_cover_case_and_space_variants(tekken_tokenizer) -> None:
    ids = banned_token_ids(tekken_tokenizer, ["delve"])
    decoded = {tekken_tokenizer.decode(s) for s in ids}
    assert {"delve", " delve", "Delve", " Delve", "DELVE", " DELVE"} <= decoded
    bias = banned_words_bias(tekken_tokenizer, ["delve", "Ah"])
    assert all(v == -100.0 for v in bias.values())
    assert tuple(tekken_tokenizer.encode(" Ah", add_special_tokens=False)) in bias


def test_first_character_lookahead_changes_no_match() -> None:
    """The matcher's leading lookahead (the characters a word can start with, case variants
    and the non-ASCII letters re folds to ASCII included) finds exactly what the plain
    pattern finds."""
    import random
    import re

    from synapse_core.data.banned import _JOINERS

    rng = random.Random(5)
    for words in (["delve", "tapestry", "embark", "revolutionize", "Ah"],
                  ["ink", "sly", "Kin", "x-ray", "1up"], ["ñu", "delve"]):
        m = BannedMatcher(words)
        alt = "|".join(re.escape(w) for w in sorted(m.words, key=len, reverse=True))
        j = re.escape(_JOINERS)
        plain = re.compile(rf"(?<!\w)(?<!\w[{j}])(?:{alt})(?!\w)(?![{j}]\w)", re.IGNORECASE)
        pieces = words + [w.upper() for w in words] + ["ı", "İ", "ſ", "\u212a", "-", "'", " ",
                                                       "a", "_", "é", "K", "S", "1", "Ñ"]
        for _ in range(3000):
            t = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
            assert [(x.span(), x.group()) for x in plain.finditer(t)] == \
                [(x.span(), x.group()) for x in m._re.finditer(t)], (words, t)


def test_dotted_and_dotless_i_match_alone_or_with_other_words() -> None:
    """"ı" and "İ" count as "i" (as in the regex's case folding) whether or not another
    banned word is in the same text: the quick prefilters must not decide otherwise."""
    m = BannedMatcher(["delve", "revolutionize"])
    for text in ("we revolutıonize it", "we revolutİonize it", "we revolutıonize and delve"):
        found = m.find(text)
        assert found[0].word == "revolutionize", text
        assert text[found[0].start:found[0].end].lower().startswith("revolut")
    assert m.find("ıt is fine, no banned word") == []
