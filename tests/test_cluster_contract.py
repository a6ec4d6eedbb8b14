"""Contract of the clustering engine as a stateful component.

Snapshot round trip, inputs never mutated, a replayed ticket changes nothing, the same
tickets give the same state, and a batch equals the same tickets learned one by one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest

from problems.cluster import Assignment, ClusterEngine, ClusterSnapshotError
from problems.events import parse_event
from problems.records import TicketRecord, ticket_record
from problems.sample import generate_sample

# Small rebuild intervals make short streams cross many rebuilds and snapshots land
# mid-buffer, where a round trip is hardest.
PARAMS = {"rebuild_every": 37, "min_cluster_size": 3, "similarity_threshold": 0.2}


@lru_cache(maxsize=1)
def sample_tickets() -> tuple[TicketRecord, ...]:
    sample = generate_sample(seed=3, n_tickets=240, weeks=16)
    records: dict[str, TicketRecord] = {}
    for event in sample.events:
        if event.get("event_type") == "ticket.closed" and event["ticket_id"] not in records:
            records[event["ticket_id"]] = ticket_record(parse_event(event))
    return tuple(records.values())


def test_snapshot_round_trip_gives_same_state_and_same_future() -> None:
    tickets = sample_tickets()
    engine = ClusterEngine(**PARAMS)
    engine.learn_many(tickets[:150])
    state = engine.to_state()
    assert state["schema_version"] == 1
    restored = ClusterEngine.from_state(json.loads(json.dumps(state)))
    assert restored.to_state() == state
    assert restored.learn_many(tickets[150:]) == engine.learn_many(tickets[150:])
    assert restored.to_state() == engine.to_state()
    assert restored.memberships() == engine.memberships()
    assert restored.clusters() == engine.clusters()


def test_round_trip_after_corrections_keeps_them() -> None:
    tickets = sample_tickets()
    engine = ClusterEngine(**PARAMS)
    engine.learn_many(tickets[:180])
    clusters = [c.id for c in engine.clusters() if not c.is_noise]
    assert len(clusters) >= 2
    engine.set_title(clusters[0], "Checkout coupon crash")
    engine.merge(clusters[:2])
    restored = ClusterEngine.from_state(json.loads(json.dumps(engine.to_state())))
    assert restored.corrections_ == engine.corrections_
    assert restored.lineage_ == engine.lineage_
    assert restored.learn_many(tickets[180:]) == engine.learn_many(tickets[180:])
    assert restored.to_state() == engine.to_state()


def test_input_not_mutated() -> None:
    tickets = list(sample_tickets()[:120])
    before = [ticket.model_dump() for ticket in tickets]
    order = [ticket.ticket_id for ticket in tickets]
    engine = ClusterEngine(**PARAMS)
    engine.learn_many(tickets)
    engine.predict_one(tickets[0])
    assert [ticket.model_dump() for ticket in tickets] == before
    assert [ticket.ticket_id for ticket in tickets] == order


def test_replaying_a_ticket_changes_nothing() -> None:
    tickets = sample_tickets()[:150]
    engine = ClusterEngine(**PARAMS)
    first = engine.learn_many(tickets)
    state = engine.to_state()
    again = engine.learn_many(tickets[:40])
    assert engine.to_state() == state
    assert [a.ticket_id for a in again] == [t.ticket_id for t in tickets[:40]]
    assert engine.learn_one(tickets[7]).cluster_id == engine.cluster_of(tickets[7].ticket_id)
    assert engine.to_state() == state
    assert len(first) == len(tickets)


def test_duplicate_inside_one_batch_is_learned_once() -> None:
    tickets = list(sample_tickets()[:60])
    batch = [*tickets[:30], tickets[5], *tickets[30:]]
    one = ClusterEngine(**PARAMS)
    results = one.learn_many(batch)
    two = ClusterEngine(**PARAMS)
    two.learn_many(tickets)
    assert one.to_state() == two.to_state()
    assert results[30].ticket_id == tickets[5].ticket_id


def test_same_tickets_same_seed_same_state() -> None:
    tickets = sample_tickets()
    a, b = ClusterEngine(seed=5, **PARAMS), ClusterEngine(seed=5, **PARAMS)
    a.learn_many(tickets)
    b.learn_many(tickets)
    assert a.to_state() == b.to_state()
    assert json.dumps(a.to_state(), sort_keys=True) == json.dumps(b.to_state(), sort_keys=True)


@lru_cache(maxsize=1)
def one_by_one() -> tuple[list[Assignment], dict[str, Any]]:
    looped = ClusterEngine(**PARAMS)
    assignments = [looped.learn_one(ticket) for ticket in sample_tickets()]
    return assignments, looped.to_state()


@pytest.mark.parametrize("chunk", [13, 240])
def test_learn_many_equals_learn_one_loop(chunk: int) -> None:
    tickets = sample_tickets()
    expected, state = one_by_one()
    batched = ClusterEngine(**PARAMS)
    in_batches = []
    for start in range(0, len(tickets), chunk):
        in_batches.extend(batched.learn_many(tickets[start : start + chunk]))
    assert in_batches == expected
    assert batched.to_state() == state


def test_predict_one_changes_nothing() -> None:
    tickets = sample_tickets()
    engine = ClusterEngine(**PARAMS)
    engine.learn_many(tickets[:120])
    state = engine.to_state()
    predicted = engine.predict_one(tickets[120])
    assert engine.to_state() == state
    learned = engine.learn_one(tickets[120])
    assert predicted.cluster_id == learned.cluster_id
    assert predicted.candidate_id is None or predicted.candidate_id == learned.candidate_id


def test_other_schema_version_fails_clearly() -> None:
    state = ClusterEngine().to_state()
    with pytest.raises(ClusterSnapshotError, match="schema_version"):
        ClusterEngine.from_state({**state, "schema_version": 99})
    with pytest.raises(ClusterSnapshotError):
        ClusterEngine.from_state({"schema_version": 1})
