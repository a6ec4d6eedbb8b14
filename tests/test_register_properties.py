"""Register invariants over random states (hypothesis): the score is the sum of its shown
parts, rows are ranked, counts add up, and the order the state was built in changes
nothing."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from problems.records import TicketRecord
from problems.register import ClusterInfo, ImpactWeights, build_register, to_json

WEEK = "2026-W47"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)

ticket_strategy = st.tuples(
    st.integers(min_value=-2 * 7 * 24, max_value=20 * 7 * 24),  # hours before the week ends
    st.sampled_from(["P1", "P2", "P3", "NOISE"]),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.sampled_from(["enterprise", "business", "pro", "free"]),
    st.sampled_from([0.0, 1_000.0, 55_555.5, 2_000_000.0]),
    st.sampled_from(["critical", "high", "medium", "low"]),
    st.floats(min_value=0, max_value=600, allow_nan=False),
    st.integers(min_value=0, max_value=3),
    st.booleans(),
    st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
)


def _records(specs: list[tuple]) -> dict[str, TicketRecord]:  # type: ignore[type-arg]
    tickets = {}
    for i, (hours, _, customer, tier, arr, severity, handle, reopens, sla, csat) in enumerate(
        specs
    ):
        closed = WEEK_START + timedelta(days=7) - timedelta(hours=hours, minutes=1)
        tickets[f"T-{i:04d}"] = TicketRecord(
            ticket_id=f"T-{i:04d}",
            event_ids=(f"e{i}",),
            opened_at=closed - timedelta(hours=1),
            first_closed_at=closed,
            closed_at=closed,
            subject="s",
            text="",
            customer_id=customer,
            tier=tier,
            arr=arr,
            product="billing",
            severity=severity,
            handle_time_minutes=handle,
            reopen_count=reopens,
            sla_breached=sla,
            csat=csat,
        )
    return tickets


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ticket_strategy, min_size=1, max_size=60), st.integers(0, 2**16))
def test_register_invariants(specs: list[tuple], seed: int) -> None:  # type: ignore[type-arg]
    tickets = _records(specs)
    memberships = {f"T-{i:04d}": spec[1] for i, spec in enumerate(specs)}
    clusters = {
        cid: ClusterInfo(cid, is_noise=cid == "NOISE") for cid in ("P1", "P2", "P3", "NOISE")
    }
    weights = ImpactWeights(window_weeks=8)
    register = build_register(tickets, {}, {}, memberships, clusters, {}, WEEK, weights=weights)

    week_end = WEEK_START + timedelta(days=7)
    known = [tid for tid, t in tickets.items() if t.first_closed_at < week_end]
    assert register.n_tickets == register.n_clustered_tickets == len(known)
    assert sum(row.weekly_counts[-1] for row in register.rows) == sum(
        1 for tid in known if tickets[tid].first_closed_at >= WEEK_START
    )
    assert [row.rank for row in register.rows] == list(range(1, len(register.rows) + 1))
    problems = register.problems
    assert all(a.impact.score >= b.impact.score for a, b in itertools.pairwise(problems))
    assert all(row.is_noise for row in register.rows[len(problems) :])
    for row in register.rows:
        assert abs(row.impact.score - sum(row.impact.contributions.values())) < 1e-3
        assert row.n_critical + row.n_high + row.n_medium + row.n_low == row.n_tickets
        assert row.n_customers <= min(row.n_tickets, 5) or row.n_tickets == 0
        assert row.first_seen <= row.last_seen

    # The same state built in another order gives the same bytes.
    order = list(tickets)
    random.Random(seed).shuffle(order)
    shuffled_tickets = {tid: tickets[tid] for tid in order}
    shuffled_members = {tid: memberships[tid] for tid in order}
    again = build_register(
        shuffled_tickets, {}, {}, shuffled_members, clusters, {}, WEEK, weights=weights
    )
    assert to_json(again) == to_json(register)
