"""The detail view of one dataset row: score explanation, review decision, banned words,
reasoning problems, the conversation (banned words highlighted) and the parsed reasoning."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from synapse_core.data.records import BadLine, Reasoning, Record


def _highlight(text: str, spans: list[tuple[int, int]]) -> Content:
    parts: list[str | tuple[str, str]] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        parts.append(text[pos:start])
        parts.append((text[start:end], "bold reverse $error"))
        pos = end
    parts.append(text[pos:])
    return Content.assemble(*parts)


def _reasoning_parts(r: Reasoning) -> list[str | tuple[str, str]]:
    out: list[str | tuple[str, str]] = []
    mem = [(k, getattr(r, k)) for k in ("goal", "subgoal", "done", "now", "ctx") if getattr(r, k)]
    for k, v in mem:
        out += [(f"  {k}: ", "bold"), f"{v}\n"]
    if r.triplets:
        out.append(("  triplets\n", "bold"))
        out += [f"    {t.subj} —{t.pred}→ {t.obj}\n" for t in r.triplets]
    for m in r.malformed_triplets:
        out.append((f"    ✗ {m}\n", "$warning"))
    if r.logic:
        out.append(("  logic\n", "bold"))
        for li in r.logic:
            out.append(f"    {li.kind}: {li.sym or '(no sym)'}  —  {li.nat or '(no nat)'}\n")
    if r.steps:
        out.append(("  chain\n", "bold"))
        for st in r.steps:
            deps = f" ← {','.join(map(str, st.depends_on))}" if st.depends_on else ""
            out.append(f"    {st.index}{deps}: {st.text}\n")
    for kind, texts in r.extras.items():
        out += [f"  {kind}: {t}\n" for t in texts]
    return out


def render_record(record: Record, weights: tuple[float, float, float], threshold: float,
                  decision: str = "", note: str = "", stale: bool = False,
                  no_reasoning: str | None = None) -> Content:
    """The whole detail of a record as styled content. ``no_reasoning`` is why a row without
    reasoning cannot reach the threshold (``scoring.no_reasoning_note``), shown for such rows."""
    r = record
    w1, w2, w3 = weights
    label_style = "bold $success" if r.label == "desirable" else "bold $warning"
    by_score = "desirable" if r.score >= threshold else "undesirable"
    parts: list[str | tuple[str, str]] = [
        (f"line {r.line}", "bold"), f"  ·  {r.shape}  ·  {r.turns} turns  ·  metrics {r.metrics_source}  ·  ",
        (r.label, label_style), f"  (label {r.label_source})\n",
        f"score = {w1:g}×{r.conversation_quality:.3f} − {w2:g}×{r.bias_detection:.3f} + "
        f"{w3:g}×{r.reasoning_quality:.3f} = ", (f"{r.score:.4f}", "bold"),
        f"  ({'≥' if r.score >= threshold else '<'} threshold {threshold:g})\n",
    ]
    if r.label_source == "given":
        parts.append((f"label_source = given: the row's own label ({r.label}) is used; "
                      f"its score alone would make it {by_score}\n", "$secondary"))
    elif no_reasoning and r.reasoning_quality == 0:
        parts.append((f"{no_reasoning}\n", "$warning"))
    if decision:
        parts += [(f"review: {decision}", "bold $secondary"), f"  {note}\n" if note else "\n"]
    if stale:
        parts.append(("a decision was made on other content at this line (the file changed); "
                      "it is not applied\n", "$warning"))
    for metric in ("conversation_quality", "bias_detection", "reasoning_quality"):
        why = r.reasons.get(metric)
        parts.append((f"\n{metric}: {getattr(r, metric):.3f}\n", "bold"))
        for w in why or ["given in quality_metrics"]:
            parts.append(f"  {w}\n")
    if r.banned:
        words = ", ".join(f"{b.word} (message {b.message + 1})" for b in r.banned)
        parts += [("\nbanned words: ", "bold $error"), f"{words}\n"]
    if r.reasoning_problems:
        parts.append(("\nproblems\n", "bold $warning"))
        parts += [f"  • {p}\n" for p in r.reasoning_problems]
    body = Content.assemble(*parts)
    for i, m in enumerate(r.messages):
        spans = [(b.start, b.end) for b in r.banned if b.message == i]
        body += Content.assemble("\n", (f"── {m.role} ──\n", "bold $primary"))
        if m.reasoning is not None:
            body += Content.assemble(("<reasoning> parsed\n", "italic $text-muted"),
                                     *_reasoning_parts(m.reasoning))
        body += _highlight(m.content, spans) + "\n"
    return body


SCROLL_HINT = "shift+↓/↑ scroll · ]/[ page · Esc close"
"""How to scroll the detail, shown at its foot (the table keeps the focus and the arrows)."""


class DatasetDetail(VerticalScroll):
    """Scrollable detail panel; ``show_record`` / ``show_bad`` fill it."""

    DEFAULT_CSS = """
    DatasetDetail { width: 1fr; border-left: solid $panel; padding: 0 1; }
    DatasetDetail > #dataset-detail-body { width: 1fr; }
    DatasetDetail > #dataset-detail-hint {
        dock: bottom; width: 1fr; height: auto; background: $panel; color: $text-muted;
    }
    """

    shown_line: int | None = None
    """The source line of the row on show (None for none, or a bad line)."""

    def compose(self):
        yield Static(SCROLL_HINT, id="dataset-detail-hint")
        yield Static("Select a row and press Enter to see it here.", id="dataset-detail-body")

    @property
    def body(self) -> Static:
        """The Static holding the rendered row."""
        return self.query_one("#dataset-detail-body", Static)

    def show_record(self, record: Record, weights: tuple[float, float, float],
                    threshold: float, decision: str = "", note: str = "",
                    stale: bool = False, no_reasoning: str | None = None) -> None:
        """Render a record; scroll to the top when it is another row than the one shown (a
        decision re-renders the same row where the user had scrolled to)."""
        self.body.update(render_record(record, weights, threshold, decision, note, stale,
                                       no_reasoning))
        if record.line != self.shown_line:
            self.shown_line = record.line
            self.scroll_home(animate=False)

    def show_bad(self, bad: BadLine) -> None:
        """Explain why a row could not be opened."""
        self.shown_line = None
        self.body.update(Content.assemble(("cannot show this row\n", "bold $error"), str(bad)))
