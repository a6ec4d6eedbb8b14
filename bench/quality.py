"""Quality of similar tickets and clustering on real labeled data and on the sample.

Real data (either format of ../shared/data, any file of that format):

    python bench/quality.py --jira ../shared/data/apache-jira-hadoop/issues.jsonl.gz
    python bench/quality.py --reports ../shared/data/gitbugs-hadoop/hadoop_bugs.csv \\
        --duplicates ../shared/data/gitbugs-hadoop/hadoop_bugs-combined.csv

Retrieval (protocol of ../shared/data/README.md): every report in a duplicate group is
a query; the candidates are every other report of the same scope (Jira project; all
reports for GitBugs); Recall@k is the share of queries with a true duplicate in the top
k, plus MRR. Ours is `problems.cluster.similar.SimilarTickets`; the baseline is plain
TF-IDF (word 1-2 grams, sublinear tf, English stop words, summary + first 4,000
characters of the description) computed in the same run. ``rerank`` is the engine's top
100 re-ordered by `problems.cluster.rerank.Reranker` with the shipped weights (which set
they were fitted on is printed as ``rerank_weights_fitted_on``: on that set the figure is
in-sample; ``bench/fit_rerank.py`` gives the held-out ones). With ``--semantic``,
``rerank_semantic`` and ``duplicates_semantic`` add the tickets' sentence-embedding
similarity (`problems.cluster.semantic`, optional: needs the model, encodes each ticket
once, about 10 a second per core; vectors are kept in ``bench/.embeddings`` for the next
run).

Clustering: share of duplicate links whose two reports share a cluster (pair recall),
beside the number of same-cluster pairs predicted. Ours is
`problems.cluster.engine.ClusterEngine` over all reports in creation order (its
``groups()``, where pairs may still be candidates, and its ``memberships()``, problem
clusters only); Drain3 (default TemplateMiner, on summaries) and TF-IDF agglomerative
clustering (cosine, average linkage per scope, the loosest cut predicting no more pairs
than Drain3; skipped, with the reason in the figures, when a scope holds more than
`MAX_AGGLOMERATIVE_SCOPE` reports, as its distances would not fit in memory) are the
baselines. ``duplicates`` are the groups of
`problems.cluster.duplicates.DuplicateGrouper` (each ticket joins its best earlier
candidate's group when the shipped ``duplicate`` score passes its threshold; over all
reports, as the product groups its whole book, so a group may cross Jira projects);
``duplicates_at_drain3_pairs`` are the same groups at equal cost, the threshold chosen on
the data evaluated as the agglomerative baseline's cut is (the best pair recall within
Drain3's pairs), where the plain figure keeps the shipped threshold. Every figure is also
given without duplicate groups whose summaries are identical (verbatim re-submissions).

Sample (``--sample DIR`` with events.jsonl and ground_truth.json): BCubed precision,
recall and F1 and ARI of the engine's problem clusters against root causes (noise
tickets and unclustered tickets count as singletons), and the share of noise tickets
kept out of problem clusters.

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import LabeledSet, load_gitbugs, load_jira
from bench.metrics import (
    adjusted_rand_index,
    bcubed,
    pair_recall,
    predicted_pairs,
    retrieval_scores,
)

__all__ = ["MAX_AGGLOMERATIVE_SCOPE", "duplicates_at_pairs", "main"]

MAX_AGGLOMERATIVE_SCOPE = 30_000
"""Largest scope the agglomerative baseline clusters: it holds the n(n - 1) / 2 distances
(3.6 GB at 30,000 reports) and scipy's linkage a copy of them."""

if TYPE_CHECKING:
    from problems.cluster.semantic import TicketEmbeddings


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- retrieval -------------------------------------------------------------------------


def _queries(labeled: LabeledSet) -> list[tuple[str, list[str]]]:
    return [
        (ticket_id, [other for other in group if other != ticket_id])
        for group in labeled.groups
        for ticket_id in group
    ]


def _rank_of_best(scores: np.ndarray, relevant: np.ndarray) -> int | None:
    """1-based rank of the first relevant item, ties broken by position (earlier first).

    That is the order `SimilarTickets.query` returns, and the order a stable sort of a
    baseline's scores gives, so no method gains or loses from ties.
    """
    if relevant.size == 0:
        return None
    best = scores[relevant].max()
    if not np.isfinite(best):
        return None
    first_tied_relevant = relevant[scores[relevant] == best].min()
    ahead_in_ties = int((scores[:first_tied_relevant] == best).sum())
    return int((scores > best).sum()) + ahead_in_ties + 1


def retrieval_ours(labeled: LabeledSet, params: dict[str, Any]) -> dict[str, Any]:
    """Ranks of `SimilarTickets` queries, one index per scope."""
    from problems.cluster.similar import SimilarTickets

    records = labeled.records
    ranks: dict[str, int | None] = {}
    learn_seconds = query_seconds = 0.0
    queries = _queries(labeled)
    for positions in labeled.positions_by_scope().values():
        scope_records = [records[p] for p in positions]
        local = {record.ticket_id: n for n, record in enumerate(scope_records)}
        started = time.perf_counter()
        index = SimilarTickets(**params)
        index.learn_many(scope_records)
        learn_seconds += time.perf_counter() - started
        mine = [(q, rel) for q, rel in queries if q in local]
        started = time.perf_counter()
        for start in range(0, len(mine), 256):
            chunk = mine[start : start + 256]
            chunk_records = [scope_records[local[q]] for q, _ in chunk]
            rows = index.featurizer_.transform(chunk_records)
            all_scores = index.scores_rows(rows, chunk_records)
            for (query, relevant), scores in zip(chunk, all_scores, strict=True):
                scores[local[query]] = -np.inf
                wanted = np.array([local[r] for r in relevant if r in local], dtype=np.int64)
                ranks[query] = _rank_of_best(scores, wanted)
        query_seconds += time.perf_counter() - started
    return {
        "ranks": ranks,
        "learn_per_s": round(len(records) / learn_seconds, 1) if learn_seconds else None,
        "queries_per_s": round(len(queries) / query_seconds, 1) if query_seconds else None,
    }


def _tfidf_matrix(labeled: LabeledSet) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = [
        labeled.summaries[r.ticket_id] + " " + labeled.bodies[r.ticket_id] for r in labeled.records
    ]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english")
    return vectorizer.fit_transform(documents).tocsr()


def retrieval_tfidf(labeled: LabeledSet, matrix: Any) -> dict[str, Any]:
    """Ranks of plain TF-IDF cosine queries (the README baseline), per scope."""
    ranks: dict[str, int | None] = {}
    queries = _queries(labeled)
    position = {record.ticket_id: n for n, record in enumerate(labeled.records)}
    for positions in labeled.positions_by_scope().values():
        scope_rows = matrix[positions]
        local = {labeled.records[p].ticket_id: n for n, p in enumerate(positions)}
        mine = [(q, rel) for q, rel in queries if q in local]
        for start in range(0, len(mine), 256):
            chunk = mine[start : start + 256]
            rows = matrix[[position[q] for q, _ in chunk]]
            all_scores = np.asarray((rows @ scope_rows.T).todense())
            for (query, relevant), scores in zip(chunk, all_scores, strict=True):
                scores[local[query]] = -np.inf
                wanted = np.array([local[r] for r in relevant if r in local], dtype=np.int64)
                ranks[query] = _rank_of_best(scores, wanted)
    return {"ranks": ranks}


def _weights_fitted_on() -> str | None:
    """Name of the labeled set the shipped re-ranking weights were fitted on."""
    import tomllib
    from importlib import resources

    text = resources.files("problems").joinpath("defaults", "rerank.toml").read_text("utf-8")
    provenance = tomllib.loads(text).get("provenance")
    return json.loads(provenance).get("train") if provenance else None


def rerank_and_duplicates(
    labeled: LabeledSet, embeddings: TicketEmbeddings | None = None
) -> dict[str, Any]:
    """Engine candidates re-ranked by `Reranker` and duplicate groups of `DuplicateGrouper`.

    Both with the shipped weights (``problems/defaults/rerank.toml``), called the way the
    product calls them: a query re-ranks its top 100 engine candidates (a duplicate
    beyond them keeps its engine rank); each ticket, in creation order, is scored
    against its 10 nearest earlier tickets and joins the best one's group when the
    ``duplicate`` score passes the shipped threshold (groups of at most 10), by
    `problems.cluster.duplicates.learn_from_index` over one index of all the tickets
    (as `Pipeline.duplicates` groups the whole book; a root cause may cross projects). Each
    candidate's neighbour rank (``back_rank``) is counted as
    `SimilarTickets.neighbour_ranks` counts it (`bench.fit_rerank.candidates`). With
    ``embeddings``, the tickets' sentence-embedding similarity is given too, so the
    ``*_semantic`` models score (``--semantic``).
    """
    from bench.fit_rerank import MAX_GROUP_SIZE, candidates
    from problems.cluster.duplicates import DuplicateGrouper, scored_earlier_candidates
    from problems.cluster.rerank import Reranker, model_name
    from problems.cluster.similar import SimilarTickets

    started = time.perf_counter()
    found = candidates(labeled, query_k=100, earlier_k=0)
    candidate_seconds = time.perf_counter() - started
    by_id = {record.ticket_id: record for record in labeled.records}
    group_of = {t: n for n, group in enumerate(labeled.groups) for t in group}
    ranks: dict[str, int | None] = {}
    encoding_seconds = 0.0
    if embeddings is not None:
        started = time.perf_counter()
        embeddings.vectors(labeled.records)
        encoding_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for positions in labeled.positions_by_scope().values():
        reranker = Reranker(cache_size=len(positions) + 1)
        reranker.learn_many([labeled.records[p] for p in positions])
        for position in positions:
            query_id = labeled.records[position].ticket_id
            if query_id not in found.query:
                continue
            listed = [by_id[c] for c, _ in found.query[query_id]]
            cosines = None
            if embeddings is not None:
                cosines = embeddings.similarity(by_id[query_id], listed)
            order = reranker.rerank(
                by_id[query_id],
                listed,
                back_ranks=found.query_back.get(query_id),
                semantic=cosines,
            )
            hits = [
                n
                for n, (c, _) in enumerate(order, start=1)
                if group_of.get(c) == group_of[query_id]
            ]
            ranks[query_id] = hits[0] if hits else found.engine_rank[query_id]
    rerank_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = SimilarTickets()
    index.learn_many(labeled.records)
    purpose = model_name("duplicate", True, embeddings is not None)
    grouper = DuplicateGrouper(max_group_size=MAX_GROUP_SIZE, purpose=purpose)
    # What `learn_from_index` does, with each ticket's scored candidates kept for
    # `duplicates_at_pairs`.
    offered = list(
        scored_earlier_candidates(
            index, labeled.records, Reranker(cache_size=50_000), embeddings=embeddings
        )
    )
    grouper.learn_many(offered)
    grouping_seconds = time.perf_counter() - started
    labels = grouper.groups()
    # Re-ranking can only reorder its candidates: the share of queries with a duplicate
    # among them bounds every R@k of the re-ranked list.
    held = [rank is not None and rank <= 100 for rank in found.engine_rank.values()]
    return {
        "ranks": ranks,
        "labels": labels,
        "offered": offered,
        "purpose": purpose,
        "candidates_hold_duplicate": round(sum(held) / len(held), 6) if held else None,
        "candidates_s": round(candidate_seconds, 1),
        "rerank_queries_per_s": round(len(ranks) / rerank_seconds, 1) if rerank_seconds else None,
        "grouping_ms_per_ticket": round(1000 * grouping_seconds / len(labeled.records), 3),
        "embedding_s": round(encoding_seconds, 1),
        "texts_encoded": getattr(getattr(embeddings, "encoder", None), "n_encoded", None),
    }


def duplicates_at_pairs(
    labeled: LabeledSet,
    offered: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    purpose: str,
    max_pairs: int,
) -> tuple[float | None, dict[str, str]]:
    """The duplicate groups at equal cost: the best threshold of the sweep
    (`bench.fit_rerank.best_under`) among those predicting at most ``max_pairs`` pairs,
    chosen on this data as the agglomerative baseline's cut is, with the shipped size
    penalty; ``offered`` holds each ticket's scored earlier candidates, in order. When no
    threshold of the grid is strict enough, no ticket is linked (threshold None).

    >>> offered = [("a", []), ("b", [("a", -1.0)]), ("c", []), ("d", [("c", -4.0)])]
    >>> labeled = LabeledSet("toy", [], {}, {}, [("a", "b"), ("c", "d")], [], {})
    >>> duplicates_at_pairs(labeled, offered, "duplicate", max_pairs=1)
    (-3.75, {'a': 'a', 'b': 'a'})
    >>> duplicates_at_pairs(labeled, offered, "duplicate", max_pairs=2)[1]
    {'a': 'a', 'b': 'a', 'c': 'c', 'd': 'c'}
    >>> duplicates_at_pairs(labeled, [("a", []), ("b", [("a", 5.0)])], "duplicate", 0)
    (None, {})
    """
    from bench.fit_rerank import MAX_GROUP_SIZE, THRESHOLD_GRID, best_under, grouping_sweep

    # The last threshold links nothing, so some point is always within the pairs.
    thresholds = (*THRESHOLD_GRID, math.inf)
    sweep = list(grouping_sweep(labeled, offered, thresholds, MAX_GROUP_SIZE, None, purpose))
    best = best_under([point for point, _ in sweep], max_pairs)
    assert best is not None
    labels = next(labels for point, labels in sweep if point is best)
    return (None if math.isinf(best["threshold"]) else best["threshold"]), labels


def _scores_for(ranks: dict[str, int | None], labeled: LabeledSet) -> dict[str, Any]:
    return retrieval_scores([ranks[q] for q, _ in _queries(labeled)])


# -- clustering ------------------------------------------------------------------------


def _cluster_figures(labels: dict[str, Any], labeled: LabeledSet) -> dict[str, Any]:
    together = sum(
        1 for a, b in labeled.links if labels.get(a) is not None and labels.get(a) == labels.get(b)
    )
    return {
        "pair_recall": round(pair_recall(labels, labeled.links), 6),
        "links_together": together,
        "links": len(labeled.links),
        "pairs": predicted_pairs(labels),
    }


def clustering_drain3(labeled: LabeledSet) -> dict[str, Any]:
    """Drain3 with its default configuration over the summaries, in creation order."""
    from drain3 import TemplateMiner

    miner = TemplateMiner()
    labels: dict[str, Any] = {}
    started = time.perf_counter()
    for record in labeled.records:
        result = miner.add_log_message(labeled.summaries[record.ticket_id])
        labels[record.ticket_id] = result["cluster_id"]
    seconds = time.perf_counter() - started
    return {"labels": labels, "per_s": round(len(labels) / seconds, 1)}


def clustering_tfidf(labeled: LabeledSet, matrix: Any, max_pairs: int) -> dict[str, Any]:
    """Average-linkage agglomerative clustering of TF-IDF rows (cosine), per scope.

    The cut is the loosest distance on a grid whose clustering predicts at most
    ``max_pairs`` same-cluster pairs (Drain3's count): the comparison is at equal cost.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    cuts = [round(x, 2) for x in np.arange(0.05, 1.0, 0.05)]
    labels_by_cut: dict[float, dict[str, Any]] = {cut: {} for cut in cuts}
    for scope_name, positions in labeled.positions_by_scope().items():
        ids = [labeled.records[p].ticket_id for p in positions]
        if len(ids) < 2:
            for cut in cuts:
                labels_by_cut[cut].update({i: (scope_name, 0) for i in ids})
            continue
        condensed = _condensed_cosine_distances(matrix[positions])
        tree = linkage(condensed, method="average")
        del condensed
        for cut in cuts:
            flat = fcluster(tree, t=cut, criterion="distance")
            labels_by_cut[cut].update(
                {i: (scope_name, int(c)) for i, c in zip(ids, flat, strict=True)}
            )
    chosen = cuts[0]
    for cut in cuts:
        if predicted_pairs(labels_by_cut[cut]) <= max_pairs:
            chosen = cut
    return {"labels": labels_by_cut[chosen], "cut": chosen}


def _condensed_cosine_distances(rows: Any, block: int = 512) -> np.ndarray:
    """Cosine distances of unit ``rows`` in scipy's condensed order (row i against rows
    after it), built a block of rows at a time so that no square matrix is held."""
    n = rows.shape[0]
    condensed = np.empty(n * (n - 1) // 2, dtype=np.float64)
    start = 0
    for first in range(0, n, block):
        similarity = np.asarray((rows[first : first + block] @ rows.T).todense())
        for offset, row in enumerate(similarity):
            after = row[first + offset + 1 :]
            condensed[start : start + after.size] = np.clip(1.0 - after, 0.0, 2.0)
            start += after.size
    return condensed


def clustering_ours(labeled: LabeledSet, params: dict[str, Any]) -> dict[str, Any]:
    """`ClusterEngine` over every report in creation order."""
    try:
        from problems.cluster.engine import ClusterEngine
    except ImportError as error:
        _log(f"ClusterEngine unavailable ({error}); clustering of ours skipped")
        return {}
    engine = ClusterEngine(**params)
    started = time.perf_counter()
    engine.learn_many(labeled.records)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "memberships": engine.memberships(),
        "per_s": round(len(labeled.records) / seconds, 1),
    }
    groups = getattr(engine, "groups", None)
    if callable(groups):
        result["groups"] = groups()
    return result


# -- one labeled set -------------------------------------------------------------------


def evaluate_labeled(
    labeled: LabeledSet,
    similar_params: dict[str, Any],
    engine_params: dict[str, Any],
    skip_tfidf_clustering: bool = False,
    semantic: bool = False,
) -> dict[str, Any]:
    """Every retrieval and clustering figure of one labeled set, ours beside baselines
    (with ``semantic``, also re-ranking and duplicate groups with sentence embeddings)."""
    subset = labeled.without_identical_summaries()
    figures: dict[str, Any] = {
        "dataset": labeled.name,
        "reports": len(labeled.records),
        "groups": len(labeled.groups),
        "reports_in_groups": sum(len(group) for group in labeled.groups),
        "links": len(labeled.links),
        "groups_no_identical": len(subset.groups),
    }
    _log(f"{labeled.name}: retrieval (ours)")
    ours = retrieval_ours(labeled, similar_params)
    _log(f"{labeled.name}: retrieval (TF-IDF)")
    started = time.perf_counter()
    matrix = _tfidf_matrix(labeled)
    tfidf = retrieval_tfidf(labeled, matrix)
    tfidf_seconds = time.perf_counter() - started
    _log(f"{labeled.name}: re-ranking and duplicate groups")
    reranked = rerank_and_duplicates(labeled)
    figures["rerank_weights_fitted_on"] = _weights_fitted_on()
    variants = {"rerank": reranked}
    if semantic:
        from bench.embedding_cache import cached_embeddings

        _log(f"{labeled.name}: re-ranking and duplicate groups with sentence embeddings")
        variants["rerank_semantic"] = rerank_and_duplicates(labeled, cached_embeddings())
    for view, scored in (("retrieval", labeled), ("retrieval_no_identical", subset)):
        figures[view] = {
            "ours": _scores_for(ours["ranks"], scored),
            **{name: _scores_for(found["ranks"], scored) for name, found in variants.items()},
            "tfidf": _scores_for(tfidf["ranks"], scored),
        }
    figures["retrieval_speed"] = {
        "ours_learn_per_s": ours["learn_per_s"],
        "ours_queries_per_s": ours["queries_per_s"],
        "tfidf_fit_and_rank_s": round(tfidf_seconds, 2),
        "candidates_s": reranked["candidates_s"],
        "rerank_queries_per_s": reranked["rerank_queries_per_s"],
        "rerank_candidates_hold_duplicate": reranked["candidates_hold_duplicate"],
        "duplicates_grouping_ms_per_ticket": reranked["grouping_ms_per_ticket"],
    }
    if semantic:
        with_semantic = variants["rerank_semantic"]
        figures["retrieval_speed"].update(
            {
                "embedding_s": with_semantic["embedding_s"],
                "texts_encoded": with_semantic["texts_encoded"],
                "rerank_semantic_queries_per_s": with_semantic["rerank_queries_per_s"],
                "duplicates_semantic_grouping_ms_per_ticket": with_semantic[
                    "grouping_ms_per_ticket"
                ],
            }
        )
    _log(f"{labeled.name}: clustering (Drain3)")
    drain = clustering_drain3(labeled)
    clustering: dict[str, Any] = {"drain3": _cluster_figures(drain["labels"], labeled)}
    clustering_subset: dict[str, Any] = {"drain3": _cluster_figures(drain["labels"], subset)}
    clustering["drain3"]["per_s"] = drain["per_s"]
    for name, found in variants.items():
        grouped = name.replace("rerank", "duplicates")
        clustering[grouped] = _cluster_figures(found["labels"], labeled)
        clustering_subset[grouped] = _cluster_figures(found["labels"], subset)
        threshold, labels = duplicates_at_pairs(
            labeled, found["offered"], found["purpose"], clustering["drain3"]["pairs"]
        )
        clustering[f"{grouped}_at_drain3_pairs"] = {
            **_cluster_figures(labels, labeled),
            "threshold": threshold,
        }
        clustering_subset[f"{grouped}_at_drain3_pairs"] = _cluster_figures(labels, subset)
    _log(f"{labeled.name}: clustering (ours)")
    engine = clustering_ours(labeled, engine_params)
    for kind in ("groups", "memberships"):
        if kind in engine:
            clustering[f"ours_{kind}"] = _cluster_figures(engine[kind], labeled)
            clustering_subset[f"ours_{kind}"] = _cluster_figures(engine[kind], subset)
    if "per_s" in engine:
        clustering["ours_per_s"] = engine["per_s"]
    largest_scope = max(map(len, labeled.positions_by_scope().values()), default=0)
    if largest_scope > MAX_AGGLOMERATIVE_SCOPE and not skip_tfidf_clustering:
        reason = (
            f"a scope of {largest_scope} reports is over {MAX_AGGLOMERATIVE_SCOPE}: "
            "its distances would not fit in memory"
        )
        _log(f"{labeled.name}: TF-IDF agglomerative skipped ({reason})")
        clustering["tfidf_agglomerative"] = {"skipped": reason}
    elif not skip_tfidf_clustering:
        _log(f"{labeled.name}: clustering (TF-IDF agglomerative)")
        agglomerative = clustering_tfidf(labeled, matrix, clustering["drain3"]["pairs"])
        clustering["tfidf_agglomerative"] = _cluster_figures(agglomerative["labels"], labeled)
        clustering["tfidf_agglomerative"]["cut"] = agglomerative["cut"]
        clustering_subset["tfidf_agglomerative"] = _cluster_figures(agglomerative["labels"], subset)
    figures["clustering"] = clustering
    figures["clustering_no_identical"] = clustering_subset
    return figures


# -- the generated sample --------------------------------------------------------------


def evaluate_sample(directory: Path, engine_params: dict[str, Any]) -> dict[str, Any]:
    """BCubed, ARI and noise kept out, of the engine's problem clusters on the sample."""
    from problems.cluster.engine import ClusterEngine
    from problems.events import TicketClosed, parse_event
    from problems.records import TicketRecord, ticket_record, updated_ticket

    truth_file = json.loads((directory / "ground_truth.json").read_text(encoding="utf-8"))
    truth: dict[str, str] = truth_file["tickets"]
    records: dict[str, TicketRecord] = {}
    with (directory / "events.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            event = parse_event(line)
            if not isinstance(event, TicketClosed):
                continue
            known = records.get(event.ticket_id)
            records[event.ticket_id] = (
                updated_ticket(known, event) if known else ticket_record(event)
            )
    engine = ClusterEngine(**engine_params)
    started = time.perf_counter()
    engine.learn_many(list(records.values()))
    seconds = time.perf_counter() - started
    memberships = engine.memberships()
    ticket_ids = [ticket_id for ticket_id in records if ticket_id in truth]
    predicted = {t: memberships.get(t, "single:" + t) for t in ticket_ids}
    true_labels = {t: truth[t] if truth[t] != "noise" else "noise:" + t for t in ticket_ids}
    problem_ids = [t for t in ticket_ids if truth[t] != "noise"]
    noise_ids = [t for t in ticket_ids if truth[t] == "noise"]
    figures: dict[str, Any] = {
        "tickets": len(ticket_ids),
        "root_causes": len({truth[t] for t in problem_ids}),
        "clusters": len(set(memberships.values())),
        "bcubed": bcubed(predicted, true_labels),
        "ari": round(adjusted_rand_index(predicted, true_labels), 6),
        "bcubed_problem_tickets": bcubed(
            {t: predicted[t] for t in problem_ids}, {t: true_labels[t] for t in problem_ids}
        ),
        "noise_kept_out": round(
            sum(1 for t in noise_ids if t not in memberships) / len(noise_ids), 6
        )
        if noise_ids
        else None,
        "problem_tickets_clustered": round(
            sum(1 for t in problem_ids if t in memberships) / len(problem_ids), 6
        )
        if problem_ids
        else None,
        "per_s": round(len(records) / seconds, 1),
    }
    return figures


# -- command line ----------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--jira", type=Path, help="trimmed Jira issues, JSON lines (.gz ok)")
    parser.add_argument("--reports", type=Path, help="GitBugs reports CSV")
    parser.add_argument("--duplicates", type=Path, help="GitBugs duplicates CSV")
    parser.add_argument("--sample", type=Path, help="sample directory with ground truth")
    parser.add_argument(
        "--similar-params", type=json.loads, default={}, help="SimilarTickets kwargs (JSON)"
    )
    parser.add_argument(
        "--engine-params", type=json.loads, default={}, help="ClusterEngine kwargs (JSON)"
    )
    parser.add_argument(
        "--skip-tfidf-clustering",
        action="store_true",
        help="skip the agglomerative TF-IDF baseline (quadratic memory per scope)",
    )
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also re-rank and group with sentence embeddings (needs the model; slow)",
    )
    args = parser.parse_args(argv)
    if bool(args.reports) != bool(args.duplicates):
        parser.error("--reports and --duplicates go together")
    if not (args.jira or args.reports or args.sample):
        parser.error("give --jira, --reports/--duplicates or --sample")
    return args


def _print_table(name: str, figures: dict[str, Any]) -> None:
    for view in ("retrieval", "retrieval_no_identical"):
        for method, scores in figures.get(view, {}).items():
            print(
                f"{name:28s} {view:24s} {method:8s} "
                + " ".join(f"{k}={v}" for k, v in scores.items())
            )
    for view in ("clustering", "clustering_no_identical"):
        for method, scores in figures.get(view, {}).items():
            if isinstance(scores, dict):
                print(
                    f"{name:28s} {view:24s} {method:22s} "
                    + " ".join(f"{k}={v}" for k, v in scores.items())
                )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the evaluations asked for and print the figures (JSON last)."""
    args = _parse(argv)
    report: dict[str, Any] = {
        "similar_params": args.similar_params,
        "engine_params": args.engine_params,
    }
    labeled_sets: list[tuple[str, LabeledSet]] = []
    if args.jira:
        _log(f"loading {args.jira}")
        labeled_sets.append(("jira", load_jira(args.jira)))
    if args.reports:
        _log(f"loading {args.reports}")
        labeled_sets.append(("gitbugs", load_gitbugs(args.reports, args.duplicates)))
    for key, labeled in labeled_sets:
        figures = evaluate_labeled(
            labeled,
            args.similar_params,
            args.engine_params,
            args.skip_tfidf_clustering,
            args.semantic,
        )
        _print_table(f"{key}:{labeled.name}", figures)
        report[key] = figures
    if args.sample:
        _log(f"sample {args.sample}")
        report["sample"] = evaluate_sample(args.sample, args.engine_params)
        print("sample " + " ".join(f"{k}={v}" for k, v in report["sample"].items()))
    print(json.dumps(report, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
