"""Accept / reject / note actions of the dataset pane (kept apart so the pane stays small).

The pane provides ``grid``, ``table``, ``store``, ``detail_record``, ``sync_decisions``,
``_status`` and ``action_recover_decisions``; every decision is merged into the sidecar at
once by the core ``DecisionStore`` (so another dashboard's decisions show up here too).
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from synapse_core.data.decisions import DecisionsDamaged


class ReviewMixin:
    """The review actions, mixed into ``DatasetPane``."""

    grid: Any
    table: Any
    store: Any
    detail_record: Any

    def _current(self) -> tuple[int, str] | None:
        """(line, content hash) of the highlighted row, or None."""
        line = self.grid.current_line
        if line is None or self.store is None:
            return None
        i = self.table.index_of(line)
        return line, f"{int(self.table.col('hash')[i]):016x}"

    def _write(self, change: Any) -> bool:
        """Run a store change; a damaged or unwritable sidecar is said, never raised."""
        try:
            change()
        except DecisionsDamaged:
            self._status("the decisions file cannot be read: nothing was saved "  # type: ignore[attr-defined]
                         "(D: start from its saved copy)", error=True)
            self.action_recover_decisions()  # type: ignore[attr-defined]
            return False
        except OSError as e:
            self._status(f"cannot save the decision: {e.filename or self.store.path}: "  # type: ignore[attr-defined]
                         f"{e.strerror or e}", error=True)
            return False
        return True

    def action_decide(self, decision: str) -> None:
        """Accept or reject the highlighted row (keeps an existing note)."""
        cur = self._current()
        if cur is None:
            return
        line, h = cur
        old = self.store.get(line, h)
        if self._write(lambda: self.store.set(line, decision, h, old.note if old else "")):
            self._after_decision(line, decision)

    def action_clear_decision(self) -> None:
        """Forget the highlighted row's decision."""
        cur = self._current()
        if cur is None:
            return
        if self._write(lambda: self.store.clear(cur[0])):
            self._after_decision(cur[0], "none")

    def _after_decision(self, line: int, decision: str) -> None:
        self.sync_decisions()  # type: ignore[attr-defined]
        self._status(f"line {line}: {decision if decision != 'none' else 'decision cleared'} "  # type: ignore[attr-defined]
                     f"(saved to {self.store.path})")

    def action_edit_note(self) -> None:
        """Open the note box for the highlighted row's decision."""
        cur = self._current()
        if cur is None:
            return
        d = self.store.get(*cur)
        if d is None:
            self._status("accept (a) or reject (r) the row first, then add a note",  # type: ignore[attr-defined]
                         error=True)
            return
        box = self.query_one("#dataset-note-input", Input)  # type: ignore[attr-defined]
        box.value = d.note
        box.add_class("-open")
        box.focus()

    def save_note(self, note: str) -> None:
        """Store ``note`` on the highlighted row's decision."""
        cur = self._current()
        if cur is None or self.store is None or self.store.get(cur[0]) is None:
            return
        if self._write(lambda: self.store.set_note(cur[0], note)):
            d = self.store.get(cur[0])
            self._after_decision(cur[0], d.decision if d else "none")
