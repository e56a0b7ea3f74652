"""``synapse score`` (placeholder until the dataset issue lands)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score and label a dataset (not built yet)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("synapse score: not built yet", file=sys.stderr)
    return 2
