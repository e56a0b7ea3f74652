"""Scores and labels: the reference formula, given vs computed metrics, the three scorers."""

from __future__ import annotations

import random

import pytest

from synapse_core.config import RunConfig, config_from_dict
from synapse_core.data.banned import BannedMatcher
from synapse_core.data.bias import bias_detection
from synapse_core.data.reasoning import parse_reasoning
from synapse_core.data.records import Message
from synapse_core.data.rows import build_record
from synapse_core.data.scoring import conversation_quality, reasoning_quality

GOOD_ANSWER = ("🧙 Well met. Entropy counts the ways a system can be arranged, so mixed states "
               "win simply because there are more of them than tidy ones.\n\n"
               "**Investigate**: why does heat flow from hot to cold?\n"
               "**Explore**: where else does counting arrangements matter?\n"
               "**Exploit**: how would you use this to predict a reaction?")


def _record(obj: dict, config: RunConfig | None = None):
    cfg = config or RunConfig()
    return build_record(obj, 1, cfg, BannedMatcher(cfg.banned_words.words))


def test_formula_and_labels_match_the_reference_on_given_metrics() -> None:
    rng = random.Random(0)
    for _ in range(200):
        cq, b, rq = rng.random(), rng.random(), rng.random()
        bias = rng.choice([b, True, False])
        r = _record({"conversations": [{"from": "human", "value": "q"},
                                       {"from": "gpt", "value": "a"}],
                     "quality_metrics": {"conversation_quality": cq, "bias_detection": bias,
                                         "reasoning_quality": rq}})
        bf = float(bias) if isinstance(bias, bool) else bias
        ref = 1.0 * cq - 0.5 * bf + 0.75 * rq
        assert r.score == ref
        assert r.label == ("desirable" if ref >= 1.25 else "undesirable")
        assert r.metrics_source == "given"


def test_threshold_edge_and_configured_weights() -> None:
    obj = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
           "quality_metrics": {"conversation_quality": 1.0, "bias_detection": 0.5,
                               "reasoning_quality": 2 / 3}}
    r = _record(obj)
    assert r.score == 1.0 - 0.25 + 0.5 and r.label == "desirable"  # exactly 1.25
    cfg = config_from_dict({"scoring": {"w_bias": 1.0, "threshold": 1.0}})
    r2 = _record(obj, cfg)
    assert r2.score == 1.0 - 0.5 + 0.75 * (2 / 3) and r2.label == "desirable"


def test_partial_metrics_are_completed_by_the_scorers() -> None:
    r = _record({"conversations": [{"from": "human", "value": "q"},
                                   {"from": "gpt", "value": GOOD_ANSWER}],
                 "quality_metrics": {"conversation_quality": 0.5}})
    assert r.metrics_source == "computed" and r.conversation_quality == 0.5
    assert r.reasons["conversation_quality"] == ["given in quality_metrics"]
    assert r.reasoning_quality == 0.0 and r.reasons["reasoning_quality"] == ["0 no <reasoning> block"]


def test_conversation_quality_rewards_the_reference_format() -> None:
    good, why = conversation_quality([Message("user", "What is entropy?"),
                                      Message("assistant", GOOD_ANSWER)])
    assert good == 1.0, why
    cut, why = conversation_quality([Message("user", "What is entropy?"),
                                     Message("assistant", GOOD_ANSWER + " and then the")])
    assert cut < good and any("cut off" in w for w in why)
    rep = "🧙 " + "This sentence says the same thing again. " * 6 + GOOD_ANSWER[2:]
    repeated, why = conversation_quality([Message("user", "q"), Message("assistant", rep)])
    assert repeated < good and any("repeated" in w for w in why)
    none, why = conversation_quality([Message("user", "q")])
    assert none <= 0.4 and any("no assistant answer" in w for w in why)
    plain, why = conversation_quality([Message("user", "q"), Message("assistant", "Sure.")])
    assert plain < 0.7 and any("short" in w for w in why) and any("follow-up" in w for w in why)


def test_bias_detection_patterns_and_lexicon() -> None:
    assert bias_detection(["Water is polar, so it pulls ions apart."])[0] == 0.0
    one, why = bias_detection(["Honestly, all women are bad at maths."])
    assert one >= 0.5 and any("universal claim" in w for w in why)
    loaded, why = bias_detection(["They were savages, frankly."])
    assert loaded == 0.25 and "loaded term" in why[0]
    capped, _ = bias_detection(["Immigrants are always lazy. Typical immigrant. "
                                "Everyone knows immigrants are criminals."])
    assert capped == 1.0
    assert bias_detection(["The French are always late."]) == (
        0.5, ['+0.5 group always/never: "The French are always"'])  # counted once
    assert bias_detection(["The French Revolution began; the French were tired."])[0] == 0.0
    assert bias_detection(["Documents and moments: nothing about men here."])[0] == 0.0


def test_reasoning_quality_components() -> None:
    full = parse_reasoning(
        "<reasoning><mem><goal>g</goal><prog><done>d</done></prog></mem><kg>"
        + "<tri><subj>a</subj><pred>b</pred><obj>c</obj></tri>" * 3 + "</kg><logic>"
        "<prop><sym>p</sym><nat>n</nat></prop><crit><sym>q</sym><nat>m</nat></crit></logic>"
        '<chain><step index="1">x</step><step index="2" depends_on="1">y</step>'
        '<step index="3" depends_on="2">z</step></chain></reasoning>')
    score, why = reasoning_quality([full])
    assert score == 1.0, why
    dangling = parse_reasoning(full.raw.replace('depends_on="2"', 'depends_on="7"'))
    assert reasoning_quality([dangling])[0] < 1.0
    broken = parse_reasoning(full.raw.replace("</goal>", "").replace("<sym>q</sym>", ""))
    s2, why2 = reasoning_quality([broken])
    assert s2 < 1.0 and any("1 problem" in w for w in why2)
    assert reasoning_quality([None])[0] == 0.0


def test_bias_prefilters_keep_letters_that_regex_case_folding_matches() -> None:
    """re's IGNORECASE matches ı, İ, ſ and K (Kelvin) to ASCII letters; the word prefilters
    must not hide such a claim, nor a claim whose only frame word is "can't" or "how"."""
    cases = {
        "moſt women are here": 'universal claim about a group: "moſt women are"',
        "no women wİll": 'universal claim about a group: "no women wİll"',
        "women can't": "group can't: \"women can't\"",
        "thats how men are": "'that's just how' generalisation: \"thats how men are\"",
        "Everyone knows mEn": "'everyone knows' generalisation: \"Everyone knows mEn\"",
        "The French are always late": 'group always/never: "The French are always"',
    }
    for claim, reason in cases.items():
        score, why = bias_detection([f"Some answer text here. {claim} and more, how so?"])
        assert score == 0.5 and why == [f"+0.5 {reason}"], claim
    # a group word with no frame word anywhere: nothing to find, and nothing found
    assert bias_detection(["The French Revolution matters, how could you use it?"]) == (
        0.0, ["0 no stereotyping pattern or loaded term found"])


def test_repetition_reads_sentences_as_the_regex_split_did() -> None:
    """The sentence split on . ! ? and newlines (runs of them count once) gives the share the
    regex split gave, on random text."""
    import re

    from synapse_core.data.scoring import _repetition

    def reference(text: str) -> float:
        long = [x.strip() for x in re.split(r"[.!?\n]+", text) if len(x) > 20]
        return (len(long) - len(set(long))) / len(long) if long else 0.0

    rng = random.Random(1)
    pieces = ["The same sentence comes again", " the same sentence comes again ", "short",
              "?!", "...", "\n\n", " ", "Another quite long sentence here", "🧙 wizard talk"]
    for _ in range(500):
        text = "".join(rng.choice(pieces) + rng.choice(".!?\n ") for _ in range(rng.randint(0, 12)))
        assert _repetition(text) == reference(text), text


def test_bias_claim_is_found_anywhere_in_a_long_answer() -> None:
    """A generalisation is caught whether it opens the answer or comes after a long
    preamble (the words before a group word are searched from the right place)."""
    claim = "everyone knows that men lie about it."
    alone, _ = bias_detection([claim])
    later, reasons = bias_detection(["A long and careful preamble about the weather, the "
                                     "tides, the moon and the sea. " + claim])
    assert alone == later > 0
    assert any("everyone knows" in r for r in reasons)


# One example for every bias pattern docs/data.md lists, and for each loaded term it names.
DOCUMENTED_PATTERNS = {
    "all/most/no *group* are …": ["All women are bad drivers.", "Most immigrants are poor.",
                                  "No men are good listeners."],
    "*group* are always/never/naturally …": ["Women are always late.", "Men never listen.",
                                             "Asians are naturally good at this."],
    "*group* can't …": ["Women can't drive.", "Old people can’t learn new tricks."],
    "*group* are lazy/emotional/bad at …": ["Mexicans are lazy.", "Women are emotional.",
                                            "Girls are bad at maths."],
    "typical *group*": ["Typical woman, changing her mind."],
    "everyone knows *group* …": ["Everyone knows men lie.",
                                 "Everybody knows that the elderly forget things."],
    "that's just how *group* are": ["That's just how women are.",
                                    "That’s just how old people are.", "Thats how men are."],
}
DOCUMENTED_TERMS = ("hysterical", "savages", "illegals", "like a girl")


def _documented(after: str, before: str) -> list[str]:
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "data.md").read_text(encoding="utf-8")
    part = " ".join(doc[doc.index(after): doc.index(before, doc.index(after))].split())
    return re.findall(r'"([^"]+)"', part)


def test_the_documented_bias_patterns_are_the_ones_tested() -> None:
    assert _documented("sweeping claims about", "loaded terms") == list(DOCUMENTED_PATTERNS)
    assert _documented("loaded terms", "The sum is capped") == list(DOCUMENTED_TERMS)


@pytest.mark.parametrize("pattern", list(DOCUMENTED_PATTERNS))
def test_every_documented_bias_pattern_scores(pattern: str) -> None:
    """"That's just how women are." scored 0.0 though the docs list the pattern."""
    for text in DOCUMENTED_PATTERNS[pattern]:
        score, reasons = bias_detection([f"Well. {text} Anyway, here is the answer."])
        assert score == 0.5, (text, reasons)
        row = build_record({"messages": [{"role": "user", "content": "q"},
                                         {"role": "assistant", "content": text}]},
                           1, RunConfig(), BannedMatcher(()))
        assert row.bias_detection == 0.5, text


@pytest.mark.parametrize("term", DOCUMENTED_TERMS)
def test_every_documented_loaded_term_scores(term: str) -> None:
    score, reasons = bias_detection([f"You were {term} about it."])
    assert score == 0.25 and term in reasons[0]


def test_the_same_words_without_a_generalisation_score_nothing() -> None:
    for text in ("Women's football is growing.", "That's just how the API works.",
                 "Typical values are small.", "Everyone knows the answer now.",
                 "Some men can cook; so can some women."):
        assert bias_detection([text]) == (0.0, ["0 no stereotyping pattern or loaded term found"])
