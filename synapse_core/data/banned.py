"""Banned words: find them in the data, and suppress them at generation time.

Matching rules (tested in ``tests/core/test_data_banned.py``):

* case-insensitive and Unicode-normalised (NFKC), so ``Ｄｅｌｖｅ`` and ``DELVE`` match ``delve``;
* whole words only: a match may not touch a letter, digit or underscore on either side, and a
  hyphen or apostrophe *joining* word characters counts as part of the word. So ``Ah`` matches
  in "Ah, I see" and "—Ah!" but not in "Aha", "ah-ha" or "Ah's"; ``delve`` does not match
  "delves" (list inflections you want banned explicitly);
* the Turkish dotted and dotless I (``İ``, ``ı``) count as ``i``, as in the regex's
  case-insensitive matching, so "revolutıonize" matches ``revolutionize`` whatever else the
  text holds;
* offsets always refer to the original text, so the browser can highlight them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Sequence

from synapse_core.data.records import BannedMatch

_JOINERS = "-'\u2019\u2010\u2011"
_I_DOT, _KELVIN, _I_DOTLESS = "\u0130".encode(), "\u212a".encode(), "\u0131".encode()
"""The non-ASCII letters the regex (IGNORECASE) matches to an ASCII letter, as UTF-8: with
one of them in a text the quick tests below cannot rule a match out."""
_LETTERS_ONLY = bytes(c if 97 <= c <= 122 else 32 for c in range(256))
"""``bytes.translate`` table: lower-case ASCII letters kept, every other byte a space."""


class BannedMatcher:
    """A compiled whole-word matcher for a list of words (see the module doc for the rules)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = [w for w in dict.fromkeys(_norm(w).strip() for w in words) if w]
        self._canon = {w.casefold(): w for w in self.words}
        self._lower = tuple(w.lower() for w in self.words)
        # the same words as bytes, for a quicker first test (ASCII words only, see find)
        self._lower_b = (tuple(w.encode("ascii") for w in self._lower)
                         if all(w.isascii() for w in self._lower) else None)
        # ... and as their runs of letters ("game-changer": game, changer): a whole-word match
        # leaves each run whole among the text's runs of letters, so a text whose runs do not
        # hold every run of some word has no match (a word without letters: no such test).
        self._runs_b = (tuple(frozenset(w.translate(_LETTERS_ONLY).split())
                              for w in self._lower_b)
                        if self._lower_b is not None else None)
        if self._runs_b is not None and not all(self._runs_b):
            self._runs_b = None
        if self.words:
            alt = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
            j = re.escape(_JOINERS)
            self._re: re.Pattern[str] | None = re.compile(
                rf"{_first_chars(self.words)}(?<!\w)(?<!\w[{j}])(?:{alt})(?!\w)(?![{j}]\w)",
                re.IGNORECASE)
        else:
            self._re = None

    def __bool__(self) -> bool:
        return self._re is not None

    def find(self, text: str, message: int = 0, low_b: bytes | None = None) -> list[BannedMatch]:
        """Every match in ``text`` as ``BannedMatch`` (offsets into ``text`` itself).
        ``low_b``, when the caller has it: ``text.encode("utf-8", "surrogatepass").lower()``."""
        if self._re is None or not text:
            return []
        if text.isascii() or unicodedata.is_normalized("NFKC", text):
            # Cheap C prefilters: most texts hold none of the words. bytes.lower() lowers only
            # ASCII letters, and str.lower() makes an ASCII letter only from one (or from
            # U+0130 and U+212A: with those, the str test alone decides).
            if self._lower_b is not None:
                if low_b is None:
                    low_b = text.encode("utf-8", "surrogatepass").lower()
                # (looked for in the text: a character in a str is found at memchr speed, a
                # two-byte sequence in bytes ten times slower)
                if text.isascii() or ("\u0130" not in text and "\u212a" not in text
                                      and "\u0131" not in text):
                    for w in self._lower_b:
                        if w in low_b:
                            break
                    else:
                        return []
                    # a substring is often there ("ah" in "yeah"): the runs of letters decide
                    if self._runs_b is not None:
                        runs = set(low_b.translate(_LETTERS_ONLY).split())
                        if not any(r <= runs for r in self._runs_b):
                            return []
            low = text.lower()
            if not low.isascii():  # İ and ı match "i" in the regex: the same here
                low = low.replace("i\u0307", "i").replace("\u0131", "i")
            if not any(w in low for w in self._lower):
                return []
            return [BannedMatch(self._canonical(m.group()), m.start(), m.end(), message)
                    for m in self._re.finditer(text)]
        normed, back = _norm_with_map(text)
        return [BannedMatch(self._canonical(m.group()), back[m.start()], back[m.end()], message)
                for m in self._re.finditer(normed)]

    def find_in_messages(self, contents: Sequence[str]) -> list[BannedMatch]:
        """Matches in a list of message texts, each tagged with its message index."""
        out: list[BannedMatch] = []
        for i, text in enumerate(contents):
            out.extend(self.find(text, i))
        return out

    def _canonical(self, found: str) -> str:
        key = found.casefold()
        if not key.isascii():
            key = key.replace("i\u0307", "i").replace("\u0131", "i")
        return self._canon.get(key, found)


_FOLDED = {"i": "\u0130\u0131", "s": "\u017f", "k": "\u212a"}
"""The non-ASCII letters re's IGNORECASE matches to an ASCII letter (all of them)."""


def _first_chars(words: Sequence[str]) -> str:
    """A lookahead for the characters a match can start with, so that the search skips the
    others at once instead of trying the lookbehinds everywhere ("" unless every word starts
    with an ASCII character, whose case variants are known)."""
    if not all(w[0].isascii() for w in words):
        return ""
    chars = {v for w in words for c in (w[0].lower(),)
             for v in (c, c.upper(), *_FOLDED.get(c, ""))}
    return "(?=[" + "".join(re.escape(c) for c in sorted(chars)) + "])"


def matcher_from_config(config: Any) -> BannedMatcher:
    """The matcher for a RunConfig (an empty one when the policy is ``keep``)."""
    bw = config.banned_words
    return BannedMatcher([] if bw.policy == "keep" else bw.words)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _norm_with_map(text: str) -> tuple[str, list[int]]:
    """NFKC per character, with ``back[i]`` = offset in ``text`` of normalised char ``i``."""
    parts: list[str] = []
    back: list[int] = []
    for i, ch in enumerate(text):
        n = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
        parts.append(n)
        back.extend([i] * len(n))
    back.append(len(text))
    return "".join(parts), back


# ---------------------------------------------------------------------------------------------
# generation-time suppression


def word_variants(word: str) -> list[str]:
    """The surface forms a tokenizer may produce for ``word``: as is, lower, Capitalised and
    UPPER, each with and without a leading space."""
    forms = dict.fromkeys([word, word.lower(), word[:1].upper() + word[1:].lower(), word.upper()])
    return [v for f in forms for v in (f, " " + f)]


def banned_token_ids(tokenizer: Any, words: Iterable[str]) -> list[list[int]]:
    """Token-id sequences for every variant of every word (for ``bad_words_ids``), deduplicated."""
    seen: dict[tuple[int, ...], None] = {}
    for word in words:
        word = _norm(word).strip()
        if not word:
            continue
        for form in word_variants(word):
            ids = tokenizer.encode(form, add_special_tokens=False)
            if ids:
                seen.setdefault(tuple(int(i) for i in ids), None)
    return [list(k) for k in seen]


def banned_words_bias(tokenizer: Any, words: Iterable[str],
                      bias: float = -100.0) -> dict[tuple[int, ...], float]:
    """A transformers ``sequence_bias`` mapping each variant's token ids to ``bias``
    (the reference used -100)."""
    return {tuple(ids): float(bias) for ids in banned_token_ids(tokenizer, words)}


sequence_bias = banned_words_bias
"""Alias: the name transformers gives the generate() argument."""


def llama_logit_bias(tokenizer: Any, words: Iterable[str],
                     bias: float = -100.0) -> dict[int, float]:
    """llama.cpp ``logit_bias`` (per token, not per sequence): the first token of each variant.

    Only single-token variants are biased; biasing the first token of a multi-token word would
    also suppress every other word that starts with it, so those are left to ``bad_words_ids``.
    """
    return {ids[0]: float(bias) for ids in banned_token_ids(tokenizer, words) if len(ids) == 1}
