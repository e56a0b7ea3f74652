"""The compiled helpers (``synapse_core/data/csrc/``) give exactly what the Python code
gives, and the package installs with them.

* the reasoning reader (canonical blocks in one pass, broken ones as the tolerant parser reads
  them), on every block of the demo data and of the benchmark's rows, and on thousands of
  fuzzed blocks (broken tags, odd attributes, Unicode spaces and digits): where it answers,
  its answer equals ``summarize_reasoning_py``; where it declines (None) the Python code
  reads the block;
* ``any_in`` against Python's ``in`` on random bytes.
"""

from __future__ import annotations

import os
import random

import pytest

from synapse_core.data import compiled, fastrow
from synapse_core.data.reasoning import split_inline_reasoning
from synapse_core.paths import demo_dataset_path

from test_data_fastpath import _bench_module, blocks_in

sp = compiled.speedups
needs_c = pytest.mark.skipif(sp is None, reason="the compiled helpers are not built")


def test_the_install_builds_the_compiled_helpers() -> None:
    # scripts/fresh.sh installs with `pip install -e .`, which compiles them (setup.py): a
    # missing module here means the loader silently runs a third slower
    if os.environ.get("SYNAPSE_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("SYNAPSE_PURE_PYTHON is set")
    assert sp is not None, "synapse_core.data._speedups was not built: pip install -e . with a C compiler"
    assert fastrow._compiled is sp.reasoning_summary


@pytest.fixture(scope="module")
def blocks() -> list[str]:
    demo = demo_dataset_path().read_text(encoding="utf-8").splitlines()
    rng = random.Random(7)
    bench = [_bench_module().make_row(rng, i) for i in range(1500)]
    return blocks_in(demo) + blocks_in(bench)


def _check(texts: list[str]) -> int:
    """Compare on every text; the number the compiled reader answered."""
    answered = 0
    for text in texts:
        got = sp.reasoning_summary(text)
        if got is not None:
            answered += 1
            assert got == fastrow.summarize_reasoning_py(text), text
    return answered


@needs_c
def test_reader_equals_python_on_real_blocks(blocks: list[str]) -> None:
    answered = _check(blocks)
    # the bench breaks 5% of its blocks on purpose; the demo's are canonical
    assert answered >= 0.9 * len(blocks)


_PIECES = ["<", ">", "/", '"', " ", "\n", "\u00a0", "\u2003", "\x1c", "0", "7", "\u0663", ",",
           ";", "-", "x", "é", "∀", "🧙", "goal", "</goal>", "<goal>", "<now>", "</now>", "<tri>",
           "</tri>", "<subj>", "</subj>", "<sym>", "</sym>", "<nat>", "</nat>", "<step>",
           "</step>", ' index="', ' depends_on="', "</reasoning>", "<reasoning>", "<mem>",
           "</mem>", "<note>", "</note>", "<proof>", "</proof>", "<prog>", "</prog>"]

_STEP_ATTRS = ['', ' index="1"', ' index="2" depends_on="1"', ' index="3" depends_on="1,2"',
               ' index="4" depends_on=" 1 ; 2 ,3 "', ' index=" 3"', ' index=""', ' index="x"',
               ' depends_on="1"', ' index="5" depends_on="-1"', ' index="\u0665"',
               ' index="6" depends_on="\u0661"', ' index="12345678901234567890"',
               ' index="7" depends_on="1,,2,"', ' index="8"  depends_on="7" ',
               ' index="9"depends_on="1"', '  index="10"\n', ' index="011" depends_on="007"',
               ' index="12" depends_on="1\u20032"', ' index="13" depends_on=""']


def _leaf(rng: random.Random) -> str:
    return rng.choice(["", " ", "  x  ", "text", "\u00a0", "∀x P(x)", "a\nb", "🧙 wise", "\u2003y"])


def _random_block(rng: random.Random) -> str:
    """A block in the canonical schema, with random sections, repeats and blank leaves."""
    parts = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.randrange(5)
        if kind == 0:
            leaves = "".join(f"<{t}>{_leaf(rng)}</{t}>" for t in rng.sample(
                ["goal", "subgoal", "ctx", "goal"], rng.randint(0, 3)))
            prog = "".join(f"<{t}>{_leaf(rng)}</{t}>" for t in rng.sample(
                ["done", "now", "done"], rng.randint(0, 3)))
            parts.append(f"<mem>{leaves}" + (f"<prog>{prog}</prog>" if rng.random() < .7 else "")
                         + "</mem>")
        elif kind == 1:
            tris = "".join(f"<tri> <subj>{_leaf(rng)}</subj>\n<pred>{_leaf(rng)}</pred>"
                           f"<obj>{_leaf(rng)}</obj> </tri>" for _ in range(rng.randint(0, 4)))
            parts.append(f"<kg>{tris}</kg>")
        elif kind == 2:
            items = "".join(
                f"<{k}>" + (f"<sym>{_leaf(rng)}</sym>" if rng.random() < .7 else "")
                + (f" <nat>{_leaf(rng)}</nat>" if rng.random() < .7 else "") + f"</{k}>"
                for k in rng.choices(["prop", "proof", "crit", "doubt"], k=rng.randint(0, 3)))
            parts.append(f"<logic>{items}</logic>")
        elif kind == 3:
            steps = "".join(
                f"<step{rng.choice(_STEP_ATTRS)}>{_leaf(rng)}</step>" if rng.random() < .85
                else "<warn>careful</warn>" for _ in range(rng.randint(0, 5)))
            parts.append(f"<chain>{steps}</chain>")
        else:
            t = rng.choice(["reflect", "cont", "err", "note", "warn", "verb"])
            parts.append(f"<{t}>{_leaf(rng)}</{t}>")
    body = rng.choice(["", " ", "\n"]).join(parts)
    if rng.random() < 0.8:
        body = f"<reasoning>{body}</reasoning>"
    return rng.choice(["", "  ", "\n\u2003"]) + body + rng.choice(["", "\n", " \u00a0"])


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(text))
        op = rng.randrange(3)
        if op == 0:
            text = text[:at] + rng.choice(_PIECES) + text[at:]
        elif op == 1:
            text = text[:at] + text[at + rng.randint(1, 8):]
        else:
            text = text[:at] + text[at:].replace(rng.choice(_PIECES), rng.choice(_PIECES), 1)
    return text


@needs_c
def test_reader_equals_python_on_fuzzed_blocks() -> None:
    rng = random.Random(20261130)
    canonical = [_random_block(rng) for _ in range(3000)]
    mutated = [_mutate(rng, b) for b in canonical for _ in range(2)]
    answered = _check(canonical)
    assert answered >= 0.6 * len(canonical)  # the rest hold step attributes it leaves to Python
    assert _check(mutated) >= 0.5 * len(mutated)  # broken ones are read tolerantly


_BROKEN = ["<", ">", "/>", "<step/>", "<tri>", "</kg>", "<subj>", "<sym>", "</logic>", "<reasoning>",
           "</reasoning>", "<step index=\"1\" depends_on='2'>", "<goal/>", "<step index=1>",
           "<step index=\"a b\" x='y'>", "<nat>", "</prop>", "<logic><prop>", "&amp;", "<unknown>",
           "<goalx>", "< goal>", "</ goal>", "<step\nindex=\"3\"\n>", "<step index=\"1>",
           "<prop><step index=\"2\">in prop</step></prop>", "text", "  ", "\u2003",
           "<tri><subj>a</subj></tri>", "</tri>", "<step index= depends_on=\"2\">",
           "<step index=  index=\" 3\">", "<step a=\"x\" b='y' c=z/>", "<mem><goal>g</goal>"]


def _broken_block(rng: random.Random) -> str:
    text = _random_block(rng)
    for _ in range(rng.randint(1, 6)):
        if rng.random() < 0.5:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(_BROKEN) + text[at:]
        else:
            text = _mutate(rng, text)
    return text


@needs_c
def test_tolerant_reader_equals_python() -> None:
    # the tolerant parser's tree, recoveries, problems (in order) and step attributes, on
    # blocks broken every way the fuzzer knows, and on canonical ones
    from synapse_core.data.fastrow import tolerant_summary_py

    rng = random.Random(17)
    texts = [_broken_block(rng) for _ in range(4000)] + [_random_block(rng) for _ in range(500)]
    for text in texts:
        got = sp.tolerant_summary(text)
        assert got is not None and got == tolerant_summary_py(text), text
    # nesting deeper than the compiled reader's stack is left to the Python code; a tag with
    # any number of attributes is read
    assert sp.tolerant_summary("<reasoning>" * 300) is None
    many = "<reasoning><chain><step" + " a=x" * 1500 + ' index="4">x</step>'
    assert sp.tolerant_summary(many) == tolerant_summary_py(many)


@needs_c
@pytest.mark.parametrize("text", ["", "   ", "<reasoning>", "<reasoning></reasoning>",
                                  "<reasoning >x</reasoning>", "<reasoningx></reasoningx>",
                                  "</reasoning>", "<mem></mem></reasoning>",
                                  "<reasoning></reasoning><note>x</note>"])
def test_reader_edge_cases(text: str) -> None:
    got = sp.reasoning_summary(text)
    assert got is None or got == fastrow.summarize_reasoning_py(text)


@needs_c
def test_reader_declines_what_python_reads_otherwise() -> None:
    # a step index that is not plain ASCII digits is read (and reported) by the Python code
    text = '<reasoning><chain><step index="x">a</step></chain></reasoning>'
    assert sp.reasoning_summary(text) is None
    assert fastrow.summarize_reasoning(text)[7] == ["step index 'x' is not a number"]
    with pytest.raises(TypeError):
        sp.reasoning_summary(b"<reasoning></reasoning>")


@needs_c
def test_any_in_equals_python() -> None:
    rng = random.Random(3)
    alphabet = b"abcdeh \xc4\xb0\xb1\xe2\x84\xaa"
    for _ in range(3000):
        hay = bytes(rng.choices(alphabet, k=rng.randint(0, 40)))
        needles = tuple(bytes(rng.choices(alphabet, k=rng.randint(0, 3)))
                        for _ in range(rng.randint(0, 4)))
        assert sp.any_in(hay, needles) == any(n in hay for n in needles), (hay, needles)
    with pytest.raises(TypeError):
        sp.any_in(b"x", ("x",))


@needs_c
def test_repetition_equals_python() -> None:
    from synapse_core.data.scoring import _repetition_py

    rng = random.Random(5)
    pieces = ["The same sentence, said again", "another one that is long enough", "short",
              "  spaced out sentence that is long  ", ".", "!", "?", "\n", " ", "\u2003",
              "🧙 a wizard sentence long enough", "x" * 21, "x" * 20, "é" * 25]
    texts = ["", ".", "x" * 21, "a. b. c."] + [
        "".join(rng.choices(pieces, k=rng.randint(1, 30))) for _ in range(3000)]
    for text in texts:
        assert sp.repetition(text) == _repetition_py(text), text
    with pytest.raises(TypeError):
        sp.repetition(b"x")


@needs_c
def test_tokens_in_equals_python() -> None:
    from synapse_core.data.bias import _LETTERS_ONLY

    words = (b"men", b"women", b"all", b"the", b"a")
    vocab = sp.vocab(words)
    rng = random.Random(9)
    alphabet = [b"men", b"women", b"all", b"the", b"a", b"x", b" ", b"-", b"'", b"\xc3\xa9",
                b"M", b"1", b"\n", b"_"]
    for _ in range(3000):
        hay = b"".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        want = set(words).intersection(hay.translate(_LETTERS_ONLY).split())
        assert sp.tokens_in(hay, vocab) == want, hay
    with pytest.raises(ValueError):
        sp.vocab([b"Men"])
    with pytest.raises(TypeError):
        sp.vocab(["men"])


@needs_c
def test_inline_reader_equals_python(blocks: list[str]) -> None:
    rng = random.Random(11)
    answers = ["", "  🧙 An answer.\n", "\n\nplain", "</reasoning> twice", " \u2003 x \u00a0"]
    replies = [rng.choice(["", " ", "\n\u2003"]) + b + rng.choice(answers)
               for b in blocks[:400] + [_random_block(rng) for _ in range(600)]]
    replies += [_mutate(rng, r) for r in replies]
    answered = 0
    for reply in replies:
        got = sp.inline_summary(reply)
        if got is None:
            continue
        answered += 1
        block, answer, problems = split_inline_reasoning(reply)
        assert not problems
        assert got == (answer, fastrow.summarize_reasoning_py(block)), reply
    assert answered >= 0.3 * len(replies)


def _reply(rng: random.Random) -> str:
    words = rng.choice([0, 1, 5, 19, 20, 21, 39, 40, 41, 150, 2001])
    vocab = ["entropy", "grows", "again.", "Again!", "\n", "?", "🧙", "🧙🏾‍♂️:", "```", "İnvestigate",
             "\u212a", "Explore", "EXPLOIT", "investigate:", "the same sentence, said again.",
             "\u2003", " ", "”", "…", "»", "x"]
    text = " ".join(rng.choices(vocab, k=words))
    return rng.choice(["", " ", "\n"]) + text + rng.choice(["", ".", " ", "\n", "😀", "a", "```"])


@needs_c
def test_conversation_quality_equals_python() -> None:
    from synapse_core.data.scoring import conversation_quality_of

    rng = random.Random(13)
    for _ in range(4000):
        n = rng.randint(0, 5)
        roles = rng.choices(["system", "user", "assistant"], k=n)
        contents = [_reply(rng) if r == "assistant" or rng.random() < .5
                    else " ".join(["word"] * rng.choice([3, 199, 200, 201, 5000])) for r in roles]
        assert sp.conversation_quality(roles, contents) == conversation_quality_of(
            roles, contents)[0], (roles, contents)
    assert sp.conversation_quality(["tool"], ["x"]) is None
    with pytest.raises(TypeError):
        sp.conversation_quality(["user"], [])


@needs_c
def test_tolerant_reader_is_linear_where_the_regex_backtracks() -> None:
    # an unterminated tag with many quoted values: re tries every split (2^n), the compiled
    # reader remembers where the rest of a tag cannot match
    import time

    from synapse_core.data.fastrow import tolerant_summary_py

    small = "<reasoning><chain><step" + ' a="x"' * 12 + " <goal>x</goal></chain></reasoning>"
    assert sp.tolerant_summary(small) == tolerant_summary_py(small)
    huge = "<reasoning><chain><step" + ' a="x"' * 400 + " <goal>x</goal></chain></reasoning>"
    # and where every tag's attributes run on to the end of the block (quadratic for the
    # regex): the memo is the block's, so each position is searched once in all
    chain = "<reasoning>" + "<kg a=" * 20000
    t0 = time.perf_counter()
    got = sp.tolerant_summary(huge)
    long = sp.tolerant_summary(chain)
    assert time.perf_counter() - t0 < 5.0  # (2^400 steps, and hours, without the memo)
    assert got is not None and "<goal> outside <mem>" in got[7]
    assert long is not None and long[7][0] == "unclosed <reasoning>"
    assert long[7][1].startswith("stray text in <reasoning>: '<kg a=<kg a=")


@needs_c
def test_last_closing_end_equals_the_regex() -> None:
    from synapse_core.data.reasoning import _TAG_RE

    def python(text: str) -> int:
        last = None
        for m in _TAG_RE.finditer(text):
            if m.group(1):
                last = m
        return last.end() if last else -1

    rng = random.Random(23)
    texts = [_broken_block(rng) for _ in range(2000)] + ["", "plain", "</kg", "</kg a=>x"]
    for text in texts:
        assert sp.last_closing_end(text) == python(text), text
    assert sp.last_closing_end("<reasoning>" + "</kg a=" * 20000) == -1  # linear, not hours
