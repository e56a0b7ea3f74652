"""Entity and predicate normalisation."""

from __future__ import annotations

import pytest

from synapse_core.graph.normalize import entity_key, predicate_key, predicate_text, singular


@pytest.mark.parametrize("spelling, key", [
    ("Neural Networks", "neural network"),
    ("  neural   NETWORK ", "neural network"),
    ("theories", "theory"),
    ("boxes", "box"),
    ("classes", "class"),
    ("processes", "process"),
    ("ideas", "idea"),
    ("GPUs", "gpu"),
    ("Ｐｈｏｔｏｓｙｎｔｈｅｓｉｓ", "photosynthesis"),   # full-width, NFKC
    ("ﬁre", "fire"),                                 # ligature, NFKC
    ("Oxygen.", "oxygen"),
    ("laws of physics", "laws of physics"),          # only the last word folds
    ("grey wolves", "grey wolf"),                    # a few irregular plurals
    ("Children", "child"),
])
def test_entity_key_folds_case_space_unicode_and_plurals(spelling: str, key: str) -> None:
    assert entity_key(spelling) == key


@pytest.mark.parametrize("word", ["glass", "physics", "analysis", "virus", "bias", "series",
                                  "species", "chaos", "news", "gas", "mathematics", "status"])
def test_words_ending_in_s_that_are_not_plurals_stay(word: str) -> None:
    assert entity_key(word) == word
    assert entity_key(word.title()) == word


def test_acronyms_are_not_folded() -> None:
    assert singular("dns", "DNS") == "dns"
    assert entity_key("AWS") == "aws"


def test_empty_or_punctuation_only_is_empty() -> None:
    assert entity_key("   ") == ""
    assert entity_key("...") == ""


def test_predicates_are_cleaned_not_folded() -> None:
    assert predicate_text("  Causes ") == "causes"
    assert predicate_text("IS  a") == "is a"


@pytest.mark.parametrize("pred, key", [
    ("causes", ("cause", False)),
    ("does not cause", ("cause", True)),
    ("doesn't cause", ("cause", True)),
    ("is", ("is", False)),
    ("is not", ("is", True)),
    ("isn't", ("is", True)),
    ("cannot produce", ("can produce", True)),
    ("never increases", ("increase", True)),
])
def test_predicate_key_separates_polarity(pred: str, key: tuple[str, bool]) -> None:
    assert predicate_key(pred) == key
