"""A virtual table over the data column store: renders only the rows on screen.

Textual's DataTable builds a row object per row, which does not scale to a million rows; this
widget keeps an index array (the current filter/sort view) into ``RowTable`` and renders each
visible line on demand through the Line API. The header stays on the first line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from synapse_core.data.table import RowTable


@dataclass(frozen=True)
class Column:
    """A displayed column: title, the store column it shows and sorts by, width."""

    title: str
    key: str
    width: int


COLUMNS: tuple[Column, ...] = (
    Column("line", "line", 8), Column("shape", "shape", 10), Column("turns", "turns", 6),
    Column("score", "score", 7), Column("cq", "cq", 6), Column("bias", "bias", 6),
    Column("rq", "rq", 6), Column("label", "label", 12), Column("label by", "label_source", 8),
    Column("banned", "banned", 7), Column("problems", "problems", 9),
    Column("metrics", "given", 9), Column("review", "decision", 8),
)
_SHAPE = ("sharegpt", "messages", "prompt/compl", "text")


class DatasetTable(ScrollView, can_focus=True):
    """Scrollable, sortable view of the rows; emits RowHighlighted / RowSelected / SortRequested."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "dataset-table--header", "dataset-table--cursor", "dataset-table--undesirable",
        "dataset-table--desirable", "dataset-table--flagged", "dataset-table--override",
    }
    DEFAULT_CSS = """
    DatasetTable { height: 1fr; background: $surface; }
    DatasetTable > .dataset-table--header { background: $panel; color: $foreground; text-style: bold; }
    DatasetTable > .dataset-table--cursor { background: $accent 40%; }
    DatasetTable:focus > .dataset-table--cursor { background: $accent; color: $text; }
    DatasetTable > .dataset-table--desirable { color: $success; }
    DatasetTable > .dataset-table--undesirable { color: $warning; }
    DatasetTable > .dataset-table--flagged { color: $error; }
    DatasetTable > .dataset-table--override { color: $secondary; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="dataset-cursor-up",
                tooltip="Previous row"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="dataset-cursor-down",
                tooltip="Next row"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="dataset-page-up",
                tooltip="One screen up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="dataset-page-down",
                tooltip="One screen down"),
        Binding("home", "jump(0)", "First", show=False, id="dataset-first-row",
                tooltip="First row"),
        Binding("end", "jump(-1)", "Last", show=False, id="dataset-last-row",
                tooltip="Last row"),
        Binding("enter", "select", "Open", id="dataset-open-row",
                tooltip="Open the row's detail (conversation, reasoning, score explanation)"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)
    """Position of the highlighted row in the current view."""

    @dataclass
    class RowHighlighted(Message):
        """The cursor moved onto a row (``line`` is its source line)."""

        table: DatasetTable
        line: int

        @property
        def control(self) -> DatasetTable:
            """The table (so ``@on(RowHighlighted, "#id")`` works)."""
            return self.table

    @dataclass
    class RowSelected(Message):
        """The user pressed Enter on (or clicked) a row."""

        table: DatasetTable
        line: int

        @property
        def control(self) -> DatasetTable:
            """The table (so ``@on(RowSelected, "#id")`` works)."""
            return self.table

    @dataclass
    class SortRequested(Message):
        """A header cell was clicked: sort by that store column."""

        table: DatasetTable
        key: str

        @property
        def control(self) -> DatasetTable:
            """The table (so ``@on(SortRequested, "#id")`` works)."""
            return self.table

    def __init__(self, table: RowTable, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.table = table
        self.view_index: np.ndarray = np.arange(0)
        self.sort_key: str | None = None
        self.descending = False
        self._width = sum(c.width + 1 for c in COLUMNS)
        self._styles: dict[str, Style] = {}

    def notify_style_update(self) -> None:
        self._styles.clear()  # theme or CSS changed: resolve the component styles again
        super().notify_style_update()

    def _style(self, name: str) -> Style:
        """A component class's rich style, resolved once per theme (render_line is hot)."""
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style if name == "" else self.get_component_rich_style(name)
            style = self._styles[name] = base
        return style

    # -- data ---------------------------------------------------------------------------------
    def set_view(self, view: np.ndarray, keep_line: int | None = None) -> None:
        """Show ``view`` (row indices into the store); keep the cursor on ``keep_line`` if it is
        still visible."""
        self.view_index = view
        self.virtual_size = Size(self._width, len(view) + 1)
        if keep_line is not None:
            pos = self.position_of(keep_line)
            if pos is not None:
                self.cursor = pos
                self.refresh()
                return
        self.cursor = min(self.cursor, max(0, len(view) - 1))
        self.refresh()

    def position_of(self, line: int) -> int | None:
        """Position of a source line in the current view, or None."""
        i = self.table.index_of(line)
        if i is None or not len(self.view_index):
            return None
        hits = np.nonzero(self.view_index == i)[0]
        return int(hits[0]) if len(hits) else None

    @property
    def current_line(self) -> int | None:
        """Source line of the highlighted row (None when the view is empty)."""
        if not len(self.view_index) or self.cursor >= len(self.view_index):
            return None
        return int(self.table.col("line")[self.view_index[self.cursor]])

    # -- navigation ---------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        line = self.current_line
        if line is not None:
            self.post_message(self.RowHighlighted(self, line))

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        if len(self.view_index):
            self.cursor = max(0, min(len(self.view_index) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if len(self.view_index):
            self.cursor = 0 if where == 0 else len(self.view_index) - 1

    def action_select(self) -> None:
        line = self.current_line
        if line is not None:
            self.post_message(self.RowSelected(self, line))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + int(self.scroll_offset.x)
            for col in COLUMNS:
                if x < col.width + 1:
                    self.post_message(self.SortRequested(self, col.key))
                    return
                x -= col.width + 1
            return
        pos = int(self.scroll_offset.y) + event.y - 1
        if 0 <= pos < len(self.view_index):
            self.cursor = pos
            if event.chain >= 2:
                self.action_select()

    # -- rendering ----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_offset.x)
        if y == 0:
            text = self._header_text()
            style = self._style("dataset-table--header")
        else:
            pos = int(self.scroll_offset.y) + y - 1
            if pos >= len(self.view_index):
                return Strip.blank(width, self._style(""))
            text, cls = self._row_text(int(self.view_index[pos]))
            style = self._style("") + self._style(cls)
            if pos == self.cursor:
                style = style + self._style("dataset-table--cursor")
        strip = Strip([Segment(text, style)], len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _header_text(self) -> str:
        cells = []
        for c in COLUMNS:
            title = c.title
            if c.key == self.sort_key:
                title += "▼" if self.descending else "▲"
            cells.append(title[: c.width].ljust(c.width))
        return " ".join(cells) + " "

    def _row_text(self, i: int) -> tuple[str, str]:
        t = self.table
        c = t._cols  # direct access: this runs for every visible line on every frame
        banned = int(c["banned"][i])
        dec = int(c["decision"][i])
        label = "desirable" if c["label"][i] else "undesirable"
        vals = (str(int(c["line"][i])), _SHAPE[c["shape"][i]], str(int(c["turns"][i])),
                f"{c['score'][i]:.3f}", f"{c['cq'][i]:.2f}", f"{c['bias'][i]:.2f}",
                f"{c['rq'][i]:.2f}", label, "given" if c["label_source"][i] else "score",
                str(banned) if banned else "·",
                str(int(c["problems"][i])) if c["problems"][i] else "·",
                "given" if c["given"][i] else "computed",
                {1: "accept", -1: "reject"}.get(dec, ""))
        text = " ".join(v[: col.width].ljust(col.width) for v, col in zip(vals, COLUMNS)) + " "
        if dec:
            cls = "dataset-table--override"
        elif banned:
            cls = "dataset-table--flagged"
        else:
            cls = f"dataset-table--{label}"
        return text, cls
