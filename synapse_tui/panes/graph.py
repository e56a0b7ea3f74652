"""The knowledge-graph pane: browse the entities of the dataset's ``<kg>`` triplets.

Left: a search box and the entity list (sorted by degree, PageRank or name). Right: the
selected entity's neighbourhood drawn as an ego graph (depth 1 or 2), its predicates and the
samples that state its triplets; choosing a sample posts ``OpenSample(line)`` so the app opens
it in the dataset browser. A health line sums up coverage, concentration and contradictions.

The app feeds records with ``add_records(records, done)`` while a dataset loads. They are
queued and added to the ``KnowledgeGraph`` by one worker thread; every query (search, top
lists, the ego graph, health) runs in its own exclusive worker under the graph's lock, so the
UI thread never walks the graph and never waits for it.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import Any

from synapse_tui.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from synapse_core.config import RunConfig
from synapse_core.graph.build import KnowledgeGraph
from synapse_core.graph.ego import EntityDetail, entity_detail
from synapse_core.graph.health import GraphHealth, health
from synapse_core.graph.queries import (
    degrees, pagerank, search, top_by_degree, top_by_pagerank,
)
from synapse_tui.messages import OpenSample
from synapse_tui.widgets.graph_ego import EgoGraph
from synapse_tui.widgets.graph_text import (
    contradiction_options, health_markup, predicates_markup, title_markup,
)

SORTS = ("degree", "pagerank", "name")
LIST_LIMIT = 300
"""Entities listed at once (the list is a window on the graph, never all 100k nodes)."""
SAMPLE_LIMIT = 500
"""Sample rows listed for one entity; the count of the rest is shown."""
REFRESH_S = 1.0
"""While loading, the entity list refreshes at most this often (the counts every 0.1 s)."""
COMPACT_BELOW = 26
"""Pane heights (rows) below which the entity title and the details take fewer rows."""
SEARCH_DEBOUNCE_S = 0.15
"""A search starts once typing has paused this long (or at once on enter)."""


class GraphPane(Vertical):
    """Entity list with search and sort, ego graph, predicates, samples and health."""

    DEFAULT_CSS = """
    GraphPane { height: 1fr; }
    GraphPane #graph-status { height: 1; padding: 0 1; color: $text-muted; }
    GraphPane #graph-health { height: auto; max-height: 2; padding: 0 1; }
    GraphPane #graph-health.-warn { color: $warning; }
    GraphPane #graph-left { width: 30%; min-width: 20; max-width: 36; }
    GraphPane #graph-search-bar { dock: top; height: auto; }
    GraphPane #graph-sort { height: 1; padding: 0 1; color: $text-muted; }
    GraphPane #graph-entities { height: 1fr; border: round $panel; }
    GraphPane #graph-right { width: 1fr; }
    GraphPane #graph-title { height: auto; max-height: 2; padding: 0 1; }
    GraphPane #graph-ego { height: 1fr; min-height: 5; border: round $panel; }
    GraphPane #graph-detail { height: 8; }
    GraphPane #graph-predicates {
        width: 1fr; height: 1fr; border: round $panel; padding: 0 1;
    }
    GraphPane #graph-samples { width: 2fr; height: 1fr; border: round $panel; }
    GraphPane.-compact #graph-title { max-height: 1; }
    GraphPane.-compact #graph-detail { height: 6; }
    """

    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="graph-search",
                tooltip="Search entities by name (substring, alias or fuzzy match)"),
        Binding("s", "cycle_sort", "Sort", id="graph-sort",
                tooltip="Sort the entity list by degree, PageRank or name"),
        Binding("d", "toggle_depth", "Depth 1/2", id="graph-depth",
                tooltip="Show the neighbourhood to depth 1 or 2"),
        Binding("n", "focus_samples", "Samples", id="graph-samples",
                tooltip="Move to the list of samples stating the entity's triplets"),
        Binding("c", "show_contradictions", "Contradictions", id="graph-contradictions",
                tooltip="List the contradictory triplets in the sample list (enter opens one)"),
    ]

    sort: reactive[str] = reactive("degree")
    """How the entity list is ordered when the search box is empty."""
    depth: reactive[int] = reactive(1)
    """Ego-graph depth: 1 (direct neighbours) or 2 (their next hop too)."""
    selected: reactive[str | None] = reactive(None)
    """Key of the entity shown on the right."""

    @dataclass
    class Progressed(Message):
        """The build worker added a batch (counts so far; ``done`` after the last one)."""

        pane: GraphPane
        """The pane whose graph grew (``control``, so ``@on(Progressed, "#id")`` works)."""
        rows: int
        nodes: int
        edges: int
        done: bool

        @property
        def control(self) -> GraphPane:
            """The pane whose graph grew."""
            return self.pane

    def __init__(self, config: RunConfig, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.config = config
        self.graph = KnowledgeGraph()
        self._queue: queue.Queue[tuple[list[Any], bool]] = queue.Queue()
        self._building = False
        self._completed = False
        self._last_refresh = 0.0
        self._search_timer: Timer | None = None
        self.health: GraphHealth | None = None

    def compose(self) -> ComposeResult:
        """Status and health lines over the entity list and the entity's details."""
        yield Static("No dataset loaded yet.", id="graph-status")
        yield Static("", id="graph-health")
        with Horizontal(id="graph-body"):
            with Vertical(id="graph-left"):
                # the list comes first in the DOM so showing the tab focuses it (keys work at
                # once); the search bar is docked above it
                yield OptionList(id="graph-entities")
                with Vertical(id="graph-search-bar"):
                    yield Input(placeholder="search entities  (/)", id="graph-search-box")
                    yield Static("", id="graph-sort")
            with Vertical(id="graph-right"):
                yield Static("", id="graph-title")
                yield EgoGraph(id="graph-ego")
                with Horizontal(id="graph-detail"):
                    yield Static("", id="graph-predicates")
                    yield OptionList(id="graph-samples")

    def on_mount(self) -> None:
        """Label the panels."""
        self.query_one("#graph-entities").border_title = "Entities"
        self.query_one("#graph-ego").border_title = "Neighbourhood"
        self.query_one("#graph-predicates").border_title = "Predicates"
        self.query_one("#graph-samples").border_title = "Samples (enter opens)"
        self._show_sort()

    def on_resize(self) -> None:
        """Short terminals (an 80x24 SSH session) give the drawing more of the height; the
        health line is reworded to fit the width."""
        self.set_class(self.size.height < COMPACT_BELOW, "-compact")
        if self.health is not None:
            self._show_health(self.health)

    # ------------------------------------------------------------------ feeding

    def add_records(self, records: list[Any], done: bool) -> None:
        """Queue a batch of dataset records; the graph grows in a worker. A batch arriving
        after the last one of a load starts a new graph (a new dataset is loading)."""
        if self._completed:
            self._completed = False
            self._reset()
        self._queue.put((list(records), done))
        if not self._building:
            self._building = True
            self._build()

    def _reset(self) -> None:
        self.graph.clear()
        self.health = None
        self.selected = None
        self.query_one(EgoGraph).view = None
        self.query_one("#graph-entities", OptionList).clear_options()
        self.query_one("#graph-samples", OptionList).clear_options()
        self.query_one("#graph-health", Static).update("")

    @work(thread=True, exclusive=False, exit_on_error=False, group="graph-build")
    def _build(self) -> None:
        """Drain the queue into the graph until the last batch of the load."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        kg = self.graph
        last_post = 0.0
        while not worker.is_cancelled:
            try:
                records, done = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue  # wake up to notice cancellation; batches come when the loader has them
            kg.add_records(records)
            now = time.monotonic()
            if done or now - last_post >= 0.1:
                last_post = now
                self.post_message(self.Progressed(self, kg.rows, kg.nodes, kg.edges, done))
            if done:
                break

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        state = "built" if message.done else "building…"
        self.query_one("#graph-status", Static).update(
            f"Knowledge graph {state} {message.rows:,} rows · {message.nodes:,} entities · "
            f"{message.edges:,} edges")
        if message.done:
            self._building = False
            self._completed = True
            self._compute_health()
        now = time.monotonic()
        # while loading, skip a refresh if the previous one is still running
        if message.done or (now - self._last_refresh >= REFRESH_S and not self._list_busy()):
            self._last_refresh = now
            self._refresh_list()

    # ------------------------------------------------------------------ entity list

    def _show_sort(self) -> None:
        self.query_one("#graph-sort", Static).update(
            f"sort [b]{self.sort}[/b] · depth {self.depth}")

    def watch_sort(self) -> None:
        """Re-list entities in the new order."""
        if self.is_mounted:
            self._show_sort()
            self._refresh_list()

    def watch_depth(self) -> None:
        """Redraw the selected entity at the new depth."""
        if self.is_mounted:
            self._show_sort()
            if self.selected:
                self._load_entity(self.selected, self.depth)

    def action_cycle_sort(self) -> None:
        """Next sort order."""
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]

    def action_toggle_depth(self) -> None:
        """Depth 1 <-> 2."""
        self.depth = 2 if self.depth == 1 else 1

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#graph-search-box", Input).focus()

    def action_focus_samples(self) -> None:
        """Put the cursor in the sample list, on its first sample."""
        samples = self.query_one("#graph-samples", OptionList)
        samples.focus()
        if samples.highlighted is None and samples.option_count:
            samples.highlighted = 0

    @on(Input.Changed, "#graph-search-box")
    def _search_changed(self) -> None:
        # a search thread cannot be interrupted: wait for a pause in typing before starting one
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, self._refresh_list)

    @on(Input.Submitted, "#graph-search-box")
    def _search_submitted(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self._refresh_list(focus_list=True)

    def _list_busy(self) -> bool:
        return any(w.group == "graph-list" and w.node is self and not w.is_finished
                   for w in self.app.workers)

    def _refresh_list(self, focus_list: bool = False) -> None:
        self._list_entities(self.query_one("#graph-search-box", Input).value, self.sort,
                            focus_list)

    @work(thread=True, exclusive=True, exit_on_error=False, group="graph-list")
    def _list_entities(self, query: str, sort: str, focus_list: bool = False) -> None:
        """Search results, or the top entities in ``sort`` order."""
        from textual.worker import get_current_worker

        kg = self.graph
        if query.strip():
            rows = [(h.key, h.name, f"{h.degree}" + ("~" if h.match == "fuzzy" else ""))
                    for h in search(kg, query, limit=LIST_LIMIT)]
        elif sort == "pagerank":
            rows = [(k, kg.display(k), f"{r * 100:.2f}") for k, r in top_by_pagerank(kg, LIST_LIMIT)]
        elif sort == "name":
            with kg.lock:
                deg = degrees(kg)
                names = sorted((kg.display(k).casefold(), k) for k in kg.graph)[:LIST_LIMIT]
                rows = [(k, kg.display(k), str(deg[k])) for _, k in names]
        else:
            rows = [(k, kg.display(k), str(d)) for k, d in top_by_degree(kg, LIST_LIMIT)]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._fill_entities, rows, focus_list)

    def _fill_entities(self, rows: list[tuple[str, str, str]], focus_list: bool = False) -> None:
        entities = self.query_one("#graph-entities", OptionList)
        keep = entities.highlighted_option.id if entities.highlighted_option else None
        entities.clear_options()
        entities.add_options(
            Option(f"{escape(name)} [dim]{figure}[/dim]", id=key) for key, name, figure in rows)
        if keep is not None:
            for i, (key, _, _) in enumerate(rows):
                if key == keep:
                    entities.highlighted = i
                    break
        entities.border_subtitle = f"{len(rows)} shown of {self.graph.nodes:,}"
        if focus_list:
            entities.focus()
            if rows:
                entities.highlighted = 0

    @on(OptionList.OptionHighlighted, "#graph-entities")
    @on(OptionList.OptionSelected, "#graph-entities")
    def _entity_chosen(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key and key != self.selected:
            self.selected = key
            self._load_entity(key, self.depth)

    def select_entity(self, name: str) -> None:
        """Show ``name`` (as typed, or a node key) on the right."""
        self.selected = name
        self._load_entity(name, self.depth)

    # ------------------------------------------------------------------ the selected entity

    @work(thread=True, exclusive=True, exit_on_error=False, group="graph-entity")
    def _load_entity(self, key: str, depth: int) -> None:
        """Gather everything the right-hand side shows for one entity."""
        from textual.worker import get_current_worker

        detail = entity_detail(self.graph, key, depth, SAMPLE_LIMIT)
        if detail is None:
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_entity, detail)

    def _show_entity(self, d: EntityDetail) -> None:
        self.query_one("#graph-title", Static).update(title_markup(
            d.view.name, d.degree, d.pagerank, len(d.samples) + d.more_samples, d.aliases))
        self.query_one(EgoGraph).view = d.view
        self.query_one("#graph-ego").border_title = f"Neighbourhood (depth {d.view.depth})"
        self.query_one("#graph-predicates", Static).update(predicates_markup(d.predicates))
        samples = self.query_one("#graph-samples", OptionList)
        samples.clear_options()
        samples.border_title = "Samples (enter opens)"
        samples.add_options(Option(f"line {ln}: {escape(text)}", id=str(ln))
                            for ln, text in d.samples)
        if d.more_samples:
            samples.add_option(Option(f"[dim]+{d.more_samples} more[/dim]", disabled=True))
        samples.border_subtitle = f"{len(d.samples) + d.more_samples}"

    def action_show_contradictions(self) -> None:
        """Fill the sample list with both sides of every contradiction found."""
        samples = self.query_one("#graph-samples", OptionList)
        if self.health is None:
            self.notify("The contradiction check runs when the dataset has loaded.")
            return
        samples.clear_options()
        samples.add_options(Option(prompt, id=oid) for oid, prompt in
                            contradiction_options(self.health.contradictions, SAMPLE_LIMIT // 2))
        if not self.health.contradictions:
            samples.add_option(Option("[dim]no contradictions found[/dim]", disabled=True))
        samples.border_title = "Contradictions (enter opens)"
        samples.border_subtitle = f"{len(self.health.contradictions)}"
        self.action_focus_samples()

    @on(OptionList.OptionSelected, "#graph-samples")
    def _sample_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.post_message(OpenSample(int(event.option.id.split(":")[0])))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker is reported, never swallowed; a failed build can be retried."""
        worker = event.worker
        if not (worker.group or "").startswith("graph-") or worker.node is not self:
            return
        if event.state == WorkerState.ERROR:
            if worker.group == "graph-build":
                self._building = False
                self._completed = True  # the next batch starts a fresh graph
                self._queue = queue.Queue()
            self.query_one("#graph-status", Static).update(
                f"[b]Knowledge graph error[/b] ({worker.group}): {escape(str(worker.error))}")
            self.notify(f"Knowledge graph: {worker.error}", severity="error")
        elif event.state == WorkerState.CANCELLED and worker.group == "graph-build":
            self._building = False

    # ------------------------------------------------------------------ health

    @work(thread=True, exclusive=True, exit_on_error=False, group="graph-health")
    def _compute_health(self) -> None:
        """Health figures (and PageRank, so the PageRank sort is instant afterwards)."""
        h = health(self.graph)
        pagerank(self.graph)
        self.app.call_from_thread(self._show_health, h)

    def _show_health(self, h: GraphHealth) -> None:
        self.health = h
        widget = self.query_one("#graph-health", Static)
        # the Static's padding takes a cell on each side; it may hold 2 lines (max-height)
        widget.update(health_markup(h, width=self.size.width - 2, lines=2))
        widget.set_class(bool(h.contradictions or h.rows_without_kg), "-warn")
