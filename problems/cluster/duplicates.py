"""Duplicate-level groups: each ticket joins the group of its best earlier duplicate.

A problem cluster gathers tickets of one root cause, which may read quite differently; a
*duplicate group* is narrower: tickets that report the same thing. `DuplicateGrouper`
builds those groups on a stream with one decision per ticket. When a ticket arrives, it
is given its nearest earlier tickets with a pair score (`Reranker.score` with the
``duplicate`` model, or any score where higher means "more likely the same"); each
candidate's score is lowered by ``size_penalty`` times the log of the size of its group,
and the ticket joins the group of the best one when that reaches ``threshold`` and the
group holds fewer than ``max_group_size`` tickets, else it starts a group of its own.

Why this shape: a ticket's best earlier match is right far more often than a chain of
matches is (single-link chains snowball into groups of unrelated tickets), and a cap on
the group size bounds the damage of a wrong link. The size penalty prices a link by what
it costs: joining a group of ``n`` tickets puts the newcomer in ``n`` same-group pairs,
so a larger group asks for more evidence (odds ``n ** size_penalty`` times higher), and
the loose tickets that most duplicates are get linked first. A ticket is decided once,
when it arrives, so group ids (the id of the group's first ticket) never change and
replaying the same tickets in the same order gives the same groups.

Examples
--------
>>> grouper = DuplicateGrouper(threshold=0.5, max_group_size=3, size_penalty=0.0)
>>> grouper.learn_one("T-1", [])
>>> grouper.learn_one("T-2", [("T-1", 0.9)])
'T-1'
>>> grouper.learn_one("T-3", [("T-1", 0.2), ("T-2", 0.4)]) is None
True
>>> grouper.learn_one("T-4", [("T-2", 0.8), ("T-3", 0.7)])
'T-2'
>>> grouper.learn_one("T-5", [("T-4", 0.95)]) is None  # the group of T-1 is full
True
>>> grouper.groups()
{'T-1': 'T-1', 'T-2': 'T-1', 'T-4': 'T-1'}
>>> DuplicateGrouper.from_state(grouper.to_state()).groups() == grouper.groups()
True

With a size penalty, a group of two asks ``log(2)`` more of a score than a lone ticket:

>>> grouper = DuplicateGrouper(threshold=0.5, size_penalty=1.0)
>>> grouper.learn_many([("T-1", []), ("T-2", [("T-1", 1.3)]), ("T-3", [])])
>>> grouper.learn_one("T-4", [("T-2", 1.0)]) is None  # 1.0 - log(2) is under 0.5
True
>>> grouper.learn_one("T-5", [("T-2", 1.3), ("T-3", 0.9)])  # 1.3 - log(2) < 0.9 - log(1)
'T-3'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from problems.cluster.rerank import Reranker
    from problems.cluster.semantic import TicketEmbeddings
    from problems.cluster.similar import SimilarTickets

__all__ = [
    "EARLIER_K",
    "SCHEMA_VERSION",
    "DuplicateGrouper",
    "DuplicateGrouperSnapshotError",
    "earlier_candidates",
    "learn_from_index",
    "scored_earlier_candidates",
]

EARLIER_K = 10
"""How many of its nearest earlier tickets an arriving ticket is scored against."""

SCHEMA_VERSION = 2
"""Version 2 added ``size_penalty``; a version-1 snapshot loads with none (0)."""


class DuplicateGrouperSnapshotError(ValueError):
    """A snapshot of `DuplicateGrouper` that cannot be loaded (unknown version, damaged)."""


class DuplicateGrouper:
    """Streaming duplicate groups from each ticket's scored earlier candidates.

    Parameters
    ----------
    threshold : float or None
        Least pair score for a link; ``None`` takes the threshold of the shipped model
        named by ``purpose`` (``problems/defaults/rerank.toml``), on its log-odds scale.
    max_group_size : int
        A group this large takes no more tickets.
    purpose : str
        The shipped model whose threshold ``None`` takes: ``duplicate`` for scores given
        with neighbour ranks (`Reranker.score` with ``back_ranks``), ``duplicate_text``
        for scores without them.
    size_penalty : float or None
        Score taken off a candidate per unit of the log size of its group; ``None``
        takes the shipped model's (``0`` when it has none).

    Attributes
    ----------
    group_of_ : dict of str to str
        Group id (its first ticket's id) of every ticket learned.
    links_ : dict of str to str
        The earlier ticket each linked ticket joined through (its evidence).
    """

    def __init__(
        self,
        threshold: float | None = None,
        max_group_size: int = 10,
        purpose: str = "duplicate",
        size_penalty: float | None = None,
    ) -> None:
        self.threshold = threshold
        self.max_group_size = max_group_size
        self.purpose = purpose
        self.size_penalty = size_penalty

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {
            "threshold": self.threshold,
            "max_group_size": self.max_group_size,
            "purpose": self.purpose,
            "size_penalty": self.size_penalty,
        }

    def _ensure(self) -> None:
        if hasattr(self, "group_of_"):
            return
        self.group_of_: dict[str, str] = {}
        self.links_: dict[str, str] = {}
        self.sizes_: dict[str, int] = {}
        shipped_threshold = shipped_penalty = 0.0
        if self.threshold is None or self.size_penalty is None:
            from problems.cluster.rerank import load_default_models

            shipped = load_default_models()[self.purpose]
            shipped_threshold = shipped.threshold or 0.0
            shipped_penalty = shipped.size_penalty or 0.0
        given = self.threshold, self.size_penalty
        self.threshold_ = shipped_threshold if given[0] is None else float(given[0])
        self.size_penalty_ = shipped_penalty if given[1] is None else float(given[1])

    def learn_one(self, ticket_id: str, candidates: Sequence[tuple[str, float]]) -> str | None:
        """Decide one new ticket; return the earlier ticket it linked to, or None.

        Parameters
        ----------
        ticket_id : str
            The arriving ticket (one already learned changes nothing and returns None).
        candidates : sequence of (str, float)
            Earlier tickets with their pair score, in any order; unknown ids are skipped.
        """
        self._ensure()
        if ticket_id in self.group_of_:
            return None
        best_id: str | None = None
        best_score = -float("inf")
        for candidate_id, score in candidates:
            group_of_candidate = self.group_of_.get(candidate_id)
            if group_of_candidate is None:
                continue
            priced = score - self.size_penalty_ * math.log(self.sizes_[group_of_candidate])
            # Ties go to the first listed: the candidate generator's own order.
            if priced > best_score:
                best_id, best_score = candidate_id, priced
        group = ticket_id
        linked: str | None = None
        if best_id is not None and best_score >= self.threshold_:
            target = self.group_of_[best_id]
            if self.sizes_[target] < self.max_group_size:
                group, linked = target, best_id
        self.group_of_[ticket_id] = group
        self.sizes_[group] = self.sizes_.get(group, 0) + 1
        if linked is not None:
            self.links_[ticket_id] = linked
        return linked

    def learn_many(self, items: Iterable[tuple[str, Sequence[tuple[str, float]]]]) -> None:
        """`learn_one` for each ``(ticket_id, candidates)`` in order."""
        for ticket_id, candidates in items:
            self.learn_one(ticket_id, candidates)

    def groups(self) -> dict[str, str]:
        """Group id of every ticket in a group of two or more."""
        self._ensure()
        return {t: g for t, g in self.group_of_.items() if self.sizes_.get(g, 0) > 1}

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot (versioned)."""
        self._ensure()
        return {
            "schema_version": SCHEMA_VERSION,
            "params": self.get_params(),
            "threshold": self.threshold_,
            "size_penalty": self.size_penalty_,
            "group_of": dict(self.group_of_),
            "links": dict(self.links_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DuplicateGrouper:
        """Rebuild from `to_state` output.

        Raises
        ------
        DuplicateGrouperSnapshotError
            When the snapshot's version is unknown or its content is damaged.
        """
        version = state.get("schema_version") if isinstance(state, dict) else None
        if version not in (1, SCHEMA_VERSION):
            raise DuplicateGrouperSnapshotError(
                f"duplicate-groups snapshot version {version!r} is not {SCHEMA_VERSION}"
            )
        try:
            # Version 1 knew no size penalty: its groups were decided without one.
            params = {"size_penalty": 0.0, **state["params"]}
            grouper = cls(**params)
            grouper.group_of_ = {str(t): str(g) for t, g in state["group_of"].items()}
            grouper.links_ = {str(t): str(e) for t, e in state["links"].items()}
            grouper.threshold_ = float(state["threshold"])
            grouper.size_penalty_ = float(state.get("size_penalty", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DuplicateGrouperSnapshotError(
                f"damaged duplicate-groups snapshot: {error}"
            ) from error
        sizes: dict[str, int] = {}
        for group in grouper.group_of_.values():
            sizes[group] = sizes.get(group, 0) + 1
        grouper.sizes_ = sizes
        return grouper


def earlier_candidates(
    index: SimilarTickets,
    records: Sequence[Any],
    start: int = 0,
    earlier_k: int = EARLIER_K,
    chunk_size: int = 2048,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Each ticket's nearest tickets learned before it, as a stream replay sees them.

    For the index's tickets from position ``start`` on, in learning order: the ticket's
    position, the positions of its ``earlier_k`` best-scored tickets learned before it
    (ties: earlier first), their scores, and each one's neighbour rank among the tickets
    before the arriving one (`SimilarTickets.neighbour_ranks`, capped at
    `problems.cluster.rerank.BACK_RANK_CAP`). The only place that picks earlier
    candidates: `learn_from_index` decides groups with it, and ``bench/fit_rerank.py``
    fits the ``duplicate`` model on the same pairs.

    Parameters
    ----------
    index : SimilarTickets
        Holds the tickets; its learning order is the order of arrival.
    records : sequence of tickets
        ``records[n]`` is the index's ``n``-th ticket, for as many as the index holds.
    start : int
        First position given.
    earlier_k : int
        Candidates per ticket.
    chunk_size : int
        Tickets whose candidates' neighbour ranks are counted together (each distinct
        candidate scored once per chunk); memory stays at `_ROWS_AT_ONCE` dense rows.

    Raises
    ------
    ValueError
        When ``records`` does not follow the index's learning order.
    """
    from problems.cluster.rerank import BACK_RANK_CAP

    ids = index.ticket_ids_
    if len(records) < len(ids):
        raise ValueError("one record is needed per ticket of the index")
    for chunk_start in range(start, len(ids), chunk_size):
        chunk_stop = min(chunk_start + chunk_size, len(ids))
        tops: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for batch_start in range(chunk_start, chunk_stop, _ROWS_AT_ONCE):
            batch = records[batch_start : min(batch_start + _ROWS_AT_ONCE, chunk_stop)]
            rows = index.scores_rows(index.featurizer_.transform(batch), batch)
            for offset, (record, scores) in enumerate(zip(batch, rows, strict=True)):
                here = batch_start + offset
                if record.ticket_id != ids[here]:
                    raise ValueError(f"record {here} is not the index's ticket {ids[here]!r}")
                earlier = scores[:here]
                tops.append(np.lexsort((np.arange(here), -earlier))[:earlier_k])
                values.append(earlier[tops[-1]])
        # Each candidate's rank among the tickets before the arriving one; a candidate
        # is often shared within a chunk, so all are counted together.
        asks = [
            (int(position), float(value), chunk_start + offset, -1)
            for offset, (top, scores) in enumerate(zip(tops, values, strict=True))
            for position, value in zip(top, scores, strict=True)
        ]
        counts = index.neighbour_ranks_of_learned(records, asks, cap=BACK_RANK_CAP)
        ends = np.cumsum([top.size for top in tops])
        for offset, (top, value, ranks) in enumerate(
            zip(tops, values, np.split(counts, ends[:-1]), strict=True)
        ):
            yield chunk_start + offset, top, value, ranks


_ROWS_AT_ONCE = 256
"""Dense score rows computed in one product (256 rows of a 100k-ticket index: 200 MB)."""


def scored_earlier_candidates(
    index: SimilarTickets,
    records: Sequence[Any],
    reranker: Reranker,
    *,
    start: int = 0,
    embeddings: TicketEmbeddings | None = None,
    earlier_k: int = EARLIER_K,
    chunk_size: int = 2048,
) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """Each of the index's tickets from ``start`` on, in learning order, with its earlier
    candidates scored: what `DuplicateGrouper.learn_one` takes.

    Each ticket is scored against its ``earlier_k`` nearest tickets learned before it,
    with each candidate's neighbour rank among the tickets before it
    (`earlier_candidates`), by the ``duplicate`` model of ``reranker``; then ``reranker``
    learns it, so its word frequencies know only earlier tickets when a ticket is scored.

    Parameters
    ----------
    index : SimilarTickets
        Holds the tickets; its learning order is the order of arrival.
    records : sequence of tickets
        ``records[n]`` is the index's ``n``-th ticket, for as many as the index holds.
    reranker : Reranker
        Has learned exactly the index's tickets before ``start``.
    start : int
        First position given.
    embeddings : TicketEmbeddings or None
        Adds the tickets' sentence-embedding similarity (``semantic``): scores are then the
        ``duplicate_semantic`` model's.
    earlier_k, chunk_size : int
        As in `earlier_candidates`.
    """
    ids = index.ticket_ids_
    if embeddings is not None:
        embeddings.vectors(records[start : len(ids)])  # one batch: encoding is the slow part
    for here, top, _, back_ranks in earlier_candidates(
        index, records, start, earlier_k, chunk_size
    ):
        record = records[here]
        candidates = [records[i] for i in top]
        cosines = None if embeddings is None else embeddings.similarity(record, candidates)
        pair_scores = reranker.score(
            record, candidates, purpose="duplicate", back_ranks=back_ranks, semantic=cosines
        )
        scored = [(ids[i], float(v)) for i, v in zip(top, pair_scores, strict=True)]
        reranker.learn_one(record)
        yield record.ticket_id, scored


def learn_from_index(
    grouper: DuplicateGrouper,
    index: SimilarTickets,
    records: Sequence[Any],
    reranker: Reranker,
    *,
    embeddings: TicketEmbeddings | None = None,
    earlier_k: int = EARLIER_K,
    chunk_size: int = 2048,
) -> int:
    """Decide the index's tickets that ``grouper`` has not decided yet, in learning order,
    each on its `scored_earlier_candidates`. This is how the product forms duplicate
    groups and how ``bench/quality.py`` measures them.

    Parameters
    ----------
    grouper : DuplicateGrouper
        Has decided the index's first tickets (as many as it holds), or none; with
        ``embeddings`` it should take the ``duplicate_semantic`` model's threshold.
    index, records, embeddings, earlier_k, chunk_size
        As in `scored_earlier_candidates`.
    reranker : Reranker
        Has learned exactly the tickets ``grouper`` has decided.

    Returns
    -------
    int
        How many tickets were decided.
    """
    grouper._ensure()
    start = len(grouper.group_of_)
    grouper.learn_many(
        scored_earlier_candidates(
            index,
            records,
            reranker,
            start=start,
            embeddings=embeddings,
            earlier_k=earlier_k,
            chunk_size=chunk_size,
        )
    )
    return len(index.ticket_ids_) - start
