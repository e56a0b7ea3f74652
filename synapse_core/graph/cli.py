"""``synapse graph`` (placeholder until the knowledge-graph issue lands)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="build the knowledge graph (not built yet)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print("synapse graph: not built yet", file=sys.stderr)
    return 2
