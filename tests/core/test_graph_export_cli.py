"""GraphML / node-link export and ``synapse graph`` over the real loader."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from synapse_core.cli import main
from synapse_core.data.records import Triplet as T
from synapse_core.graph.build import build_graph
from synapse_core.graph.export import export_graph, format_for


def _row(triplets: list[tuple[str, str, str]], broken: str = "") -> str:
    kg = "".join(f"<tri><subj>{s}</subj><pred>{p}</pred><obj>{o}</obj></tri>"
                 for s, p, o in triplets) + broken
    reply = f"<reasoning><kg>{kg}</kg></reasoning>\n🧙 An answer."
    return json.dumps({"conversations": [{"from": "human", "value": "Why?"},
                                         {"from": "gpt", "value": reply}]})


@pytest.fixture
def data(tmp_path: Path) -> Path:
    lines = [
        _row([("Sunlight", "powers", "photosynthesis"), ("photosynthesis", "produces", "oxygen")]),
        _row([("Photosynthesis", "produces", "Oxygen"), ("oxygen", "attracts", "iron")]),
        "{not json",
        _row([("oxygen", "repels", "iron")], broken="<tri><subj>x</subj><pred>y</pred></tri>"),
        json.dumps({"conversations": [{"from": "human", "value": "hi"},
                                      {"from": "gpt", "value": "No reasoning."}]}),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_export_both_formats_round_trip(tmp_path: Path) -> None:
    kg = build_graph([(1, [T("Neural Networks", "learn", "weights")], 0),
                      (4, [T("neural network", "learn", "weights")], 0)])
    g = nx.read_graphml(export_graph(kg, tmp_path / "g.graphml"), force_multigraph=True)
    assert g.nodes["neural network"]["label"] in ("Neural Networks", "neural network")
    assert json.loads(g.nodes["neural network"]["aliases"]) == {"Neural Networks": 1,
                                                                "neural network": 1}
    (u, v, d), = g.edges(data=True)
    assert (u, v, d["predicate"], d["count"], d["lines"]) == (
        "neural network", "weight", "learn", 2, "1,4")
    doc = json.loads((export_graph(kg, tmp_path / "g.json")).read_text(encoding="utf-8"))
    back = nx.node_link_graph(doc, edges="edges")
    assert back.is_multigraph() and back.is_directed()
    assert doc["edges"][0]["lines"] == [1, 4]
    with pytest.raises(ValueError, match=".graphml or .json"):
        format_for(tmp_path / "g.csv")


def test_cli_json_summary_and_bad_lines(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "graph.json"
    rc = main(["graph", str(data), "--json", "--out", str(out), "--opposites", "attracts:repels"])
    captured = capsys.readouterr()
    assert rc == 0
    assert f"{data}:3: invalid JSON" in captured.err
    s = json.loads(captured.out)
    assert (s["nodes"], s["edges"], s["triplets"]) == (4, 4, 5)
    assert (s["rows_with_kg"], s["rows_without_kg"], s["components"]) == (3, 1, 1)
    assert s["rows_with_malformed"] == 1 and s["bad_lines"] == 1
    assert s["contradictions"] == 1
    assert s["contradiction_examples"][0]["lines_a"] in ([2], [4])
    assert s["top_by_degree"][0]["entity"] == "oxygen"
    assert json.loads(out.read_text(encoding="utf-8"))["multigraph"] is True


def test_cli_human_summary_and_errors(data: Path, tmp_path: Path, capsys) -> None:
    assert main(["graph", str(data), "--out", str(tmp_path / "g.graphml")]) == 0
    text = capsys.readouterr().out
    assert "4 entities, 4 edges from 5 triplets" in text and "wrote" in text
    assert (tmp_path / "g.graphml").exists()
    assert main(["graph", str(data), "--out", str(tmp_path / "g.csv")]) == 2
    assert "use .graphml or .json" in capsys.readouterr().err
    assert main(["graph", str(data), "--opposites", "nocolon"]) == 2
    assert main(["graph", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
