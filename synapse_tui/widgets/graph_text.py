"""Console markup for the graph pane's text panels (pure functions: data in, markup out)."""

from __future__ import annotations

from rich.markup import escape

from synapse_core.graph.health import Contradiction, GraphHealth


def health_markup(h: GraphHealth) -> str:
    """The one-paragraph health summary (coverage, concentration, contradictions)."""
    contra = ""
    if h.contradictions:
        c = h.contradictions[0]
        contra = (f": {escape(c.subj)} {escape(c.pred_a)}/{escape(c.pred_b)} "
                  f"{escape(c.obj)} (lines {c.lines_a[0]}, {c.lines_b[0]})")
    return (f"[b]Health[/b] rows: {h.rows_with_kg:,} with triplets, {h.rows_without_kg:,} "
            f"without, {h.rows_with_malformed:,} malformed · {h.components:,} components, "
            f"largest {100 * h.largest_component_edge_share:.0f}% of edges · top-10 "
            f"{100 * h.top10_endpoint_share:.0f}% of endpoints · "
            f"{len(h.contradictions)} contradictions{contra}")


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
