"""Tests of the quality metrics used by bench/quality.py, on hand-made inputs."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import duplicate_groups
from bench.metrics import (
    adjusted_rand_index,
    bcubed,
    first_relevant_rank,
    pair_recall,
    predicted_pairs,
    retrieval_scores,
)


def test_first_relevant_rank() -> None:
    assert first_relevant_rank(["a", "b", "c"], {"c", "b"}) == 2
    assert first_relevant_rank(["a", "b", "c"], {"a"}) == 1
    assert first_relevant_rank(["a"], {"z"}) is None
    assert first_relevant_rank([], {"z"}) is None


def test_recall_at_k_and_mrr() -> None:
    # Ranks 1, 2, 6, 11 and a miss: R@1 1/5, R@5 2/5, R@10 3/5; MRR (1 + 1/2 + 1/6 + 1/11)/5.
    scores = retrieval_scores([1, 2, 6, 11, None])
    assert scores["R@1"] == pytest.approx(0.2)
    assert scores["R@5"] == pytest.approx(0.4)
    assert scores["R@10"] == pytest.approx(0.6)
    assert scores["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 6 + 1 / 11) / 5, abs=1e-6)
    assert scores["queries"] == 5


def test_retrieval_scores_of_nothing() -> None:
    assert retrieval_scores([])["R@1"] == 0.0


def test_pair_recall_and_predicted_pairs() -> None:
    labels = {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2, "f": None, "g": None}
    links = [("a", "b"), ("a", "d"), ("d", "e"), ("f", "g"), ("a", "unknown")]
    assert pair_recall(labels, links) == pytest.approx(2 / 5)
    assert predicted_pairs(labels) == 3 + 1
    assert pair_recall(labels, []) == 0.0


def test_bcubed_known_values() -> None:
    truth = {"a": "x", "b": "x", "c": "y", "d": "y"}
    perfect = bcubed({"a": 1, "b": 1, "c": 2, "d": 2}, truth)
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    lumped = bcubed({"a": 1, "b": 1, "c": 1, "d": 1}, truth)
    assert lumped["precision"] == pytest.approx(0.5)
    assert lumped["recall"] == pytest.approx(1.0)
    split = bcubed({"a": 1, "b": 2, "c": 3, "d": 4}, truth)
    assert split["precision"] == pytest.approx(1.0)
    assert split["recall"] == pytest.approx(0.5)
    # a, b, c together; d alone: precision (2/3 + 2/3 + 1/3 + 1)/4, recall (1 + 1 + 1/2 + 1/2)/4.
    mixed = bcubed({"a": 1, "b": 1, "c": 1, "d": 2}, truth)
    assert mixed["precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4, abs=1e-6)
    assert mixed["recall"] == pytest.approx(0.75)


def test_ari_agrees_with_sklearn() -> None:
    rng = random.Random(3)
    for _ in range(25):
        n_items = rng.randint(2, 40)
        items = [f"t{n}" for n in range(n_items)]
        predicted = {item: rng.randint(0, rng.randint(0, 6)) for item in items}
        truth = {item: rng.randint(0, rng.randint(0, 6)) for item in items}
        expected = adjusted_rand_score(
            [truth[item] for item in items], [predicted[item] for item in items]
        )
        assert adjusted_rand_index(predicted, truth) == pytest.approx(expected, abs=1e-9)


def test_ari_of_identical_labelings_is_one() -> None:
    labels = {"a": 1, "b": 1, "c": 2}
    assert adjusted_rand_index(labels, labels) == pytest.approx(1.0)


def test_duplicate_groups_are_connected_components() -> None:
    groups = duplicate_groups([("b", "a"), ("c", "b"), ("x", "y"), ("y", "x")])
    assert groups == [["a", "b", "c"], ["x", "y"]]


def test_fit_scripts_weights_round_trip_through_toml(tmp_path: Path) -> None:
    import tomllib

    import numpy as np

    from bench.fit_rerank import Pairs, fit_rank_model, write_weights
    from problems.cluster.rerank import FEATURES, PairModel

    rng = np.random.default_rng(0)
    n_queries, per_query = 40, 10
    values = rng.normal(size=(n_queries * per_query, len(FEATURES)))
    query = np.repeat([f"q{n}" for n in range(n_queries)], per_query).astype(object)
    # The duplicate of each query is the candidate with the largest first feature.
    label = np.zeros(len(query), dtype=bool)
    for n in range(n_queries):
        rows = np.arange(n * per_query, (n + 1) * per_query)
        label[rows[np.argmax(values[rows, 0])]] = True
    pairs = Pairs(values, query, np.arange(len(query)).astype(str).astype(object), label)
    model = fit_rank_model(pairs)
    assert int(np.argmax(np.abs(model.coef))) == 0 and model.coef[0] > 0
    path = tmp_path / "rerank.toml"
    threshold_model = PairModel(model.features, model.mean, model.scale, model.coef, -1.5, -2.0)
    write_weights(path, {"rerank": model, "duplicate": threshold_model}, {"train": "x"})
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert document["schema_version"] == 1
    restored = PairModel.from_dict(document["duplicate"])
    assert restored.threshold == -2.0
    assert np.allclose(restored.decision(values), threshold_model.decision(values), atol=1e-5)


def test_cached_encoder_encodes_each_text_once_across_runs(tmp_path: Path) -> None:
    import numpy as np

    from bench.embedding_cache import CachedEncoder

    class Lengths:
        """Stands in for `SentenceEncoder`: vectors from the text length."""

        model_dir = str(tmp_path / "model")
        max_tokens = 48
        dimension_ = 2

        def __init__(self) -> None:
            self.asked: list[tuple[list[str], int | None]] = []

        def encode(self, texts: list[str], max_tokens: int | None = None) -> np.ndarray:
            self.asked.append((list(texts), max_tokens))
            rows = np.array([[len(t), (max_tokens or 0) / 100] for t in texts], dtype=np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    first = Lengths()
    cached = CachedEncoder(first, tmp_path)  # type: ignore[arg-type]
    vectors = cached.encode(["ab", "abc", "ab"])
    assert first.asked == [(["ab", "abc"], 48)] and vectors.shape == (3, 2)
    cached.encode(["abc"], max_tokens=128)  # another length read is another vector
    assert first.asked[-1] == (["abc"], 128)
    again = Lengths()
    reloaded = CachedEncoder(again, tmp_path)  # type: ignore[arg-type]
    assert np.array_equal(reloaded.encode(["ab", "abc", "ab"]), vectors)
    assert again.asked == [] and reloaded.n_encoded == 0
    assert reloaded.encode([]).shape == (0, 2)


def test_fit_candidates_query_within_project_earlier_across_projects(tmp_path: Path) -> None:
    """Retrieval ranks the query's own project (the data's protocol); grouping, like
    `Pipeline.duplicates`, sees every earlier ticket, so a duplicate filed in another
    project can be found."""
    import json

    from bench.datasets import load_jira
    from bench.fit_rerank import candidates

    texts = [
        ("HDFS-1", "NameNode crashes on startup with NullPointerException in FSImage"),
        ("HDFS-2", "Balancer ignores the bandwidth setting"),
        ("HADOOP-1", "NameNode crashes on startup: NullPointerException in FSImage loader"),
        ("HADOOP-2", "Balancer bandwidth setting is ignored by the balancer"),
        ("HADOOP-3", "Typo in the javadoc of Configuration"),
    ]
    lines = []
    for day, (key, summary) in enumerate(texts, start=1):
        fields = {"summary": summary, "created": f"2015-01-0{day}T10:00:00.000+0000"}
        if key == "HADOOP-1":
            fields["issuelinks"] = [
                {"type": {"name": "Duplicate"}, "outwardIssue": {"key": "HDFS-1"}}
            ]
        lines.append(json.dumps({"key": key, "fields": fields}))
    path = tmp_path / "issues.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    labeled = load_jira(path)
    assert labeled.links == [("HADOOP-1", "HDFS-1")]

    found = candidates(labeled, query_k=10, earlier_k=3)

    project = {key: key.split("-")[0] for key, _ in texts}
    for query_id, listed in found.query.items():
        assert listed and {project[c] for c, _ in listed} == {project[query_id]}
    assert set(found.query) == {"HADOOP-1", "HDFS-1"}  # the two tickets of a group
    order = [key for key, _ in texts]
    for ticket_id, listed in found.earlier.items():
        assert all(order.index(c) < order.index(ticket_id) for c, _ in listed)
    assert found.earlier["HADOOP-1"][0][0] == "HDFS-1"
    assert "HDFS-1" not in found.earlier or found.earlier["HDFS-1"] == []


def test_grouping_points_tie_on_recall_go_to_fewer_pairs() -> None:
    """The threshold sweep and the size-penalty choice rank points alike: the same links
    at fewer pairs is the better point, and nothing within the budget ranks last."""
    from bench.fit_rerank import best_under, grouping_merit

    sweep = [
        {"threshold": -6.0, "pair_recall": 0.5, "pairs": 900},
        {"threshold": -5.5, "pair_recall": 0.5, "pairs": 700},
        {"threshold": -5.0, "pair_recall": 0.4, "pairs": 500},
        {"threshold": -6.5, "pair_recall": 0.6, "pairs": 1_200},
    ]
    assert best_under(sweep, budget=1_000) == sweep[1]
    assert best_under(sweep, budget=600) == sweep[2]
    assert best_under(sweep, budget=100) is None
    assert grouping_merit(None) < grouping_merit(sweep[2]) < grouping_merit(sweep[0])
    assert grouping_merit(sweep[0]) < grouping_merit(sweep[1])


def test_bench_docstring_examples_hold() -> None:
    """``bench/`` is outside pytest's doctest paths (its scripts import what they
    measure); the examples of its metric and quality modules run here."""
    import doctest

    from bench import metrics, quality

    for module in (metrics, quality):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
