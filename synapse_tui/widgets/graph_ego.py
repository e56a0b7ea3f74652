"""The ego-graph drawing: an ``EgoView`` laid out by ``graph_canvas`` at the widget's size."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from synapse_core.graph.ego import EgoView
from synapse_tui.widgets.graph_canvas import draw_ego


class EgoGraph(Widget):
    """Draws one entity's neighbourhood; redraws on resize and when ``view`` changes."""

    COMPONENT_CLASSES = {"ego--centre", "ego--entity", "ego--predicate", "ego--line", "ego--more"}
    DEFAULT_CSS = """
    EgoGraph { height: 1fr; padding: 0 1; }
    EgoGraph > .ego--centre { color: $accent; text-style: bold; }
    EgoGraph > .ego--entity { color: $text; }
    EgoGraph > .ego--predicate { color: $secondary; text-style: italic; }
    EgoGraph > .ego--line { color: $text-muted; }
    EgoGraph > .ego--more { color: $text-muted; text-style: italic; }
    """

    view: reactive[EgoView | None] = reactive(None, always_update=True)
    """The neighbourhood drawn (None: a hint to pick an entity)."""

    placeholder: reactive[str] = reactive("Pick an entity to see its neighbourhood.")
    """What is shown when there is no view."""

    def render(self) -> Text:
        """Lay the view out on a canvas of the content size and style it."""
        if self.view is None:
            return Text(self.placeholder, style=self.get_component_rich_style("ego--more"))
        width, height = self.content_size.width, self.content_size.height
        canvas = draw_ego(self.view, width, height)
        lines = canvas.lines()
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
        text = Text("\n".join(lines), no_wrap=True, overflow="crop")
        text.stylize(self.get_component_rich_style("ego--line"))
        for span in canvas.spans:
            end = min(span.end, len(lines[span.row]))
            if end > span.start:
                text.stylize(self.get_component_rich_style(f"ego--{span.style}"),
                             offsets[span.row] + span.start, offsets[span.row] + end)
        return text

    def text_lines(self) -> list[str]:
        """The drawing as plain text at the current size (for tests and copy/paste)."""
        if self.view is None:
            return [self.placeholder]
        return draw_ego(self.view, self.content_size.width, self.content_size.height).lines()
