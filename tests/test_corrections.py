"""People's corrections: recorded in state and steering what the engine does next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from problems.cluster import ClusterEngine, InvalidCorrection, UnknownCluster
from problems.records import TicketRecord

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

EXPORT = [
    "CSV export times out for large reports",
    "Report export to CSV times out",
    "CSV export of the sales report times out",
    "Timeout when exporting report as CSV",
    "Exporting large report to CSV fails with timeout",
]
LOGIN = [
    "SSO login fails with invalid SAML assertion",
    "Cannot log in with SSO, SAML assertion invalid",
    "SAML SSO login error: assertion invalid",
    "Login through SSO fails, invalid SAML response",
    "SSO login broken: SAML assertion rejected as invalid",
]
PUSH = [
    "Android push notifications not received",
    "Push notifications stopped on Android devices",
    "No push notifications on Android phones",
    "Android app does not receive push notifications",
]


def ticket(n: int, subject: str, text: str = "") -> TicketRecord:
    moment = START + timedelta(hours=n)
    return TicketRecord(
        ticket_id=f"T-{n}",
        event_ids=(f"e-{n}",),
        opened_at=moment,
        first_closed_at=moment,
        closed_at=moment,
        subject=subject,
        text=text or subject,
        customer_id="acme",
        product="reports",
    )


def engine_with(*groups: list[str], **params: float) -> tuple[ClusterEngine, list[TicketRecord]]:
    engine = ClusterEngine(similarity_threshold=0.2, min_cluster_size=3, min_merge_size=1, **params)
    tickets = [ticket(n, s) for n, s in enumerate(s for group in groups for s in group)]
    engine.learn_many(tickets)
    return engine, tickets


def test_groups_form_and_corrections_are_recorded() -> None:
    engine, tickets = engine_with(EXPORT, LOGIN)
    export, login = engine.cluster_of("T-0"), engine.cluster_of("T-5")
    assert export and login and export != login
    assert {engine.cluster_of(t.ticket_id) for t in tickets[:5]} == {export}
    engine.set_title(export, "CSV export timeout")
    engine.mark_noise(login)
    assert [c.action for c in engine.corrections_] == ["set_title", "mark_noise"]
    assert [c.order for c in engine.corrections_] == [1, 2]
    # Time comes from the tickets, never from the clock.
    assert engine.corrections_[0].at == tickets[-1].first_closed_at


def test_moved_ticket_pulls_its_look_alikes() -> None:
    engine, _ = engine_with(EXPORT, LOGIN)
    export, login = engine.cluster_of("T-0"), engine.cluster_of("T-5")
    assert export is not None and login is not None
    # A person says this export ticket belongs with the login problem (must-link).
    odd = ticket(50, "CSV export times out for large reports after SSO login")
    assert engine.learn_one(odd).cluster_id == export
    engine.move("T-50", login)
    assert engine.cluster_of("T-50") == login
    twin = ticket(51, "CSV export times out for large reports after SSO login")
    assignment = engine.learn_one(twin)
    assert assignment.cluster_id == login
    # Without the correction, the twin would have gone to the export cluster.
    control, _ = engine_with(EXPORT, LOGIN)
    control.learn_one(odd)
    assert control.learn_one(twin).cluster_id == export


def test_split_clusters_are_never_merged_again() -> None:
    engine, _ = engine_with(EXPORT)
    export = engine.cluster_of("T-0")
    assert export is not None
    new_id = engine.split(export, ["T-3", "T-4"])
    assert new_id != export
    assert engine.cluster_of("T-3") == new_id and engine.cluster_of("T-0") == export
    assert engine.lineage_[-1].kind == "split"
    assert engine.lineage_[-1].sources == (export,) and engine.lineage_[-1].targets == (new_id,)
    engine.merge_threshold = 0.0  # anything may merge...
    engine.consolidate()
    assert engine.cluster_of("T-3") == new_id  # ...except what a person split apart
    assert engine.cluster_of("T-0") == export


def test_consolidation_merges_converged_clusters_with_lineage() -> None:
    engine, _ = engine_with(EXPORT, LOGIN, PUSH)
    ids = {engine.cluster_of(f"T-{n}") for n in (0, 5, 10)}
    assert len(ids) == 3
    engine.merge_threshold = 0.0
    lineage = engine.consolidate()
    assert lineage and all(entry.kind == "merge" for entry in lineage)
    assert all(entry.by == "consolidation" for entry in lineage)
    survivors = {engine.cluster_of(f"T-{n}") for n in (0, 5, 10)}
    assert len(survivors) < 3
    merged = [c for c in engine.clusters(include_merged=True) if c.merged_into]
    assert {c.id for c in merged} == {s for entry in lineage for s in entry.sources}
    # Ids never change: the survivor keeps its own id.
    assert survivors <= ids


def test_noise_cluster_keeps_its_look_alikes_as_noise() -> None:
    engine, _ = engine_with(EXPORT, LOGIN)
    login = engine.cluster_of("T-5")
    assert login is not None
    engine.mark_noise(login)
    assert engine.cluster_of("T-5") is None
    assert "T-5" not in engine.memberships()
    assignment = engine.learn_one(ticket(60, "SSO login fails, SAML assertion invalid again"))
    assert assignment.cluster_id is None and assignment.is_noise
    assert [c.is_noise for c in engine.clusters() if c.id == login] == [True]
    engine.mark_noise(login, noise=False)
    assert engine.cluster_of("T-60") == login


def test_person_title_survives_consolidation() -> None:
    engine, _ = engine_with(EXPORT, LOGIN)
    export, login = engine.cluster_of("T-0"), engine.cluster_of("T-5")
    assert export is not None and login is not None
    engine.set_title(login, "SSO is broken")
    engine.merge_threshold = 0.0
    engine.consolidate()
    survivor = engine.cluster_of("T-5")
    assert survivor is not None
    summary = next(c for c in engine.clusters() if c.id == survivor)
    assert summary.title == "SSO is broken" and summary.title_by_person


def test_merge_by_person_keeps_oldest_id_and_title() -> None:
    engine, _ = engine_with(EXPORT, LOGIN)
    export, login = engine.cluster_of("T-0"), engine.cluster_of("T-5")
    assert export is not None and login is not None
    kept = engine.merge([login, export], title="Reports and SSO")
    assert kept == min(export, login)
    assert engine.cluster_of("T-0") == engine.cluster_of("T-5") == kept
    summary = engine.cluster(kept)
    assert summary.title == "Reports and SSO" and summary.size == 10
    other = login if kept == export else export
    assert engine.cluster(other).merged_into == kept
    with pytest.raises(InvalidCorrection):
        engine.merge([other])
    with pytest.raises(UnknownCluster):
        engine.set_title("P-999999", "nope")
