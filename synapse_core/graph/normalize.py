"""Turn the spellings found in ``<subj>``/``<obj>``/``<pred>`` into graph keys.

Entities: Unicode NFKC, case folding, whitespace collapse, surrounding punctuation stripped,
and *trivial* plural folding of the last word only ("neural networks" -> "neural network",
"theories" -> "theory", "boxes" -> "box", "GPUs" -> "gpu", a few irregulars: "wolves").
Words that merely end in *s* are left alone: "glass", "physics", "analysis", "virus", "bias",
"series", acronyms ("DNS") and short words.
Predicates get the same cleaning without plural folding (they are verbs: "causes" stays).

``predicate_key`` reduces a predicate to ``(base, negated)`` so "does not cause", "doesn't
cause", "causes" and "cause" compare equal up to polarity; the contradiction check uses it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WS = re.compile(r"\s+")
_EDGE_PUNCT = " \t\n\"'`.,;:!?()[]{}<>«»“”‘’"

# Words ending in -s that are not plurals (or whose plural folding would mislead).
_NOT_PLURAL = frozenset({
    "news", "series", "species", "means", "lens", "bias", "gas", "atlas", "canvas", "alias",
    "pancreas", "christmas", "chaos", "cosmos", "ethos", "pathos", "logos", "kudos", "mathematics",
    "always", "perhaps", "whereas", "thus", "yes", "plus", "minus", "bonus", "corps", "biceps",
    "triceps", "forceps", "headquarters", "physics", "ethics", "politics", "economics",
    "athletics", "aids", "mumps", "measles", "diabetes", "rabies", "herpes", "shingles",
    "its", "this", "has", "was", "does", "goes", "is", "us", "as", "hers", "ours", "yours",
    "theirs", "thermos", "lens", "summons",
})
# Plurals whose singular is the word minus its final "s" although a rule below says otherwise
# (movie, cache, shoe, topic).
_TAKE_S = frozenset({
    "movies", "cookies", "pies", "ties", "lies", "dies", "calories", "zombies", "rookies",
    "selfies", "smoothies", "caches", "niches", "cliches", "headaches", "aches", "avalanches",
    "moustaches", "mustaches", "psyches", "shoes", "toes", "canoes", "foes", "topics",
    "metrics", "clinics", "critics", "comics", "heuristics", "characteristics", "lyrics",
})
# Irregular plurals common enough in explanations to be worth folding.
_IRREGULAR = {
    "wolves": "wolf", "leaves": "leaf", "lives": "life", "knives": "knife", "halves": "half",
    "shelves": "shelf", "calves": "calf", "selves": "self", "thieves": "thief", "wives": "wife",
    "loaves": "loaf", "children": "child", "women": "woman", "men": "man", "feet": "foot",
    "teeth": "tooth", "mice": "mouse", "geese": "goose", "people": "people",
}
# Endings of singular nouns that end in s: glass, virus, analysis, physics, famous, chaos.
_SINGULAR_S_ENDINGS = ("ss", "us", "is", "ics")


def clean_text(text: str) -> str:
    """NFKC, case fold, collapse whitespace and strip surrounding punctuation."""
    s = unicodedata.normalize("NFKC", text).casefold()
    s = _WS.sub(" ", s).strip(_EDGE_PUNCT)
    return s


def singular(word: str, original: str = "") -> str:
    """Fold one (already case-folded) word to its singular when the plural is trivial.

    ``original`` is the word as written; an all-capitals original (an acronym such as "DNS"
    or "AWS") is never folded.
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 and not (len(original) == 3 and original[:2].isupper()):
        return word
    if not word.endswith("s") or not word.isalpha():
        return word
    if original and original.isupper():
        return word
    if len(original) > 2 and original[-1] == "s" and original[:-1].isupper():
        return word[:-1]  # an acronym's plural: "GPUs", "APIs"
    if word in _TAKE_S:
        return word[:-1]
    if word in _NOT_PLURAL:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes", "oes")):
        return word[:-2]
    if word.endswith(_SINGULAR_S_ENDINGS):
        return word
    return word[:-1]


@lru_cache(maxsize=262_144)
def entity_key(text: str) -> str:
    """The graph key of an entity spelling (cached: datasets repeat the same entities)."""
    s = clean_text(text)
    if not s:
        return ""
    head, _, last = s.rpartition(" ")
    original_last = unicodedata.normalize("NFKC", text).split()[-1].strip(_EDGE_PUNCT) \
        if text.split() else ""
    folded = singular(last, original_last)
    return f"{head} {folded}" if head else folded


@lru_cache(maxsize=16_384)
def predicate_text(text: str) -> str:
    """The normalised predicate (cleaned, not folded): the label an edge carries."""
    return clean_text(text)


_CONTRACTIONS = {
    "doesn't": "does not", "don't": "do not", "didn't": "did not", "isn't": "is not",
    "aren't": "are not", "wasn't": "was not", "weren't": "were not", "can't": "can not",
    "cannot": "can not", "won't": "will not", "shouldn't": "should not", "couldn't": "could not",
    "wouldn't": "would not", "hasn't": "has not", "haven't": "have not", "hadn't": "had not",
}
_NEGATORS = frozenset({"not", "never", "no"})
_DO_SUPPORT = frozenset({"does", "do", "did"})


def _verb_fold(word: str) -> str:
    """'causes' -> 'cause', 'increases' -> 'increase', 'is' stays: third-person -s off."""
    if word in ("is", "was", "has", "does", "as", "us", "this", "always"):
        return word
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=16_384)
def predicate_key(pred: str) -> tuple[str, bool]:
    """``(base, negated)`` of a predicate: "does not cause" -> ("cause", True)."""
    text = predicate_text(pred).replace("’", "'")
    words: list[str] = []
    for w in text.split():
        words.extend(_CONTRACTIONS.get(w, w).split())
    negated = any(w in _NEGATORS for w in words)
    if negated:
        kept: list[str] = []
        for i, w in enumerate(words):
            if w in _NEGATORS:
                continue
            # "does not cause": the auxiliary only carries the negation
            if w in _DO_SUPPORT and i + 1 < len(words) and words[i + 1] in _NEGATORS:
                continue
            if w == "longer" and i > 0 and words[i - 1] == "no":
                continue
            kept.append(w)
        words = kept
    return " ".join(_verb_fold(w) for w in words), negated
