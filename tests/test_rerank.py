"""Tests of the pair features and re-ranking of `problems.cluster.rerank`."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from problems.cluster.rerank import (
    BACK_RANK_CAP,
    FEATURES,
    OPTIONAL_FEATURES,
    PURPOSES,
    PairModel,
    Reranker,
    RerankerSnapshotError,
    load_default_models,
    model_name,
)


def ticket(n: int, subject: str, text: str = "", day: int = 0, **fields: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "ticket_id": f"T-{n}",
        "subject": subject,
        "text": text,
        "product": "hdfs",
        "component": "namenode",
        "version": "2.7.1",
        "tags": (),
        "opened_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day),
    }
    values.update(fields)
    return SimpleNamespace(**values)


PAST = [
    ticket(1, "Balancer ignores excluded datanodes", "The balancer moves blocks anyway."),
    ticket(
        2,
        "NameNode crashes on startup with NullPointerException",
        "java.lang.NullPointerException at org.apache.hadoop.hdfs.server.namenode."
        "FSImage.loadFSImage(FSImage.java:120)",
        day=10,
        component="namenode",
    ),
    ticket(3, "Web UI shows wrong capacity", "Capacity is reported in MB not GB.", day=400),
    ticket(4, "Datanode heartbeat slow", "dfs.heartbeat.interval ignored", day=20),
]


def learned() -> Reranker:
    reranker = Reranker()
    reranker.learn_many(PAST)
    return reranker


def column(name: str) -> int:
    return FEATURES.index(name)


def test_features_shape_and_ranges() -> None:
    query = ticket(9, "NPE in FSImage.loadFSImage at NameNode startup", day=12)
    values = learned().features(query, PAST)
    assert values.shape == (len(PAST), len(FEATURES))
    # Without neighbour ranks and embeddings, the optional features are unknown; the rest
    # is finite.
    optional = [column(name) for name in OPTIONAL_FEATURES]
    assert np.isnan(values[:, optional]).all()
    assert np.isfinite(np.delete(values, optional, axis=1)).all()
    for name in ("summary_cosine", "summary_chars", "summary_fuzz", "body_cosine"):
        assert ((values[:, column(name)] >= -1e-9) & (values[:, column(name)] <= 1 + 1e-9)).all()
    # The crash report shares the class and method names and is 2 days apart.
    assert values[1, column("shared_identifiers")] > 0
    assert values[1, column("log_days")] == pytest.approx(math.log1p(2.0))
    assert values[2, column("within_year")] < values[1, column("within_year")]


def test_identical_ticket_scores_highest_on_text_features() -> None:
    reranker = learned()
    values = reranker.features(PAST[1], PAST)
    for name in ("bm25", "summary_cosine", "summary_chars", "body_cosine", "summary_fuzz"):
        assert int(np.argmax(values[:, column(name)])) == 1, name
    assert values[1, column("bm25")] == pytest.approx(1.0)


def test_an_acronym_meets_the_camel_case_name_it_shortens() -> None:
    # "NN" is how people write NameNode; DataNode's acronym is "DN".
    candidates = [
        ticket(1, "NameNode crashes on startup"),
        ticket(2, "DataNode crashes on startup"),
    ]
    reranker = Reranker()
    reranker.learn_many([*PAST, *candidates])
    short = reranker.features(ticket(9, "NN crashes on startup"), candidates)
    other = reranker.features(ticket(9, "XY crashes on startup"), candidates)
    for name in ("bm25", "summary_cosine", "query_coverage"):
        lead = short[0, column(name)] - short[1, column(name)]
        assert lead > 0, name
        # Not a lean toward NameNode tickets: an unknown acronym gives less of a lead.
        assert lead > other[0, column(name)] - other[1, column(name)], name


def test_shared_exception_and_metadata_flags() -> None:
    query = ticket(9, "Startup fails", "Caused by NullPointerException", version="2.7.3")
    values = learned().features(query, PAST)
    assert values[1, column("signatures")] > 0
    assert values[0, column("signatures")] == 0
    assert (values[:, column("same_component")] == 1).all()
    assert (values[:, column("same_version")] == 0).all()
    assert (values[:, column("same_family")] == 1).all()


def test_no_candidates_and_empty_text() -> None:
    reranker = learned()
    assert reranker.features(ticket(9, "x"), []).shape == (0, len(FEATURES))
    values = reranker.features(
        ticket(9, "", opened_at=None), PAST, back_ranks=[0, 1, 2, 3], semantic=[0.1] * 4
    )
    assert np.isfinite(values).all()
    assert (values[:, column("log_days")] == 0).all()


def test_rerank_with_shipped_weights_puts_the_duplicate_first() -> None:
    query = ticket(9, "NPE in FSImage when the NameNode starts", day=11)
    order = learned().rerank(query, PAST)
    assert order[0][0] == "T-2"
    assert sorted(ticket_id for ticket_id, _ in order) == [t.ticket_id for t in PAST]
    assert len(learned().rerank(query, PAST, k=2)) == 2


def test_duplicate_scores_are_log_odds_against_a_threshold() -> None:
    models = load_default_models()
    assert models["duplicate"].threshold is not None
    assert models["rerank"].features and set(models["rerank"].features) <= set(FEATURES)
    query = ticket(9, "NameNode crashes on startup with NullPointerException", day=11)
    scores = learned().score(query, PAST, purpose="duplicate")
    assert int(np.argmax(scores)) == 1
    assert scores[1] > models["duplicate"].threshold > scores[2]


def test_given_model_overrides_shipped_one() -> None:
    only_days = {"features": ["log_days"], "mean": [0.0], "scale": [1.0], "coef": [-1.0]}
    reranker = Reranker(models={"rerank": only_days})
    reranker.learn_many(PAST)
    order = reranker.rerank(ticket(9, "anything", day=399), PAST)
    assert order[0][0] == "T-3"


def test_snapshot_round_trip_and_idempotent_learning() -> None:
    reranker = learned()
    reranker.learn_many(PAST)  # learned ids change nothing
    assert reranker.n_tickets_ == len(PAST)
    state = json.loads(json.dumps(reranker.to_state()))
    restored = Reranker.from_state(state)
    query = ticket(9, "Balancer moves blocks of excluded datanodes", day=3)
    assert np.array_equal(
        restored.features(query, PAST), reranker.features(query, PAST), equal_nan=True
    )
    restored.learn_one(query)
    reranker.learn_one(query)
    assert np.array_equal(
        restored.features(PAST[0], PAST), reranker.features(PAST[0], PAST), equal_nan=True
    )


def test_damaged_snapshots_and_weights_are_refused() -> None:
    with pytest.raises(RerankerSnapshotError):
        Reranker.from_state({"schema_version": 99})
    state = learned().to_state()
    del state["df_counts"]
    with pytest.raises(RerankerSnapshotError):
        Reranker.from_state(state)
    with pytest.raises(RerankerSnapshotError):
        PairModel.from_dict({"features": ["nope"], "mean": [0], "scale": [1], "coef": [1]})
    with pytest.raises(RerankerSnapshotError):
        PairModel.from_dict({"features": ["bm25"], "mean": [0, 1], "scale": [1], "coef": [1]})


def test_pair_model_table_round_trip_keeps_threshold_and_size_penalty() -> None:
    model = PairModel(("bm25",), (0.0,), (1.0,), (2.0,), -1.0, threshold=-0.5, size_penalty=0.75)
    assert PairModel.from_dict(model.to_dict()) == model
    ranking = PairModel(("bm25",), (0.0,), (1.0,), (2.0,))
    assert "size_penalty" not in ranking.to_dict()
    assert PairModel.from_dict(ranking.to_dict()).size_penalty is None


def test_input_not_mutated() -> None:
    query = ticket(9, "NameNode NPE")
    before = dict(vars(query))
    learned().features(query, PAST)
    assert vars(query) == before


def test_learning_gives_the_same_counts_whether_or_not_a_query_tokenized_first() -> None:
    cold = Reranker()  # learning alone never tokenizes fully
    cold.learn_many(PAST)
    warm = Reranker()
    for record in PAST:
        warm.features(record, PAST[:1])  # tokenizes (and caches) the record
        warm.learn_one(record)
    assert cold.to_state() == warm.to_state()


def test_back_rank_is_log_of_the_capped_count() -> None:
    query = ticket(9, "NPE in FSImage.loadFSImage at NameNode startup", day=12)
    values = learned().features(query, PAST, back_ranks=[0, 3, BACK_RANK_CAP, 500])
    assert values[:, column("back_rank")].tolist() == pytest.approx(
        [0.0, math.log1p(3), math.log1p(BACK_RANK_CAP), math.log1p(BACK_RANK_CAP)]
    )
    with pytest.raises(ValueError, match="one back rank per candidate"):
        learned().features(query, PAST, back_ranks=[0, 1])


def test_unknown_back_rank_adds_nothing_to_the_score() -> None:
    full = PairModel(
        features=("bm25", "back_rank"), mean=(0.1, 1.5), scale=(0.1, 1.0), coef=(1.0, -2.0)
    )
    without = PairModel(features=("bm25",), mean=(0.1,), scale=(0.1,), coef=(1.0,))
    query = ticket(9, "NameNode crashes at startup with NPE", day=12)
    values = learned().features(query, PAST)
    assert full.decision(values) == pytest.approx(without.decision(values))
    # Known and at the training mean: the same score; a closer neighbour: higher.
    values[:, column("back_rank")] = 1.5
    assert full.decision(values) == pytest.approx(without.decision(values))
    values[:, column("back_rank")] = 0.0
    assert (full.decision(values) > without.decision(values)).all()


def test_shipped_models_prefer_mutual_neighbours() -> None:
    reranker = learned()
    query = ticket(9, "NameNode crashes at startup with NPE", day=12)
    for purpose in ("rerank", "duplicate"):
        mutual = reranker.score(query, PAST, purpose, back_ranks=[0] * len(PAST))
        crowded = reranker.score(query, PAST, purpose, back_ranks=[BACK_RANK_CAP] * len(PAST))
        assert (mutual > crowded).all()
    # Without neighbour ranks each task is scored by its text-only model.
    values = reranker.features(query, PAST)
    for purpose in ("rerank", "duplicate"):
        text_only = reranker.models_[purpose + "_text"]
        assert reranker.score(query, PAST, purpose) == pytest.approx(text_only.decision(values))
        assert not set(OPTIONAL_FEATURES) & set(text_only.features)
        assert "back_rank" in reranker.models_[purpose].features
        assert "semantic" not in reranker.models_[purpose].features
    assert reranker.rerank(query, PAST)[0][0] == "T-2"
    assert reranker.rerank(query, PAST, back_ranks=[0, 5, 9, 9])[0][0] == "T-2"


def test_each_combination_of_optional_features_has_its_model() -> None:
    models = load_default_models()
    assert set(models) == set(PURPOSES)
    for task in ("rerank", "duplicate"):
        for back_ranks in (False, True):
            for semantic in (False, True):
                model = models[model_name(task, back_ranks, semantic)]
                # A model reads an optional feature only when the caller gives it.
                assert ("back_rank" in model.features) == back_ranks
                assert ("semantic" in model.features) == (back_ranks and semantic)
        assert models[task + "_semantic"].threshold is not None or task == "rerank"


def test_semantic_cosines_reach_the_semantic_model() -> None:
    reranker = learned()
    query = ticket(9, "NameNode crashes at startup with NPE", day=12)
    ranks = [0, 5, 9, 9]
    close, far = [0.9, 0.1, 0.1, 0.1], [0.1, 0.9, 0.1, 0.1]
    values = reranker.features(query, PAST, back_ranks=ranks, semantic=close)
    assert values[:, FEATURES.index("semantic")].tolist() == close
    semantic_model = reranker.models_["rerank_semantic"]
    expected = semantic_model.decision(values)
    assert reranker.score(query, PAST, back_ranks=ranks, semantic=close) == pytest.approx(expected)
    # The cosine is positive evidence: moving it from one candidate to another moves the score.
    assert semantic_model.coef[semantic_model.features.index("semantic")] > 0
    with_far = reranker.score(query, PAST, back_ranks=ranks, semantic=far)
    with_close = reranker.score(query, PAST, back_ranks=ranks, semantic=close)
    assert with_close[0] > with_far[0] and with_close[1] < with_far[1]
    # Without cosines the feature is unknown (NaN) and the rank-only model is used.
    assert np.isnan(reranker.features(query, PAST)[:, FEATURES.index("semantic")]).all()
    with pytest.raises(ValueError, match="one semantic similarity per candidate"):
        reranker.features(query, PAST, semantic=[0.5])
