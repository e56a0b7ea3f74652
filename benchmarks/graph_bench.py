"""Knowledge-graph build benchmark: 100k rows x ~5 triplets (``--quick``: 10k rows).

Generates synthetic rows (Zipf-distributed entities written with varied case and plurals,
~60 predicates, a few malformed and empty rows), then times ``KnowledgeGraph.add_rows`` over
all of them in batches of 2000 (wall and CPU time: the CPU figure is what a busy machine
cannot inflate) and the on-demand figures (PageRank, components, health, a search). Memory is the
process's peak resident set (``ru_maxrss``) minus what it held before building, so it counts
the graph and nothing generated beforehand. The last line printed is one JSON object.

    python benchmarks/graph_bench.py [--quick] [--rows N] [--triplets K] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time

from synapse_core.data.records import Triplet
from synapse_core.graph.build import KnowledgeGraph
from synapse_core.graph.health import health
from synapse_core.graph.queries import components, pagerank, search

PREDICATES = [
    "causes", "prevents", "increases", "decreases", "is a", "is not a", "part of", "requires",
    "enables", "produces", "consumes", "contains", "depends on", "relates to", "implies",
    "contradicts", "supports", "measures", "describes", "predicts", "explains", "uses",
    "defines", "limits", "follows", "precedes", "transforms", "stores", "emits", "absorbs",
] + [f"relation {i}" for i in range(30)]


BATCH = 2000
"""Rows per ``add_rows`` call: the dataset loader's batch size."""


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def _current_rss_mb() -> float:
    import psutil  # only for the baseline; the peak comes from getrusage
    return psutil.Process().memory_info().rss / (1024 * 1024)


def generate(rows: int, per_row: int, entities: int, seed: int) -> list[tuple[int, list[Triplet], int]]:
    """Synthetic ``(line, triplets, malformed)`` rows with a skewed entity distribution."""
    rng = random.Random(seed)
    words = ["energy", "entropy", "cell", "neuron", "theory", "market", "signal", "planet",
             "glass", "analysis", "physics", "protein", "network", "climate", "memory", "model"]
    names = [f"{rng.choice(words)} {i}" for i in range(entities)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(entities)]
    cum: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)

    def spelled(name: str) -> str:
        r = rng.random()
        if r < 0.1:
            return name.title()
        if r < 0.15:
            return name + "s" if not name.endswith("s") else name
        if r < 0.18:
            return "  " + name.upper() + " "
        return name

    out = []
    for line in range(1, rows + 1):
        if rng.random() < 0.01:
            out.append((line, [], 1 if rng.random() < 0.5 else 0))
            continue
        k = max(1, round(rng.gauss(per_row, 1.5)))
        picks = rng.choices(names, cum_weights=cum, k=2 * k)
        tri = [Triplet(spelled(picks[2 * i]), rng.choice(PREDICATES), spelled(picks[2 * i + 1]))
               for i in range(k)]
        out.append((line, tri, 1 if rng.random() < 0.02 else 0))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k rows (a smoke run)")
    ap.add_argument("--rows", type=int, default=None, help="rows (default 100000)")
    ap.add_argument("--triplets", type=int, default=5, help="mean triplets per row")
    ap.add_argument("--entities", type=int, default=None, help="distinct entities")
    ap.add_argument("--seed", type=int, default=3407)
    args = ap.parse_args(argv)
    rows = args.rows or (10_000 if args.quick else 100_000)
    entities = args.entities or max(1000, rows // 4)

    t0 = time.perf_counter()
    data = generate(rows, args.triplets, entities, args.seed)
    gen_s = time.perf_counter() - t0
    gc.collect()
    base_mb = _current_rss_mb()

    kg = KnowledgeGraph()
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(data), BATCH):  # batches, as the app feeds the graph
        kg.add_rows(data[start:start + BATCH])
    build_s = time.perf_counter() - t0
    build_cpu_s = time.process_time() - c0
    build_peak_mb = _peak_rss_mb() - base_mb

    t0 = time.perf_counter()
    pagerank(kg)
    pagerank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    comps = components(kg)
    components_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    h = health(kg)
    health_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = search(kg, "entropy 12")
    search_s = time.perf_counter() - t0
    peak_mb = _peak_rss_mb() - base_mb

    result = {
        "rows": rows, "triplets": kg.triplets, "nodes": kg.nodes, "edges": kg.edges,
        "components": len(comps), "contradictions": len(h.contradictions),
        "search_hits": len(hits),
        "generate_s": round(gen_s, 2), "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu_s, 2),
        "build_peak_mb": round(build_peak_mb, 1), "pagerank_s": round(pagerank_s, 2),
        "components_s": round(components_s, 2), "health_s": round(health_s, 2),
        "search_s": round(search_s, 2), "peak_mb": round(peak_mb, 1),
        "target_build_s": 10, "target_mb": 1024,
        "ok": build_s < 10 and peak_mb < 1024,
    }
    print(f"built {kg.nodes} entities / {kg.edges} edges from {kg.triplets} triplets of "
          f"{rows} rows in {build_s:.2f} s ({build_cpu_s:.2f} s CPU); graph memory {build_peak_mb:.0f} MB "
          f"(peak with queries {peak_mb:.0f} MB)")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
