"""Questions asked of the problem graph, as plain functions.

* `clusters_without_defect`: problems no defect explains yet (candidate problem records);
* `regressions`: defects whose fix shipped while their cluster still gets tickets from
  customers running the fixed version or a later one (fixes that did not work);
* `clusters_with_release`: problems that first appeared with a release;
* `top_customers_for_defect`: the accounts most affected by a defect.

Examples
--------
>>> from datetime import UTC, datetime
>>> from problems.graph.model import build_graph
>>> from problems.records import TicketRecord
>>> at = datetime(2026, 3, 2, tzinfo=UTC)
>>> ticket = TicketRecord(ticket_id="T-1", event_ids=("e1",), opened_at=at,
...     first_closed_at=at, closed_at=at, subject="Checkout NPE", text="", customer_id="acme",
...     product="shop")
>>> g = build_graph({"T-1": ticket}, {}, {}, {"T-1": "P-1"}, [])
>>> clusters_without_defect(g)
['P-1']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import networkx as nx

from problems.graph.model import (
    customer_node,
    defect_node,
    release_node,
    release_record_of,
)
from problems.linker.releases import ReleaseIndex

__all__ = [
    "Regression",
    "clusters_with_release",
    "clusters_without_defect",
    "linked_defects",
    "regressions",
    "top_customers_for_defect",
]


@dataclass(frozen=True, slots=True)
class Regression:
    """A defect whose fix shipped while its cluster kept getting tickets on fixed versions."""

    cluster_id: str
    defect_key: str
    fix_versions: tuple[str, ...]
    fix_date: date
    n_tickets: int
    versions: tuple[str, ...]
    last_seen: str


def _active_links(graph: nx.MultiDiGraph) -> list[tuple[str, str]]:
    return [
        (source, target)
        for source, target, kind, data in graph.edges(keys=True, data=True)
        if kind == "linked-to" and data.get("status") != "rejected"
    ]


def linked_defects(graph: nx.MultiDiGraph, cluster_id: str) -> list[str]:
    """Keys of the defects a cluster is linked to (proposed or confirmed)."""
    node = f"problem:{cluster_id}"
    if node not in graph:
        return []
    return sorted(
        graph.nodes[target]["key"]
        for _, target, kind, data in graph.out_edges(node, keys=True, data=True)
        if kind == "linked-to" and data.get("status") != "rejected"
    )


def clusters_without_defect(graph: nx.MultiDiGraph) -> list[str]:
    """Clusters with no proposed or confirmed defect, most tickets first.

    Returns
    -------
    list of str
        Cluster ids, by ticket count (highest first), then id.
    """
    linked = {source for source, _ in _active_links(graph)}
    lonely = [
        (data["n_tickets"], data["cluster_id"])
        for node, data in graph.nodes(data=True)
        if data["kind"] == "problem" and node not in linked
    ]
    return [cluster_id for _, cluster_id in sorted(lonely, key=lambda item: (-item[0], item[1]))]


def _index(graph: nx.MultiDiGraph) -> ReleaseIndex:
    return ReleaseIndex.from_releases(
        {
            node: release_record_of(data)
            for node, data in graph.nodes(data=True)
            if data["kind"] == "release" and data.get("known")
        }
    )


def regressions(graph: nx.MultiDiGraph, min_tickets: int = 3) -> list[Regression]:
    """Linked defects whose fix shipped, yet their cluster still gets tickets on fixed code.

    For each proposed or confirmed link, the defect's first shipped fix gives a date; the
    cluster's tickets naming a version that carries the fix (`ReleaseIndex.includes_fix`)
    and seen after that date are counted. A version that carries the fix cannot be run
    before the fix ships, so the tickets on it are after the fix.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
    min_tickets : int
        Fewer such tickets are taken as stray reports, not a regression.

    Returns
    -------
    list of Regression
        Most tickets first, then cluster id and defect key.
    """
    index = _index(graph)
    found: list[Regression] = []
    for source, target in _active_links(graph):
        fixes = [
            graph.nodes[release]["name"]
            for _, release, kind in graph.out_edges(target, keys=True)
            if kind == "fixed-in"
        ]
        dates = [day for name in fixes if (day := index.release_date(name)) is not None]
        if not dates:
            continue
        fix_date = min(dates)
        count = 0
        versions: list[str] = []
        last_seen = ""
        for _, release, kind, data in graph.out_edges(source, keys=True, data=True):
            if kind != "reported-on" or data["last_seen"][:10] <= fix_date.isoformat():
                continue
            name = graph.nodes[release]["name"]
            if not index.includes_fix(name, fixes):
                continue
            count += data["n_tickets"]
            versions.append(name)
            last_seen = max(last_seen, data["last_seen"])
        if count >= min_tickets:
            found.append(
                Regression(
                    cluster_id=graph.nodes[source]["cluster_id"],
                    defect_key=graph.nodes[target]["key"],
                    fix_versions=tuple(sorted(fixes)),
                    fix_date=fix_date,
                    n_tickets=count,
                    versions=tuple(sorted(versions)),
                    last_seen=last_seen,
                )
            )
    return sorted(found, key=lambda item: (-item.n_tickets, item.cluster_id, item.defect_key))


def clusters_with_release(graph: nx.MultiDiGraph, release: str) -> list[str]:
    """Clusters that first appeared with a release (any spelling of its version).

    Returns
    -------
    list of str
        Cluster ids, most tickets first, then id.
    """
    node = release if release.startswith("release:") else release_node(release)
    if node not in graph:
        return []
    found = [
        (graph.nodes[source]["n_tickets"], graph.nodes[source]["cluster_id"])
        for source, _, kind in graph.in_edges(node, keys=True)
        if kind == "first-seen-in"
    ]
    return [cluster_id for _, cluster_id in sorted(found, key=lambda item: (-item[0], item[1]))]


def top_customers_for_defect(
    graph: nx.MultiDiGraph, key: str, n: int = 10
) -> list[tuple[str, int]]:
    """The customers with most tickets in the clusters linked to a defect.

    Returns
    -------
    list of (customer id, ticket count)
        Most tickets first; ties by ARR (highest first), then id.
    """
    target = defect_node(key)
    if target not in graph:
        return []
    counts: Counter[str] = Counter()
    for source, _, kind, data in graph.in_edges(target, keys=True, data=True):
        if kind != "linked-to" or data.get("status") == "rejected":
            continue
        for _, customer, edge_kind, edge in graph.out_edges(source, keys=True, data=True):
            if edge_kind == "reported-by":
                counts[graph.nodes[customer]["customer_id"]] += edge["n_tickets"]

    def rank(item: tuple[str, int]) -> tuple[int, float, str]:
        arr = graph.nodes[customer_node(item[0])].get("arr", 0.0)
        return (-item[1], -float(arr), item[0])

    return sorted(counts.items(), key=rank)[:n]
