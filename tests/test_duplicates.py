"""Tests of the streaming duplicate groups of `problems.cluster.duplicates`."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from problems.cluster.duplicates import DuplicateGrouper, DuplicateGrouperSnapshotError


def test_joins_best_candidate_above_threshold() -> None:
    grouper = DuplicateGrouper(threshold=0.5)
    grouper.learn_many([("a", []), ("b", []), ("c", [("a", 0.6), ("b", 0.9)])])
    assert grouper.links_ == {"c": "b"}
    assert grouper.groups() == {"b": "b", "c": "b"}


def test_below_threshold_or_unknown_candidates_start_a_group() -> None:
    grouper = DuplicateGrouper(threshold=0.5)
    assert grouper.learn_one("a", []) is None
    assert grouper.learn_one("b", [("a", 0.49)]) is None
    assert grouper.learn_one("c", [("zzz", 0.99)]) is None
    assert grouper.groups() == {}
    assert grouper.group_of_ == {"a": "a", "b": "b", "c": "c"}


def test_best_candidate_in_a_full_group_is_not_replaced_by_the_second() -> None:
    # Falling back to the second best would re-open the chaining the cap exists to stop.
    grouper = DuplicateGrouper(threshold=0.0, max_group_size=2, size_penalty=0.0)
    grouper.learn_many([("a", []), ("b", [("a", 1.0)]), ("x", [])])
    assert grouper.learn_one("c", [("b", 0.9), ("x", 0.8)]) is None
    assert grouper.groups() == {"a": "a", "b": "a"}


def test_ties_go_to_the_first_listed_candidate() -> None:
    grouper = DuplicateGrouper(threshold=0.0)
    grouper.learn_many([("a", []), ("b", [])])
    assert grouper.learn_one("c", [("b", 0.7), ("a", 0.7)]) == "b"


def test_replayed_ticket_changes_nothing() -> None:
    grouper = DuplicateGrouper(threshold=0.5)
    grouper.learn_many([("a", []), ("b", [("a", 0.9)])])
    before = grouper.to_state()
    assert grouper.learn_one("b", [("a", 0.1)]) is None
    assert grouper.learn_one("a", [("b", 0.9)]) is None
    assert grouper.to_state() == before


def test_group_sizes_never_exceed_the_cap_and_ids_are_stable() -> None:
    rng = random.Random(7)
    stream = []
    for n in range(300):
        earlier = rng.sample(range(n), min(n, 5))
        stream.append((f"t{n}", [(f"t{e}", rng.random()) for e in earlier]))
    # No size penalty: the shipped one would keep these scores (0 to 1) from filling a group.
    grouper = DuplicateGrouper(threshold=0.3, max_group_size=4, size_penalty=0.0)
    seen: dict[str, str] = {}
    for ticket_id, candidates in stream:
        grouper.learn_one(ticket_id, candidates)
        for known, group in seen.items():
            assert grouper.group_of_[known] == group
        seen[ticket_id] = grouper.group_of_[ticket_id]
    sizes: dict[str, int] = {}
    for group in grouper.group_of_.values():
        sizes[group] = sizes.get(group, 0) + 1
    assert max(sizes.values()) == 4
    assert all(grouper.group_of_[group] == group for group in sizes)
    replay = DuplicateGrouper(threshold=0.3, max_group_size=4, size_penalty=0.0)
    replay.learn_many(stream)
    assert replay.to_state() == grouper.to_state()


def test_snapshot_round_trip_continues_the_same() -> None:
    grouper = DuplicateGrouper(threshold=0.5, max_group_size=3, size_penalty=0.0)
    grouper.learn_many([("a", []), ("b", [("a", 0.9)])])
    restored = DuplicateGrouper.from_state(json.loads(json.dumps(grouper.to_state())))
    for each in (grouper, restored):
        each.learn_many([("c", [("b", 0.8)]), ("d", [("a", 0.95)])])
    assert restored.to_state() == grouper.to_state()
    assert restored.groups() == {"a": "a", "b": "a", "c": "a"}


def test_default_threshold_comes_from_the_shipped_weights() -> None:
    from problems.cluster.rerank import load_default_models

    grouper = DuplicateGrouper()
    grouper.learn_one("a", [])
    assert grouper.threshold_ == load_default_models()["duplicate"].threshold


def test_damaged_snapshots_are_refused() -> None:
    with pytest.raises(DuplicateGrouperSnapshotError):
        DuplicateGrouper.from_state({"schema_version": 99})
    with pytest.raises(DuplicateGrouperSnapshotError):
        DuplicateGrouper.from_state({"schema_version": 1, "params": {}})


def test_default_threshold_follows_the_shipped_model_of_the_scores() -> None:
    from problems.cluster.rerank import load_default_models

    shipped = load_default_models()
    for purpose in ("duplicate", "duplicate_text"):
        grouper = DuplicateGrouper(purpose=purpose)
        grouper.learn_one("T-1", [])
        threshold = shipped[purpose].threshold
        assert threshold is not None
        assert grouper.learn_one("T-2", [("T-1", threshold)]) == "T-1"
        assert grouper.learn_one("T-3", [("T-1", threshold - 0.01)]) is None
        restored = DuplicateGrouper.from_state(grouper.to_state())
        assert restored.get_params()["purpose"] == purpose


def test_earlier_candidates_see_only_earlier_tickets_as_a_stream_would() -> None:
    from problems.cluster.duplicates import earlier_candidates
    from problems.cluster.rerank import BACK_RANK_CAP
    from problems.cluster.similar import SimilarTickets
    from tests.test_similar import tickets

    records = tickets(n_copies=3)
    index = SimilarTickets()
    index.learn_many(records)
    seen = list(earlier_candidates(index, records, start=2, earlier_k=4, chunk_size=5))
    assert [here for here, *_ in seen] == list(range(2, len(records)))
    for here, top, values, back_ranks in seen:
        assert len(top) == min(4, here) and all(position < here for position in top)
        scores = index.scores(records[here])[:here]
        assert np.allclose(values, scores[top])
        assert list(values) == sorted(values, reverse=True)
        assert values[-1] >= np.delete(scores, top).max(initial=-np.inf)
        expected = index.neighbour_ranks(
            [records[i] for i in top], values, limit=here, cap=BACK_RANK_CAP
        )
        assert back_ranks.tolist() == expected.tolist()
    # A copy of a subject finds its earlier copy first.
    last_copy = {here: top for here, top, _, _ in seen}[len(records) - 1]
    assert records[last_copy[0]].subject == records[-1].subject
    with pytest.raises(ValueError, match="is not the index's ticket"):
        list(earlier_candidates(index, list(reversed(records))))


def test_size_penalty_asks_more_of_a_link_into_a_larger_group() -> None:
    # Joining a group of n tickets adds n same-group pairs: the score must pay log(n).
    grouper = DuplicateGrouper(threshold=0.0, size_penalty=1.0)
    grouper.learn_many([("a", []), ("b", [("a", 0.1)]), ("x", [])])
    assert grouper.groups() == {"a": "a", "b": "a"}
    assert grouper.learn_one("c", [("b", 0.6)]) is None  # 0.6 - log(2) < 0
    assert grouper.learn_one("d", [("b", 0.7)]) == "b"  # 0.7 - log(2) >= 0
    # Between two candidates, the priced score decides: the lone ticket wins here.
    assert grouper.learn_one("e", [("a", 1.5), ("x", 0.5)]) == "x"  # 1.5 - log(3) < 0.5
    unpriced = DuplicateGrouper(threshold=0.0, size_penalty=0.0)
    unpriced.learn_many([("a", []), ("b", [("a", 0.1)]), ("x", [])])
    assert unpriced.learn_one("e", [("a", 1.5), ("x", 0.5)]) == "a"


def test_size_penalty_survives_a_snapshot_and_a_version_1_snapshot_has_none() -> None:
    grouper = DuplicateGrouper(threshold=0.0, size_penalty=1.0)
    grouper.learn_many([("a", []), ("b", [("a", 0.1)])])
    restored = DuplicateGrouper.from_state(json.loads(json.dumps(grouper.to_state())))
    assert restored.size_penalty_ == 1.0
    assert restored.learn_one("c", [("b", 0.6)]) is None
    version_1 = {
        "schema_version": 1,
        "params": {"threshold": 0.0, "max_group_size": 10, "purpose": "duplicate"},
        "threshold": 0.0,
        "group_of": {"a": "a", "b": "a"},
        "links": {"b": "a"},
    }
    old = DuplicateGrouper.from_state(version_1)
    assert old.size_penalty_ == 0.0
    assert old.learn_one("c", [("b", 0.6)]) == "b"


def test_default_size_penalty_comes_from_the_shipped_model() -> None:
    from problems.cluster.rerank import load_default_models

    shipped = load_default_models()
    for purpose in ("duplicate", "duplicate_text", "duplicate_semantic"):
        grouper = DuplicateGrouper(purpose=purpose)
        grouper.learn_one("a", [])
        assert grouper.size_penalty_ == (shipped[purpose].size_penalty or 0.0)
