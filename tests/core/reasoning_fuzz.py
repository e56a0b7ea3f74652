"""Random reasoning blocks for the reader's tests: canonical ones (random sections, repeats,
blank leaves, odd step attributes) and broken ones (pieces of tags inserted, cut, swapped)."""

from __future__ import annotations

import random



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


def random_block(rng: random.Random) -> str:
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


def mutate(rng: random.Random, text: str) -> str:
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


_BROKEN = ["<", ">", "/>", "<step/>", "<tri>", "</kg>", "<subj>", "<sym>", "</logic>", "<reasoning>",
           "</reasoning>", "<step index=\"1\" depends_on='2'>", "<goal/>", "<step index=1>",
           "<step index=\"a b\" x='y'>", "<nat>", "</prop>", "<logic><prop>", "&amp;", "<unknown>",
           "<goalx>", "< goal>", "</ goal>", "<step\nindex=\"3\"\n>", "<step index=\"1>",
           "<prop><step index=\"2\">in prop</step></prop>", "text", "  ", "\u2003",
           "<tri><subj>a</subj></tri>", "</tri>", "<step index= depends_on=\"2\">",
           "<step index=  index=\" 3\">", "<step a=\"x\" b='y' c=z/>", "<mem><goal>g</goal>"]


def broken_block(rng: random.Random) -> str:
    text = random_block(rng)
    for _ in range(rng.randint(1, 6)):
        if rng.random() < 0.5:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(_BROKEN) + text[at:]
        else:
            text = mutate(rng, text)
    return text
