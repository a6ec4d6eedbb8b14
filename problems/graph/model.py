"""The problem graph: clusters, defects, releases, customers, components and products.

`build_graph` makes a `networkx.MultiDiGraph` from the state; `update_graph` folds new
tickets (and refreshed defects, releases, links) into an existing one, and gives the very
graph a rebuild would. Tickets are aggregated onto edges (counts, first and last seen)
unless ``include_tickets=True`` adds a node per ticket.

Nodes carry ``kind`` and have typed ids:

=========  ======================  =========================================================
kind       id                      attributes
=========  ======================  =========================================================
problem    ``problem:P-000001``    cluster_id, title, n_tickets, n_customers, first/last_seen
defect     ``defect:CHK-12``       key, project, summary, status, resolution, created, ...
release    ``release:3.4``         name, version (canonical), release_date, released, known
customer   ``customer:acme``       customer_id, name, tier, arr
component  ``component:checkout``  name
product    ``product:shop``        name
ticket     ``ticket:T-1``          only with ``include_tickets``; no text
=========  ======================  =========================================================

Edges are keyed by their ``kind`` (one edge of a kind between two nodes):

* ``reported-by`` problem -> customer: n_tickets, first_seen, last_seen;
* ``reported-on`` problem -> release (the version the tickets name): n_tickets, first/last;
* ``affects`` problem -> component / product (n_tickets), defect -> component / release
  (the defect's components and affected versions);
* ``linked-to`` problem -> defect: status, confidence and the evidence, flattened;
* ``fixed-in`` defect -> release; ``first-seen-in`` problem -> release;
* ``spiked-after`` problem (or defect, for a group of clusters) -> release: n_before,
  n_after, ratio, p_value;
* ``member-of`` ticket -> problem and ``opened-by`` ticket -> customer (with tickets).

Times are UTC ISO strings to the second, so they sort as text and export to GraphML.
Text is masked already (records are masked on intake); titles are masked again here.

Examples
--------
>>> from datetime import UTC, datetime
>>> from problems.records import TicketRecord
>>> at = datetime(2026, 3, 2, tzinfo=UTC)
>>> ticket = TicketRecord(ticket_id="T-1", event_ids=("e1",), opened_at=at,
...     first_closed_at=at, closed_at=at, subject="Checkout NPE", text="", customer_id="acme",
...     product="shop", component="Checkout", version="v3.4")
>>> g = build_graph({"T-1": ticket}, {}, {}, {"T-1": "P-1"}, [])
>>> sorted(g.nodes)
['component:checkout', 'customer:acme', 'problem:P-1', 'product:shop', 'release:3.4']
>>> g.edges["problem:P-1", "customer:acme", "reported-by"]["n_tickets"]
1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import networkx as nx

from problems.graph.errors import GraphError
from problems.linker.links import Link
from problems.linker.releases import ReleaseIndex
from problems.linker.spikes import Spike
from problems.linker.versions import canonical_version, version_key
from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.text import mask_pii

__all__ = [
    "GRAPH_SCHEMA_VERSION",
    "build_graph",
    "component_node",
    "customer_node",
    "defect_node",
    "problem_node",
    "product_node",
    "release_node",
    "release_record_of",
    "ticket_node",
    "update_graph",
]

GRAPH_SCHEMA_VERSION = 1

FIRST_SEEN_MIN_SHARE = 0.05
"""A version named by fewer of a cluster's tickets is a mislabel for `first-seen-in`."""


def problem_node(cluster_id: str) -> str:
    """Node id of a problem cluster."""
    return f"problem:{cluster_id}"


def defect_node(key: str) -> str:
    """Node id of a defect."""
    return f"defect:{key}"


def release_node(name: str) -> str:
    """Node id of a release: one per version, whatever its spelling.

    Examples
    --------
    >>> release_node("Release 3.4.0") == release_node("v3.4")
    True
    """
    return f"release:{canonical_version(name)}"


def customer_node(customer_id: str) -> str:
    """Node id of a customer account."""
    return f"customer:{customer_id}"


def component_node(name: str) -> str:
    """Node id of a component (case does not matter: Jira and tickets spell it apart)."""
    return f"component:{name.casefold()}"


def product_node(name: str) -> str:
    """Node id of a product."""
    return f"product:{name}"


def ticket_node(ticket_id: str) -> str:
    """Node id of a ticket (only with ``include_tickets``)."""
    return f"ticket:{ticket_id}"


def _iso(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="seconds")
    return moment.isoformat()


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """GraphML cannot hold None: an unknown attribute is left out."""
    return {name: value for name, value in attributes.items() if value is not None}


def build_graph(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    releases: Mapping[str, ReleaseRecord],
    memberships: Mapping[str, str],
    links: Iterable[Link],
    *,
    cluster_titles: Mapping[str, str] | None = None,
    spikes: Iterable[Spike] = (),
    include_tickets: bool = False,
) -> nx.MultiDiGraph:
    """Build the problem graph from the state.

    Parameters
    ----------
    tickets : mapping of ticket id to TicketRecord
    defects : mapping of key to DefectRecord
    releases : mapping of any key to ReleaseRecord
    memberships : mapping of ticket id to cluster id
        Only tickets in a cluster enter the graph.
    links : iterable of Link
        From `problems.linker.propose_links`; rejected links are left out.
    cluster_titles : mapping of cluster id to title, optional
    spikes : iterable of Spike
        From `problems.linker.find_spikes`.
    include_tickets : bool
        Add a node per ticket (no text) instead of aggregates only.

    Returns
    -------
    networkx.MultiDiGraph
    """
    graph = nx.MultiDiGraph(schema_version=GRAPH_SCHEMA_VERSION, include_tickets=include_tickets)
    return update_graph(
        graph,
        tickets=tickets,
        memberships=memberships,
        defects=defects,
        releases=releases,
        links=links,
        cluster_titles=cluster_titles,
        spikes=spikes,
    )


def update_graph(
    graph: nx.MultiDiGraph,
    *,
    tickets: Mapping[str, TicketRecord] | None = None,
    memberships: Mapping[str, str] | None = None,
    defects: Mapping[str, DefectRecord] | None = None,
    releases: Mapping[str, ReleaseRecord] | None = None,
    links: Iterable[Link] | None = None,
    cluster_titles: Mapping[str, str] | None = None,
    spikes: Iterable[Spike] | None = None,
) -> nx.MultiDiGraph:
    """Fold changes into a graph, in place, and return it.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Made by `build_graph`.
    tickets : mapping of ticket id to TicketRecord, optional
        New tickets, each counted once: pass a ticket the first time it closes, not again
        on a reopen (a reopen changes nothing the graph shows). Tickets whose cluster
        changed (merge, split) need a rebuild.
    memberships : mapping of ticket id to cluster id, optional
        Must hold the cluster of each new ticket (it may hold more).
    defects, releases : mappings, optional
        New or changed defects and releases; their nodes and edges are replaced.
    links : iterable of Link, optional
        The full current set of links: every ``linked-to`` edge is replaced.
    cluster_titles : mapping, optional
        Titles to set.
    spikes : iterable of Spike, optional
        The full current set of spikes: every ``spiked-after`` edge is replaced.

    Returns
    -------
    networkx.MultiDiGraph
        The same graph object.
    """
    if graph.graph.get("schema_version") != GRAPH_SCHEMA_VERSION:
        raise GraphError("not a problem graph of this schema version; rebuild it")
    for release in sorted(
        (releases or {}).values(), key=lambda item: (version_key(item.name), item.id)
    ):
        _add_release(graph, release)
    touched: set[str] = set()
    if tickets:
        if memberships is None:
            raise GraphError("memberships are needed to place new tickets")
        placed = [
            (ticket, cluster_id)
            for ticket in tickets.values()
            if (cluster_id := memberships.get(ticket.ticket_id)) is not None
        ]
        placed.sort(key=lambda item: (item[0].opened_at, item[0].ticket_id))
        _add_tickets(graph, placed)
        touched.update(cluster_id for _, cluster_id in placed)
    for key in sorted(defects or {}):
        _add_defect(graph, (defects or {})[key])
    for cluster_id, title in sorted((cluster_titles or {}).items()):
        node = problem_node(cluster_id)
        if node in graph:
            graph.nodes[node]["title"] = mask_pii(title)
    if links is not None:
        _replace_links(graph, links)
    if spikes is not None:
        _replace_spikes(graph, spikes)
    if touched or releases:
        clusters = (
            touched
            if not releases
            else {
                data["cluster_id"]
                for _, data in graph.nodes(data=True)
                if data["kind"] == "problem"
            }
        )
        index = _release_index(graph)
        for cluster_id in sorted(clusters):
            _set_first_seen(graph, cluster_id, index)
    return graph


def _ensure(graph: nx.MultiDiGraph, node: str, kind: str, **attributes: Any) -> dict[str, Any]:
    if node not in graph:
        graph.add_node(node, kind=kind, **_clean(attributes))
    data: dict[str, Any] = graph.nodes[node]
    return data


def _add_release(graph: nx.MultiDiGraph, release: ReleaseRecord) -> None:
    node = release_node(release.name)
    current = graph.nodes[node] if node in graph else None
    candidate = (release.release_date or date.max, release.id)
    if current is not None and current.get("known"):
        # Several Jira projects may ship a version of the same name; the first one stands.
        day = current.get("release_date")
        held = (date.fromisoformat(day) if day else date.max, current["release_id"])
        if held < candidate and current["release_id"] != release.id:
            return
    attributes = _clean(
        {
            "kind": "release",
            "name": release.name,
            "version": canonical_version(release.name),
            "release_id": release.id,
            "project_id": release.project_id,
            "release_date": _iso(release.release_date),
            "released": release.released,
            "archived": release.archived,
            "known": True,
        }
    )
    if current is None:
        graph.add_node(node, **attributes)
    else:
        current.clear()
        current.update(attributes)


def _ensure_release(graph: nx.MultiDiGraph, name: str) -> str:
    node = release_node(name)
    if node not in graph:
        graph.add_node(
            node,
            kind="release",
            name=name,
            version=canonical_version(name),
            released=False,
            archived=False,
            known=False,
        )
    return node


def _add_tickets(graph: nx.MultiDiGraph, placed: list[tuple[TicketRecord, str]]) -> None:
    """Count new tickets onto nodes and edges: aggregate in plain dicts, then merge once."""
    problems: dict[str, list[Any]] = {}
    edges: dict[tuple[str, str, str], list[Any]] = {}
    customers: dict[str, tuple[str, TicketRecord]] = {}
    named: dict[str, tuple[str, str]] = {}
    releases: dict[str, str] = {}
    with_tickets = bool(graph.graph.get("include_tickets"))
    ticket_nodes: list[tuple[str, dict[str, Any], str, str]] = []

    def bump(key: tuple[str, str, str], seen: str) -> None:
        held = edges.get(key)
        if held is None:
            edges[key] = [1, seen, seen]
        else:
            held[0] += 1
            held[1] = min(held[1], seen)
            held[2] = max(held[2], seen)

    for ticket, cluster_id in placed:
        seen = _iso(ticket.opened_at) or ""
        problem = problem_node(cluster_id)
        held = problems.get(problem)
        if held is None:
            problems[problem] = [1, seen, seen, cluster_id]
        else:
            held[0] += 1
            held[1] = min(held[1], seen)
            held[2] = max(held[2], seen)
        customer = customer_node(ticket.customer_id)
        stamp = f"{seen}|{ticket.ticket_id}"
        if customer not in customers or stamp > customers[customer][0]:
            customers[customer] = (stamp, ticket)
        bump((problem, customer, "reported-by"), seen)
        product = product_node(ticket.product)
        named.setdefault(product, ("product", ticket.product))
        bump((problem, product, "affects"), seen)
        if ticket.component:
            component = component_node(ticket.component)
            named.setdefault(component, ("component", ticket.component.casefold()))
            bump((problem, component, "affects"), seen)
        if ticket.version:
            release = releases.get(ticket.version)
            if release is None:
                release = releases[ticket.version] = _ensure_release(graph, ticket.version)
            bump((problem, release, "reported-on"), seen)
        if with_tickets:
            node = ticket_node(ticket.ticket_id)
            attributes = {
                "kind": "ticket",
                "ticket_id": ticket.ticket_id,
                "opened_at": seen,
                "closed_at": _iso(ticket.closed_at),
                "severity": ticket.severity,
                "version": ticket.version,
            }
            ticket_nodes.append((node, _clean(attributes), problem, customer))

    for problem, (count, first, last, cluster_id) in problems.items():
        data = _ensure(
            graph, problem, "problem", cluster_id=cluster_id, n_tickets=0, n_customers=0,
            first_seen=first, last_seen=last,
        )  # fmt: skip
        data["n_tickets"] += count
        data["first_seen"] = min(data["first_seen"], first)
        data["last_seen"] = max(data["last_seen"], last)
    for customer, (stamp, ticket) in customers.items():
        data = _ensure(graph, customer, "customer", customer_id=ticket.customer_id)
        if stamp > data.get("as_of", ""):
            # The latest ticket says what the account looks like now (tier, ARR, name).
            latest = {
                "name": ticket.customer_name,
                "tier": ticket.tier,
                "arr": ticket.arr,
                "as_of": stamp,
            }
            data.update(_clean(latest))
    for node, (kind, name) in named.items():
        _ensure(graph, node, kind, name=name)
    for (source, target, kind), (count, first, last) in edges.items():
        if graph.has_edge(source, target, key=kind):
            data = graph.edges[source, target, kind]
            data["n_tickets"] += count
            data["first_seen"] = min(data["first_seen"], first)
            data["last_seen"] = max(data["last_seen"], last)
            continue
        graph.add_edge(
            source, target, key=kind, kind=kind, n_tickets=count, first_seen=first, last_seen=last
        )
        if kind == "reported-by":
            graph.nodes[source]["n_customers"] += 1
    # Ticket nodes last, so their edges never create a bare problem or customer node.
    for node, attributes, problem, customer in ticket_nodes:
        graph.add_node(node, **attributes)
        graph.add_edge(node, problem, key="member-of", kind="member-of")
        graph.add_edge(node, customer, key="opened-by", kind="opened-by")


def _add_defect(graph: nx.MultiDiGraph, defect: DefectRecord) -> None:
    node = defect_node(defect.key)
    attributes = _clean(
        {
            "kind": "defect",
            "key": defect.key,
            "project": defect.project,
            "summary": mask_pii(defect.summary),
            "issue_type": defect.issue_type,
            "status": defect.status,
            "status_category": defect.status_category,
            "priority": defect.priority,
            "resolution": defect.resolution,
            "created": _iso(defect.created),
            "resolved_at": _iso(defect.resolved_at),
        }
    )
    if node in graph:
        stale = [
            (node, target, kind)
            for _, target, kind in graph.out_edges(node, keys=True)
            if kind in ("affects", "fixed-in")
        ]
        graph.remove_edges_from(stale)
        graph.nodes[node].clear()
        graph.nodes[node].update(attributes)
    else:
        graph.add_node(node, **attributes)
    for name in defect.components:
        component = component_node(name)
        _ensure(graph, component, "component", name=name.casefold())
        graph.add_edge(node, component, key="affects", kind="affects")
    for name in defect.affected_versions:
        graph.add_edge(node, _ensure_release(graph, name), key="affects", kind="affects")
    for name in defect.fix_versions:
        graph.add_edge(node, _ensure_release(graph, name), key="fixed-in", kind="fixed-in")


def _replace_links(graph: nx.MultiDiGraph, links: Iterable[Link]) -> None:
    stale = [edge for edge in graph.edges(keys=True) if edge[2] == "linked-to"]
    graph.remove_edges_from(stale)
    for link in sorted(links, key=lambda item: (item.cluster_id, item.defect_key)):
        if link.status == "rejected":
            continue
        problem, defect = problem_node(link.cluster_id), defect_node(link.defect_key)
        if problem not in graph or defect not in graph:
            continue
        evidence = link.evidence
        graph.add_edge(
            problem,
            defect,
            key="linked-to",
            **_clean(
                {
                    "kind": "linked-to",
                    "status": link.status,
                    "confidence": link.confidence,
                    "explicit_share": evidence.explicit_share,
                    "explicit_count": evidence.explicit_count,
                    "cosine": evidence.cosine,
                    "fuzzy": evidence.fuzzy,
                    "version_share": evidence.version_share,
                    "days_from_defect": evidence.days_from_defect,
                    "component_share": evidence.component_share,
                }
            ),
        )


def _replace_spikes(graph: nx.MultiDiGraph, spikes: Iterable[Spike]) -> None:
    stale = [edge for edge in graph.edges(keys=True) if edge[2] == "spiked-after"]
    graph.remove_edges_from(stale)
    for spike in sorted(spikes, key=lambda item: (item.cluster_id, version_key(item.release))):
        # A spike of a problem group (clusters pooled by defect, see
        # `problems.linker.problem_groups`) hangs from the defect.
        problem = (
            spike.cluster_id
            if spike.cluster_id.startswith("defect:")
            else problem_node(spike.cluster_id)
        )
        if problem not in graph:
            continue
        graph.add_edge(
            problem,
            _ensure_release(graph, spike.release),
            key="spiked-after",
            kind="spiked-after",
            n_before=spike.test.n_before,
            n_after=spike.test.n_after,
            ratio=spike.test.ratio,
            p_value=spike.test.p_value,
            window_days=spike.test.window_days,
        )


def release_record_of(data: Mapping[str, Any]) -> ReleaseRecord:
    """The release record a release node stands for."""
    day = data.get("release_date")
    return ReleaseRecord(
        id=str(data.get("release_id", data["name"])),
        name=str(data["name"]),
        project_id=str(data.get("project_id", "")),
        release_date=date.fromisoformat(day) if day else None,
        released=bool(data.get("released", False)),
        archived=bool(data.get("archived", False)),
    )


def _release_index(graph: nx.MultiDiGraph) -> ReleaseIndex:
    known = {
        node: release_record_of(data)
        for node, data in graph.nodes(data=True)
        if data["kind"] == "release" and data.get("known")
    }
    return ReleaseIndex.from_releases(known)


def _set_first_seen(graph: nx.MultiDiGraph, cluster_id: str, index: ReleaseIndex) -> None:
    """The ``first-seen-in`` edge, from the cluster's ``reported-on`` counts.

    The earliest version its tickets name among those shipped by its first ticket,
    ignoring versions named by under 5% of them (see `ReleaseIndex.first_seen_release`).
    """
    problem = problem_node(cluster_id)
    stale = [
        (problem, target, kind)
        for _, target, kind in graph.out_edges(problem, keys=True)
        if kind == "first-seen-in"
    ]
    graph.remove_edges_from(stale)
    first_day = graph.nodes[problem]["first_seen"][:10]
    counts: list[tuple[str, int, ReleaseRecord]] = []
    for _, target, kind, data in graph.out_edges(problem, keys=True, data=True):
        if kind != "reported-on":
            continue
        release = index.find(graph.nodes[target]["name"])
        if release is not None:
            counts.append((target, data["n_tickets"], release))
    if not counts:
        return
    total = sum(count for _, count, _ in counts)
    shipped = [
        item
        for item in counts
        if item[2].release_date is None or item[2].release_date.isoformat() <= first_day
    ] or counts
    supported = [item for item in shipped if item[1] >= FIRST_SEEN_MIN_SHARE * total] or shipped
    target, _, release = min(supported, key=lambda item: (version_key(item[2].name), item[0]))
    graph.add_edge(
        problem,
        target,
        key="first-seen-in",
        **_clean({"kind": "first-seen-in", "release_date": _iso(release.release_date)}),
    )
