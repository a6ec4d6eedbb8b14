"""Tests of the similar-tickets index."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from problems.cluster.features import TicketFeaturizer
from problems.cluster.similar import SimilarTickets, SimilarTicketsSnapshotError

START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    subject: str
    text: str = ""
    product: str = "hdfs"
    component: str | None = "namenode"
    version: str | None = None
    tags: tuple[str, ...] = ()
    opened_at: datetime = START


SUBJECTS = [
    "NameNode crashes on startup with NullPointerException",
    "Balancer ignores excluded datanodes",
    "Web UI shows wrong capacity",
    "DistCp fails on files larger than 2 GB",
    "Kerberos ticket renewal fails after 24 hours",
    "YARN ResourceManager leaks memory under load",
]


def tickets(n_copies: int = 1) -> list[Ticket]:
    return [
        Ticket(f"T-{copy}-{n}", subject, opened_at=START + timedelta(days=n + 40 * copy))
        for copy in range(n_copies)
        for n, subject in enumerate(SUBJECTS)
    ]


def test_finds_the_paraphrase_first() -> None:
    index = SimilarTickets()
    index.learn_many(tickets())
    result = index.query(Ticket("Q", "NPE in NameNode during startup"), k=3)
    assert result[0][0] == "T-0-0"
    assert len(result) == 3
    assert [score for _, score in result] == sorted((score for _, score in result), reverse=True)


def test_exclude_self() -> None:
    index = SimilarTickets()
    index.learn_many(tickets())
    learned = tickets()[2]
    assert learned.ticket_id not in [i for i, _ in index.query(learned, k=10)]
    with_self = index.query(learned, k=1, exclude_self=False)
    assert with_self[0][0] == learned.ticket_id


def test_k_larger_than_index_and_empty_index() -> None:
    assert SimilarTickets().query(Ticket("Q", "anything"), k=5) == []
    index = SimilarTickets()
    index.learn_many(tickets())
    assert len(index.query(Ticket("Q", "anything"), k=100)) == len(SUBJECTS)


def test_learning_twice_changes_nothing() -> None:
    index = SimilarTickets()
    index.learn_many(tickets())
    before = index.to_state()
    index.learn_many(tickets())
    index.learn_one(tickets()[0])
    assert index.to_state() == before


def test_batch_equals_one_by_one() -> None:
    batch, single = SimilarTickets(), SimilarTickets()
    batch.learn_many(tickets(3))
    for ticket in tickets(3):
        single.learn_one(ticket)
    query = Ticket("Q", "ResourceManager memory leak", opened_at=START + timedelta(days=50))
    assert batch.query(query, k=5) == single.query(query, k=5)


def test_answers_do_not_depend_on_earlier_queries() -> None:
    quiet, busy = SimilarTickets(), SimilarTickets()
    query = Ticket("Q", "Kerberos renewal fails")
    for ticket in tickets(3):
        quiet.learn_one(ticket)
        busy.learn_one(ticket)
        busy.query(query, k=3)
    assert quiet.query(query, k=5) == busy.query(query, k=5)


def test_snapshot_round_trip_is_json_and_equal() -> None:
    index = SimilarTickets(max_terms=16)
    index.learn_many(tickets(2))
    state = json.loads(json.dumps(index.to_state()))
    restored = SimilarTickets.from_state(state)
    query = Ticket("Q", "DistCp fails for big files")
    assert restored.query(query, k=4) == index.query(query, k=4)
    assert restored.to_state() == index.to_state()
    restored.learn_one(Ticket("T-new", "DistCp fails again"))
    assert restored.query(query, k=1)[0][0] == "T-new"


def test_bad_snapshots_fail_clearly() -> None:
    with pytest.raises(SimilarTicketsSnapshotError):
        SimilarTickets.from_state({"schema_version": 999})
    state = SimilarTickets().to_state()
    del state["rows"]
    with pytest.raises(SimilarTicketsSnapshotError):
        SimilarTickets.from_state(state)


def test_input_not_mutated() -> None:
    learned = tickets()
    copies = [replace(ticket) for ticket in learned]
    index = SimilarTickets()
    index.learn_many(learned)
    index.query(learned[0])
    assert learned == copies


def test_time_prior_breaks_ties_towards_close_tickets() -> None:
    index = SimilarTickets(time_weight=0.05, time_scale_days=30)
    near = Ticket("near", "Upload times out", opened_at=START + timedelta(days=1))
    far = Ticket("far", "Upload times out", opened_at=START + timedelta(days=400))
    index.learn_many([far, near])
    result = index.query(Ticket("Q", "Upload times out", opened_at=START), k=2)
    assert [ticket_id for ticket_id, _ in result] == ["near", "far"]
    no_prior = SimilarTickets(time_weight=0.0)
    no_prior.learn_many([far, near])
    scores = dict(no_prior.query(Ticket("Q", "Upload times out"), k=2))
    assert scores["near"] == scores["far"]


def test_idf_prefers_rare_shared_words() -> None:
    common = [Ticket(f"C-{n}", f"error in job {n}") for n in range(30)]
    rare = Ticket("R", "FsImage checksum mismatch")
    index = SimilarTickets(time_weight=0.0)
    index.learn_many([*common, rare])
    assert index.query(Ticket("Q", "error: fsimage checksum"), k=1)[0][0] == "R"


def test_learn_rows_accepts_featurizer_rows() -> None:
    learned = tickets()
    direct, from_rows = SimilarTickets(), SimilarTickets()
    direct.learn_many(learned)
    rows = TicketFeaturizer().transform(learned)
    from_rows.learn_rows([t.ticket_id for t in learned], rows, records=learned)
    query = Ticket("Q", "Balancer skips excluded nodes")
    assert direct.query(query, k=3) == from_rows.query(query, k=3)


def test_memory_bound_on_stored_terms() -> None:
    index = SimilarTickets(max_terms=8)
    index.learn_many(tickets())
    state = index.to_state()
    restored = SimilarTickets.from_state(state)
    assert restored.rows_.getnnz(axis=1).max() <= 8


def test_rows_are_appended_without_restacking() -> None:
    """Learning one ticket at a time grows the stored arrays geometrically (amortized
    O(1) per ticket) and stores exactly the rows one batch stores."""
    learned = tickets(n_copies=40)
    batch, one_by_one = SimilarTickets(), SimilarTickets()
    batch.learn_many(learned)
    reallocations = 0
    for ticket in learned:
        before = one_by_one._indices if one_by_one.n_tickets_ else None
        one_by_one.learn_one(ticket)
        reallocations += before is not None and one_by_one._indices is not before
    assert (batch.rows_ != one_by_one.rows_).nnz == 0
    assert batch.to_state() == one_by_one.to_state()
    assert reallocations <= 12  # doublings, not one copy per ticket
    assert one_by_one._indices.size <= 2 * max(one_by_one.rows_.nnz, 1024)


def test_neighbour_ranks_count_tickets_closer_than_the_query() -> None:
    index = SimilarTickets()
    learned = tickets(3)
    index.learn_many(learned)
    query = Ticket("Q", "NameNode crashes on startup with NPE", opened_at=START)
    found = index.query(query, k=6)
    by_id = {t.ticket_id: t for t in learned}
    candidates = [by_id[t] for t, _ in found]
    given = [s for _, s in found]
    ranks = index.neighbour_ranks(candidates, given)
    for candidate, score, rank in zip(candidates, given, ranks, strict=True):
        own = index.scores(candidate)
        others = [
            v for t, v in zip(index.ticket_ids_, own, strict=True) if t != candidate.ticket_id
        ]
        assert rank == sum(v > score for v in others)
    # The NameNode reports are each other's nearest: the query is crowded out by the
    # two other copies, while a generic miss has many tickets closer than the query.
    assert ranks[0] == 2
    assert ranks[-1] > ranks[0]
    assert index.neighbour_ranks(candidates, given, cap=3).max() <= 3


def test_neighbour_ranks_exclude_the_query_and_respect_the_limit() -> None:
    index = SimilarTickets()
    learned = tickets(2)
    index.learn_many(learned)
    first = learned[0]
    copy = learned[len(SUBJECTS)]  # the same subject, 40 days later
    score = dict(index.query(copy, k=len(learned)))[first.ticket_id]
    # Seen from the first report, only the copy itself is as close: nothing is closer
    # once the copy (the query) is left out; counting only the tickets learned before
    # the copy arrived gives what a stream saw then.
    assert index.neighbour_ranks([first], [score], exclude=copy.ticket_id).tolist() == [0]
    limited = index.neighbour_ranks([first], [-1.0], limit=3)
    assert limited.tolist() == [2]  # the 3 earliest tickets, less the first itself
    assert index.neighbour_ranks([], []).size == 0
    with pytest.raises(ValueError, match="one score per candidate"):
        index.neighbour_ranks([first], [0.1, 0.2])


def test_cached_transpose_gives_the_plain_product_and_follows_learning() -> None:
    index = SimilarTickets(time_weight=0.0)
    learned = tickets(2)
    index.learn_many(learned[:7])
    query = Ticket("Q", "NameNode crashes on startup with NPE")
    rows = index.featurizer_.transform([query])
    plain = np.asarray((index._weigh(rows) @ index._matrix().T).todense())
    assert np.array_equal(index.scores_rows(rows, [query]), plain)
    index.learn_many(learned[7:])  # more rows: the cached transpose is rebuilt
    assert index.scores(query).shape == (len(learned),)
    plain = np.asarray((index._weigh(rows) @ index._matrix().T).todense())[0]
    assert np.array_equal(index.scores(query), plain)


def test_neighbour_ranks_of_learned_match_neighbour_ranks() -> None:
    records = tickets(n_copies=3)
    index = SimilarTickets()
    index.learn_many(records)
    query = records[4]
    found = index.query(query, k=6)
    position = {record.ticket_id: n for n, record in enumerate(records)}
    candidates = [records[position[ticket_id]] for ticket_id, _ in found]
    scores = [score for _, score in found]
    expected = index.neighbour_ranks(candidates, scores, exclude=query.ticket_id, cap=3)
    asks = [(position[t], s, len(records), position[query.ticket_id]) for t, s in found]
    got = index.neighbour_ranks_of_learned(records, asks, cap=3, rows_at_once=2)
    assert got.tolist() == expected.tolist()
    limited = index.neighbour_ranks(candidates, scores, limit=10)
    asks = [(position[t], s, 10, -1) for t, s in found]
    assert index.neighbour_ranks_of_learned(records, asks).tolist() == limited.tolist()
