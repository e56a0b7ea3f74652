"""Console markup for the graph pane's text panels (pure functions: data in, markup out)."""

from __future__ import annotations

from synapse_tui.markup import escape
from rich.text import Text

from synapse_core.graph.health import Contradiction, GraphHealth


def health_markup(h: GraphHealth, width: int | None = None, lines: int = 2) -> str:
    """The health summary (coverage, concentration, contradictions) in the longest wording
    that fits ``lines`` lines of ``width`` cells (all of it when ``width`` is None).

    Shorter wordings drop the first contradiction's example (``c`` lists them all), then
    words, never a figure: on an 80-column terminal every figure stays in sight.
    """
    n = len(h.contradictions)
    first = ""
    if h.contradictions:
        c = h.contradictions[0]
        first = (f": {escape(c.subj)} {escape(c.pred_a)}/{escape(c.pred_b)} "
                 f"{escape(c.obj)} (lines {c.lines_a[0]}, {c.lines_b[0]})")
    hint = " [dim](c lists them)[/dim]" if n else ""
    rows = (f"rows: {h.rows_with_kg:,} with triplets, {h.rows_without_kg:,} without, "
            f"{h.rows_with_malformed:,} malformed")
    largest = f"{100 * h.largest_component_edge_share:.0f}%"
    top10 = f"{100 * h.top10_endpoint_share:.0f}%"
    forms = [
        f"[b]Health[/b] {rows} · {h.components:,} components, largest {largest} of edges · "
        f"top-10 {top10} of endpoints · {n} contradictions{first}",
        f"[b]Health[/b] {rows} · {h.components:,} components, largest {largest} of edges · "
        f"top-10 {top10} of endpoints · {n} contradictions{hint}",
        f"[b]Health[/b] {h.rows_with_kg:,} with triplets, {h.rows_without_kg:,} without, "
        f"{h.rows_with_malformed:,} malformed · {h.components:,} components, largest "
        f"{largest} · top-10 {top10} · {n} contradictions{' (c)' if n else ''}",
    ]
    if width is None:
        return forms[0]
    room = max(1, width) * max(1, lines)
    for form in forms:
        if Text.from_markup(form).cell_len <= room:
            return form
    return forms[-1]


def title_markup(name: str, degree: int, pagerank: float | None, samples: int,
                 aliases: list[tuple[str, int]]) -> str:
    """The selected entity's heading: name, degree, PageRank, samples, then its spellings."""
    pr = f" · PageRank {pagerank * 100:.2f}%" if pagerank is not None else ""
    spelled = ", ".join(f"{escape(a)} ×{n}" for a, n in aliases[:4])
    return (f"[b]{escape(name)}[/b] · degree {degree}{pr} · {samples} samples\n"
            f"[dim]spelled: {spelled}[/dim]")


def predicates_markup(predicates: list[tuple[str, str, int]], limit: int = 20) -> str:
    """``→ pred n`` (outgoing) / ``← pred n`` (incoming) lines, most used first."""
    lines = [f"{'→' if direction == 'out' else '←'} {escape(p)} [dim]{n}[/dim]"
             for p, direction, n in predicates[:limit]]
    return "\n".join(lines) or "[dim]none[/dim]"


def contradiction_options(contradictions: list[Contradiction],
                          limit: int) -> list[tuple[str, str]]:
    """``(option id, prompt)`` for both sides of each contradiction; ids are unique and start
    with the row line (``"21:0a"``)."""
    out = []
    for i, c in enumerate(contradictions[:limit]):
        for side, pred, lines in (("a", c.pred_a, c.lines_a), ("b", c.pred_b, c.lines_b)):
            more = f" [dim](+{len(lines) - 1} rows)[/dim]" if len(lines) > 1 else ""
            out.append((f"{lines[0]}:{i}{side}",
                        f"line {lines[0]}: {escape(c.subj)} —{escape(pred)}→ {escape(c.obj)}{more}"))
    return out
