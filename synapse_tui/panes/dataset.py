"""The dataset browser: load, score and review the rows that go into training.

A virtual table over the core column store (no lag at a million rows), a filter bar, a detail
view of one row, accept/reject with a note (saved at once to the decisions sidecar), summary
counts and the list of bad lines. Loading runs in a worker that posts batches: the table and,
through ``RecordsLoaded``, the graph pane fill in while a large file is still being read.

A decisions sidecar that cannot be read never stops the table from loading: the pane says so
in its notes line and offers (``RecoverDecisions``) to start again from the saved copy.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Log, Static
from textual.worker import Worker, WorkerState, get_current_worker

from synapse_core.config import RunConfig
from synapse_core.data.decisions import DecisionStore, open_decisions
from synapse_core.data.load import LoadBatch, iter_batches, read_record, resolve_data_path
from synapse_core.data.records import BadLine, Record
from synapse_core.data.scoring import best_score, empty_class_warning, no_reasoning_note
from synapse_core.data.table import Filter, FilterError, RowTable, parse_filter, search_lines
from synapse_tui.messages import RecordsLoaded
from synapse_tui.widgets.dataset_detail import DatasetDetail
from synapse_tui.widgets.dataset_recover import RecoverDecisions
from synapse_tui.widgets.dataset_review import ReviewMixin
from synapse_tui.widgets.dataset_table import COLUMNS, DatasetTable

MAX_BAD_SHOWN = 10_000
"""Bad lines listed in the pane (all are counted; ``synapse score`` prints every one)."""
DECISIONS_POLL_S = 2.0
"""How often the decisions sidecar is checked for another writer's changes (seconds)."""
IN_FLIGHT = 4
"""Batches the loader may have queued ahead of the UI: bounds memory on huge files."""


class DatasetPane(ReviewMixin, Vertical):
    """Browse, filter, sort and review the dataset named by ``config.data.path``."""

    DEFAULT_CSS = """
    DatasetPane { height: 1fr; }
    DatasetPane #dataset-summary { height: auto; max-height: 2; padding: 0 1; background: $panel; }
    DatasetPane #dataset-notes { height: auto; max-height: 4; padding: 0 1; color: $warning; }
    DatasetPane #dataset-notes.-empty { display: none; }
    DatasetPane #dataset-filter-input { height: 3; }
    DatasetPane #dataset-main { height: 1fr; }
    DatasetPane #dataset-table { width: 1fr; }
    DatasetPane #dataset-detail { display: none; }
    DatasetPane #dataset-main.-detail-open #dataset-detail { display: block; }
    DatasetPane #dataset-main.-detail-open #dataset-table { width: 2fr; }
    DatasetPane #dataset-detail { width: 3fr; }
    DatasetPane #dataset-note-input { display: none; height: 3; }
    DatasetPane #dataset-note-input.-open { display: block; }
    DatasetPane #dataset-bad-lines { display: none; height: 10; border-top: solid $panel; }
    DatasetPane #dataset-bad-lines.-open { display: block; }
    DatasetPane #dataset-status { height: 1; padding: 0 1; color: $text-muted; }
    DatasetPane #dataset-status.-error { color: $error; }
    DatasetPane #dataset-notes.-error { color: $error; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="dataset-filter",
                tooltip="Filter rows: label:undesirable score<0.5 banned>0 problems>0 \"text\""),
        Binding("a", "decide('accept')", "Accept", id="dataset-accept",
                tooltip="Accept the row: train on it as desirable, whatever its score"),
        Binding("r", "decide('reject')", "Reject", id="dataset-reject",
                tooltip="Reject the row: leave it out of training (written to rejected.jsonl)"),
        Binding("u", "clear_decision", "Undo review", id="dataset-clear-decision",
                tooltip="Forget the accept/reject of the row (back to the automatic label)"),
        Binding("n", "edit_note", "Note", id="dataset-note",
                tooltip="Write a note on the row's review decision"),
        Binding("s", "cycle_sort", "Sort", id="dataset-sort",
                tooltip="Sort by the next column (click a header to sort by it)"),
        Binding("S", "reverse_sort", "Reverse", id="dataset-sort-reverse",
                tooltip="Reverse the sort order"),
        Binding("b", "toggle_bad_lines", "Bad lines", id="dataset-bad-lines",
                tooltip="Show or hide the lines that were set aside, as FILE:LINE: reason"),
        Binding("escape", "close_detail", "Close", id="dataset-close-detail",
                tooltip="Close the detail view / leave the filter or note box"),
        Binding("R", "reload", "Reload", id="dataset-reload",
                tooltip="Read the data file again"),
        Binding("shift+down", "scroll_detail(1)", "Scroll detail", show=False,
                id="dataset-detail-scroll-down", tooltip="Scroll the row detail down a line"),
        Binding("shift+up", "scroll_detail(-1)", "Scroll detail up", show=False,
                id="dataset-detail-scroll-up", tooltip="Scroll the row detail up a line"),
        Binding("right_square_bracket", "page_detail(1)", "Detail page down", show=False,
                id="dataset-detail-page-down", tooltip="Scroll the row detail down a page"),
        Binding("left_square_bracket", "page_detail(-1)", "Detail page up", show=False,
                id="dataset-detail-page-up", tooltip="Scroll the row detail up a page"),
        Binding("D", "recover_decisions", "Recover decisions", id="dataset-recover-decisions",
                tooltip="The decisions file cannot be read: start again from its saved copy"),
    ]

    class BatchLoaded(Message):
        """A batch came from the loader thread (private to this pane)."""

        def __init__(self, batch: LoadBatch, generation: int) -> None:
            super().__init__()
            self.batch = batch
            self.generation = generation

    class StoreOpened(Message):
        """The decisions sidecar was opened by the loader thread."""

        def __init__(self, store: DecisionStore) -> None:
            super().__init__()
            self.store = store

    class DecisionsRecovered(Message):
        """The damaged sidecar was replaced by what its saved copy held (``kept`` decisions),
        or recovering failed (``error``)."""

        def __init__(self, kept: int, error: str = "") -> None:
            super().__init__()
            self.kept = kept
            self.error = error

    class DetailLoaded(Message):
        """A row was re-read for the detail view."""

        def __init__(self, item: Record | BadLine) -> None:
            super().__init__()
            self.item = item

    class SearchDone(Message):
        """A text search of the file finished."""

        def __init__(self, flt: Filter, lines: set[int]) -> None:
            super().__init__()
            self.flt = flt
            self.lines = lines

    def __init__(self, config: RunConfig, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.config = config
        self.path: Path = resolve_data_path(config)
        self.table = RowTable()
        self.store: DecisionStore | None = None
        self.bad_lines: list[BadLine] = []
        self.bad_count = 0
        self.stale_count = 0
        self.loading = False
        self.filter = Filter([], [])
        self.text_hits: set[int] | None = None
        self.detail_record: Record | None = None
        self._pending_open: int | None = None
        self._detail_line: int | None = None
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._generation = 0
        self._last_view = 0.0
        self._t0 = 0.0
        self._sort_cycle = [c.key for c in COLUMNS]

    def compose(self) -> ComposeResult:
        yield Static("", id="dataset-summary")
        yield Static("", id="dataset-notes", classes="-empty")
        yield Input(placeholder='filter (Enter): label:undesirable  score<0.5  banned>0  '
                    'problems>0  shape:messages  decision:reject  "free text"',
                    id="dataset-filter-input")
        with Horizontal(id="dataset-main"):
            yield DatasetTable(self.table, id="dataset-table")
            yield DatasetDetail(id="dataset-detail")
        yield Input(placeholder="note for this row's decision (Enter saves, Escape cancels)",
                    id="dataset-note-input")
        yield Log(id="dataset-bad-lines", max_lines=MAX_BAD_SHOWN)
        yield Static("", id="dataset-status")

    @property
    def grid(self) -> DatasetTable:
        """The row table widget."""
        return self.query_one(DatasetTable)

    def on_mount(self) -> None:
        # The filter box takes focus only through "/": otherwise it would catch the app's
        # digit keys (tab switching) the moment the pane is shown.
        self.query_one("#dataset-filter-input", Input).can_focus = False
        self.grid.focus()
        self.start_load()
        # another dashboard (or a script) may save decisions on this dataset: show them
        self.set_interval(DECISIONS_POLL_S, self.poll_decisions)

    def poll_decisions(self) -> None:
        """Show decisions another writer saved since the last look (a stat of the sidecar;
        it is read again only when it was replaced). Runs every ``DECISIONS_POLL_S``."""
        store = self.store
        if store is not None and not self.loading and store.refresh():
            self.sync_decisions()

    # -- loading ------------------------------------------------------------------------------
    def start_load(self) -> None:
        """(Re)read the data file from the start."""
        self.table = RowTable()
        self.grid.table = self.table
        self.grid.set_view(self.table.view())
        self.bad_lines.clear()
        self._detail_line = None
        self.bad_count = self.stale_count = 0
        self.query_one("#dataset-bad-lines", Log).clear()
        self.loading = True
        self._t0 = time.monotonic()
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._generation += 1
        self._status(f"loading {self.path} …")
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-load")
    def _load(self) -> None:
        worker = get_current_worker()
        self.post_message(self.StoreOpened(open_decisions(self.config, self.path)))
        slots, generation = self._slots, self._generation
        for batch in iter_batches(self.path, self.config, stop=worker.cancelled_event):
            while not slots.acquire(timeout=0.25):  # wait for the UI to catch up
                if worker.is_cancelled:
                    return
            self.post_message(self.BatchLoaded(batch, generation))

    @on(StoreOpened)
    def _store_opened(self, message: StoreOpened) -> None:
        self.store = message.store
        self._update_summary()
        if message.store.damage is not None:
            self.action_recover_decisions()

    # -- a damaged decisions file -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "recover_decisions":
            return self.store is not None and self.store.damage is not None
        return True

    def action_recover_decisions(self) -> None:
        """Offer to start again from the saved copy of a damaged decisions file."""
        store = self.store
        if store is None or store.damage is None:
            return
        self.app.push_screen(
            RecoverDecisions(str(store.path), str(store.bad_copy) if store.bad_copy else None,
                             store.damage, store.recoverable()),
            self._recover_answered)

    def _recover_answered(self, recover: bool | None) -> None:
        if recover:
            self._status(f"recovering the decisions from {self.store.bad_copy} …")
            self._recover()
        else:
            self._status("the decisions file is left as it is: no decision is applied and "
                         "training will not start (D offers to recover it)", error=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-decisions")
    def _recover(self) -> None:
        try:
            kept = self.store.recover()
        except OSError as e:
            self.post_message(self.DecisionsRecovered(0, f"{e.filename or ''}: {e.strerror or e}"))
            return
        self.post_message(self.DecisionsRecovered(kept))

    @on(DecisionsRecovered)
    def _decisions_recovered(self, message: DecisionsRecovered) -> None:
        if message.error:
            self._status(f"cannot recover the decisions: {message.error}", error=True)
            return
        self.sync_decisions()
        self._status(f"started again from the saved copy: {message.kept} decision(s) kept in "
                     f"{self.store.path}")

    @on(BatchLoaded)
    def _batch_loaded(self, message: BatchLoaded) -> None:
        if message.generation != self._generation:
            return  # a batch of a load that was restarted (R) after it was queued
        batch = message.batch
        self._slots.release()
        self.table.extend(batch.records)
        store = self.store
        if store is not None and len(store):
            for r in batch.records:
                d = store.get(r.line)
                if d is None:
                    continue
                if d.content_hash == r.content_hash:
                    self.table.set_decision(r.line, d.decision)
                else:
                    self.stale_count += 1
        self.bad_count += len(batch.bad)
        if batch.bad:
            room = MAX_BAD_SHOWN - len(self.bad_lines)
            shown = batch.bad[:max(0, room)]
            self.bad_lines.extend(shown)
            self.query_one("#dataset-bad-lines", Log).write_lines(str(b) for b in shown)
        self.post_message(RecordsLoaded(batch.records, batch.done, str(self.path)))
        now = time.monotonic()
        if batch.done or now - self._last_view > 0.5 or not (self.filter.predicates
                                                              or self.grid.sort_key):
            self._last_view = now
            self._refresh_view()
        if batch.done:
            self.loading = False
            self.table.seal()
            # all rows are in: count what matches no row, and take in what other writers
            # saved while the file was loading
            if store is not None:
                store.refresh()
            self.stale_count = self.table.apply_decisions(store.all()) if store else 0
            self._status(f"loaded {self.path.name}: {len(self.table):,} rows, "
                         f"{self.bad_count:,} bad lines in {now - self._t0:.1f} s"
                         + (f"; {self.stale_count} stale decision(s) not applied"
                            if self.stale_count else ""))
        else:
            pct = (f"{100 * batch.bytes_read / batch.total_bytes:.0f}% · "
                   if batch.total_bytes else "")
            self._status(f"loading {self.path.name} … {pct}{len(self.table):,} rows · "
                         f"{batch.bytes_read / 1e6:.1f} / {batch.total_bytes / 1e6:.1f} MB")
        self._update_summary()
        if self._pending_open is not None:
            line = self._pending_open
            if self.table.index_of(line) is not None or batch.done or any(
                    b.line == line for b in batch.bad):
                self._pending_open = None
                self.open_line(line)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.loading = False
            err = event.worker.error
            self._status(f"{type(err).__name__}: {err}", error=True)
            if event.worker.group == "dataset-load":
                self.post_message(RecordsLoaded([], True, str(self.path)))

    # -- view ---------------------------------------------------------------------------------
    def _refresh_view(self) -> None:
        grid = self.grid
        view = self.table.view(self.filter, grid.sort_key, grid.descending, self.text_hits)
        grid.set_view(view, keep_line=grid.current_line)

    def _update_summary(self) -> None:
        c = self.table.counts(self.bad_count)
        shown = len(self.grid.view_index)
        text = (f"{c['rows']:,} rows · {c['bad_lines']:,} bad lines · {c['desirable']:,} desirable"
                f" · {c['undesirable']:,} undesirable · {c['flagged']:,} flagged · "
                f"{c['overridden']:,} overridden")
        if c["label_given"]:
            text += f" · {c['label_given']:,} labels given"
        if shown != c["rows"]:
            text += f" · showing {shown:,}"
        self.query_one("#dataset-summary", Static).update(text)
        self._update_notes(c)

    def notes(self, counts: dict[str, int] | None = None) -> list[str]:
        """What the user should know about the data as loaded: a damaged decisions file, an
        empty label class, rows that cannot reach the threshold without reasoning."""
        c = counts or self.table.counts(self.bad_count)
        out = []
        store = self.store
        if store is not None and store.damage is not None:
            out.append(f"⚠ review decisions not applied: {store.path} cannot be read "
                       f"({store.damage}); training will not start. D: start from the saved "
                       "copy")
        scoring = self.config.scoring
        if not self.loading:
            warning = empty_class_warning(c["desirable"], c["undesirable"], scoring,
                                          self.config.training.objective)
            if warning:
                out.append(f"⚠ {warning}")
        n = c["no_reasoning"]
        if n and no_reasoning_note(scoring):
            out.append(f"{n:,} row{'s' if n != 1 else ''} without reasoning (rq 0): at most "
                       f"{best_score(scoring, with_reasoning=False):g} < threshold "
                       f"{scoring.threshold:g}, undesirable unless accepted (Enter: why)")
        return out

    def _update_notes(self, counts: dict[str, int]) -> None:
        notes = self.notes(counts)
        box = self.query_one("#dataset-notes", Static)
        box.update("\n".join(notes))
        box.set_class(not notes, "-empty")
        box.set_class(self.store is not None and self.store.damage is not None, "-error")

    def sync_decisions(self) -> None:
        """Show the store's decisions (others' merged in too) in the table, summary, detail."""
        if self.store is None:
            return
        stale = self.table.apply_decisions(self.store.all())
        if not self.loading:
            self.stale_count = stale
        self.grid.refresh()
        self._update_summary()
        self._render_detail()

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#dataset-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @on(Input.Submitted, "#dataset-filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.apply_filter(event.value)
        self.grid.focus()

    def apply_filter(self, expr: str) -> None:
        """Parse and apply a filter expression (text terms search the file in a worker)."""
        try:
            flt = parse_filter(expr)
        except FilterError as e:
            self._status(str(e), error=True)
            return
        if flt.text:
            self._status(f"searching {self.path.name} for {' '.join(flt.text)!r} …")
            self._search(flt)
            return
        self.filter, self.text_hits = flt, None
        self._refresh_view()
        self._update_summary()
        self._status(f"filter: {expr}" if expr.strip() else "no filter")

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-search")
    def _search(self, flt: Filter) -> None:
        worker = get_current_worker()
        lines = search_lines(self.path, flt.text, stop=worker.cancelled_event)
        self.post_message(self.SearchDone(flt, lines))

    @on(SearchDone)
    def _search_done(self, message: SearchDone) -> None:
        self.filter, self.text_hits = message.flt, message.lines
        self._refresh_view()
        self._update_summary()
        self._status(f"{len(self.grid.view_index):,} rows match")

    @on(DatasetTable.SortRequested)
    def _sort_requested(self, message: DatasetTable.SortRequested) -> None:
        self.sort_by(message.key)

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        """Sort by a store column; the same column again flips the order."""
        grid = self.grid
        if descending is None:
            descending = (not grid.descending) if grid.sort_key == key else False
        grid.sort_key, grid.descending = key, descending
        self._refresh_view()

    def action_cycle_sort(self) -> None:
        keys = self._sort_cycle
        cur = self.grid.sort_key
        nxt = keys[(keys.index(cur) + 1) % len(keys)] if cur in keys else keys[1]
        self.sort_by(nxt, descending=False)
        self._status(f"sorted by {nxt}")

    def action_reverse_sort(self) -> None:
        self.sort_by(self.grid.sort_key or "line", descending=not self.grid.descending)

    def action_focus_filter(self) -> None:
        box = self.query_one("#dataset-filter-input", Input)
        box.can_focus = True
        box.focus()

    @on(Input.Blurred, "#dataset-filter-input")
    def _filter_blurred(self, event: Input.Blurred) -> None:
        event.input.can_focus = False

    def action_toggle_bad_lines(self) -> None:
        self.query_one("#dataset-bad-lines", Log).toggle_class("-open")

    def action_reload(self) -> None:
        self.start_load()

    def action_scroll_detail(self, lines: int) -> None:
        """Scroll the open row detail without moving focus from the table."""
        detail = self.query_one(DatasetDetail)
        # immediate: a held key repeats faster than the screen refreshes, and a deferred
        # scroll would start each repeat from the same place
        detail.scroll_relative(y=lines, animate=False, immediate=True)

    def action_page_detail(self, direction: int) -> None:
        detail = self.query_one(DatasetDetail)
        detail.scroll_relative(y=direction * max(1, detail.scrollable_content_region.height - 1),
                               animate=False, immediate=True)

    # -- detail -------------------------------------------------------------------------------
    @on(DatasetTable.RowSelected)
    def _row_selected(self, message: DatasetTable.RowSelected) -> None:
        self._open_detail(message.line)

    @on(DatasetTable.RowHighlighted)
    def _row_highlighted(self, message: DatasetTable.RowHighlighted) -> None:
        if self.query_one("#dataset-main").has_class("-detail-open"):
            self._open_detail(message.line)

    def open_line(self, line: int) -> None:
        """Select the row of source ``line`` and open its detail (clears a filter that hides
        it; waits for it if the file is still loading)."""
        grid = self.grid
        if self.table.index_of(line) is None:
            bad = next((b for b in self.bad_lines if b.line == line), None)
            if bad is not None:
                self._show_detail_panel()
                self.query_one(DatasetDetail).show_bad(bad)
            elif self.loading:
                self._pending_open = line
            else:
                self._status(f"line {line} is not a valid row of {self.path.name}", error=True)
            return
        if grid.position_of(line) is None:
            self.query_one("#dataset-filter-input", Input).value = ""
            self.filter, self.text_hits = Filter([], []), None
            self._refresh_view()
            self._update_summary()
        pos = grid.position_of(line)
        if pos is not None:
            grid.cursor = pos
        grid.focus()
        self._open_detail(line)

    def _show_detail_panel(self) -> None:
        self.query_one("#dataset-main").add_class("-detail-open")

    def _open_detail(self, line: int) -> None:
        i = self.table.index_of(line)
        if i is None or line == self._detail_line:
            return
        self._detail_line = line
        self._show_detail_panel()
        self._read_detail(line, int(self.table.col("offset")[i]))

    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-detail")
    def _read_detail(self, line: int, offset: int) -> None:
        self.post_message(self.DetailLoaded(read_record(self.path, line, offset, self.config)))

    @on(DetailLoaded)
    def _detail_loaded(self, message: DetailLoaded) -> None:
        item = message.item
        detail = self.query_one(DatasetDetail)
        if isinstance(item, BadLine):
            self.detail_record = None
            detail.show_bad(item)
            return
        self.detail_record = item
        self._render_detail()

    def _render_detail(self) -> None:
        r = self.detail_record
        if r is None:
            return
        s = self.config.scoring
        d = self.store.get(r.line) if self.store else None
        current = d is not None and d.content_hash == r.content_hash
        self.query_one(DatasetDetail).show_record(
            r, (s.w_conversation, s.w_bias, s.w_reasoning), s.threshold,
            decision=d.decision if current else "", note=d.note if current else "",
            stale=d is not None and not current, no_reasoning=no_reasoning_note(s))

    def action_close_detail(self) -> None:
        note = self.query_one("#dataset-note-input", Input)
        if self.query_one("#dataset-filter-input", Input).has_focus:
            pass  # leave the filter box: focus goes back to the table below
        elif note.has_class("-open"):
            note.remove_class("-open")
        else:
            self.query_one("#dataset-main").remove_class("-detail-open")
            self.detail_record = None
            self._detail_line = None
        self.grid.focus()

    @on(Input.Submitted, "#dataset-note-input")
    def _note_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-open")
        self.save_note(event.value)
        self.grid.focus()
