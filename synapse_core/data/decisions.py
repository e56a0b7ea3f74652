"""Review decisions: the user's accept/reject (+ note) per row, kept in a sidecar JSON file.

The sidecar lives next to the run config (``<config stem>.decisions.json``), or in
``data_dir()/decisions/<dataset name>.json`` for the demo or when there is no config file,
unless ``data.decisions_path`` says otherwise. It is rewritten atomically on every change.
Each decision is keyed by line *and* the row's content hash: when the data file was edited
and a line now holds another row, that decision is reported as stale and not applied.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from synapse_core.fileio import atomic_write_json
from synapse_core.paths import data_dir

VERSION = 1


@dataclass(frozen=True)
class Decision:
    """One review decision: ``accept`` (train on it, as desirable) or ``reject`` (leave out)."""

    line: int
    decision: str
    content_hash: str
    note: str = ""
    ts: float = 0.0


def decisions_path_for(config: Any, data_path: str | Path) -> Path:
    """Where the sidecar for this config and dataset lives (see the module doc)."""
    if config.data.decisions_path:
        return config.resolve_path(config.data.decisions_path)
    if config.source and config.data.path:
        src = Path(config.source)
        return src.with_name(f"{src.stem}.decisions.json")
    stem = re.sub(r"[^\w.-]+", "_", Path(data_path).stem) or "dataset"
    return data_dir() / "decisions" / f"{stem}.json"


class DecisionStore:
    """The decisions of one dataset, loaded from and saved to a sidecar (thread-safe)."""

    def __init__(self, path: str | Path, data_path: str | Path = "") -> None:
        self.path = Path(path)
        self.data_path = str(data_path)
        self._lock = threading.Lock()
        self._by_line: dict[int, Decision] = {}
        self.load_errors: list[str] = []
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            self.load_errors.append(f"{self.path}: cannot read decisions ({e}); starting empty "
                                    "and keeping the old file as .bad")
            self.path.replace(self.path.with_suffix(self.path.suffix + ".bad"))
            return
        for i, d in enumerate(doc.get("decisions", [])):
            try:
                dec = Decision(int(d["line"]), str(d["decision"]), str(d["content_hash"]),
                               str(d.get("note", "")), float(d.get("ts", 0.0)))
            except (KeyError, TypeError, ValueError) as e:
                self.load_errors.append(f"{self.path}: decisions[{i}]: {e!r}; skipped")
                continue
            if dec.decision not in ("accept", "reject"):
                self.load_errors.append(f"{self.path}: decisions[{i}].decision: "
                                        f"{dec.decision!r} is not accept or reject; skipped")
                continue
            self._by_line[dec.line] = dec

    def _save(self) -> None:
        doc = {"version": VERSION, "data_path": self.data_path,
               "decisions": [asdict(d) for d in sorted(self._by_line.values(),
                                                       key=lambda d: d.line)]}
        atomic_write_json(self.path, doc)

    def __len__(self) -> int:
        return len(self._by_line)

    def all(self) -> list[Decision]:
        """Every stored decision, by line."""
        with self._lock:
            return sorted(self._by_line.values(), key=lambda d: d.line)

    def set(self, line: int, decision: str, content_hash: str, note: str = "") -> Decision:
        """Store (and save) ``accept``/``reject`` for a row; ``note`` kept with it."""
        if decision not in ("accept", "reject"):
            raise ValueError(f"decision must be accept or reject, got {decision!r}")
        dec = Decision(line, decision, content_hash, note, time.time())
        with self._lock:
            self._by_line[line] = dec
            self._save()
        return dec

    def set_note(self, line: int, note: str) -> Decision | None:
        """Change the note of an existing decision (None when the row has none)."""
        with self._lock:
            old = self._by_line.get(line)
            if old is None:
                return None
            dec = Decision(line, old.decision, old.content_hash, note, time.time())
            self._by_line[line] = dec
            self._save()
        return dec

    def clear(self, line: int) -> None:
        """Forget the decision of a row (back to the automatic label)."""
        with self._lock:
            if self._by_line.pop(line, None) is not None:
                self._save()

    def get(self, line: int, content_hash: str | None = None) -> Decision | None:
        """The decision for ``line``; with ``content_hash``, only if it still matches."""
        d = self._by_line.get(line)
        if d is None or (content_hash is not None and d.content_hash != content_hash):
            return None
        return d

    def is_stale(self, line: int, content_hash: str) -> bool:
        """True when a decision exists for ``line`` but was made on other content."""
        d = self._by_line.get(line)
        return d is not None and d.content_hash != content_hash

    def stale(self, hashes: dict[int, str]) -> list[Decision]:
        """Decisions whose line now holds other content (or no valid row at all)."""
        return [d for d in self.all() if hashes.get(d.line) != d.content_hash]


def open_decisions(config: Any, data_path: str | Path, path: str | Path | None = None
                   ) -> DecisionStore:
    """The store for this config and dataset (``path`` overrides the default location)."""
    return DecisionStore(path or decisions_path_for(config, data_path), data_path)
