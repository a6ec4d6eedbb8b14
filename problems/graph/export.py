"""Exports of the problem graph for Gephi (GraphML) and notebooks (node-link JSON).

Only what the graph holds leaves: counts, dates, ids, and text that was masked on intake
(defect summaries, cluster titles), masked once more on the way out. No ticket text is
ever in the graph.

Examples
--------
>>> import json, tempfile, pathlib
>>> import networkx as nx
>>> g = nx.MultiDiGraph(schema_version=1)
>>> g.add_node("defect:CHK-1", kind="defect", summary="Fails for jane@example.com")
>>> path = pathlib.Path(tempfile.mkdtemp()) / "g.json"
>>> to_node_link_json(g, path)
>>> json.loads(path.read_text())["nodes"][0]["summary"]
'Fails for [email]'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from problems.text import mask_pii

__all__ = [
    "masked_copy",
    "to_graphml",
    "to_node_link_json",
]


def _masked(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: mask_pii(value) if isinstance(value, str) else value
        for name, value in attributes.items()
        if value is not None
    }


def masked_copy(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy whose every text attribute went through `mask_pii` (idempotent on masked text)."""
    copy = nx.MultiDiGraph(**_masked(dict(graph.graph)))
    for node in sorted(graph.nodes):
        copy.add_node(node, **_masked(graph.nodes[node]))
    for source, target, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        copy.add_edge(source, target, key=key, **_masked(data))
    return copy


def to_graphml(graph: nx.MultiDiGraph, path: str | Path) -> None:
    """Write the graph as GraphML (opens in Gephi, yEd, Cytoscape)."""
    nx.write_graphml(masked_copy(graph), str(path))


def to_node_link_json(graph: nx.MultiDiGraph, path: str | Path) -> None:
    """Write the graph as node-link JSON (``networkx.node_link_graph`` reads it back)."""
    data = nx.node_link_data(masked_copy(graph), edges="links")
    Path(path).write_text(json.dumps(data, sort_keys=True, indent=1), encoding="utf-8")
