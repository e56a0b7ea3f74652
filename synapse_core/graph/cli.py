"""``synapse graph``: build a dataset's knowledge graph headless, print its health, export it.

Imports stay light at the top (argparse only) so ``synapse --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``synapse graph``."""
    p = sub.add_parser(
        "graph", help="build the knowledge graph of the <kg> triplets, report health, export",
        description="Build the knowledge graph of a dataset's reasoning triplets, print its "
                    "size and health (coverage, concentration, contradictions), and optionally "
                    "export it as GraphML or node-link JSON. Bad lines go to stderr as "
                    "FILE:LINE: reason.")
    p.add_argument("data", nargs="?", default=None,
                   help="JSONL file or saved datasets folder (default: the config's data.path, "
                        "else the bundled demo)")
    p.add_argument("--config", default=None, help="run config TOML (default: built-in defaults)")
    p.add_argument("--out", default=None, help="write the graph to this .graphml or .json file")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--opposites", action="append", default=[], metavar="PRED:PRED",
                   help="mark two predicates as opposites for the contradiction check "
                        "(repeatable; adds to the defaults such as increases:decreases)")
    p.add_argument("--no-default-opposites", action="store_true",
                   help="use only the --opposites pairs (the negation rule still applies)")
    p.add_argument("--top", type=int, default=10, help="top entities to list (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    from synapse_core.config import load_config
    from synapse_core.data.load import DataError, iter_rows, resolve_data_path
    from synapse_core.data.records import BadLine
    from synapse_core.graph.build import KnowledgeGraph
    from synapse_core.graph.export import export_graph, format_for
    from synapse_core.graph.health import health, parse_opposites
    from synapse_core.graph.queries import predicates, top_by_degree, top_by_pagerank

    config = load_config(args.config)
    try:
        opposites = parse_opposites(args.opposites)
        if args.out:
            format_for(args.out)
    except ValueError as e:
        print(f"synapse graph: {e}", file=sys.stderr)
        return 2
    path = Path(args.data) if args.data else resolve_data_path(config)
    kg = KnowledgeGraph()
    bad = 0
    try:
        for item in iter_rows(path, config):
            if isinstance(item, BadLine):
                bad += 1
                print(str(item), file=sys.stderr)
            else:
                kg.add_row(item.line, item.triplets, len(item.malformed_triplets))
    except DataError as e:
        print(f"synapse graph: {e}", file=sys.stderr)
        return 2
    h = health(kg, opposites, include_defaults=not args.no_default_opposites)
    summary = h.to_dict()
    summary["bad_lines"] = bad
    summary["data"] = str(path)
    summary["top_by_degree"] = [{"entity": kg.display(k), "degree": d}
                                for k, d in top_by_degree(kg, args.top)]
    summary["top_by_pagerank"] = [{"entity": kg.display(k), "pagerank": round(r, 6)}
                                  for k, r in top_by_pagerank(kg, args.top)]
    summary["predicates"] = [{"predicate": p, "count": c} for p, c in predicates(kg)[:args.top]]
    if args.out:
        summary["out"] = str(export_graph(kg, args.out))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_human(summary)
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _print_human(s: dict) -> None:
    print(f"{s['data']}: {s['rows']} rows ({s['bad_lines']} bad lines set aside)")
    print(f"graph: {s['nodes']} entities, {s['edges']} edges from {s['triplets']} triplets, "
          f"{s['components']} components ({s['isolated_triplets']} isolated triplets)")
    print(f"coverage: {s['rows_with_kg']} rows with triplets, {s['rows_without_kg']} without; "
          f"{s['rows_with_malformed']} rows with {s['malformed_triplets']} malformed triplets")
    print(f"concentration: largest component holds {_pct(s['largest_component_edge_share'])} "
          f"of edges; top-10 entities hold {_pct(s['top10_endpoint_share'])} of edge endpoints")
    print(f"contradictions: {s['contradictions']}")
    for c in s["contradiction_examples"]:
        print(f"  {c['subj']} —{c['pred_a']}→ {c['obj']} (lines {_lines(c['lines_a'])}) vs "
              f"—{c['pred_b']}→ (lines {_lines(c['lines_b'])}) [{c['reason']}]")
    if s["top_by_degree"]:
        print("top by degree: " + ", ".join(f"{t['entity']} ({t['degree']})"
                                            for t in s["top_by_degree"]))
        print("top by PageRank: " + ", ".join(f"{t['entity']} ({t['pagerank']:.4f})"
                                              for t in s["top_by_pagerank"]))
        print("predicates: " + ", ".join(f"{p['predicate']} ({p['count']})"
                                         for p in s["predicates"]))
    if "out" in s:
        print(f"wrote {s['out']}")


def _lines(lines: list[int]) -> str:
    return ", ".join(map(str, lines))
