"""The training set: scored rows after review decisions, filters and labels, in TRL's format.

For KTO (conversational): ``{"prompt": [messages before the last answer], "completion":
[the last assistant message], "label": bool}``. For SFT: ``{"messages": [...]}``. Assistant
content carries its reasoning inline, ``<reasoning>...</reasoning>\\n`` + answer, so the model
learns to produce it.

A decisions sidecar that cannot be read stops preparation (``DecisionsDamaged``, naming the
file and its saved ``.bad`` copy): training without it would use rows the user rejected.

What decides a row's fate, in order:
1. a review decision that still matches the row's content: ``reject`` leaves it out,
   ``accept`` keeps it as desirable whatever its score or banned words;
2. ``banned_words.policy = "drop"`` leaves out rows whose answers hold a banned word;
3. ``scoring.min_score`` (when set) leaves out rows scoring below it;
4. KTO keeps both labels; SFT keeps desirable rows only; a row without a prompt cannot be a
   KTO example, a row without an assistant turn is no example at all.
A row's label is its own ``label`` when it carries one (TRL's unpaired-preference format),
else its score's. When every kept row has the same label, ``warnings`` says so and why (and
an ``EmptyLabelClass`` warning is issued).
Nothing is lost: every left-out row goes to ``rejected.jsonl`` with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_core.data.decisions import Decision, DecisionsDamaged, open_decisions
from synapse_core.data.load import iter_rows, resolve_data_path
from synapse_core.data.records import BadLine, Message, Record
from synapse_core.data.scoring import empty_class_warning
from synapse_core.fileio import (atomic_write_json, atomic_write_jsonl, atomic_write_text,
                                 make_temp_dir)


class EmptyLabelClass(UserWarning):
    """Every kept row has the same label (a threshold above the best possible score makes all
    of them undesirable): KTO cannot learn a preference from one class."""


@dataclass
class PreparedDataset:
    """Kept rows (TRL-ready dicts), their metadata, and everything left out, with counts."""

    objective: str
    data_path: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    stale_decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the user should know before training on these rows (an empty label class)."""

    @property
    def counts(self) -> dict[str, int]:
        """rows read, kept, desirable, undesirable, left out, bad lines, overridden, stale."""
        des = sum(1 for m in self.meta if m["label"])
        return {"rows": len(self.meta) + len(self.rejected), "kept": len(self.rows),
                "desirable": des, "undesirable": len(self.rows) - des,
                "rejected": len(self.rejected), "bad_lines": len(self.bad_lines),
                "overridden": sum(1 for m in self.meta if m["decision"])
                + sum(1 for r in self.rejected if r.get("decision")),
                "stale_decisions": len(self.stale_decisions)}


def message_text(m: Message) -> str:
    """An assistant message's training text: the reasoning block inline, then the answer."""
    if m.reasoning is None:
        return m.content
    block = m.reasoning.raw.strip()
    if not block.startswith("<reasoning"):
        block = f"<reasoning>{block}</reasoning>"
    return f"{block}\n{m.content}" if m.content else block


def chat(messages: list[Message]) -> list[dict[str, str]]:
    """Messages as ``{"role", "content"}`` dicts with reasoning inline."""
    return [{"role": m.role, "content": message_text(m)} for m in messages]


def to_example(record: Record, objective: str, label: bool) -> dict[str, Any] | str:
    """The TRL row for ``record``, or the reason it cannot be one."""
    last = max((i for i, m in enumerate(record.messages) if m.role == "assistant"), default=-1)
    if last < 0:
        return "no assistant turn: the row has no answer to train on"
    if objective == "sft":
        return {"messages": chat(record.messages)}
    prompt = record.messages[:last]
    if not any(m.role == "user" for m in prompt):
        return "no user prompt before the answer (KTO needs prompt and completion)"
    return {"prompt": chat(prompt), "completion": chat([record.messages[last]]), "label": label}


def prepare_dataset(config: Any, *, decisions_path: str | Path | None = None,
                    data_path: str | Path | None = None) -> PreparedDataset:
    """Read, score, apply decisions and filters, and build the training rows."""
    path = Path(data_path) if data_path else resolve_data_path(config)
    store = open_decisions(config, path, decisions_path)
    if store.damage is not None:
        raise DecisionsDamaged(store.path, store.bad_copy, store.damage)
    objective = config.training.objective
    out = PreparedDataset(objective=objective, data_path=str(path))
    policy = config.banned_words.policy
    min_score = config.scoring.min_score
    hashes: dict[int, str] = {}
    for item in iter_rows(path, config, with_reasons=True):  # full Records: rows are written
        if isinstance(item, BadLine):
            out.bad_lines.append(item)
            continue
        r = item
        hashes[r.line] = r.content_hash
        dec = store.get(r.line, r.content_hash)
        label = r.label == "desirable"
        reason = ""
        if dec is not None and dec.decision == "reject":
            reason = "rejected in review" + (f": {dec.note}" if dec.note else "")
        elif dec is not None:
            label = True
        elif policy == "drop" and r.banned:
            reason = "banned words: " + ", ".join(sorted({b.word for b in r.banned}))
        elif min_score is not None and r.score < min_score:
            reason = f"score {r.score:.3f} below scoring.min_score {min_score}"
        elif objective == "sft" and not label:
            reason = "undesirable (SFT trains on desirable rows only)"
        example = to_example(r, objective, label) if not reason else reason
        if isinstance(example, str):
            out.rejected.append({"line": r.line, "reason": example, "score": r.score,
                                 "label": r.label, "decision": dec.decision if dec else "",
                                 "row": r.raw})
            continue
        out.rows.append(example)
        out.meta.append({"line": r.line, "score": r.score, "label": label,
                         "auto_label": r.label, "label_source": r.label_source,
                         "decision": dec.decision if dec else "",
                         "note": dec.note if dec else ""})
    out.stale_decisions = store.stale(hashes)
    counts = out.counts
    warning = empty_class_warning(counts["desirable"], counts["undesirable"], config.scoring,
                                  objective)
    if warning:
        out.warnings.append(warning)
        # also as a Python warning, so that whoever routes warnings to the run's log sees it
        warnings.warn(warning, EmptyLabelClass, stacklevel=2)
    return out


def write_prepared(prepared: PreparedDataset, out_dir: str | Path) -> Path:
    """Write ``train.jsonl`` (rows + line/score), ``rejected.jsonl``, ``bad_lines.txt``,
    ``summary.json`` and ``dataset/`` (a ``datasets`` save_to_disk of the training columns).
    Every file is written atomically; the dataset folder is swapped in whole."""
    import datasets  # heavy (pyarrow): only when writing the training set

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(out / "train.jsonl",
                       ({**row, "_line": m["line"], "_score": m["score"]}
                        for row, m in zip(prepared.rows, prepared.meta)))
    atomic_write_jsonl(out / "rejected.jsonl", prepared.rejected)
    atomic_write_text(out / "bad_lines.txt", "".join(f"{b}\n" for b in prepared.bad_lines))
    atomic_write_json(out / "summary.json", {
        "objective": prepared.objective, "data_path": prepared.data_path, **prepared.counts,
        "stale_decisions": [f"line {d.line}: {d.decision} made on other content"
                            for d in prepared.stale_decisions],
        "warnings": prepared.warnings})
    if prepared.rows:
        ds = datasets.Dataset.from_list(prepared.rows)
    else:
        cols = (["prompt", "completion", "label"] if prepared.objective == "kto"
                else ["messages"])
        ds = datasets.Dataset.from_dict({c: [] for c in cols})
    tmp = make_temp_dir(out, ".dataset.")
    try:
        ds.save_to_disk(str(tmp / "d"))
        target = out / "dataset"
        old = None
        if target.exists():
            old = make_temp_dir(out, ".old.") / "d"
            os.replace(target, old)
        os.replace(tmp / "d", target)
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_prepared_rows(out_dir: str | Path) -> list[dict[str, Any]]:
    """The training rows of a written prepared set (``train.jsonl`` without the _ fields)."""
    rows = []
    with open(Path(out_dir) / "train.jsonl", encoding="utf-8") as fh:
        for raw in fh:
            row = json.loads(raw)
            rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    return rows
