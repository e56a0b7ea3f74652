"""``synapse score DATA [--config run.toml] --out scored.jsonl [--json]``.

Writes one output row per valid input row; bad lines go to stderr as ``FILE:LINE: reason``;
``--json`` prints a summary object to stdout. Exit 0 when the file was read (even with bad
lines), 1 when it could not be read at all, 2 for a config error or an ``--out`` that is the
input itself (the same file, a hard link or a symlink to it) without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterator


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synapse score``."""
    p = sub.add_parser("score", help="score and label a dataset (JSONL or saved datasets folder)",
                       description="Parse, score and label every row; bad lines go to stderr "
                                   "as FILE:LINE: reason.")
    p.add_argument("data", help="JSONL file or saved `datasets` folder")
    p.add_argument("--config", help="run config TOML (weights, threshold, banned words)")
    p.add_argument("--out", help="write one scored row per valid input row here (JSONL)")
    p.add_argument("--force", action="store_true",
                   help="allow --out to name the input file itself (replacing the dataset)")
    p.add_argument("--json", action="store_true", help="print a summary object to stdout")
    p.set_defaults(func=_run)


def scored_row(r: Any, scoring: Any = None) -> dict[str, Any]:
    """The output row of ``synapse score`` for one Record. ``label`` is the row's own when it
    carries one (``label_source`` "given"), else its score's; with ``scoring``,
    ``score_label`` is what the score alone says."""
    out = {"line": r.line, "shape": r.shape, "turns": r.turns,
           "conversation_quality": r.conversation_quality, "bias_detection": r.bias_detection,
           "reasoning_quality": r.reasoning_quality, "score": r.score, "label": r.label,
           "label_source": r.label_source}
    if scoring is not None:
        out["score_label"] = "desirable" if r.score >= scoring.threshold else "undesirable"
    return {**out, "metrics_source": r.metrics_source,
            "banned_words": [{"word": b.word, "start": b.start, "end": b.end,
                              "message": b.message} for b in r.banned],
            "reasoning_problems": r.reasoning_problems, "triplets": len(r.triplets),
            "reasons": r.reasons}


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` are one file (the same path, a hard link or a symlink)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def score_notes(counts: dict[str, int], config: Any) -> list[str]:
    """What the user should know about the labels: an empty label class (and whether the
    threshold alone empties it), rows that cannot reach the threshold without reasoning."""
    from synapse_core.data.scoring import best_score, empty_class_warning, no_reasoning_note

    notes = []
    warning = empty_class_warning(counts["desirable"], counts["undesirable"], config.scoring,
                                  config.training.objective)
    if warning:
        notes.append(f"warning: {warning}")
    n = counts["no_reasoning"]
    if n and no_reasoning_note(config.scoring):
        notes.append(f"{n} row{'s' if n != 1 else ''} without reasoning (reasoning_quality 0) "
                     f"{'score' if n != 1 else 'scores'} at most {best_score(config.scoring, with_reasoning=False):g}, "
                     f"below the threshold {config.scoring.threshold:g}")
    return notes


def _run(args: argparse.Namespace) -> int:
    from synapse_core.config import load_config
    from synapse_core.data.load import DataError, iter_rows
    from synapse_core.data.records import BadLine
    from synapse_core.fileio import atomic_write_jsonl

    if args.out and not args.force and same_file(args.data, args.out):
        print(f"synapse score: --out {args.out} is the input file itself (the same file or a "
              "link to it): writing the scores there would replace the dataset. Choose another "
              "path, or add --force to replace it.", file=sys.stderr)
        return 2
    config = load_config(args.config)
    counts = {"rows": 0, "valid": 0, "invalid": 0, "desirable": 0, "undesirable": 0,
              "flagged": 0, "label_given": 0, "no_reasoning": 0}

    def rows() -> Iterator[dict[str, Any]]:
        for item in iter_rows(args.data, config, with_reasons=True):
            counts["rows"] += 1
            if isinstance(item, BadLine):
                counts["invalid"] += 1
                print(str(item), file=sys.stderr)
                continue
            counts["valid"] += 1
            counts[item.label] += 1
            counts["flagged"] += bool(item.banned)
            given = item.given_label is not None
            counts["label_given"] += given
            counts["no_reasoning"] += not given and item.reasoning_quality == 0
            yield scored_row(item, config.scoring)

    try:
        if args.out:
            atomic_write_jsonl(args.out, rows())
        else:
            for _ in rows():
                pass
    except DataError as e:
        print(f"synapse score: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"synapse score: {e}", file=sys.stderr)
        return 1
    for note in score_notes(counts, config):
        print(f"synapse score: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(counts))
    else:
        print(f"{counts['valid']} rows scored ({counts['desirable']} desirable, "
              f"{counts['undesirable']} undesirable, {counts['flagged']} flagged), "
              f"{counts['invalid']} bad lines" + (f" -> {args.out}" if args.out else ""),
              file=sys.stderr)
    return 0
