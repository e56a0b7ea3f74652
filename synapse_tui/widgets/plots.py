"""A line chart (textual-plotext) that redraws only when told its data changed.

The training panel appends points as events arrive and calls ``mark_dirty``; a timer calls
``redraw_if_dirty`` a few times a second. Plotext rebuilds the whole figure on each render,
so redrawing per event would stall the UI when the engine logs hundreds of steps a second.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

from synapse_tui.widgets.train_series import downsample_minmax


class SeriesPlot(PlotextPlot):
    """One or more named series against a shared x axis, with a title and an empty message."""

    DEFAULT_CSS = """
    SeriesPlot {
        height: 1fr;
        min-height: 5;
        border: round $panel;
        border-title-color: $text-muted;
    }
    """

    def __init__(self, title: str, *, xlabel: str = "step", empty: str = "no data yet",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.empty_text = empty
        self.border_title = title
        self._series: dict[str, tuple[list[float], list[float]]] = {}
        self._dirty = True
        self.redraws = 0
        """How many times the figure was rebuilt (tests and the latency benchmark read it)."""

    def set_series(self, name: str, xs: list[float], ys: list[float]) -> None:
        """Point series ``name`` at these lists (kept by reference; appends show on redraw)."""
        self._series[name] = (xs, ys)
        self._dirty = True

    def clear_series(self) -> None:
        """Remove every series."""
        self._series.clear()
        self._dirty = True

    def set_empty_text(self, text: str) -> None:
        """What the chart says when it has no points (e.g. why telemetry is missing)."""
        self.empty_text = text
        self._dirty = True

    def mark_dirty(self) -> None:
        """Data changed: rebuild the figure at the next ``redraw_if_dirty``."""
        self._dirty = True

    def point_count(self, name: str) -> int:
        """Number of points in series ``name`` (all of them, not the drawn summary)."""
        xs, _ = self._series.get(name, ([], []))
        return len(xs)

    def redraw_if_dirty(self) -> bool:
        """Rebuild the figure from the series if something changed; True when it did."""
        if not self._dirty or not self.is_mounted:
            return False
        self._dirty = False
        self.redraws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel(self.xlabel)
        # One min/max pair per column: what a braille line can show of a long run, and
        # plotext's build time grows with the points (the chart is redrawn 5 times a second).
        max_points = max(8, 2 * max(self.size.width, 10))
        drawn = False
        for name, (xs, ys) in self._series.items():
            n = min(len(xs), len(ys))
            if n == 0:
                continue
            px, py = downsample_minmax(xs[:n], ys[:n], max_points)
            plt.plot(px, py, marker="braille", label=name if len(self._series) > 1 else None)
            drawn = True
        if not drawn:
            plt.title(self.empty_text)
        self.refresh()
        return True
