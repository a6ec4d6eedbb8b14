"""The pipeline applies events idempotently and restores to the very same state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from problems.errors import SnapshotError
from problems.events import Event, TicketClosed, parse_event
from problems.pipeline import Pipeline
from tests.builders import jira_issue_payload, jira_version_payload, ticket_payload


def _events(*payloads: dict[str, Any]) -> list[Event]:
    return [parse_event(payload) for payload in payloads]


def _tickets(n: int) -> list[Event]:
    subjects = [
        "Checkout fails with ERR_PAYMENT_DECLINED_3DS on saved card",
        "CSV export times out after 30 seconds",
        "Mobile app crashes on login with NullPointerException",
    ]
    return _events(
        *(
            ticket_payload(
                event_id=f"e{index}",
                ticket_id=f"T-{index}",
                subject=subjects[index % 3],
                description=f"{subjects[index % 3]} (order ORD-{1000 + index})",
                closed_at=f"2026-03-{2 + index % 20:02d}T11:30:00Z",
                opened_at="2026-03-01T09:00:00Z",
            )
            for index in range(n)
        )
    )


def test_replayed_events_change_nothing() -> None:
    pipeline = Pipeline()
    events = [
        *_tickets(12),
        *_events(jira_issue_payload(), jira_version_payload()),
    ]
    assert pipeline.apply_many(events) == 14
    before = pipeline.save()
    assert pipeline.apply_many(events) == 0
    assert pipeline.save() == before


def test_reclosed_ticket_is_one_ticket() -> None:
    pipeline = Pipeline()
    first = ticket_payload(event_id="e1", ticket_id="T-9", reopen_count=0)
    second = ticket_payload(
        event_id="e2", ticket_id="T-9", reopen_count=1, closed_at="2026-03-09T10:00:00Z"
    )
    assert pipeline.apply_many(_events(first, second)) == 2
    assert len(pipeline.tickets_) == 1
    record = pipeline.tickets_["T-9"]
    assert record.close_count == 2
    assert record.reopen_count == 1


def test_jira_issue_upsert_newest_wins_and_delete_tombstones() -> None:
    pipeline = Pipeline()
    created = jira_issue_payload(key="CHK-1")
    resolved = jira_issue_payload(
        key="CHK-1",
        event="jira:issue_updated",
        status={"name": "Done", "statusCategory": {"key": "done"}},
        updated="2026-03-10T10:00:00.000+0000",
    )
    resolved["timestamp"] = created["timestamp"] + 1000
    pipeline.apply_many(_events(created, resolved))
    assert pipeline.defects_["CHK-1"].status == "Done"
    # A late duplicate of the older webhook does not roll the defect back.
    assert pipeline.apply_many(_events(created)) == 0
    assert pipeline.defects_["CHK-1"].status == "Done"
    deleted = jira_issue_payload(key="CHK-1", event="jira:issue_deleted")
    deleted["timestamp"] = resolved["timestamp"] + 1000
    assert pipeline.apply_many(_events(deleted)) == 1
    assert "CHK-1" not in pipeline.defects_
    assert pipeline.apply_many(_events(resolved)) == 0


def test_version_events_upsert_by_id() -> None:
    pipeline = Pipeline()
    created = jira_version_payload(event="jira:version_created", released=False, releaseDate=None)
    released = jira_version_payload(event="jira:version_released")
    pipeline.apply_many(_events(created, released))
    assert list(pipeline.releases_) == ["102"]
    assert pipeline.releases_["102"].released is True


def test_snapshot_round_trip_is_exact_and_behaves_the_same() -> None:
    events = _tickets(30)
    pipeline = Pipeline()
    pipeline.apply_many(events[:20])
    restored = Pipeline.load(pipeline.save())
    assert restored.save() == pipeline.save()
    pipeline.apply_many(events[20:])
    restored.apply_many(events[20:])
    assert restored.save() == pipeline.save()


def test_one_by_one_equals_batches() -> None:
    events = _tickets(40)
    batched, single = Pipeline(), Pipeline()
    batched.apply_many(events)
    for event in events:
        single.apply(event)
    assert single.save() == batched.save()


def test_snapshot_of_another_version_fails_clearly() -> None:
    data = json.loads(Pipeline().save())
    data["schema_version"] = 999
    with pytest.raises(SnapshotError, match="schema_version 999"):
        Pipeline.load(json.dumps(data).encode())
    with pytest.raises(SnapshotError, match="not JSON"):
        Pipeline.load(b"\x80pickle")


def _sample_with_a_reclose() -> tuple[list[Event], Pipeline]:
    """400 sample tickets plus a second close of the first one, and the state of applying
    them all at once (the reference a checkpointed run must end with)."""
    from problems.sample import generate_sample

    events = [parse_event(payload) for payload in generate_sample(seed=4, n_tickets=400).events]
    first = next(event for event in events if isinstance(event, TicketClosed))
    reclose = ticket_payload(
        event_id="again", ticket_id=first.ticket_id, closed_at="2026-09-01T10:00:00Z"
    )
    events.append(parse_event(reclose))  # closes a ticket of the first segment again
    reference = Pipeline()
    reference.apply_many(events)
    return events, reference


def test_snapshot_and_deltas_restore_the_uninterrupted_state() -> None:
    from problems.store import chain_bytes

    events, reference = _sample_with_a_reclose()

    pipeline = Pipeline()
    pipeline.defer_clustering = True  # clustering lags behind, as in the worker
    pipeline.apply_many(events[:150])
    pipeline.cluster_pending(40)
    base = pipeline.save()
    deltas = []
    for start in range(150, len(events), 97):
        pipeline.apply_many(events[start : start + 97])
        pipeline.cluster_pending(30)
        deltas.append(pipeline.save_delta())
    assert max(len(delta) for delta in deltas) < len(base)  # grows with the change only
    assert Pipeline.load(chain_bytes(base, deltas)).save() == reference.save()
    queued = Pipeline.load(chain_bytes(base, deltas), cluster=False)
    assert len(queued.unclustered_) == len(reference.tickets_) - 40  # all but the first 40
    assert queued.cluster_pending() > 0 and queued.save() == reference.save()
    pipeline.cluster_pending()
    assert pipeline.save() == reference.save()


def test_version_1_snapshot_still_loads() -> None:
    pipeline = Pipeline()
    pipeline.apply_many(_tickets(6))
    document = json.loads(pipeline.save())
    document["schema_version"] = 1
    del document["unclustered"]
    assert Pipeline.load(json.dumps(document).encode()).save() == pipeline.save()


def _write_base(pipeline: Pipeline, parts: dict[str, bytes], *, with_engine: bool = False) -> bytes:
    """Write a base in parts into ``parts`` as a store would; return its manifest."""
    view = pipeline.parts_view(with_engine=with_engine)
    if view.full:
        parts.clear()
    for name, part in view.parts:
        parts[name] = bytes(pipeline.encode_part(part))
    manifest = pipeline.encode_manifest(view, {name: [name] for name in parts}, 1)
    pipeline.base_landed(view)
    return manifest


def test_bases_in_parts_rewrite_what_changed_and_restore_the_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from problems import pipeline as pipeline_module
    from problems.store import parts_chain_bytes

    monkeypatch.setattr(pipeline_module, "SEGMENT_TICKETS", 37)
    events, reference = _sample_with_a_reclose()

    pipeline = Pipeline()
    pipeline.defer_clustering = True
    pipeline.apply_many(events[:150])
    pipeline.cluster_pending(40)
    parts: dict[str, bytes] = {}
    manifest = _write_base(pipeline, parts)  # the first is whole, with the engine
    assert {"jira", "originals", "engine", "tickets:0"} <= set(parts)
    deltas: list[bytes] = []
    for start in range(150, len(events), 97):
        pipeline.apply_many(events[start : start + 97])
        pipeline.cluster_pending(30)
        deltas.append(pipeline.save_delta())
        if start == 247:
            view_count = len(pipeline.tickets_)
            before = dict(parts)
            manifest, deltas = _write_base(pipeline, parts), []
            # Without the engine, and the segments before the tail kept as they were
            # (none of their tickets was closed again in between).
            assert parts["engine"] == before["engine"]
            assert parts["tickets:0"] == before["tickets:0"]
            assert json.loads(manifest)["n_tickets"] == view_count

    def restored(cluster: bool = True) -> Pipeline:
        return Pipeline.load(parts_chain_bytes(manifest, parts, deltas), cluster=cluster)

    assert restored().save() == reference.save()
    queued = restored(cluster=False)
    assert len(queued.unclustered_) == len(reference.tickets_) - 40  # engine part at 40
    engine_before = parts["engine"]
    manifest, deltas = _write_base(pipeline, parts, with_engine=True), []
    assert parts["engine"] != engine_before
    assert json.loads(manifest)["engine_at"] == len(pipeline.tickets_) - len(pipeline.unclustered_)
    assert restored().save() == reference.save()
    # A base of a restored state rewrites nothing it does not have to.
    again = restored(cluster=False)
    view = again.parts_view()
    assert not view.full and [name for name, _ in view.parts] == ["originals"]
    pipeline.cluster_pending()
    assert pipeline.save() == reference.save()


def test_a_failed_base_in_parts_leaves_its_changes_to_the_next() -> None:
    from problems.store import parts_chain_bytes

    events = _tickets(30)
    pipeline = Pipeline()
    pipeline.defer_clustering = True
    pipeline.apply_many(events[:10])
    parts: dict[str, bytes] = {}
    _write_base(pipeline, parts)
    pipeline.apply_many(events[10:20])
    pipeline.base_failed(pipeline.parts_view())  # written nowhere
    pipeline.save_delta()  # a delta that was lost too (its write failed)
    pipeline.apply_many(events[20:])
    manifest = _write_base(pipeline, parts)
    restored = Pipeline.load(parts_chain_bytes(manifest, parts, []))
    reference = Pipeline()
    reference.apply_many(events)
    assert restored.save() == reference.save()


def test_a_full_snapshot_loads_and_its_first_base_in_parts_is_whole() -> None:
    from problems.store import parts_chain_bytes

    pipeline = Pipeline()
    pipeline.defer_clustering = True
    pipeline.apply_many(_tickets(12))
    pipeline.cluster_pending(5)
    reclosed = ticket_payload(event_id="again", ticket_id="T-9", closed_at="2026-09-01T10:00:00Z")
    pipeline.apply_many(_events(reclosed))  # queued, then closed again
    old = Pipeline.load(pipeline.save(), cluster=False)  # schema version 2
    parts: dict[str, bytes] = {}
    view = old.parts_view()
    assert view.full and view.with_engine
    old.base_failed(view)
    manifest = _write_base(old, parts)
    restored = Pipeline.load(parts_chain_bytes(manifest, parts, []))
    pipeline.cluster_pending()
    assert restored.save() == pipeline.save()
    broken = dict(parts)
    del broken["tickets:0"]
    with pytest.raises(SnapshotError, match="misses part"):
        Pipeline.load(parts_chain_bytes(manifest, broken, []))
    document = json.loads(manifest)
    document["checkpoint_version"] = 99
    with pytest.raises(SnapshotError, match="checkpoint_version 99"):
        Pipeline.load(parts_chain_bytes(json.dumps(document).encode(), parts, []))


def test_duplicate_groups_catch_up_without_changing_earlier_decisions() -> None:
    """`Pipeline.duplicates` decides each clustered ticket once: after more tickets
    arrive, every earlier ticket keeps its group and its link, and the new ones are
    decided too."""
    from problems.sample import generate_sample

    events = [parse_event(event) for event in generate_sample(seed=5, n_tickets=300).events]
    half = len(events) // 2
    pipeline = Pipeline()
    pipeline.apply_many(events[:half])
    first = pipeline.duplicates()
    decided, links = dict(first.group_of_), dict(first.links_)
    assert len(decided) == pipeline.engine_.similar_index_.n_tickets_ > 0
    assert links, "the sample's recurring problems give duplicate links"
    pipeline.apply_many(events[half:])
    again = pipeline.duplicates()
    assert len(again.group_of_) == len(pipeline.tickets_) > len(decided)
    assert {t: again.group_of_[t] for t in decided} == decided
    assert {t: again.links_[t] for t in links} == links
    assert set(again.groups()) <= set(again.group_of_)
