"""The clustering engine: assignment, stable ids, candidates, explanations, bounds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from problems.cluster import ClusterEngine, UnknownTicket
from problems.events import parse_event
from problems.records import TicketRecord, ticket_record
from problems.sample import generate_sample

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ticket(
    n: int, subject: str, text: str = "", hours: float | None = None, **extra: str
) -> TicketRecord:
    moment = START + timedelta(hours=n if hours is None else hours)
    return TicketRecord(
        ticket_id=f"T-{n}",
        event_ids=(f"e-{n}",),
        opened_at=moment,
        first_closed_at=moment,
        closed_at=moment,
        subject=subject,
        text=text or subject,
        customer_id="acme",
        product=extra.get("product", "reports"),
        component=extra.get("component"),
        version=extra.get("version"),
    )


EXPORT = [
    "CSV export times out for large reports",
    "Report export to CSV times out",
    "CSV export of the sales report times out",
    "Timeout when exporting report as CSV",
]
UNRELATED = [
    "Invoice PDF shows wrong VAT rate",
    "Android push notifications not received",
    "Password reset link expired immediately",
    "Dashboard widget blank after upgrade",
]


def test_candidate_becomes_cluster_with_sequential_stable_id() -> None:
    engine = ClusterEngine(similarity_threshold=0.2, min_cluster_size=3)
    first = engine.learn_many(ticket(n, s) for n, s in enumerate(EXPORT[:2]))
    assert [a.cluster_id for a in first] == [None, None]
    assert first[0].candidate_id == first[1].candidate_id is not None
    third = engine.learn_one(ticket(2, EXPORT[2]))
    assert third.cluster_id == "P-000001" and third.is_new_cluster
    assert engine.memberships() == {"T-0": "P-000001", "T-1": "P-000001", "T-2": "P-000001"}
    fourth = engine.learn_one(ticket(3, EXPORT[3]))
    assert fourth.cluster_id == "P-000001" and not fourth.is_new_cluster
    assert fourth.nearest_ticket_id in {"T-0", "T-1", "T-2"}
    others = engine.learn_many(ticket(10 + n, s) for n, s in enumerate(UNRELATED))
    assert all(a.cluster_id is None for a in others)
    assert engine.cluster_of("T-0") == "P-000001"


def test_summary_explains_the_cluster() -> None:
    engine = ClusterEngine(similarity_threshold=0.2, min_cluster_size=2)
    texts = [f"{s}. Error ERR_EXPORT_TIMEOUT after 30 s" for s in EXPORT]
    engine.learn_many(
        ticket(n, s, t, component="Exports", version="5.1.0")
        for n, (s, t) in enumerate(zip(EXPORT, texts, strict=True))
    )
    engine.learn_many(ticket(10 + n, s) for n, s in enumerate(UNRELATED))
    (summary,) = [c for c in engine.clusters() if c.size == 4]
    assert {"csv", "export"} & set(summary.terms)
    assert all(term.isalpha() for term in summary.terms)  # words, not hashes
    assert summary.components == ("Exports",) and summary.versions == ("5.1",)
    assert "code:err_export_timeout" in summary.error_codes
    assert summary.representative_ticket_id in {"T-0", "T-1", "T-2", "T-3"}
    assert summary.representative_subject in EXPORT
    assert summary.first_seen == START and summary.last_seen == START + timedelta(hours=3)
    why = engine.explain_ticket("T-3")
    assert why["cluster_id"] == summary.id and why["status"] == "cluster"
    assert why["similarity"] >= engine.similarity_threshold
    assert "component" in why["shared_fields"] and "code:err_export_timeout" in why["shared_fields"]
    assert why["nearest_ticket_id"] in {"T-0", "T-1", "T-2"}
    with pytest.raises(UnknownTicket):
        engine.explain_ticket("T-404")


def test_candidates_expire_by_ticket_time_and_are_bounded() -> None:
    engine = ClusterEngine(
        similarity_threshold=0.2, candidate_ttl_days=2, max_candidates=3, rebuild_every=4
    )
    engine.learn_many(ticket(n, s, hours=0) for n, s in enumerate(UNRELATED))
    # A rebuild after four tickets: four lone candidates, at most three kept.
    statuses = Counter(engine.explain_ticket(f"T-{n}")["status"] for n in range(4))
    assert statuses == {"candidate": 3, "unassigned": 1}
    later = [
        ticket(20 + n, f"Unrelated topic number {word}", hours=24 * 5)
        for n, word in enumerate(["alpha", "bravo", "charlie", "delta"])
    ]
    engine.learn_many(later)
    assert all(engine.explain_ticket(f"T-{n}")["status"] == "unassigned" for n in range(4))


def test_centroids_stay_bounded() -> None:
    engine = ClusterEngine(similarity_threshold=0.1, max_centroid_features=20, rebuild_every=2)
    engine.learn_many(ticket(n, EXPORT[n % 4] + f" variant {n}") for n in range(12))
    engine.consolidate()
    lengths = engine.sums_.indptr[1:] - engine.sums_.indptr[:-1]
    assert lengths.max() <= 20


def test_sample_clusters_match_root_causes() -> None:
    sample = generate_sample(seed=11, n_tickets=600, weeks=16)
    records: dict[str, TicketRecord] = {}
    for event in sample.events:
        if event.get("event_type") == "ticket.closed" and event["ticket_id"] not in records:
            records[event["ticket_id"]] = ticket_record(parse_event(event))
    truth = sample.ground_truth["tickets"]
    engine = ClusterEngine()
    engine.learn_many(records.values())
    engine.consolidate()
    members = engine.memberships()
    # Each cluster is dominated by one root cause (purity), noise mostly stays out.
    by_cluster: dict[str, Counter[str]] = {}
    for ticket_id, cluster_id in members.items():
        by_cluster.setdefault(cluster_id, Counter())[truth[ticket_id]] += 1
    clustered = sum(sum(c.values()) for c in by_cluster.values())
    pure = sum(c.most_common(1)[0][1] for c in by_cluster.values())
    assert pure / clustered >= 0.85
    noise = [t for t, cause in truth.items() if cause == "noise"]
    assert sum(t not in members for t in noise) / len(noise) >= 0.5
    causes = [t for t, cause in truth.items() if cause != "noise"]
    assert sum(t in members for t in causes) / len(causes) >= 0.7
