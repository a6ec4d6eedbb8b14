"""Similar tickets: the k nearest past tickets of a ticket, for agents and for evaluation.

`SimilarTickets` keeps, per learned ticket, its feature row (`TicketFeaturizer`), cut to
its heaviest ``max_terms`` entries to bound memory, with its creation time and
component. It also counts in how many tickets each feature occurs (document
frequency), so that a query weighs features by rarity (IDF): a shared class name or
version number says more than a shared "error".

The score of a past ticket is the cosine of the IDF-weighted rows plus two small priors
that hold across bug trackers: real duplicates are filed close in time
(``time_weight * exp(-days apart / time_scale_days)``) and usually against the same
component (``component_weight``). The priors only reorder tickets whose text is already
close: each is a few hundredths, where text cosines of duplicates are tenths.

IDF weights are taken from a *reference* snapshot of the document frequencies that is
renewed each time the number of learned tickets has grown by ``refresh_growth``: rows
need not be reweighted after every ticket, and the answer of a query depends only on
the tickets learned, never on when earlier queries ran.

Examples
--------
>>> from types import SimpleNamespace
>>> from datetime import datetime, UTC
>>> def ticket(n, subject, day=1):
...     return SimpleNamespace(ticket_id=f"T-{n}", subject=subject, text="", product="hdfs",
...         component="namenode", version=None, tags=(),
...         opened_at=datetime(2026, 3, day, tzinfo=UTC))
>>> index = SimilarTickets()
>>> index.learn_many([ticket(1, "NameNode crashes on startup with NullPointerException"),
...     ticket(2, "Balancer ignores excluded datanodes"),
...     ticket(3, "Web UI shows wrong capacity")])
>>> [ticket_id for ticket_id, _ in index.query(ticket(4, "NPE in NameNode at startup"), k=1)]
['T-1']
>>> restored = SimilarTickets.from_state(index.to_state())
>>> restored.query(ticket(4, "NPE in NameNode at startup"), k=1) == index.query(
...     ticket(4, "NPE in NameNode at startup"), k=1)
True
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from problems.cluster.features import BLOCKS, TicketFeaturizer, TicketLike

__all__ = ["SCHEMA_VERSION", "SimilarTickets", "SimilarTicketsSnapshotError"]

SCHEMA_VERSION = 1
_SECONDS_PER_DAY = 86_400.0
_MIN_REFRESH_STEP = 1
"""Tickets between renewals of the IDF reference at least."""


class SimilarTicketsSnapshotError(ValueError):
    """A snapshot of `SimilarTickets` that cannot be loaded (unknown version, damaged)."""


class _Ticket(TicketLike, Protocol):
    @property
    def ticket_id(self) -> str: ...


def _ticket_time(record: Any) -> float:
    """Creation time in days since the epoch (opened, else first closed), NaN if none."""
    for name in ("opened_at", "created", "first_closed_at", "closed_at"):
        moment = getattr(record, name, None)
        if isinstance(moment, datetime):
            return moment.timestamp() / _SECONDS_PER_DAY
    return math.nan


def _pack(array: np.ndarray) -> dict[str, Any]:
    little = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)
    return {
        "dtype": little.dtype.str,
        "shape": list(array.shape),
        "zlib_b64": base64.b64encode(zlib.compress(little.tobytes(), 6)).decode("ascii"),
    }


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(packed["zlib_b64"]))
    array = np.frombuffer(raw, dtype=np.dtype(packed["dtype"])).reshape(packed["shape"])
    return array.astype(array.dtype.newbyteorder("="))


def _truncate(rows: sp.csr_matrix, keep: int, rank_by: np.ndarray) -> sp.csr_matrix:
    """Keep each row's ``keep`` entries with the largest ``rank_by`` (ties: lower column)."""
    lengths = np.diff(rows.indptr)
    if lengths.size == 0 or lengths.max(initial=0) <= keep:
        return rows
    row_of = np.repeat(np.arange(rows.shape[0]), lengths)
    # Only entries of rows longer than ``keep`` need ranking; shorter rows stay whole.
    is_long = (lengths > keep)[row_of]
    candidates = np.flatnonzero(is_long)
    order = candidates[
        np.lexsort((rows.indices[candidates], -rank_by[candidates], row_of[candidates]))
    ]
    rank = np.arange(order.size) - np.searchsorted(row_of[order], row_of[order], side="left")
    is_kept = ~is_long
    is_kept[order[rank < keep]] = True
    kept = np.flatnonzero(is_kept)
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of[kept], minlength=rows.shape[0]), out=indptr[1:])
    return sp.csr_matrix((rows.data[kept], rows.indices[kept], indptr), shape=rows.shape)


class SimilarTickets:
    """Index of past tickets answering "which tickets look like this one?".

    Parameters
    ----------
    featurizer : dict or None
        Keyword arguments of `TicketFeaturizer` (rows given to `learn_rows` must come
        from a featurizer with the same arguments).
    block_weights : dict of str to float or None
        Weight of each feature block after IDF weighting (names in
        `problems.cluster.features.BLOCKS`); ``None`` keeps the featurizer's weights.
    use_idf : bool
        Weigh features by inverse document frequency.
    time_weight : float
        Largest bonus for closeness in creation time.
    time_scale_days : float
        Days over which the time bonus decays by a factor e.
    component_weight : float
        Bonus when both tickets name the same component.
    max_terms : int
        Entries kept of each learned ticket's row (its heaviest under IDF at learn time).
    refresh_growth : float
        The IDF reference is renewed when the number of learned tickets has grown by this
        factor since the last renewal.

    Examples
    --------
    >>> SimilarTickets(time_weight=0.0).query  # doctest: +ELLIPSIS
    <bound method SimilarTickets.query of <...SimilarTickets object at ...>>
    """

    def __init__(
        self,
        featurizer: dict[str, Any] | None = None,
        block_weights: dict[str, float] | None = None,
        use_idf: bool = True,
        time_weight: float = 0.1,
        time_scale_days: float = 365.0,
        component_weight: float = 0.0,
        max_terms: int = 256,
        refresh_growth: float = 1.1,
    ) -> None:
        self.featurizer = featurizer
        self.block_weights = block_weights
        self.use_idf = use_idf
        self.time_weight = time_weight
        self.time_scale_days = time_scale_days
        self.component_weight = component_weight
        self.max_terms = max_terms
        self.refresh_growth = refresh_growth

    # -- parameters and state ------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {
            "featurizer": dict(self.featurizer) if self.featurizer else None,
            "block_weights": dict(self.block_weights) if self.block_weights else None,
            "use_idf": self.use_idf,
            "time_weight": self.time_weight,
            "time_scale_days": self.time_scale_days,
            "component_weight": self.component_weight,
            "max_terms": self.max_terms,
            "refresh_growth": self.refresh_growth,
        }

    def _ensure(self) -> None:
        if hasattr(self, "featurizer_"):
            return
        self.featurizer_ = TicketFeaturizer(**(self.featurizer or {}))
        n_columns = self.featurizer_.n_columns
        self.ticket_ids_: list[str] = []
        self.times_: list[float] = []
        self.components_: list[str | None] = []
        # Stored rows as CSR arrays with spare capacity, doubled when full: appending a
        # ticket costs amortized O(its entries), never a copy of every row learned.
        self._indptr = np.zeros(1, dtype=np.int64)
        self._indices = np.zeros(0, dtype=np.int32)
        self._data = np.zeros(0, dtype=np.float32)
        self.df_ = np.zeros(n_columns, dtype=np.int32)
        self.reference_df_ = np.zeros(n_columns, dtype=np.int32)
        self.reference_n_ = 0
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._position = {ticket_id: n for n, ticket_id in enumerate(self.ticket_ids_)}
        # Columns whose frequency changed since the IDF reference was renewed: renewing
        # copies those only, not the whole table (millions of hashed columns).
        self._changed = [np.flatnonzero(self.df_ != self.reference_df_)]
        self._weighted: sp.csr_matrix | None = None
        self._n_weighted = 0
        # The weighted rows transposed to CSR (what ``rows @ matrix.T`` converts to on
        # every call), kept while the weighted rows stay the same object.
        self._transposed: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
        weights = dict(zip(BLOCKS, self.featurizer_.block_weights, strict=True))
        weights.update(self.block_weights or {})
        self._block_weights = np.array([weights[name] for name in BLOCKS], dtype=np.float64)

    @property
    def n_tickets_(self) -> int:
        """Number of tickets learned."""
        return len(self.ticket_ids_) if hasattr(self, "ticket_ids_") else 0

    @property
    def rows_(self) -> sp.csr_matrix:
        """Stored (truncated) rows of every learned ticket, in learning order (no copy)."""
        self._ensure()
        n_rows = len(self.ticket_ids_)
        nnz = int(self._indptr[n_rows])
        return sp.csr_matrix(
            (self._data[:nnz], self._indices[:nnz], self._indptr[: n_rows + 1]),
            shape=(n_rows, self.featurizer_.n_columns),
            copy=False,
        )

    def _append(self, stored: sp.csr_matrix) -> None:
        """Add rows to the stored arrays (``ticket_ids_`` already holds their ids)."""
        n_old = len(self.ticket_ids_) - stored.shape[0]
        nnz_old = int(self._indptr[n_old])
        nnz_new = nnz_old + stored.nnz
        if self._indptr.size < n_old + stored.shape[0] + 1:
            grown = np.zeros(max(2 * self._indptr.size, n_old + stored.shape[0] + 1), np.int64)
            grown[: n_old + 1] = self._indptr[: n_old + 1]
            self._indptr = grown
        if self._indices.size < nnz_new:
            capacity = max(2 * self._indices.size, nnz_new, 1024)
            for name, dtype in (("_indices", np.int32), ("_data", np.float32)):
                grown_values = np.zeros(capacity, dtype=dtype)
                grown_values[:nnz_old] = getattr(self, name)[:nnz_old]
                setattr(self, name, grown_values)
        self._indices[nnz_old:nnz_new] = stored.indices
        self._data[nnz_old:nnz_new] = stored.data
        self._indptr[n_old + 1 : n_old + stored.shape[0] + 1] = nnz_old + stored.indptr[1:]

    def _idf_at(self, columns: np.ndarray) -> np.ndarray:
        """Reference IDF of some columns (the whole table is never needed at once)."""
        if not self.use_idf:
            return np.ones(columns.size, dtype=np.float64)
        df = self.reference_df_[columns].astype(np.float64)
        return np.log((self.reference_n_ + 1.0) / (df + 1.0)) + 1.0

    def _next_refresh(self) -> int:
        """Number of learned tickets at which the IDF reference is renewed next."""
        grown = math.ceil(self.reference_n_ * self.refresh_growth)
        return max(grown, self.reference_n_ + _MIN_REFRESH_STEP)

    # -- learning ------------------------------------------------------------------------

    def learn_one(self, record: _Ticket) -> None:
        """Add one ticket to the index (a ticket id already learned changes nothing)."""
        self.learn_many([record])

    def learn_many(self, records: Iterable[_Ticket]) -> None:
        """Add tickets in order; the same as `learn_one` in a loop."""
        self._ensure()
        batch = self._new_records(records)
        if batch:
            self.learn_rows(
                [record.ticket_id for record in batch],
                self.featurizer_.transform(batch),
                records=batch,
            )

    def _new_records(self, records: Iterable[_Ticket]) -> list[_Ticket]:
        seen: set[str] = set()
        batch: list[_Ticket] = []
        for record in records:
            if record.ticket_id in self._position or record.ticket_id in seen:
                continue
            seen.add(record.ticket_id)
            batch.append(record)
        return batch

    def learn_rows(
        self,
        ticket_ids: Sequence[str],
        rows: sp.csr_matrix,
        records: Sequence[Any] | None = None,
    ) -> None:
        """Add tickets whose feature rows are already computed (by an equal featurizer).

        Parameters
        ----------
        ticket_ids : sequence of str
            One per row; ids already learned are skipped.
        rows : scipy.sparse.csr_matrix
            `TicketFeaturizer.transform` rows of those tickets.
        records : sequence, optional
            The tickets themselves, for their creation time and component (the priors);
            without them those priors do not apply to these tickets.
        """
        self._ensure()
        rows = sp.csr_matrix(rows, dtype=np.float32, copy=True)  # ours to modify
        keep: list[int] = []
        seen: set[str] = set()
        for n, ticket_id in enumerate(ticket_ids):
            if ticket_id not in self._position and ticket_id not in seen:
                seen.add(ticket_id)
                keep.append(n)
        if not keep:
            return
        if len(keep) < rows.shape[0]:
            rows = rows[keep]
        rows.sum_duplicates()
        rows.eliminate_zeros()
        # Learn in segments that end where the IDF reference is renewed, and rank the
        # entries to store by the reference IDF: a batch then gives exactly the state that
        # the same tickets learned one by one give.
        start = 0
        while start < rows.shape[0]:
            n_learned = len(self.ticket_ids_)
            room = max(1, self._next_refresh() - n_learned)
            segment = rows[start : start + room]
            for n in keep[start : start + segment.shape[0]]:
                ticket_id = ticket_ids[n]
                record = records[n] if records is not None else None
                self._position[ticket_id] = len(self.ticket_ids_)
                self.ticket_ids_.append(ticket_id)
                self.times_.append(_ticket_time(record) if record is not None else math.nan)
                component = getattr(record, "component", None) if record is not None else None
                self.components_.append(component.lower() if component else None)
            start += segment.shape[0]
            # Frequencies count every feature of the full row; only storage is truncated.
            features, counts = np.unique(segment.indices, return_counts=True)
            self.df_[features] += counts.astype(self.df_.dtype)
            self._changed.append(features)
            if len(self._changed) > 64:  # bounded: at most every column once
                self._changed = [np.unique(np.concatenate(self._changed))]
            rank_by = segment.data * self._idf_at(segment.indices)
            stored = _truncate(segment, self.max_terms, rank_by)
            stored.sort_indices()
            self._append(stored)
            n_learned += segment.shape[0]
            if n_learned >= self._next_refresh():
                changed = np.concatenate(self._changed)
                self.reference_df_[changed] = self.df_[changed]
                self._changed = []
                self.reference_n_ = n_learned
                self._weighted = None
                self._n_weighted = 0

    # -- querying ------------------------------------------------------------------------

    def _weigh(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """IDF-weight rows, renormalise each block, apply block weights, normalise rows."""
        rows = sp.csr_matrix(rows, dtype=np.float64, copy=True)
        if rows.nnz == 0:
            return rows
        rows.data *= self._idf_at(rows.indices)
        n_blocks = len(BLOCKS)
        block_of = rows.indices // self.featurizer_.n_features
        row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        cell = row_of * n_blocks + block_of
        norms = np.sqrt(np.bincount(cell, weights=rows.data**2, minlength=rows.shape[0] * n_blocks))
        scale = np.divide(
            np.tile(self._block_weights, rows.shape[0]),
            norms,
            out=np.zeros_like(norms),
            where=norms > 0,
        )
        rows.data *= scale[cell]
        totals = np.sqrt(np.bincount(row_of, weights=rows.data**2, minlength=rows.shape[0]))
        rows.data /= np.where(totals > 0, totals, 1.0)[row_of]
        return rows

    def _matrix(self) -> sp.csr_matrix:
        """Weighted rows of every learned ticket (cached, extended as tickets arrive)."""
        n_tickets = len(self.ticket_ids_)
        if n_tickets == 0:
            return sp.csr_matrix((0, self.featurizer_.n_columns))
        if self._weighted is None or self._n_weighted < n_tickets:
            fresh = self._weigh(self.rows_[self._n_weighted :])
            self._weighted = (
                fresh if self._weighted is None else sp.vstack([self._weighted, fresh], "csr")
            )
            self._n_weighted = n_tickets
        return self._weighted

    def _matrix_transposed(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """``matrix.T`` as CSR, cached: queries in a row share one conversion."""
        cached = self._transposed
        if cached is None or cached[0] is not matrix:
            cached = (matrix, sp.csr_matrix(matrix.T))
            self._transposed = cached
        return cached[1]

    def scores(self, record: _Ticket) -> np.ndarray:
        """Score of every learned ticket for ``record``, in learning order."""
        self._ensure()
        return self.scores_rows(self.featurizer_.transform([record]), [record])[0]

    def scores_rows(self, rows: sp.csr_matrix, records: Sequence[Any]) -> np.ndarray:
        """Scores of every learned ticket for each of ``records`` (rows: their features)."""
        self._ensure()
        matrix = self._matrix()
        if matrix.shape[0] == 0:
            return np.zeros((len(records), 0))
        queries = self._weigh(rows)
        scores = np.asarray((queries @ self._matrix_transposed(matrix)).todense(), dtype=np.float64)
        if self.time_weight:
            times = np.array(self.times_, dtype=np.float64)
            for n, record in enumerate(records):
                moment = _ticket_time(record)
                if math.isnan(moment):
                    continue
                gap = np.abs(times - moment)
                bonus = self.time_weight * np.exp(-gap / self.time_scale_days)
                scores[n] += np.nan_to_num(bonus, nan=0.0)
        if self.component_weight:
            components = np.array([c or "" for c in self.components_], dtype=object)
            for n, record in enumerate(records):
                component = getattr(record, "component", None)
                if component:
                    scores[n] += self.component_weight * (components == component.lower())
        return scores

    def query(
        self, record: _Ticket, k: int = 10, exclude_self: bool = True
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar learned tickets, best first, as ``(ticket_id, score)``.

        Parameters
        ----------
        record : ticket
            Any ticket, learned or not.
        k : int
            How many to return (fewer if fewer are learned).
        exclude_self : bool
            Leave out the learned ticket with the same id as ``record``.

        Returns
        -------
        list of (str, float)
            Ties are broken by learning order (earlier first).
        """
        return self.query_many([record], k=k, exclude_self=exclude_self)[0]

    def query_many(
        self, records: Sequence[_Ticket], k: int = 10, exclude_self: bool = True
    ) -> list[list[tuple[str, float]]]:
        """`query` for several tickets at once (one matrix product)."""
        self._ensure()
        if not records:
            return []
        all_scores = self.scores_rows(self.featurizer_.transform(records), records)
        results: list[list[tuple[str, float]]] = []
        for record, scores in zip(records, all_scores, strict=True):
            if exclude_self and record.ticket_id in self._position:
                scores[self._position[record.ticket_id]] = -np.inf
            count = min(k, int(np.isfinite(scores).sum()))
            if count <= 0:
                results.append([])
                continue
            top = (
                np.argpartition(-scores, count - 1)[:count]
                if count < scores.size
                else (np.arange(scores.size))
            )
            top = top[np.isfinite(scores[top])]
            order = top[np.lexsort((top, -scores[top]))][:count]
            results.append([(self.ticket_ids_[i], round(float(scores[i]), 6)) for i in order])
        return results

    def neighbour_ranks(
        self,
        candidates: Sequence[_Ticket],
        scores: Sequence[float] | np.ndarray,
        exclude: str | None = None,
        limit: int | None = None,
        cap: int | None = None,
    ) -> np.ndarray:
        """How many learned tickets each candidate finds closer than the query.

        A query found each candidate with a score; seen from the candidate, the query is
        one neighbour among the candidate's own. A true duplicate is usually near the top
        of both lists (mutual neighbours), while a generic ticket that is close to many
        queries has many tickets closer to it than any one query. This counts, for each
        candidate, the learned tickets it scores above the query's score of it (the
        cosine is nearly symmetric, and the query itself need not be learned).

        Parameters
        ----------
        candidates : sequence of tickets
            Usually the tickets `query` returned; each is scored against the index as a
            query of its own (its full feature row, the same priors).
        scores : sequence of float
            The query's score of each candidate (as `query` returned it).
        exclude : str, optional
            A ticket id not counted, typically the query's own when it is learned.
        limit : int, optional
            Count only the first ``limit`` learned tickets (learning order): the tickets
            that existed when the query arrived, when replaying a stream.
        cap : int, optional
            Counts above ``cap`` are given as ``cap`` (only the near top matters).

        Returns
        -------
        numpy.ndarray
            One count per candidate (int64); a candidate's own row never counts.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> def ticket(n, subject):
        ...     return SimpleNamespace(ticket_id=f"T-{n}", subject=subject, text="",
        ...         product="hdfs", component=None, version=None, tags=())
        >>> past = [ticket(1, "namenode crash on startup"),
        ...     ticket(2, "namenode crash on startup again"), ticket(3, "web ui is slow")]
        >>> index = SimilarTickets(time_weight=0.0)
        >>> index.learn_many(past)
        >>> found = index.query(ticket(4, "namenode crash"), k=2)
        >>> [t for t, _ in found]
        ['T-1', 'T-2']
        >>> index.neighbour_ranks(past[:2], [score for _, score in found]).tolist()
        [1, 1]
        """
        self._ensure()
        values = np.asarray(scores, dtype=np.float64)
        if len(candidates) != values.size:
            raise ValueError("one score per candidate is needed")
        if not candidates or not self.ticket_ids_:
            return np.zeros(len(candidates), dtype=np.int64)
        rows = self.scores_rows(self.featurizer_.transform(candidates), candidates)
        if limit is not None:
            rows = rows[:, : max(int(limit), 0)]
        width = rows.shape[1]
        for row, candidate in enumerate(candidates):
            own = self._position.get(candidate.ticket_id)
            if own is not None and own < width:
                rows[row, own] = -np.inf
        excluded = self._position.get(exclude) if exclude is not None else None
        if excluded is not None and excluded < width:
            rows[:, excluded] = -np.inf
        counts = (rows > values[:, None]).sum(axis=1).astype(np.int64)
        return np.minimum(counts, cap) if cap is not None else counts

    def neighbour_ranks_of_learned(
        self,
        records: Sequence[_Ticket],
        asks: Sequence[tuple[int, float, int, int]],
        cap: int | None = None,
        rows_at_once: int = 256,
    ) -> np.ndarray:
        """`neighbour_ranks` of many (query, candidate) pairs whose candidates are learned.

        Each distinct candidate is scored once, in products of ``rows_at_once`` rows: one
        product over many rows costs far less than many small ones, and a candidate is
        often shared by several queries. The counts are those of `neighbour_ranks`.

        Parameters
        ----------
        records : sequence of tickets
            ``records[n]`` is the ``n``-th learned ticket (at least every candidate's).
        asks : sequence of (int, float, int, int)
            Per pair: the candidate's learning position, the query's score of it, the
            ``limit`` (count only learned tickets before it) and a position not counted
            (the query's own when it is learned; -1 for none).
        cap : int, optional
            Counts above ``cap`` are given as ``cap``.

        Returns
        -------
        numpy.ndarray
            One count per ask (int64).
        """
        self._ensure()
        by_candidate: dict[int, list[int]] = {}
        for n, (position, *_) in enumerate(asks):
            by_candidate.setdefault(position, []).append(n)
        counts = np.zeros(len(asks), dtype=np.int64)
        asked = sorted(by_candidate)
        for start in range(0, len(asked), rows_at_once):
            positions = asked[start : start + rows_at_once]
            batch = [records[position] for position in positions]
            rows = self.scores_rows(self.featurizer_.transform(batch), batch)
            for position, row in zip(positions, rows, strict=True):
                row[position] = -np.inf  # a candidate's own row never counts
                for n in by_candidate[position]:
                    _, value, limit, excluded = asks[n]
                    counts[n] = int((row[:limit] > value).sum())
                    if 0 <= excluded < limit and row[excluded] > value:
                        counts[n] -= 1
        return np.minimum(counts, cap) if cap is not None else counts

    # -- persistence -----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot (versioned; arrays zlib-compressed, base64)."""
        self._ensure()
        stored = self.rows_
        df_columns = np.flatnonzero(self.df_).astype(np.int32)
        reference_columns = np.flatnonzero(self.reference_df_).astype(np.int32)
        return {
            "schema_version": SCHEMA_VERSION,
            "params": self.get_params(),
            "ticket_ids": list(self.ticket_ids_),
            "times": [None if math.isnan(t) else t for t in self.times_],
            "components": list(self.components_),
            "rows": {
                "indptr": _pack(stored.indptr.astype(np.int64)),
                "indices": _pack(stored.indices.astype(np.int32)),
                "data": _pack(stored.data.astype(np.float32)),
            },
            "df": {"columns": _pack(df_columns), "counts": _pack(self.df_[df_columns])},
            "reference_df": {
                "columns": _pack(reference_columns),
                "counts": _pack(self.reference_df_[reference_columns]),
            },
            "reference_n": self.reference_n_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SimilarTickets:
        """Rebuild an index from `to_state` output.

        Raises
        ------
        SimilarTicketsSnapshotError
            When the snapshot's version is unknown or its content is damaged.
        """
        version = state.get("schema_version") if isinstance(state, dict) else None
        if version != SCHEMA_VERSION:
            raise SimilarTicketsSnapshotError(
                f"similar-tickets snapshot version {version!r} is not {SCHEMA_VERSION}"
            )
        try:
            index = cls(**state["params"])
            index._ensure()
            n_columns = index.featurizer_.n_columns
            index.ticket_ids_ = [str(ticket_id) for ticket_id in state["ticket_ids"]]
            index.times_ = [math.nan if t is None else float(t) for t in state["times"]]
            index.components_ = list(state["components"])
            rows = state["rows"]
            indptr = _unpack(rows["indptr"])
            stored = sp.csr_matrix(
                (_unpack(rows["data"]), _unpack(rows["indices"]), indptr),
                shape=(indptr.size - 1, n_columns),
            )
            index._indptr = indptr.astype(np.int64)
            index._indices = stored.indices.astype(np.int32)
            index._data = stored.data.astype(np.float32)
            for name in ("df", "reference_df"):
                counts = np.zeros(n_columns, dtype=np.int32)
                counts[_unpack(state[name]["columns"])] = _unpack(state[name]["counts"])
                setattr(index, name + "_", counts)
            index.reference_n_ = int(state["reference_n"])
        except (KeyError, TypeError, ValueError, zlib.error) as error:
            raise SimilarTicketsSnapshotError(
                f"damaged similar-tickets snapshot: {error}"
            ) from error
        if not (len(index.ticket_ids_) == len(index.times_) == len(index.components_)):
            raise SimilarTicketsSnapshotError("damaged similar-tickets snapshot: lengths differ")
        if stored.shape[0] != len(index.ticket_ids_):
            raise SimilarTicketsSnapshotError("damaged similar-tickets snapshot: row count")
        index._reset_caches()
        return index
