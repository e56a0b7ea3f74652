"""Banned words behind the quick tests that rule a text out before the regex runs (a word's
runs of letters among the text's, the case-folding letters looked for in the str): words with
hyphens, digits and apostrophes, and texts that hold a word only as a substring, still give
exactly the whole-word matches."""

from __future__ import annotations

import pytest

from synapse_core.data.banned import BannedMatcher

M = BannedMatcher(["game-changer", "gpt4", "it's", "Ah", "delve", "42", "revolutionize"])


@pytest.mark.parametrize("text,found", [
    ("A real Game-Changer, truly.", [("game-changer", 7, 19)]),
    ("game changer", []), ("game-changers", []), ("endgame-changer", []),
    ("Use GPT4 today", [("gpt4", 4, 8)]), ("gpt45", []), ("gpt", []),
    ("Well, it's here", [("it's", 6, 10)]), ("its here", []),
    ("Yeah, ahead, Sarah, shah", []), ("yeah. Ah!", [("Ah", 6, 8)]),
    ("🧙🏾\u200d♂️: ah, delve in", [("Ah", 7, 9), ("delve", 11, 16)]),
    ("the answer is 42.", [("42", 14, 16)]), ("x420", []),
    ("d\u0130lve? no: Del\u212ae? no; DELVE", [("delve", 22, 27)]),
    ("revolut\u0131onize the delvE", [("revolutionize", 0, 13), ("delve", 18, 23)]),
])
def test_prefilters_keep_every_whole_word_match(text: str, found: list) -> None:
    assert [(m.word, m.start, m.end) for m in M.find(text)] == found
    # the same text given with its lowered bytes, as the row builder does
    low_b = text.encode("utf-8", "surrogatepass").lower()
    assert [(m.word, m.start, m.end) for m in M.find(text, 0, low_b)] == found
