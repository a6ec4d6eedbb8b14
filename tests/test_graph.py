"""The problem graph: typed nodes and edges, queries, exports, incremental updates."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import networkx as nx
import pytest

from problems.book import RecordBook
from problems.events import parse_event
from problems.graph import (
    GraphError,
    build_graph,
    clusters_with_release,
    clusters_without_defect,
    linked_defects,
    regressions,
    to_graphml,
    to_node_link_json,
    top_customers_for_defect,
    update_graph,
)
from problems.linker import Evidence, Link, find_spikes, problem_groups, propose_links
from problems.records import (
    DefectRecord,
    ReleaseRecord,
    TicketRecord,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def ticket(
    ticket_id: str,
    days: float,
    version: str | None,
    customer: str = "acme",
    component: str | None = "Checkout",
    arr: float = 1_000.0,
) -> TicketRecord:
    opened = START + timedelta(days=days)
    return TicketRecord(
        ticket_id=ticket_id,
        event_ids=(f"e-{ticket_id}",),
        opened_at=opened,
        first_closed_at=opened,
        closed_at=opened + timedelta(hours=2),
        subject="Coupon NPE for jane@example.com",
        text="masked text",
        customer_id=customer,
        customer_name="Acme",
        arr=arr,
        product="shop",
        component=component,
        version=version,
    )


def releases() -> dict[str, ReleaseRecord]:
    names = ["7.1.0", "7.2.0", "7.3.0", "7.4.0"]
    return {
        str(i): ReleaseRecord(
            id=str(i),
            name=name,
            project_id="10",
            release_date=(START + timedelta(days=20 * i)).date(),
            released=True,
        )
        for i, name in enumerate(names)
    }


def state() -> tuple[dict[str, TicketRecord], dict[str, DefectRecord], dict[str, str], list[Link]]:
    """P1 regresses after its fix in 7.2.0; P2 is fixed in 7.2.0 for good; P3 has no defect."""
    tickets: dict[str, TicketRecord] = {}
    memberships: dict[str, str] = {}

    def add(cluster: str, ticket_id: str, *args: object, **kwargs: object) -> None:
        tickets[ticket_id] = ticket(ticket_id, *args, **kwargs)  # type: ignore[arg-type]
        memberships[ticket_id] = cluster

    for i in range(6):
        add("P1", f"a{i}", 2 + i, "7.1.0", customer="acme" if i % 2 else "globex")
        add("P2", f"b{i}", 3 + i, "7.1.0", customer="initech")
    for i in range(4):  # after 7.2.0 shipped (day 20), on 7.2.0 and 7.3.0
        add("P1", f"c{i}", 45 + i, "7.2.0" if i < 2 else "7.3.0", customer="acme")
    for i in range(5):
        add("P3", f"d{i}", 41 + i, "7.2.0", customer="umbrella", component="Search")
    defects = {
        "CHK-1": DefectRecord(
            key="CHK-1", project="CHK", summary="NPE in coupon service", created=START,
            components=("checkout",), affected_versions=("7.1.0",), fix_versions=("7.2.0",),
        ),
        "CHK-2": DefectRecord(
            key="CHK-2", project="CHK", summary="Cart merge loses items", created=START,
            fix_versions=("Release 7.2",),
        ),
        "CHK-3": DefectRecord(key="CHK-3", project="CHK", summary="Unlinked", created=START),
    }  # fmt: skip
    links = [
        Link(cluster_id="P1", defect_key="CHK-1", confidence=0.9, status="proposed",
             evidence=Evidence(cosine=0.4, explicit_count=2, explicit_share=0.2)),
        Link(cluster_id="P2", defect_key="CHK-2", confidence=0.8, status="confirmed",
             evidence=Evidence(cosine=0.3, version_share=1.0)),
        Link(cluster_id="P3", defect_key="CHK-3", confidence=0.7, status="rejected",
             evidence=Evidence()),
    ]  # fmt: skip
    return tickets, defects, memberships, links


def test_typed_nodes_and_edges() -> None:
    tickets, defects, memberships, links = state()
    g = build_graph(tickets, defects, releases(), memberships, links, cluster_titles={"P1": "NPE"})
    kinds = {data["kind"] for _, data in g.nodes(data=True)}
    assert kinds == {"problem", "defect", "release", "customer", "component", "product"}
    assert g.nodes["problem:P1"]["n_tickets"] == 10 and g.nodes["problem:P1"]["title"] == "NPE"
    assert g.nodes["problem:P1"]["n_customers"] == 2
    assert g.edges["problem:P1", "customer:acme", "reported-by"]["n_tickets"] == 7
    assert g.edges["problem:P1", "release:7.1", "reported-on"]["n_tickets"] == 6
    assert g.has_edge("problem:P1", "component:checkout", "affects")
    assert g.has_edge("defect:CHK-1", "component:checkout", "affects")
    assert g.has_edge("defect:CHK-1", "release:7.1", "affects")
    assert g.has_edge("defect:CHK-1", "release:7.2", "fixed-in")
    assert g.has_edge("defect:CHK-2", "release:7.2", "fixed-in")  # "Release 7.2" is 7.2.0
    link = g.edges["problem:P1", "defect:CHK-1", "linked-to"]
    assert link["status"] == "proposed" and link["explicit_count"] == 2 and link["cosine"] == 0.4
    assert not g.has_edge("problem:P3", "defect:CHK-3")  # rejected links stay out
    assert g.has_edge("problem:P1", "release:7.1", "first-seen-in")
    assert g.has_edge("problem:P3", "release:7.2", "first-seen-in")
    assert g.nodes["release:7.2"]["release_date"] == "2026-01-25"
    assert not any(data["kind"] == "ticket" for _, data in g.nodes(data=True))


def test_queries() -> None:
    tickets, defects, memberships, links = state()
    g = build_graph(tickets, defects, releases(), memberships, links)
    assert clusters_without_defect(g) == ["P3"]
    assert linked_defects(g, "P1") == ["CHK-1"] and linked_defects(g, "nope") == []
    found = regressions(g)
    assert [(r.cluster_id, r.defect_key, r.n_tickets) for r in found] == [("P1", "CHK-1", 4)]
    assert found[0].fix_date == date(2026, 1, 25) and found[0].versions == ("7.2.0", "7.3.0")
    assert regressions(g, min_tickets=5) == []
    assert clusters_with_release(g, "7.2.0") == ["P3"]
    assert clusters_with_release(g, "v7.1") == ["P1", "P2"]
    assert clusters_with_release(g, "9.9") == []
    assert top_customers_for_defect(g, "CHK-1", n=5) == [("acme", 7), ("globex", 3)]
    assert top_customers_for_defect(g, "CHK-3") == []
    assert top_customers_for_defect(g, "NOPE-1") == []


def test_fix_not_yet_shipped_is_no_regression() -> None:
    tickets, defects, memberships, links = state()
    unshipped = {
        key: value.model_copy(update={"released": False}) for key, value in releases().items()
    }
    g = build_graph(tickets, defects, unshipped, memberships, links)
    assert regressions(g) == []


def test_incremental_updates_give_the_rebuilt_graph() -> None:
    tickets, defects, memberships, links = state()
    full = build_graph(tickets, defects, releases(), memberships, links, include_tickets=True)
    ordered = sorted(tickets)
    g = build_graph({}, {}, {}, {}, [], include_tickets=True)
    # Tickets arrive before the releases and defects they name, in several batches.
    for start in range(0, len(ordered), 7):
        batch = {key: tickets[key] for key in ordered[start : start + 7]}
        update_graph(g, tickets=batch, memberships=memberships)
    update_graph(g, releases=releases())
    update_graph(g, defects=defects, links=links)
    assert nx.utils.graphs_equal(g, full)
    assert sorted(g.edges(keys=True, data=True)) == sorted(full.edges(keys=True, data=True))
    assert any(data["kind"] == "ticket" for _, data in g.nodes(data=True))
    with pytest.raises(GraphError):
        update_graph(g, tickets=tickets)
    with pytest.raises(GraphError):
        update_graph(nx.MultiDiGraph(), tickets=tickets, memberships=memberships)


def test_changed_defect_replaces_its_edges() -> None:
    tickets, defects, memberships, links = state()
    g = build_graph(tickets, defects, releases(), memberships, links)
    moved = defects["CHK-1"].model_copy(update={"fix_versions": ("7.3.0",), "status": "Done"})
    update_graph(g, defects={"CHK-1": moved})
    assert not g.has_edge("defect:CHK-1", "release:7.2", "fixed-in")
    assert g.has_edge("defect:CHK-1", "release:7.3", "fixed-in")
    assert g.nodes["defect:CHK-1"]["status"] == "Done"
    rebuilt = build_graph(tickets, {**defects, "CHK-1": moved}, releases(), memberships, links)
    assert nx.utils.graphs_equal(g, rebuilt)


def _sample_state(
    seed: int,
) -> tuple[
    dict[str, TicketRecord],
    dict[str, DefectRecord],
    dict[str, ReleaseRecord],
    dict[str, str],
    list[str],
]:
    from problems.sample import generate_sample

    sample = generate_sample(seed=seed, n_tickets=600, weeks=16)
    book = RecordBook.from_events(parse_event(raw) for raw in sample.events)
    tickets, defects, found_releases = book.tickets, book.defects, book.releases
    memberships = {t: c for t, c in sample.ground_truth["tickets"].items() if c != "noise"}
    raw_text = [json.dumps(raw) for raw in sample.events]
    return tickets, defects, found_releases, memberships, raw_text


def test_rebuild_from_saved_state_is_identical_and_exports_are_masked(tmp_path: Path) -> None:
    tickets, defects, found_releases, memberships, raw_text = _sample_state(seed=5)
    links = propose_links(tickets, defects, memberships)
    spikes = find_spikes(tickets, problem_groups(memberships, links), found_releases)
    g = build_graph(tickets, defects, found_releases, memberships, links, spikes=spikes)
    saved = json.dumps(
        {
            "tickets": [t.model_dump(mode="json") for t in tickets.values()],
            "defects": [d.model_dump(mode="json") for d in defects.values()],
            "releases": [r.model_dump(mode="json") for r in found_releases.values()],
            "memberships": memberships,
        }
    )
    loaded = json.loads(saved)
    tickets2 = {t["ticket_id"]: TicketRecord.model_validate(t) for t in loaded["tickets"]}
    defects2 = {d["key"]: DefectRecord.model_validate(d) for d in loaded["defects"]}
    releases2 = {r["id"]: ReleaseRecord.model_validate(r) for r in loaded["releases"]}
    links2 = propose_links(tickets2, defects2, loaded["memberships"])
    spikes2 = find_spikes(tickets2, problem_groups(loaded["memberships"], links2), releases2)
    rebuilt = build_graph(
        tickets2, defects2, releases2, loaded["memberships"], links2, spikes=spikes2
    )
    assert links2 == links and spikes2 == spikes
    assert nx.utils.graphs_equal(g, rebuilt)

    graphml, node_link = tmp_path / "g.graphml", tmp_path / "g.json"
    to_graphml(g, graphml)
    to_node_link_json(g, node_link)
    read_back = nx.read_graphml(graphml, force_multigraph=True)
    assert read_back.number_of_nodes() == g.number_of_nodes()
    assert read_back.number_of_edges() == g.number_of_edges()
    from_json = nx.node_link_graph(json.loads(node_link.read_text()), edges="links")
    assert sorted(from_json.nodes) == sorted(g.nodes)
    # Personal data planted in the raw events never reaches an export.
    emails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", " ".join(raw_text)))
    assert emails
    for path in (graphml, node_link):
        exported = path.read_text(encoding="utf-8")
        assert not any(email in exported for email in emails)
