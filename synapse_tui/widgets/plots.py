"""A line chart drawn by plotext in a worker thread; the UI thread only swaps finished lines in.

The training panel appends points as events arrive and calls ``mark_dirty``; its redraw tick
calls ``redraw_if_dirty`` a few times a second. One plotext frame (build the figure, then
decode its ANSI into Rich text) costs ~5-20 ms, which on the UI thread delayed every key
that arrived meanwhile. So a redraw only snapshots the series' lengths and hands the build
to a worker thread; the finished frame (a list of ``Strip``) comes back as a message and
``render_line`` just returns its lines. At most one build per chart is in flight and the
latest data wins. A finished frame of the same size waits for the next tick to be shown, so
the tick's progress line and every chart change in one screen update (each screen update
holds the next one off for 17-33 ms: fewer of them leave keys less often waiting). A resize
schedules a build at the new size and shows the previous frame (cropped or padded) until it
arrives, at once.

Only plotext's public, module-level API is used (``plotext.plot``, ``plot_size``,
``canvas_color``, ``build``...): it draws on one global figure, so every build, in any thread,
holds ``PLOTEXT_LOCK``. Colours come from the app's theme as RGB triples (surface for the
canvas, foreground for axes and ticks, primary/secondary/accent/... for the series), so no
plotext theme table needs registering.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import plotext
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from synapse_tui.widgets.train_series import downsample_minmax

PLOTEXT_LOCK = threading.Lock()
"""Held around every plotext call: plotext's public API draws on one module-level figure."""

RGB = tuple[int, int, int]

SERIES_COLOURS = ("primary", "secondary", "accent", "warning", "success", "error")
"""Theme variables the series are drawn in, in order (cycled past the sixth)."""


@dataclass(frozen=True)
class ChartRequest:
    """Everything a build needs, captured on the UI thread (series by reference + length:
    the panel's lists only ever grow, and a new run gets new lists)."""

    width: int
    height: int
    xlabel: str
    empty_text: str
    canvas: RGB
    """Background of the chart (the theme's surface)."""
    foreground: RGB
    """Axes, ticks and labels (the theme's foreground)."""
    colours: tuple[RGB, ...]
    """One per series, in order (cycled)."""
    series: tuple[tuple[str | None, list[float], list[float], int], ...]
    counts: tuple[tuple[str, int], ...] = ()
    """Points of each named series the frame covers (all of them: only the drawing sums)."""


def build_frame(req: ChartRequest, console) -> list[Strip]:  # noqa: ANN001
    """Build one chart frame with plotext and decode it into strips (any thread)."""
    max_points = max(8, 2 * max(req.width, 10))
    drawn = []
    for label, xs, ys, n in req.series:
        if n:
            px, py = downsample_minmax(xs[:n], ys[:n], max_points)
            drawn.append((label, px, py))
    with PLOTEXT_LOCK:
        plotext.clear_figure()  # also back to plotext's defaults: size limits, colours
        # A chart is sized by its widget, not by the terminal plotext would measure
        plotext.limit_size(False, False)
        plotext.plot_size(req.width, req.height)
        plotext.canvas_color(req.canvas)
        plotext.axes_color(req.canvas)
        plotext.ticks_color(req.foreground)
        plotext.xlabel(req.xlabel)
        for i, (label, px, py) in enumerate(drawn):
            plotext.plot(px, py, marker="braille", label=label,
                         color=req.colours[i % len(req.colours)])
        if not drawn:
            plotext.title(req.empty_text)
        ansi = plotext.build()
    text = Text.from_ansi(ansi)
    options = console.options.update(width=req.width, height=req.height, no_wrap=True)
    lines = console.render_lines(text, options, pad=True)
    return [Strip(line, req.width) for line in lines]


class SeriesPlot(Widget):
    """One or more named series against a shared x axis, with a title and an empty message."""

    DEFAULT_CSS = """
    SeriesPlot {
        width: 1fr;
        height: 1fr;
        min-height: 5;
        border: round $panel;
        border-title-color: $text-muted;
    }
    """

    @dataclass
    class FrameReady(Message):
        """A worker finished a frame for this chart (posted from the worker thread)."""

        plot: SeriesPlot
        """The chart the frame is for (``control``, so ``@on(FrameReady, "#id")`` works)."""
        request: ChartRequest
        lines: list[Strip]

        @property
        def control(self) -> SeriesPlot:
            """The chart the frame is for."""
            return self.plot

    def __init__(self, title: str, *, xlabel: str = "step", empty: str = "no data yet",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.empty_text = empty
        self.border_title = title
        self._series: dict[str, tuple[list[float], list[float]]] = {}
        self._dirty = True
        self._in_flight = False
        self._lines: list[Strip] | None = None
        self._frame_size = Size(0, 0)
        self._pending: SeriesPlot.FrameReady | None = None
        self.redraws = 0
        """How many frames were built (tests and the latency benchmark read it)."""
        self.render_threads: set[str] = set()
        """Names of the threads that built frames after the first (tests read it)."""
        self.shown_counts: dict[str, int] = {}
        """Points per series covered by the frame on screen (tests read it)."""

    @property
    def frame_size(self) -> Size:
        """Size of the frame on screen (differs from ``size`` while a resize's new frame is
        being built)."""
        return self._frame_size

    # ------------------------------------------------------------------ data

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

    # ------------------------------------------------------------------ frames

    def redraw_if_dirty(self) -> bool:
        """Show a frame that finished since the last tick, then start a build if something
        changed and none is in flight; True when a build started."""
        if self._pending is not None:
            self._show(self._pending)
        if not self._dirty or self._in_flight or not self.is_mounted or self._lines is None:
            return False  # (no frame yet: the first one is built by render_line)
        request = self._request()
        if request is None:
            return False
        self._dirty = False
        self._in_flight = True
        self.redraws += 1
        self._build(request)
        return True

    def _request(self) -> ChartRequest | None:
        width, height = self.size
        if width <= 0 or height <= 0:
            return None  # hidden (another tab, a collapsed row): build when shown
        variables = self.app.theme_variables

        def rgb(name: str, default: str) -> RGB:
            return Color.parse(variables.get(name, default)).rgb

        counts = tuple((name, min(len(xs), len(ys))) for name, (xs, ys) in self._series.items())
        series = tuple(
            (name if len(self._series) > 1 else None, xs, ys, n)
            for (name, n), (xs, ys) in zip(counts, self._series.values()))
        return ChartRequest(
            width=width, height=height, xlabel=self.xlabel, empty_text=self.empty_text,
            canvas=rgb("surface", "black"), foreground=rgb("foreground", "white"),
            colours=tuple(rgb(name, "white") for name in SERIES_COLOURS),
            series=series, counts=counts)

    @work(thread=True, exit_on_error=False, group="chart-frame")
    def _build(self, request: ChartRequest) -> None:
        try:
            lines = build_frame(request, self.app.console)
        finally:
            self.render_threads.add(threading.current_thread().name)
        self.post_message(self.FrameReady(self, request, lines))

    def on_series_plot_frame_ready(self, message: SeriesPlot.FrameReady) -> None:
        message.stop()
        self._in_flight = False
        request = message.request
        if Size(request.width, request.height) == self._frame_size == self.size:
            self._pending = message  # new data, same size: shown on the next tick
            return
        self._show(message)  # a new size (or the first worker frame): show it now
        if self._frame_size != self.size:
            self._dirty = True  # resized while building: build again at the new size
            self.redraw_if_dirty()

    def _show(self, frame: SeriesPlot.FrameReady) -> None:
        self._pending = None
        self._lines = frame.lines
        self._frame_size = Size(frame.request.width, frame.request.height)
        self.shown_counts = dict(frame.request.counts)
        self.refresh()

    @on(Worker.StateChanged)
    def _build_ended(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "chart-frame" or event.worker.node is not self:
            return
        event.stop()
        if event.state == WorkerState.ERROR:  # show why, and let the next tick try again
            self._in_flight = False
            self._dirty = True
            self.notify(f"{self.title} chart: {event.worker.error}", severity="error")

    def on_resize(self) -> None:
        if self.size != self._frame_size:
            # Build at the new size only after the screen shows the new layout (with the old
            # frame fitted): a build started now would compete with that repaint for the GIL.
            self._dirty = True
            self.call_after_refresh(self.redraw_if_dirty)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._theme_changed())

    def _theme_changed(self) -> None:
        self._dirty = True
        self.redraw_if_dirty()

    def render_line(self, y: int) -> Strip:
        """One line of the latest frame, fitted to the current width (never builds)."""
        width = self.size.width
        if self._lines is None and not self._in_flight:
            # The very first frame is built here, so the first screen shows the axes (and a
            # snapshot is deterministic); every later frame comes from the worker.
            request = self._request()
            if request is not None:
                self._dirty = False
                self.redraws += 1
                self._lines = build_frame(request, self.app.console)
                self._frame_size = Size(request.width, request.height)
                self.shown_counts = dict(request.counts)
        lines = self._lines or []
        if y >= len(lines):
            return Strip([Segment(" " * width)], width)
        line = lines[y]
        if line.cell_length != width:
            line = line.adjust_cell_length(width, Style())
        return line
