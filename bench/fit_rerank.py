"""Fit the re-ranking and duplicate models of `problems.cluster.rerank`, with transfer.

    python bench/fit_rerank.py --jira ../shared/data/apache-jira-hadoop/issues.jsonl.gz \\
        --reports ../shared/data/gitbugs-hadoop/hadoop_bugs.csv \\
        --duplicates ../shared/data/gitbugs-hadoop/hadoop_bugs-combined.csv --write

Candidates come from `SimilarTickets` (default parameters), as the product will get them:
the top ``--query-k`` other tickets of the same scope for each retrieval query, and the
top ``--earlier-k`` *earlier* tickets for every ticket (what a ticket sees when it
arrives). `Reranker.features` turns each (ticket, candidate) pair into `FEATURES`.

Two models are fitted on the training set (``--train``, apache-jira by default) only:

* ``rerank``: a logistic regression without intercept on feature differences of (true
  duplicate, other candidate) pairs of the same query (a linear RankNet);
* ``duplicate``: a logistic regression on each ticket's earlier candidates (is it a
  duplicate?); its ``size_penalty`` (`DuplicateGrouper`): the value of
  ``SIZE_PENALTY_GRID`` whose groups, scored by models fitted on the other projects, reach
  the best pair recall within Drain3's pairs on the training set (a tie goes to the fewer
  pairs, `grouping_merit`); and its ``threshold``:
  the loosest on a grid whose groups predict no more same-group pairs on the training set
  than it has tickets (``PAIRS_PER_TICKET``; Drain3 predicts 1.5 a ticket on apache-jira,
  0.7 on gitbugs);
* ``rerank_text`` and ``duplicate_text``: the same without ``back_rank`` (for callers
  that give no neighbour ranks), and ``rerank_semantic`` and ``duplicate_semantic`` with
  the tickets' sentence-embedding similarity as well (``--semantic``, which encodes
  every ticket with `problems.cluster.semantic.TicketEmbeddings`: about 25 min for
  apache-jira on two cores, kept in ``bench/.embeddings`` for the next run; ``--write``
  needs it). `problems.cluster.rerank.model_name` picks one.

Each candidate's neighbour rank (``back_rank``: how many tickets the candidate itself
scores above the query, `SimilarTickets.neighbour_ranks`) is counted in `candidates`.

Reported: retrieval R@k / MRR of the engine and of engine + re-ranking, and pair recall
against same-group pairs over a threshold sweep, on each set, with the models fitted on
the other set (both directions), plus leave-one-project-out figures on apache-jira (fit
on three projects, evaluate on the fourth). ``--write`` stores the training-set fit in
``problems/defaults/rerank.toml`` with these figures as its provenance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import LabeledSet, load_gitbugs, load_jira
from bench.embedding_cache import cached_embeddings
from bench.metrics import pair_recall, predicted_pairs, retrieval_scores
from problems.cluster.duplicates import DuplicateGrouper
from problems.cluster.rerank import (
    BACK_RANK_CAP,
    FEATURES,
    PURPOSES,
    PairModel,
    Reranker,
    model_features,
    model_name,
)
from problems.cluster.semantic import TicketEmbeddings

__all__ = [
    "Candidates",
    "Pairs",
    "candidates",
    "earlier_pairs",
    "grouping_sweep",
    "main",
    "offered_candidates",
    "query_pairs",
]

WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "problems" / "defaults" / "rerank.toml"
REGULARIZATION = 0.1
"""Inverse L2 strength of both logistic regressions (features are standardised)."""
MAX_GROUP_SIZE = 10
PAIRS_PER_TICKET = 1.0
"""Budget of same-group pairs, per ticket of the training set, that sets the threshold."""
THRESHOLD_GRID = tuple(round(float(x), 2) for x in np.arange(-8.0, 0.01, 0.25))
SIZE_PENALTY_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
"""`DuplicateGrouper` size penalties tried; each model takes the one whose held-out groups
reach the best pair recall within Drain3's pairs (`choose_size_penalty`)."""
_UNUSED_MODEL: dict[str, list[Any]] = {"features": [], "mean": [], "scale": [], "coef": []}
"""Feature extraction needs no weights; this keeps the shipped file out of the fit."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Candidates:
    """Engine candidates per ticket id: ``(candidate id, engine score)``, best first.

    ``query_back`` and ``earlier_back`` hold, in the same order, each candidate's
    neighbour rank (`SimilarTickets.neighbour_ranks`, capped at `BACK_RANK_CAP`): for
    queries among every other ticket of the scope, for earlier candidates among the
    tickets before the arriving one.
    """

    query: dict[str, list[tuple[str, float]]]
    earlier: dict[str, list[tuple[str, float]]]
    engine_rank: dict[str, int | None]
    query_back: dict[str, list[int]] = field(default_factory=dict)
    earlier_back: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Pairs:
    """Pair features with their query, candidate and label (true duplicate)."""

    values: np.ndarray
    query: np.ndarray
    candidate: np.ndarray
    label: np.ndarray


def _rows_by_query(pairs: Pairs) -> dict[str, np.ndarray]:
    rows: dict[str, list[int]] = {}
    for row, query_id in enumerate(pairs.query):
        rows.setdefault(query_id, []).append(row)
    return {query_id: np.array(found, dtype=np.int64) for query_id, found in rows.items()}


def _group_of(labeled: LabeledSet) -> dict[str, int]:
    return {t: n for n, group in enumerate(labeled.groups) for t in group}


def candidates(labeled: LabeledSet, query_k: int = 100, earlier_k: int = 10) -> Candidates:
    """Engine candidates of every query (all others in scope) and every ticket (earlier).

    Query candidates: one `SimilarTickets` index per retrieval scope (the protocol's Jira
    project) holds all of its tickets; each query gets its top ``query_k``, with each
    candidate's neighbour rank (`SimilarTickets.neighbour_ranks_of_learned`, the query's
    own ticket left out). Earlier candidates (``earlier_k`` > 0) come from one index of
    all the tickets, as `problems.pipeline.Pipeline.duplicates` groups the whole book
    (a root cause may cross projects: 127 of apache-jira's 1,007 duplicate links do);
    they are `problems.cluster.duplicates.earlier_candidates`, the product's own
    selection: the index's scores cut to the tickets learned before (the IDF reference
    then counts later tickets too, a small difference from a live stream).
    """
    from problems.cluster.duplicates import earlier_candidates
    from problems.cluster.similar import SimilarTickets

    records = labeled.records
    group_of = _group_of(labeled)
    result = Candidates(query={}, earlier={}, engine_rank={})
    for positions in labeled.positions_by_scope().values():
        scope_records = [records[p] for p in positions]
        ids = [record.ticket_id for record in scope_records]
        index = SimilarTickets()
        index.learn_many(scope_records)
        # Neighbour-rank asks: (candidate, the query's score, limit, the query's position).
        asks: list[tuple[int, float, int, int]] = []
        for start in range(0, len(scope_records), 256):
            chunk = scope_records[start : start + 256]
            all_scores = index.scores_rows(index.featurizer_.transform(chunk), chunk)
            for offset, (record, scores) in enumerate(zip(chunk, all_scores, strict=True)):
                here = start + offset
                ticket_id = record.ticket_id
                if ticket_id not in group_of:
                    continue
                order = np.lexsort((np.arange(scores.size), -scores))
                # The query is no candidate of its own, even in a scope of fewer than
                # ``query_k`` tickets (it would count as its own duplicate).
                order = order[order != here]
                top = order[:query_k]
                result.query[ticket_id] = [(ids[i], float(scores[i])) for i in top]
                asks.extend((int(i), float(scores[i]), len(ids), here) for i in top)
                relevant = np.array([group_of.get(ids[i]) == group_of[ticket_id] for i in order])
                hits = np.flatnonzero(relevant)
                result.engine_rank[ticket_id] = int(hits[0]) + 1 if hits.size else None
        counts = iter(index.neighbour_ranks_of_learned(scope_records, asks, cap=BACK_RANK_CAP))
        for ticket_id in (t for t in ids if t in group_of):  # the order of the asks
            result.query_back[ticket_id] = [int(next(counts)) for _ in result.query[ticket_id]]
    if earlier_k <= 0:
        return result
    index = SimilarTickets()
    index.learn_many(records)
    ids = index.ticket_ids_
    for here, top, values, back_ranks in earlier_candidates(index, records, earlier_k=earlier_k):
        listed = zip(top, values, strict=True)
        result.earlier[ids[here]] = [(ids[i], float(v)) for i, v in listed]
        result.earlier_back[ids[here]] = back_ranks.tolist()
    return result


def query_pairs(
    labeled: LabeledSet, found: Candidates, embeddings: TicketEmbeddings | None = None
) -> Pairs:
    """Features of each query with its engine candidates (document counts: its scope);
    ``semantic`` only with ``embeddings``."""
    by_id = {record.ticket_id: record for record in labeled.records}
    group_of = _group_of(labeled)
    rerankers: dict[str, Reranker] = {}
    for scope_name, positions in labeled.positions_by_scope().items():
        reranker = Reranker(models=_unused_models(), cache_size=len(positions) + 1)
        reranker.learn_many([labeled.records[p] for p in positions])
        rerankers[scope_name] = reranker
    rows: list[np.ndarray] = []
    queries: list[str] = []
    candidate_ids: list[str] = []
    labels: list[bool] = []
    for query_id, listed in found.query.items():
        others = [by_id[c] for c, _ in listed]
        semantic = None if embeddings is None else embeddings.similarity(by_id[query_id], others)
        rows.append(
            rerankers[labeled.scope[query_id]].features(
                by_id[query_id], others, found.query_back.get(query_id), semantic
            )
        )
        queries.extend([query_id] * len(others))
        candidate_ids.extend(c for c, _ in listed)
        labels.extend(group_of.get(c) == group_of[query_id] for c, _ in listed)
    return Pairs(
        np.vstack(rows) if rows else np.zeros((0, len(FEATURES))),
        np.array(queries, dtype=object),
        np.array(candidate_ids, dtype=object),
        np.array(labels, dtype=bool),
    )


def earlier_pairs(
    labeled: LabeledSet, found: Candidates, embeddings: TicketEmbeddings | None = None
) -> Pairs:
    """Features of every ticket with its earlier candidates (of all the tickets, as
    `candidates` picks them), counts learned as a stream; ``semantic`` only with
    ``embeddings``."""
    by_id = {record.ticket_id: record for record in labeled.records}
    group_of = _group_of(labeled)
    reranker = Reranker(models=_unused_models(), cache_size=50_000)
    rows: list[np.ndarray] = []
    queries: list[str] = []
    candidate_ids: list[str] = []
    labels: list[bool] = []
    for record in labeled.records:
        listed = found.earlier.get(record.ticket_id, [])
        if listed:
            others = [by_id[c] for c, _ in listed]
            semantic = None if embeddings is None else embeddings.similarity(record, others)
            rows.append(
                reranker.features(
                    record, others, found.earlier_back.get(record.ticket_id), semantic
                )
            )
            queries.extend([record.ticket_id] * len(others))
            candidate_ids.extend(c for c, _ in listed)
            mine = group_of.get(record.ticket_id)
            labels.extend(mine is not None and group_of.get(c) == mine for c, _ in listed)
        reranker.learn_one(record)
    return Pairs(
        np.vstack(rows) if rows else np.zeros((0, len(FEATURES))),
        np.array(queries, dtype=object),
        np.array(candidate_ids, dtype=object),
        np.array(labels, dtype=bool),
    )


def _unused_models() -> dict[str, dict[str, Any]]:
    return {purpose: dict(_UNUSED_MODEL) for purpose in PURPOSES}


# -- fitting -----------------------------------------------------------------------------


def _standardise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


VARIANTS = ((True, False), (False, False), (True, True))
"""Which optional features (neighbour ranks, sentence-embedding cosines) each fitted model
reads; `model_name` names it and `model_features` lists its features."""


def _columns(pairs: Pairs, features: Sequence[str]) -> np.ndarray:
    return pairs.values[:, [FEATURES.index(name) for name in features]]


def fit_rank_model(
    pairs: Pairs, max_negatives: int = 100, features: Sequence[str] | None = None
) -> PairModel:
    """Linear RankNet: logistic regression on (duplicate - other) feature differences
    (``features``: the default model's, `model_features`)."""
    from sklearn.linear_model import LogisticRegression

    features = features or model_features(True, False)
    values = _columns(pairs, features)
    mean, scale = _standardise(values)
    standard = (values - mean) / scale
    differences = []
    for mine in _rows_by_query(pairs).values():
        positive, negative = mine[pairs.label[mine]], mine[~pairs.label[mine]][:max_negatives]
        for row in positive:
            if negative.size:
                differences.append(standard[row] - standard[negative])
    stacked = np.vstack(differences)
    inputs = np.vstack([stacked, -stacked])
    targets = np.r_[np.ones(len(stacked)), np.zeros(len(stacked))]
    model = LogisticRegression(C=REGULARIZATION, fit_intercept=False, max_iter=5000)
    model.fit(inputs, targets)
    return PairModel(
        tuple(features),
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        tuple(model.coef_[0].tolist()),
    )


def fit_duplicate_model(pairs: Pairs, features: Sequence[str] | None = None) -> PairModel:
    """Logistic regression: is an earlier candidate a duplicate of the ticket?"""
    from sklearn.linear_model import LogisticRegression

    features = features or model_features(True, False)
    values = _columns(pairs, features)
    mean, scale = _standardise(values)
    model = LogisticRegression(C=REGULARIZATION, max_iter=5000)
    model.fit((values - mean) / scale, pairs.label)
    return PairModel(
        tuple(features),
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        tuple(model.coef_[0].tolist()),
        float(model.intercept_[0]),
    )


# -- evaluation --------------------------------------------------------------------------


def reranked_ranks(
    labeled: LabeledSet, found: Candidates, pairs: Pairs, scores: np.ndarray
) -> dict[str, int | None]:
    """Rank of each query's first duplicate after re-ordering its candidates by ``scores``.

    Candidates keep the engine's order on ties; a duplicate beyond the re-ranked
    candidates keeps its engine rank.
    """
    group_of = _group_of(labeled)
    ranks: dict[str, int | None] = {}
    rows_of = _rows_by_query(pairs)
    for query_id in found.query:
        mine = rows_of.get(query_id, np.zeros(0, dtype=np.int64))
        order = mine[np.lexsort((np.arange(mine.size), -scores[mine]))]
        hits = [
            n
            for n, row in enumerate(order, start=1)
            if group_of.get(pairs.candidate[row]) == group_of[query_id]
        ]
        ranks[query_id] = hits[0] if hits else found.engine_rank[query_id]
    return ranks


def retrieval_figures(labeled: LabeledSet, ranks: dict[str, int | None]) -> dict[str, Any]:
    """R@k and MRR over the protocol's queries (every member of every group)."""
    return retrieval_scores([ranks.get(t) for group in labeled.groups for t in group])


def offered_candidates(
    labeled: LabeledSet, pairs: Pairs, scores: np.ndarray
) -> list[tuple[str, list[tuple[str, float]]]]:
    """Each ticket, in order, with its earlier candidates scored by ``scores``: what
    `DuplicateGrouper.learn_one` takes (and `scored_earlier_candidates` yields)."""
    rows_of = _rows_by_query(pairs)
    empty = np.zeros(0, dtype=np.int64)
    return [
        (
            record.ticket_id,
            [
                (str(pairs.candidate[r]), float(scores[r]))
                for r in rows_of.get(record.ticket_id, empty)
            ],
        )
        for record in labeled.records
    ]


def grouping_sweep(
    labeled: LabeledSet,
    offered: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    grid: Sequence[float],
    cap: int,
    size_penalty: float | None = 0.0,
    purpose: str = "duplicate",
) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """At each threshold, the groups of one `DuplicateGrouper` fed ``offered`` in order,
    with their sweep point (pair recall, same-group pairs); ``size_penalty`` None takes
    the shipped model's named by ``purpose``."""
    for threshold in grid:
        grouper = DuplicateGrouper(threshold, cap, purpose=purpose, size_penalty=size_penalty)
        grouper.learn_many(offered)
        labels = grouper.groups()
        point = {
            "threshold": threshold,
            "pair_recall": pair_recall(labels, labeled.links),
            "pairs": predicted_pairs(labels),
        }
        yield point, labels


def duplicate_sweep(
    labeled: LabeledSet,
    pairs: Pairs,
    scores: np.ndarray,
    grid: Sequence[float],
    cap: int,
    size_penalty: float = 0.0,
) -> list[dict[str, Any]]:
    """Pair recall (rounded) and same-group pairs of `DuplicateGrouper` at each threshold."""
    offered = offered_candidates(labeled, pairs, scores)
    return [
        {**point, "pair_recall": round(point["pair_recall"], 4)}
        for point, _ in grouping_sweep(labeled, offered, grid, cap, size_penalty)
    ]


def grouping_merit(point: dict[str, Any] | None) -> tuple[float, int]:
    """Order of sweep points: higher pair recall, then fewer pairs (the same links at less
    cost); no point at all comes last."""
    if point is None:
        return (-1.0, 0)
    return (point["pair_recall"], -point["pairs"])


def best_under(sweep: list[dict[str, Any]], budget: int) -> dict[str, Any] | None:
    """The best sweep point (`grouping_merit`) among those within ``budget`` pairs."""
    within = [point for point in sweep if point["pairs"] <= budget]
    return max(within, key=grouping_merit, default=None)


def drain3_pairs(labeled: LabeledSet) -> int:
    """Same-cluster pairs of Drain3 (default settings) on the summaries."""
    from drain3 import TemplateMiner

    miner = TemplateMiner()
    labels = {
        record.ticket_id: miner.add_log_message(labeled.summaries[record.ticket_id])["cluster_id"]
        for record in labeled.records
    }
    return predicted_pairs(labels)


# -- command line ------------------------------------------------------------------------


@dataclass
class _Prepared:
    labeled: LabeledSet
    found: Candidates
    queries: Pairs
    earlier: Pairs
    drain3_pairs: int
    semantic: bool

    @property
    def variants(self) -> list[tuple[bool, bool]]:
        """The `VARIANTS` these pairs can fit (semantic ones only with the cosines)."""
        return [known for known in VARIANTS if self.semantic or not known[1]]


def prepare(labeled: LabeledSet, semantic: bool = False) -> _Prepared:
    """Candidates and pair features of one labeled set (with ``semantic``, the tickets'
    sentence-embedding similarities too, vectors kept in ``bench/.embeddings``)."""
    started = time.perf_counter()
    found = candidates(labeled)
    _log(f"{labeled.name}: candidates in {time.perf_counter() - started:.1f} s")
    embeddings = None
    if semantic:
        started = time.perf_counter()
        embeddings = cached_embeddings()
        embeddings.vectors(labeled.records)
        _log(
            f"{labeled.name}: {len(labeled.records)} tickets embedded in "
            f"{time.perf_counter() - started:.1f} s ({embeddings.encoder.n_encoded} texts "
            "encoded, the rest from bench/.embeddings)"
        )
    started = time.perf_counter()
    queries = query_pairs(labeled, found, embeddings)
    _log(
        f"{labeled.name}: {len(queries.label)} query pairs in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    earlier = earlier_pairs(labeled, found, embeddings)
    seconds = time.perf_counter() - started
    _log(
        f"{labeled.name}: {len(earlier.label)} earlier pairs in {seconds:.1f} s "
        f"({1000 * seconds / max(len(labeled.records), 1):.2f} ms per ticket)"
    )
    return _Prepared(labeled, found, queries, earlier, drain3_pairs(labeled), semantic)


def _threshold_for(
    prepared: _Prepared, model: PairModel, size_penalty: float
) -> tuple[float, list[dict[str, Any]]]:
    scores = model.decision(prepared.earlier.values)
    sweep = duplicate_sweep(
        prepared.labeled, prepared.earlier, scores, THRESHOLD_GRID, MAX_GROUP_SIZE, size_penalty
    )
    point = best_under(sweep, int(PAIRS_PER_TICKET * len(prepared.labeled.records)))
    return (point["threshold"] if point else THRESHOLD_GRID[-1]), sweep


def held_out_duplicate_scores(prepared: _Prepared, features: Sequence[str]) -> np.ndarray:
    """``duplicate`` scores of each scope's earlier pairs by a model fitted on the other
    scopes (in-sample scores when the set has one scope)."""
    earlier = prepared.earlier
    scope = np.array([prepared.labeled.scope[q] for q in earlier.query], dtype=object)
    names = sorted(set(scope.tolist()))
    if len(names) < 2:
        return fit_duplicate_model(earlier, features).decision(earlier.values)
    scores = np.zeros(len(scope))
    for name in names:
        held = scope == name
        model = fit_duplicate_model(_subset(earlier, ~held), features)
        scores[held] = model.decision(earlier.values[held])
    return scores


def choose_size_penalty(
    prepared: _Prepared, scores: np.ndarray
) -> tuple[float, dict[float, dict[str, Any] | None]]:
    """The `SIZE_PENALTY_GRID` value whose groups over ``scores`` (held out, see
    `held_out_duplicate_scores`) reach the best pair recall within Drain3's pairs, with
    that best point for each value tried; points compare by `grouping_merit` (so a tie
    in recall goes to the fewer pairs), then the smaller penalty wins."""
    # The thresholds that can land near Drain3's pairs; the full grid costs twice as much.
    grid = [t for t in THRESHOLD_GRID if -7.5 <= t <= -3.0]
    best: dict[float, dict[str, Any] | None] = {}
    for penalty in SIZE_PENALTY_GRID:
        sweep = duplicate_sweep(
            prepared.labeled, prepared.earlier, scores, grid, MAX_GROUP_SIZE, penalty
        )
        best[penalty] = best_under(sweep, prepared.drain3_pairs)

    def ranked(penalty: float) -> tuple[float, int, float]:
        return (*grouping_merit(best[penalty]), -penalty)

    return max(SIZE_PENALTY_GRID, key=ranked), best


def _sweep_points(sweep: list[dict[str, Any]], budget: int) -> list[tuple[float, float, int]]:
    return [
        (point["threshold"], point["pair_recall"], point["pairs"])
        for point in sweep
        if 0 < point["pairs"] <= 2 * budget
    ]


def evaluate_transfer(
    train: _Prepared, test: _Prepared, size_penalties: dict[tuple[bool, bool], float]
) -> dict[str, Any]:
    """Fit on ``train``; retrieval and grouping figures on ``test`` (and on ``train``),
    for each model variant both sets can fit (``rerank``, ``rerank_text``, with
    ``--semantic`` also ``rerank_semantic``; the same for ``duplicate``), grouping with
    the variant's size penalty (chosen on ``train``)."""
    figures: dict[str, Any] = {}
    for known in (known for known in train.variants if known in test.variants):
        features = model_features(*known)
        penalty = size_penalties[known]
        rank_model = fit_rank_model(train.queries, features=features)
        duplicate_model = fit_duplicate_model(train.earlier, features=features)
        threshold, _ = _threshold_for(train, duplicate_model, penalty)
        variant: dict[str, Any] = {
            "threshold": threshold,
            "size_penalty": penalty,
            "rerank_coef": dict(zip(features, np.round(rank_model.coef, 3).tolist(), strict=True)),
            "duplicate_coef": dict(
                zip(features, np.round(duplicate_model.coef, 3).tolist(), strict=True)
            ),
        }
        for role, prepared in (("test", test), ("train", train)):
            labeled = prepared.labeled
            ranks = reranked_ranks(
                labeled,
                prepared.found,
                prepared.queries,
                rank_model.decision(prepared.queries.values),
            )
            scores = duplicate_model.decision(prepared.earlier.values)
            sweep = duplicate_sweep(
                labeled, prepared.earlier, scores, THRESHOLD_GRID, MAX_GROUP_SIZE, penalty
            )
            at_threshold = next(point for point in sweep if point["threshold"] == threshold)
            variant[role] = {
                "dataset": labeled.name,
                "engine": retrieval_figures(labeled, prepared.found.engine_rank),
                "engine_rerank": retrieval_figures(labeled, ranks),
                "duplicates_at_threshold": at_threshold,
                "duplicates_best_within_drain3": best_under(sweep, prepared.drain3_pairs),
                "drain3_pairs": prepared.drain3_pairs,
                "duplicates_sweep": _sweep_points(sweep, prepared.drain3_pairs),
            }
        figures[model_name("rerank", *known)] = variant
    return figures


def leave_one_scope_out(
    prepared: _Prepared,
) -> tuple[dict[str, Any], dict[tuple[bool, bool], float]]:
    """Re-ranking and grouping where each scope is scored by models fit on the others,
    for each model variant, with the size penalty each variant's held-out groups choose
    (`choose_size_penalty`; also returned, by variant)."""
    labeled = prepared.labeled
    scopes = sorted(set(labeled.scope.values()))
    if len(scopes) < 2:
        return {}, {}
    query_scope = np.array([labeled.scope[q] for q in prepared.queries.query], dtype=object)
    figures: dict[str, Any] = {}
    penalties: dict[tuple[bool, bool], float] = {}
    for known in prepared.variants:
        features = model_features(*known)
        rank_scores = np.zeros(len(query_scope))
        for scope_name in scopes:
            held, others = query_scope == scope_name, query_scope != scope_name
            model = fit_rank_model(_subset(prepared.queries, others), features=features)
            rank_scores[held] = model.decision(prepared.queries.values[held])
        ranks = reranked_ranks(labeled, prepared.found, prepared.queries, rank_scores)
        duplicate_scores = held_out_duplicate_scores(prepared, features)
        penalty, by_penalty = choose_size_penalty(prepared, duplicate_scores)
        penalties[known] = penalty
        sweep = duplicate_sweep(
            labeled, prepared.earlier, duplicate_scores, THRESHOLD_GRID, MAX_GROUP_SIZE, penalty
        )
        figures[model_name("rerank", *known)] = {
            "engine_rerank": retrieval_figures(labeled, ranks),
            "size_penalty": penalty,
            "duplicates_best_within_drain3_by_size_penalty": {
                str(p): point for p, point in by_penalty.items()
            },
            "duplicates_best_within_drain3": best_under(sweep, prepared.drain3_pairs),
            "duplicates_sweep": _sweep_points(sweep, prepared.drain3_pairs),
        }
    return figures, penalties


def _subset(pairs: Pairs, mask: np.ndarray) -> Pairs:
    return Pairs(pairs.values[mask], pairs.query[mask], pairs.candidate[mask], pairs.label[mask])


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(round(float(value), 8))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_weights(path: Path, models: dict[str, PairModel], provenance: dict[str, Any]) -> None:
    """The shipped weights file: schema version, one table per model, provenance as JSON."""
    lines = [
        "# Written by bench/fit_rerank.py; do not edit by hand (re-run it instead).",
        "schema_version = 1",
        "provenance = " + json.dumps(json.dumps(provenance, sort_keys=True)),
        "",
    ]
    for purpose, model in models.items():
        lines.append(f"[{purpose}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in model.to_dict().items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _provenance(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its sweeps and coefficients (those are in the output)."""
    dropped = ("duplicates_sweep", "rerank_coef", "duplicate_coef")

    def trimmed(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: trimmed(v) for k, v in value.items() if k not in dropped}
        return value

    return {key: trimmed(value) for key, value in report.items()}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--jira", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    parser.add_argument("--duplicates", type=Path, required=True)
    parser.add_argument("--train", choices=("jira", "gitbugs"), default="jira")
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also fit the *_semantic models (encodes every ticket; needs the model)",
    )
    parser.add_argument("--write", action="store_true", help=f"write {WEIGHTS_PATH.name}")
    args = parser.parse_args(argv)
    if args.write and not args.semantic:
        parser.error("--write needs --semantic: the weights file holds every model")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Fit, report transfer both ways and leave-one-project-out, optionally write."""
    args = _parse(argv)
    prepared = {
        "jira": prepare(load_jira(args.jira), args.semantic),
        "gitbugs": prepare(load_gitbugs(args.reports, args.duplicates), args.semantic),
    }
    other = "gitbugs" if args.train == "jira" else "jira"
    report: dict[str, Any] = {
        "command": "python bench/fit_rerank.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "train": prepared[args.train].labeled.name,
        "max_group_size": MAX_GROUP_SIZE,
        "regularization": REGULARIZATION,
    }
    _log("leave one project out (jira), and the size penalty of each model")
    report["jira_leave_one_project_out"], jira_penalties = leave_one_scope_out(prepared["jira"])
    print("jira leave-one-project-out: " + json.dumps(report["jira_leave_one_project_out"]))
    penalties = {
        "jira": jira_penalties,
        "gitbugs": {
            known: choose_size_penalty(
                prepared["gitbugs"],
                held_out_duplicate_scores(prepared["gitbugs"], model_features(*known)),
            )[0]
            for known in prepared["gitbugs"].variants
        },
    }
    for train, test in ((args.train, other), (other, args.train)):
        _log(f"fit on {train}, evaluate on {test}")
        report[f"{train}_to_{test}"] = evaluate_transfer(
            prepared[train], prepared[test], penalties[train]
        )
        print(f"{train} -> {test}: " + json.dumps(report[f"{train}_to_{test}"]), flush=True)
    if args.write:
        train = prepared[args.train]
        models: dict[str, PairModel] = {}
        for known in train.variants:
            features = model_features(*known)
            models[model_name("rerank", *known)] = fit_rank_model(train.queries, features=features)
            duplicate_model = fit_duplicate_model(train.earlier, features=features)
            penalty = penalties[args.train][known]
            threshold, _ = _threshold_for(train, duplicate_model, penalty)
            models[model_name("duplicate", *known)] = PairModel(
                duplicate_model.features,
                duplicate_model.mean,
                duplicate_model.scale,
                duplicate_model.coef,
                duplicate_model.intercept,
                threshold,
                penalty,
            )
        assert set(models) == set(PURPOSES), sorted(models)
        write_weights(WEIGHTS_PATH, {name: models[name] for name in PURPOSES}, _provenance(report))
        _log(f"wrote {WEIGHTS_PATH}")
    print(json.dumps(report, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
