"""Review decisions: the user's accept/reject (+ note) per row, kept in a sidecar JSON file.

The sidecar lives next to the run config (``<config stem>.decisions.json``), or in
``data_dir()/decisions/<dataset name>.json`` for the demo or when there is no config file,
unless ``data.decisions_path`` says otherwise. Each decision is keyed by line *and* the row's
content hash: when the data file was edited and a line now holds another row, that decision is
reported as stale and not applied.

**Decisions are merged, never overwritten.** Every change takes an exclusive lock on a lock
file beside the sidecar (``.<name>.lock``), re-reads the sidecar, applies only that change and
writes the result atomically. Two dashboards (or a dashboard and a script) on one dataset
therefore keep each other's decisions. A lock with re-read-merge-write was chosen over an
append-only journal because the sidecar stays one small, readable JSON object (the format users
and tools already have, with no journal to compact or replay), a reader never sees a
half-written file (atomic rename), and a human's few decisions a minute make the O(decisions)
rewrite (milliseconds for thousands) irrelevant. The lock is advisory ``flock``: it holds
between processes of one machine (and on NFS where the server supports locks).

**A damaged sidecar is never ignored.** A file that is not JSON, not an object, or holds an
entry that cannot be read makes the store *damaged*: a copy is kept as ``<name>.bad``, no
decision from it is applied, changes are refused (``DecisionsDamaged``), and training
preparation stops with an error naming both files, so no row the user rejected is trained on
silently. ``recover()`` starts again from what the saved copy still holds (every complete
entry, even of a file cut in half).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from synapse_core.fileio import atomic_write_text
from synapse_core.paths import data_dir

try:  # POSIX; elsewhere the lock is the in-process one only (said in DecisionStore's doc)
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we run on
    fcntl = None  # type: ignore[assignment]

VERSION = 1
CHOICES = ("accept", "reject")


@dataclass(frozen=True)
class Decision:
    """One review decision: ``accept`` (train on it, as desirable) or ``reject`` (leave out)."""

    line: int
    decision: str
    content_hash: str
    note: str = ""
    ts: float = 0.0


class DecisionsDamaged(ValueError):
    """The decisions sidecar cannot be read; ``path`` is the file, ``bad_copy`` its saved copy
    and ``reason`` what is wrong. Raised by changes to a damaged store and by training
    preparation, which must not train on rows the user rejected."""

    def __init__(self, path: Path, bad_copy: Path | None, reason: str) -> None:
        self.path, self.bad_copy, self.reason = path, bad_copy, reason
        kept = f"; a copy is kept as {bad_copy}" if bad_copy else ""
        super().__init__(
            f"{path}: the review decisions cannot be read ({reason}){kept}. Training stops here "
            "so that no row you rejected is trained on: open the Dataset tab to start again "
            "from the decisions the saved copy still holds, repair the file, or delete it to "
            "train without review decisions.")


def decisions_path_for(config: Any, data_path: str | Path) -> Path:
    """Where the sidecar for this config and dataset lives (see the module doc)."""
    if config.data.decisions_path:
        return config.resolve_path(config.data.decisions_path)
    if config.source and config.data.path:
        src = Path(config.source)
        return src.with_name(f"{src.stem}.decisions.json")
    stem = re.sub(r"[^\w.-]+", "_", Path(data_path).stem) or "dataset"
    return data_dir() / "decisions" / f"{stem}.json"


def _entry(d: Any, i: int) -> Decision:
    """One ``decisions[i]`` entry (raises ValueError saying what is wrong)."""
    if not isinstance(d, dict):
        raise ValueError(f"decisions[{i}]: expected an object, got {type(d).__name__}")
    try:
        dec = Decision(int(d["line"]), str(d["decision"]), str(d["content_hash"]),
                       str(d.get("note", "")), float(d.get("ts", 0.0)))
    except KeyError as e:
        raise ValueError(f"decisions[{i}].{e.args[0]}: missing") from None
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"decisions[{i}]: {e}") from None
    if dec.decision not in CHOICES:
        raise ValueError(f"decisions[{i}].decision: {dec.decision!r} is not accept or reject")
    return dec


def parse_decisions(text: str) -> tuple[dict[int, Decision], list[str]]:
    """The decisions of a sidecar's text and what could not be read (empty when sound)."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        return {}, [f"not valid JSON: {e}"]
    if not isinstance(doc, dict):
        return {}, [f"expected a JSON object with a \"decisions\" list, got {type(doc).__name__}"]
    items = doc.get("decisions", [])
    if not isinstance(items, list):
        return {}, [f"decisions: expected a list, got {type(items).__name__}"]
    out: dict[int, Decision] = {}
    errors: list[str] = []
    for i, d in enumerate(items):
        try:
            dec = _entry(d, i)
        except ValueError as e:
            errors.append(str(e))
            continue
        out[dec.line] = dec
    return out, errors


def salvage_decisions(text: str) -> dict[int, Decision]:
    """Every complete, valid entry of a damaged sidecar's text: the entries of a file cut in
    half up to the cut, the good entries of a file with bad ones, a bare list of entries.
    Linear: each entry is decoded once, where it starts."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        doc = None
    else:
        items = doc.get("decisions") if isinstance(doc, dict) else doc
        out: dict[int, Decision] = {}
        for i, d in enumerate(items if isinstance(items, list) else []):
            try:
                dec = _entry(d, i)
            except ValueError:
                continue
            out[dec.line] = dec
        return out
    # cut or garbled JSON: decode the entries one by one after "decisions": [ until one fails
    m = re.search(r'"decisions"\s*:\s*\[', text)
    if m is None:
        return {}
    decoder = json.JSONDecoder()
    out = {}
    pos, i, n = m.end(), 0, len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] != "{":
            break
        try:
            d, pos = decoder.raw_decode(text, pos)
            dec = _entry(d, i)
        except (json.JSONDecodeError, RecursionError):
            break
        except ValueError:
            i += 1
            continue
        out[dec.line] = dec
        i += 1
    return out


def _render(decisions: dict[int, Decision], data_path: str) -> str:
    # one entry a line: small, and a diff of two versions shows the decisions that changed
    head = json.dumps({"version": VERSION, "data_path": data_path}, ensure_ascii=False)[:-1]
    rows = ",\n  ".join(json.dumps({"line": d.line, "decision": d.decision,
                                    "content_hash": d.content_hash, "note": d.note,
                                    "ts": d.ts}, ensure_ascii=False)
                        for d in sorted(decisions.values(), key=lambda d: d.line))
    return f'{head}, "decisions": [\n  {rows}\n]}}\n' if rows else f'{head}, "decisions": []}}\n'


class DecisionStore:
    """The decisions of one dataset, loaded from and merged into a sidecar (thread- and
    process-safe; see the module doc). ``damage`` is None when the sidecar was read whole,
    else what is wrong with it (``bad_copy`` is then its saved copy)."""

    def __init__(self, path: str | Path, data_path: str | Path = "") -> None:
        self.path = Path(path)
        self.data_path = str(data_path)
        self._lock = threading.Lock()
        self._by_line: dict[int, Decision] = {}
        self._stamp: tuple[int, int, int] | None = None
        self.damage: str | None = None
        """What is wrong with the sidecar (None when it was read whole)."""
        self.bad_copy: Path | None = None
        """The saved copy of a damaged sidecar."""
        self.load_errors: list[str] = []
        """The damage as messages that name the file (empty when it was read whole)."""
        with self._lock:
            self._reload()

    # -- reading ------------------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload(self) -> bool:
        """Read the sidecar again when it changed on disk (True when it did). Every write is
        a rename, so a new inode or mtime means another writer."""
        stamp = self._file_stamp()
        if stamp is not None and stamp == self._stamp:
            return False
        self._stamp = stamp
        if stamp is None:
            changed = bool(self._by_line) or self.damage is not None
            self._by_line, self.damage, self.load_errors = {}, None, []
            return changed
        try:
            text = self.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            by_line, errors = {}, [f"not UTF-8: {e}"]
        except OSError as e:
            by_line, errors = {}, [f"cannot read it: {e.strerror or e}"]
        else:
            by_line, errors = parse_decisions(text)
        if errors:
            self._set_damaged("; ".join(errors[:3]) + (f"; and {len(errors) - 3} more"
                                                       if len(errors) > 3 else ""))
        else:
            self._by_line, self.damage, self.bad_copy, self.load_errors = by_line, None, None, []
        return True

    def _set_damaged(self, reason: str) -> None:
        self._by_line = {}
        self.damage = reason
        self.bad_copy = self._keep_copy()
        kept = f"; a copy is kept as {self.bad_copy}" if self.bad_copy else ""
        self.load_errors = [f"{self.path}: the review decisions cannot be read ({reason}){kept}; "
                            "none of them is applied until you recover or repair the file"]

    def _keep_copy(self) -> Path | None:
        """Copy the damaged sidecar to ``<name>.bad`` (``.bad.2``, … when an earlier, other
        copy is there); the copy that already holds these bytes is reused."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        for n in range(1, 1000):
            bad = self.path.with_name(self.path.name + (".bad" if n == 1 else f".bad.{n}"))
            try:
                if bad.read_bytes() == data:
                    return bad
                continue
            except FileNotFoundError:
                pass
            except OSError:
                continue
            try:
                shutil.copy2(self.path, bad)
            except OSError:
                return None
            return bad
        return None

    def refresh(self) -> bool:
        """Take in what other writers saved since the last read; True when anything changed."""
        with self._lock:
            return self._reload()

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        lock = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # (closing releases the lock)

    @contextmanager
    def _change(self) -> Iterator[dict[int, Decision]]:
        """Lock, take in the sidecar as it is now, let the caller change it, write it back."""
        with self._lock, self._file_lock():
            self._reload()
            if self.damage is not None:
                raise DecisionsDamaged(self.path, self.bad_copy, self.damage)
            merged = dict(self._by_line)
            yield merged
            if merged != self._by_line:
                atomic_write_text(self.path, _render(merged, self.data_path))
                self._by_line = merged
                self._stamp = self._file_stamp()

    def recoverable(self) -> int:
        """How many decisions ``recover`` would keep (0 when the store is not damaged)."""
        if self.damage is None:
            return 0
        try:
            text = (self.bad_copy or self.path).read_bytes().decode("utf-8", "replace")
        except OSError:
            return 0
        return len(salvage_decisions(text))

    def recover(self) -> int:
        """Start again from the saved copy of a damaged sidecar: keep every decision it still
        holds (see ``salvage_decisions``), write them as the sidecar and clear the damage.
        Returns the number kept. The damaged bytes stay in ``bad_copy``."""
        with self._lock, self._file_lock():
            self._stamp = None
            self._reload()
            if self.damage is None:  # repaired (or removed) meanwhile: nothing to recover
                return len(self._by_line)
            source = self.bad_copy or self.path
            try:
                text = source.read_bytes().decode("utf-8", "replace")
            except OSError:
                text = ""
            kept = salvage_decisions(text)
            atomic_write_text(self.path, _render(kept, self.data_path))
            self._by_line, self.damage, self.load_errors = kept, None, []
            self._stamp = self._file_stamp()
            return len(kept)

    def __len__(self) -> int:
        return len(self._by_line)

    def all(self) -> list[Decision]:
        """Every stored decision, by line."""
        with self._lock:
            return sorted(self._by_line.values(), key=lambda d: d.line)

    def set(self, line: int, decision: str, content_hash: str, note: str = "") -> Decision:
        """Store ``accept``/``reject`` for a row (``note`` kept with it), merged into the
        sidecar. Raises DecisionsDamaged when the sidecar cannot be read."""
        if decision not in CHOICES:
            raise ValueError(f"decision must be accept or reject, got {decision!r}")
        dec = Decision(line, decision, content_hash, note, time.time())
        with self._change() as merged:
            merged[line] = dec
        return dec

    def set_note(self, line: int, note: str) -> Decision | None:
        """Change the note of an existing decision (None when the row has none)."""
        with self._change() as merged:
            old = merged.get(line)
            if old is None:
                return None
            dec = Decision(line, old.decision, old.content_hash, note, time.time())
            merged[line] = dec
        return dec

    def clear(self, line: int) -> None:
        """Forget the decision of a row (back to the automatic label)."""
        with self._change() as merged:
            merged.pop(line, None)

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
