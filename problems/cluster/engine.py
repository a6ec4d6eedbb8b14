"""The incremental root-cause clustering engine: tickets in, stable problem clusters out.

Each ticket becomes one sparse row (`TicketFeaturizer`). It joins the live group that
scores highest against it when the score reaches ``similarity_threshold``; otherwise it
starts a *candidate*. A candidate becomes a problem cluster, with a sequential id such as
``P-000042`` that never changes, once it holds ``min_cluster_size`` tickets; candidates
that stay alone expire (by ticket time) and their number is bounded.

How it stays fast, bounded and deterministic
--------------------------------------------
A group is summarised by the sum of its members' rows, truncated to its
``max_centroid_features`` heaviest features, plus counters (size, first/last seen, words,
metadata); a ticket's score against a group is its dot product with that sum divided by
the group's size, i.e. its mean cosine to the members (average linkage). The sums of the
live groups form one sparse matrix, rebuilt (and truncated) every ``rebuild_every``
tickets, a point fixed by the number of tickets learned. In between, learned tickets sit
in a *delta* buffer, summed per group. Candidate groups for a ticket are found through
*informative* features only (those not in the sums of many groups): the few groups of the
matrix that share most, and the few delta groups that share most. Only those are scored,
exactly, on all features. Tickets are taken in segments: a few sparse products prepare
every score a segment needs, and a compiled loop (`problems.cluster.placement`) places
its tickets one by one.

Rows are put on a grid of ``2**-16`` on intake. Every value is then non-negative and every
sum of products exact in float64, so sums come out the same whatever the grouping: a batch
gives bit for bit the state and assignments of the same tickets learned one by one, and a
snapshot restored with `from_state` carries on exactly as the original would.

Scheduled `consolidate` (every ``consolidate_every`` tickets, at a rebuild) merges
clusters whose members converged (mean cosine between them at least
``merge_threshold``), recording lineage; merged ids are retired, never reused. A cluster
whose tickets mostly do not say that something is broken (no failure words, no error
signatures; ``min_failure_share``) is kept as noise: a recurring question, not a problem.

People correct the machine: `merge`, `split`, `move`, `set_title` and `mark_noise` are
recorded (``corrections_``) and act on what follows. Tickets a person moved or split out
are kept as *pinned* examples: a later ticket that is near-identical to one of them
(cosine at least ``must_link_threshold``) follows it (must-link). Clusters a person split
apart are never merged again by `consolidate` (cannot-link); a cluster marked as noise
keeps absorbing its look-alikes, which stay out of the problem register; a person's title
survives consolidation.

Examples
--------
>>> from types import SimpleNamespace
>>> from datetime import datetime, timedelta, UTC
>>> def ticket(n, subject):
...     return SimpleNamespace(ticket_id=f"T-{n}", subject=subject, text="", product="billing",
...         component="export", version="4.2", tags=(),
...         first_closed_at=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n))
>>> engine = ClusterEngine(similarity_threshold=0.4, min_cluster_size=3)
>>> subjects = ["CSV export fails with timeout", "CSV export times out after 30 s",
...     "Password reset email never arrives", "CSV export fails: timeout again"]
>>> [a.cluster_id for a in engine.learn_many(ticket(n, s) for n, s in enumerate(subjects))]
[None, None, None, 'P-000001']
>>> engine.memberships() == {"T-0": "P-000001", "T-1": "P-000001", "T-3": "P-000001"}
True
>>> restored = ClusterEngine.from_state(engine.to_state())
>>> restored.to_state() == engine.to_state()
True
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from problems.cluster.errors import (
    ClusterSnapshotError,
    InvalidCorrection,
    UnknownCluster,
    UnknownTicket,
)
from problems.cluster.features import (
    TicketFeaturizer,
    TicketLike,
    extract_signatures,
    version_family,
)
from problems.cluster.model import Assignment, ClusterSummary, Correction, LineageEntry
from problems.cluster.placement import place_segment, top_per_row, upper_grams

__all__ = ["SCHEMA_VERSION", "ClusterEngine", "TicketLike"]

SCHEMA_VERSION = 1
"""Version of the `ClusterEngine.to_state` format; other versions fail to load."""

_CANDIDATE, _CLUSTER, _NOISE, _EVICTED, _MERGED = 0, 1, 2, 3, 4
_LIVE_KINDS = (_CANDIDATE, _CLUSTER, _NOISE)
_TOP_BASE = 6
_TOP_DELTA = 4
_SEGMENT = 256
_COMMON_SHARE = 0.01
_COMMON_MIN = 32
_RECENT_MEMBERS = 4
_GRID = float(2**16)
_CHUNK = 512
_SIGNATURE_CHARS = 600
_SUBJECT_CHARS = 200
_MAX_META_VALUES = 12
_WORD = re.compile(r"[a-z][a-z_]{2,}")
_PLACEHOLDER = re.compile(r"\[[a-z]+\]|<[a-z]+>")
_STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | {"fails", "failed", "error", "issue", "problem"}
# Words of something broken. A recurring *question* ("how do I export?") is not a problem:
# a cluster whose tickets mostly lack these words and error signatures is kept as noise.
# The lookahead on the alternatives' first letters only rejects early (same matches): the
# regex engine otherwise tries every alternative at every word boundary.
_FAILURE = re.compile(
    r"(?i)\b(?=[bcdefhilmnrstuw])"
    r"(?:fail\w*|errors?|crash\w*|broken|break\w*|no longer|stopp?ed|cannot|can't|"
    r"unable|missing|wrong|incorrect|time[sd]? ?out|exception\w*|stuck|freez\w*|hang\w*|"
    r"slow\w*|blank|empty|duplicat\w*|twice|lost|loop\w*|declin\w*|reject\w*|invalid|"
    r"denied|bug\w*|not (?:work|load|receiv|arriv|sent|send|show|sync|start|open|sav)\w*)"
)


class _Group:
    """Everything about one group except its vector sum (kept in the engine's matrices)."""

    __slots__ = (
        "components",
        "error_codes",
        "members",
        "merged_into",
        "n_failing",
        "products",
        "public_id",
        "recent",
        "rep_score",
        "rep_subject",
        "rep_ticket",
        "terms",
        "title",
        "title_by_person",
        "touched_by_person",
        "versions",
    )

    def __init__(self) -> None:
        self.public_id: str | None = None
        self.members: list[str] | None = []
        self.merged_into: int = -1
        self.n_failing = 0
        self.recent: list[str] = []
        self.terms: dict[str, int] = {}
        self.products: dict[str, int] = {}
        self.components: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.error_codes: dict[str, int] = {}
        self.title: str | None = None
        self.title_by_person = False
        self.touched_by_person = False
        self.rep_ticket: str | None = None
        self.rep_subject = ""
        self.rep_score = -1.0

    def to_state(self) -> list[Any]:
        return [
            self.public_id,
            self.members,
            self.merged_into,
            self.terms,
            self.products,
            self.components,
            self.versions,
            self.error_codes,
            self.title,
            self.title_by_person,
            self.touched_by_person,
            self.rep_ticket,
            self.rep_subject,
            self.rep_score,
            self.n_failing,
            self.recent,
        ]

    @classmethod
    def from_state(cls, row: list[Any]) -> _Group:
        group = cls()
        (
            group.public_id,
            group.members,
            group.merged_into,
            group.terms,
            group.products,
            group.components,
            group.versions,
            group.error_codes,
            group.title,
            group.title_by_person,
            group.touched_by_person,
            group.rep_ticket,
            group.rep_subject,
            group.rep_score,
            group.n_failing,
            group.recent,
        ) = row
        return group


def _bump(counter: dict[str, int], key: str | None) -> None:
    if key:
        counter[key] = counter.get(key, 0) + 1


def _top(counter: dict[str, int], n: int) -> list[str]:
    return [key for key, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _prune(counter: dict[str, int], keep: int) -> dict[str, int]:
    if len(counter) <= 2 * keep:
        return counter
    return {key: counter[key] for key in _top(counter, keep)}


def _words(subject: str) -> list[str]:
    text = subject.lower()
    if "[" in text or "<" in text:  # the substitution scans every position
        text = _PLACEHOLDER.sub(" ", text)
    return list(dict.fromkeys(w for w in _WORD.findall(text) if w not in _STOP_WORDS))


def _pack(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {
        "dtype": little.dtype.str,
        "shape": list(array.shape),
        "b64": base64.b64encode(little.tobytes()).decode("ascii"),
    }


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(packed["b64"])
    array = np.frombuffer(raw, dtype=np.dtype(packed["dtype"])).reshape(packed["shape"])
    return array.astype(array.dtype.newbyteorder("="))


def _pack_csr(matrix: sp.csr_matrix, exact_float32: bool = False) -> dict[str, Any]:
    """CSR arrays, base64. Ticket rows sit on a 2**-16 grid below 1, where float32 is
    exact; group sums grow past what float32 holds exactly and stay float64."""
    data = matrix.data.astype(np.float32 if exact_float32 else np.float64)
    return {
        "shape": list(matrix.shape),
        "indptr": _pack(matrix.indptr.astype(np.int64)),
        "indices": _pack(matrix.indices.astype(np.int32)),
        "data": _pack(data),
    }


def _unpack_csr(packed: dict[str, Any]) -> sp.csr_matrix:
    shape = tuple(packed["shape"])
    return sp.csr_matrix(
        (
            _unpack(packed["data"]).astype(np.float64),
            _unpack(packed["indices"]),
            _unpack(packed["indptr"]),
        ),
        shape=shape,
    )


def _empty_rows(n_rows: int, n_columns: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.zeros(0), np.zeros(0, dtype=np.int32), np.zeros(n_rows + 1, dtype=np.int64)),
        shape=(n_rows, n_columns),
    )


def _unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (as `np.unique`, whose hash table is several times
    slower than one sort on these integer arrays)."""
    ordered = np.sort(values, axis=None)
    if ordered.size == 0:
        return ordered
    first = np.empty(ordered.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _truncate_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of each row (ties: lower column first)."""
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    lengths = np.diff(matrix.indptr)
    if lengths.size == 0 or lengths.max(initial=0) <= keep:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((-matrix.data, rows))
    rank = np.arange(order.size) - matrix.indptr[rows[order]]
    kept = np.sort(order[rank < keep])
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[kept], minlength=matrix.shape[0]), out=indptr[1:])
    return sp.csr_matrix((matrix.data[kept], matrix.indices[kept], indptr), shape=matrix.shape)


_LOOKUPS: dict[int, np.ndarray] = {}


def _lookup(n_columns: int) -> np.ndarray:
    """A scratch column -> position table, all -1 between uses (O(1) restriction)."""
    table = _LOOKUPS.get(n_columns)
    if table is None:
        table = _LOOKUPS[n_columns] = np.full(n_columns, -1, dtype=np.int32)
    return table


def _restrict(matrix: sp.csr_matrix, columns: np.ndarray) -> sp.csr_matrix:
    """``matrix`` on the sorted ``columns`` only, renumbered ``0..len(columns)-1``.

    Products of wide hashed rows cost time in the width; restricted to the columns in
    use they do not, and the sums they compute are the same.
    """
    if columns.size == 0 or matrix.nnz == 0:
        return _empty_rows(matrix.shape[0], columns.size)
    table = _lookup(matrix.shape[1])
    table[columns] = np.arange(columns.size, dtype=np.int32)
    try:
        position = table[matrix.indices]
    finally:
        table[columns] = -1
    keep = position >= 0
    row_ids = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_ids[keep], minlength=matrix.shape[0]), out=indptr[1:])
    return sp.csr_matrix(
        (matrix.data[keep], position[keep], indptr), shape=(matrix.shape[0], columns.size)
    )


def _rows_from_triplets(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """A canonical CSR matrix summing duplicate entries (values on the grid: their sum
    is exact, the same in any order)."""
    keys = rows.astype(np.int64) * shape[1] + columns.astype(np.int64)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    if keys.size:
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        values = np.add.reduceat(values, starts)
        keys = keys[starts]
    out_rows = keys // shape[1]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((values, (keys % shape[1]).astype(np.int32), indptr), shape=shape)


def _triplets(
    matrix: sp.csr_matrix, row_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO triplets of ``matrix`` with row ``r`` renamed ``row_ids[r]``."""
    lengths = np.diff(matrix.indptr)
    return np.repeat(row_ids, lengths), matrix.indices, matrix.data


def _row_sums(matrix: sp.csr_matrix) -> np.ndarray:
    row_ids = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return np.bincount(row_ids, weights=matrix.data, minlength=matrix.shape[0])


def _gather(matrix: sp.csr_matrix, row_ids: np.ndarray, columns: np.ndarray) -> sp.csr_matrix:
    """Rows ``row_ids`` of ``matrix`` on the sorted ``columns`` only, renumbered
    ``0..len(columns)-1`` (``len(row_ids) x len(columns)``).

    Only the entries of the chosen rows are gathered, in plain numpy: no scipy row
    slicing, which validates and copies far more than the few rows needed.
    """
    starts = matrix.indptr[row_ids]
    lengths = matrix.indptr[row_ids + 1] - starts
    total = int(lengths.sum())
    entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    table = _lookup(matrix.shape[1])
    table[columns] = np.arange(columns.size, dtype=np.int32)
    try:
        position = table[matrix.indices[entries]]
    finally:
        table[columns] = -1
    keep = position >= 0
    owner = np.repeat(np.arange(row_ids.size), lengths)[keep]
    indptr = np.zeros(row_ids.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=row_ids.size), out=indptr[1:])
    return sp.csr_matrix(
        (matrix.data[entries[keep]], position[keep], indptr), shape=(row_ids.size, columns.size)
    )


def _dots_against(
    matrix: sp.csr_matrix, row_ids: np.ndarray, columns: np.ndarray, compact_t: sp.csr_matrix
) -> np.ndarray:
    """Dense ``(len(row_ids), n)``: rows ``row_ids`` of ``matrix`` dotted with ``n`` rows
    given compacted and transposed (``compact_t``: ``len(columns) x n``)."""
    if row_ids.size == 0:
        return np.zeros((0, compact_t.shape[1]))
    return np.asarray((_gather(matrix, row_ids, columns) @ compact_t).toarray())


def _keep_entries(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with only the entries where the mask ``keep`` (one per entry) is set."""
    n_rows = matrix.shape[0]
    row_of = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_of[keep], minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _moment(epoch: float) -> datetime | None:
    return None if math.isnan(epoch) else datetime.fromtimestamp(epoch, tz=UTC)


class ClusterEngine:
    """Incremental clustering of tickets into recurring problems, with stable ids.

    Parameters
    ----------
    seed : int
        Kept for reproducibility of any randomized step; the engine has none today, so
        the same tickets in the same order give the same state whatever the seed.
    similarity_threshold : float
        Least score for a ticket to join an existing group. The score is average
        linkage: the ticket's mean cosine to the group's members. On the generated
        sample, members of one root cause score about 0.36 (median) against their own
        cause and at most 0.2 against another.
    min_cluster_size : int
        Tickets a candidate needs to become a problem cluster (and get an id).
    must_link_threshold : float
        Cosine to a ticket a person placed (moved or split out) above which a new ticket
        follows it into that person's cluster.
    min_failure_share : float
        A cluster where fewer than this share of tickets say something is broken (failure
        words or error signatures) is kept as noise: a recurring question, not a problem.
        A person's `mark_noise` overrides it. 0 disables.
    merge_threshold : float or None
        Least cluster-to-cluster score (mean cosine between their members) for
        `consolidate` to merge two clusters; None means ``similarity_threshold``. A bit
        below ``similarity_threshold``: early fragments of one cause converge there.
    min_merge_size : int
        Only clusters at least this large are merged by `consolidate`: the mean cosine
        between two small clusters is too noisy to merge on (on bug trackers, where most
        groups are pairs, merging them multiplies false pairs).
    max_centroid_features : int
        Features kept of each group's vector sum (memory bound per group).
    rebuild_every : int
        Tickets between rebuilds of the group matrix (and truncations of sums).
    max_candidates : int
        Most candidates kept; the least recently seen are dropped beyond it.
    candidate_ttl_days : float
        A candidate not joined for this long (in ticket time) is dropped.
    keep_recent : int
        Rows of this many recent tickets are kept so that corrections can move them.
    max_pinned : int
        Most tickets kept as must-link examples of people's corrections.
    max_terms : int
        Words counted per group for its distinguishing terms.
    max_vocabulary : int
        Words whose document frequency is tracked.
    consolidate_every : int or None
        Run `consolidate` at the first rebuild after every this many tickets.
    featurizer : dict or None
        Keyword arguments of `TicketFeaturizer`.
    similar_params : dict or None
        Keyword arguments of `SimilarTickets` (the similar-tickets index); ``None`` for
        its defaults (with this engine's ``featurizer``).
    """

    def __init__(
        self,
        seed: int = 0,
        similarity_threshold: float = 0.2,
        min_cluster_size: int = 3,
        must_link_threshold: float = 0.8,
        min_failure_share: float = 0.4,
        merge_threshold: float | None = 0.17,
        min_merge_size: int = 6,
        max_centroid_features: int = 160,
        rebuild_every: int = 512,
        max_candidates: int = 20_000,
        candidate_ttl_days: float = 1095.0,
        keep_recent: int = 2_000,
        max_pinned: int = 5_000,
        max_terms: int = 40,
        max_vocabulary: int = 50_000,
        consolidate_every: int | None = 512,
        featurizer: dict[str, Any] | None = None,
        similar_params: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self.similarity_threshold = similarity_threshold
        self.min_cluster_size = min_cluster_size
        self.must_link_threshold = must_link_threshold
        self.min_failure_share = min_failure_share
        self.merge_threshold = merge_threshold
        self.min_merge_size = min_merge_size
        self.max_centroid_features = max_centroid_features
        self.rebuild_every = rebuild_every
        self.max_candidates = max_candidates
        self.candidate_ttl_days = candidate_ttl_days
        self.keep_recent = keep_recent
        self.max_pinned = max_pinned
        self.max_terms = max_terms
        self.max_vocabulary = max_vocabulary
        self.consolidate_every = consolidate_every
        self.featurizer = featurizer
        self.similar_params = similar_params

    # -- hyperparameters and state -----------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {
            "seed": self.seed,
            "similarity_threshold": self.similarity_threshold,
            "min_cluster_size": self.min_cluster_size,
            "must_link_threshold": self.must_link_threshold,
            "min_failure_share": self.min_failure_share,
            "merge_threshold": self.merge_threshold,
            "min_merge_size": self.min_merge_size,
            "max_centroid_features": self.max_centroid_features,
            "rebuild_every": self.rebuild_every,
            "max_candidates": self.max_candidates,
            "candidate_ttl_days": self.candidate_ttl_days,
            "keep_recent": self.keep_recent,
            "max_pinned": self.max_pinned,
            "max_terms": self.max_terms,
            "max_vocabulary": self.max_vocabulary,
            "consolidate_every": self.consolidate_every,
            "featurizer": dict(self.featurizer) if self.featurizer else None,
            "similar_params": dict(self.similar_params) if self.similar_params else None,
        }

    def _check_params(self) -> None:
        if self.min_cluster_size < 1:
            raise ValueError("min_cluster_size must be at least 1")
        if self.rebuild_every < 1:
            raise ValueError("rebuild_every must be at least 1")

    def _ensure(self) -> None:
        if hasattr(self, "featurizer_"):
            return
        self._check_params()
        self.featurizer_ = TicketFeaturizer(**(self.featurizer or {}))
        self.n_columns_ = int(self.featurizer_.n_columns)
        self.groups_: list[_Group] = []
        self.kind_ = np.zeros(0, dtype=np.int8)
        self.size_ = np.zeros(0, dtype=np.int64)
        self.norm2_ = np.zeros(0, dtype=np.float64)
        self.first_ = np.zeros(0, dtype=np.float64)
        self.last_ = np.zeros(0, dtype=np.float64)
        self.sums_ = _empty_rows(0, self.n_columns_)
        self.base_gids_ = np.zeros(0, dtype=np.int64)
        self.delta_rows_ = _empty_rows(0, self.n_columns_)
        self.delta_gids_: list[int] = []
        self.delta_tickets_: list[str] = []
        self.delta_subjects_: list[str] = []
        self.recent_: list[tuple[list[str], sp.csr_matrix]] = []
        self.pinned_: list[tuple[str, int, sp.csr_matrix]] = []
        self.tickets_: dict[str, tuple[int, float, str | None, tuple[str, ...]]] = {}
        self.doc_freq_: dict[str, int] = {}
        self.corrections_: list[Correction] = []
        self.lineage_: list[LineageEntry] = []
        self.cannot_link_: list[tuple[str, str]] = []
        self.n_learned_ = 0
        self.n_operations_ = 0
        self.n_clusters_made_ = 0
        self.next_consolidation_ = self.consolidate_every or 0
        self.latest_time_ = math.nan
        self.similar_index_ = self._new_similar_index()
        self._signatures: dict[str, list[str]] = {}
        self._refresh_caches()

    def _new_similar_index(self) -> Any:
        try:
            from problems.cluster.similar import SimilarTickets
        except ImportError:  # the index is optional: clustering works without it
            return None
        params = dict(self.similar_params or {})
        params.setdefault("featurizer", self.featurizer)
        return SimilarTickets(**params)

    def _refresh_caches(self) -> None:
        """Derived structures, rebuilt from state (never saved)."""
        n_groups = len(self.groups_)
        n_columns = self.n_columns_
        self._base_pos = np.full(max(n_groups, self.kind_.size), -1, dtype=np.int64)
        self._base_pos[self.base_gids_] = np.arange(self.base_gids_.size)
        # Features in many groups' sums say little about which group a ticket belongs
        # to; retrieval ignores them (scoring does not).
        indices = self.sums_.indices
        if indices.size * 8 < n_columns:
            # Few entries: sorting them beats passes over every hashed column.
            used, counts = np.unique(indices, return_counts=True)
        else:
            counts = np.bincount(indices, minlength=n_columns)
            used = np.flatnonzero(counts)
            counts = counts[used]
        cap = max(_COMMON_MIN, _COMMON_SHARE * self.base_gids_.size)
        is_common = counts > cap
        self._common = used[is_common].astype(self.sums_.indices.dtype)
        # The informative columns of the sums, transposed and renumbered: a transpose on
        # all hashed columns would cost time in the width at every rebuild.
        self._retrieval_columns = used[~is_common]
        self._retrieval_t = _restrict(self.sums_, self._retrieval_columns).T.tocsr()
        self._affected_gids: list[int] = []
        self._affected_local: dict[int, int] = {}
        for gid in self.delta_gids_:
            if gid not in self._affected_local:
                self._affected_local[gid] = len(self._affected_gids)
                self._affected_gids.append(gid)
        local_ids = np.array(
            [self._affected_local[gid] for gid in self.delta_gids_], dtype=np.int64
        )
        row_ids, columns, values = _triplets(self.delta_rows_, local_ids)
        self._delta_sums = _rows_from_triplets(
            row_ids, columns, values, (len(self._affected_gids), n_columns)
        )
        self._delta_index = {ticket_id: n for n, ticket_id in enumerate(self.delta_tickets_)}
        if self.pinned_:
            pinned = sp.vstack([row for _, _, row in self.pinned_], format="csr")
            self._pinned_t = pinned.T.tocsr()
            self._pinned_gids = np.array([gid for _, gid, _ in self.pinned_], dtype=np.int64)
        else:
            self._pinned_t = None
            self._pinned_gids = np.zeros(0, dtype=np.int64)

    def _grow(self, n_groups: int) -> None:
        if n_groups <= self.kind_.size:
            return
        capacity = max(n_groups, 2 * self.kind_.size, 64)
        for name, fill in (
            ("kind_", 0),
            ("size_", 0),
            ("norm2_", 0.0),
            ("first_", math.nan),
            ("last_", math.nan),
        ):
            old = getattr(self, name)
            new = np.full(capacity, fill, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)
        base_pos = np.full(capacity, -1, dtype=np.int64)
        base_pos[: self._base_pos.size] = self._base_pos
        self._base_pos = base_pos

    def _new_group(self, kind: int) -> int:
        gid = len(self.groups_)
        self._grow(gid + 1)
        self.groups_.append(_Group())
        self.kind_[gid] = kind
        if kind != _CANDIDATE:
            self._name_cluster(gid)
        return gid

    def _name_cluster(self, gid: int) -> str:
        group = self.groups_[gid]
        if group.public_id is None:
            self.n_clusters_made_ += 1
            group.public_id = f"P-{self.n_clusters_made_:06d}"
        group.members = None
        return group.public_id

    def _resolve(self, gid: int) -> int:
        while gid >= 0 and self.groups_[gid].merged_into >= 0:
            gid = self.groups_[gid].merged_into
        return gid

    # -- learning ----------------------------------------------------------------------

    def learn_one(self, record: TicketLike) -> Assignment:
        """Assign one ticket to a cluster (or a candidate) and learn from it.

        A ticket id already learned changes nothing and returns its assignment as it
        stands now.
        """
        return self.learn_many([record])[0]

    def learn_many(self, records: Iterable[TicketLike]) -> list[Assignment]:
        """Learn tickets in order; same state and assignments as `learn_one` in a loop."""
        self._ensure()
        results: list[Assignment] = []
        run: list[TicketLike] = []
        pending: set[str] = set()
        for record in records:
            ticket_id = record.ticket_id
            if ticket_id in self.tickets_ or ticket_id in pending:
                if run:
                    results.extend(self._learn_run(run))
                    run, pending = [], set()
                results.append(self._view(ticket_id))
                continue
            run.append(record)
            pending.add(ticket_id)
            if len(run) >= _CHUNK:
                results.extend(self._learn_run(run))
                run, pending = [], set()
        if run:
            results.extend(self._learn_run(run))
        return results

    def _featurize(self, records: Sequence[TicketLike]) -> sp.csr_matrix:
        """Feature rows on a fixed grid of ``2**-16``, float64, sorted indices.

        On that grid every sum of products the engine computes is exact in float64 (all
        values are non-negative and a group's score never exceeds its size), so sums
        come out the same in any order: a batch gives bit for bit what one-by-one gives.
        """
        featurizer = self.featurizer_
        signatures = None
        if featurizer.metadata_weight:
            # Both the featurizer and `_join` scan a ticket for error signatures; when its
            # text is short enough that both scans read the same string, scan it once.
            signatures = [featurizer.signatures(record) for record in records]
            short = min(_SIGNATURE_CHARS, featurizer.max_text_chars)
            self._signatures = {
                record.subject + "\n" + record.text: found
                for record, found in zip(records, signatures, strict=True)
                if len(record.text) <= short
            }
        rows = featurizer.transform(records, signatures=signatures).astype(np.float64).tocsr()
        rows.sort_indices()
        rows.data = np.round(rows.data * _GRID) / _GRID
        rows.eliminate_zeros()
        return rows

    def _learn_run(self, records: list[TicketLike]) -> list[Assignment]:
        return self._learn_rows(records, self._featurize(records))

    def _learn_rows(self, records: Sequence[TicketLike], rows: sp.csr_matrix) -> list[Assignment]:
        """Learn tickets whose feature rows are given (float64 CSR, sorted indices)."""
        self._ensure()
        results: list[Assignment] = []
        start = 0
        while start < len(records):
            room = self.rebuild_every - len(self.delta_gids_)
            stop = min(len(records), start + room, start + _SEGMENT)
            results.extend(self._assign_segment(records[start:stop], rows[start:stop]))
            if len(self.delta_gids_) >= self.rebuild_every:
                self._rebuild()
            start = stop
        if self.similar_index_ is not None:
            self._index_similar(records, rows)
        return results

    def _index_similar(self, records: Sequence[TicketLike], rows: sp.csr_matrix) -> None:
        index = self.similar_index_
        learn_rows = getattr(index, "learn_rows", None)
        if learn_rows is not None:
            learn_rows([record.ticket_id for record in records], rows, records=records)
        else:
            index.learn_many(records)

    def _assign_segment(
        self, records: Sequence[TicketLike], rows: sp.csr_matrix, commit: bool = True
    ) -> list[Assignment]:
        """Assign a few tickets in order, against groups as they stand and each other.

        Candidate groups of a ticket: the ``_TOP_BASE`` base groups sharing the most
        *informative* features with it (features not common to many groups), and the
        ``_TOP_DELTA`` groups touched since the last rebuild that share the most. Each
        candidate is then scored exactly: the ticket's full cosine summed over the group's
        members, divided by the group's size (average linkage). All of it is defined
        ticket by ticket, so any batching gives the same decisions.
        """
        n_rows = rows.shape[0]
        n_base = self.base_gids_.size
        base_gids = self.base_gids_
        # The segment's rows on the columns they use (``compact``), with and without the
        # common features: every product below runs on those few columns only. Values
        # sit on the 2**-16 grid, so these sums are exact and equal to any other order.
        columns = _unique(rows.indices)
        compact = _restrict(rows, columns)
        compact_columns = compact.indices
        if self._common.size:
            position = np.minimum(np.searchsorted(self._common, columns), self._common.size - 1)
            is_common = self._common[position] == columns
        else:
            is_common = np.zeros(columns.size, dtype=bool)
        # The entries on common and on informative columns apart: a product on all the
        # columns is the sum of the two (exact on the grid), and the common columns,
        # shared by most tickets, carry most of the work of a product.
        entry_common = is_common[compact_columns]
        compact_informative = _keep_entries(compact, ~entry_common)
        compact_common = _keep_entries(compact, entry_common)
        compact_t = compact.T.tocsr()
        informative_t = compact_informative.T.tocsr()
        common_t = compact_common.T.tocsr()

        # Per ticket, the ids of the _TOP_BASE base groups with the highest mean
        # informative overlap (-1 where fewer), best first.
        top_base = np.full((n_rows, _TOP_BASE), -1, dtype=np.int64)
        wanted = np.zeros(0, dtype=np.int64)
        if n_base:
            kept = self._retrieval_columns
            at = np.minimum(np.searchsorted(kept, columns), max(kept.size - 1, 0))
            found = kept[at] == columns if kept.size else np.zeros(columns.size, dtype=bool)
            entry_found = found[compact_columns]
            row_of_entry = np.repeat(np.arange(n_rows), np.diff(rows.indptr))
            indptr = np.zeros(n_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(row_of_entry[entry_found], minlength=n_rows), out=indptr[1:])
            informative = sp.csr_matrix(
                (rows.data[entry_found], at[compact_columns[entry_found]], indptr),
                shape=(n_rows, kept.size),
            )
            overlap = (informative @ self._retrieval_t).tocsr()
            sizes = self.size_[base_gids].astype(np.float64)
            positions = top_per_row(overlap.indptr, overlap.indices, overlap.data, sizes, _TOP_BASE)
            chosen = positions >= 0
            top_base[chosen] = base_gids[positions[chosen]]
            wanted = positions[chosen]

        # A must-link: a ticket nearly identical to one a person placed follows it.
        forced = np.full(n_rows, -1, dtype=np.int64)
        if self._pinned_t is not None:
            pinned = (rows @ self._pinned_t).toarray()
            nearest_pinned = np.argmax(pinned, axis=1)
            close = pinned[np.arange(n_rows), nearest_pinned] >= self.must_link_threshold
            for i in np.flatnonzero(close).tolist():
                target = self._resolve(int(self._pinned_gids[nearest_pinned[i]]))
                if target >= 0 and self.kind_[target] in _LIVE_KINDS:
                    forced[i] = target

        n_groups = len(self.groups_)
        n_affected0 = len(self._affected_gids)
        affected_gids0 = np.array(self._affected_gids, dtype=np.int64)
        # Exact dots with every base group a ticket may be scored against or join: its
        # top base groups, its must-link target, every group touched since the rebuild.
        touched_positions = self._base_pos[affected_gids0]
        forced_positions = self._base_pos[forced[forced >= 0]]
        base_rows = _unique(
            np.concatenate(
                [
                    wanted,
                    touched_positions[touched_positions >= 0],
                    forced_positions[forced_positions >= 0],
                ]
            )
        )
        base_full = np.ascontiguousarray(_dots_against(self.sums_, base_rows, columns, compact_t).T)
        base_local = np.full(max(self.sums_.shape[0], 1), -1, dtype=np.int64)
        base_local[base_rows] = np.arange(base_rows.size)
        # Running scores of the groups touched since the rebuild (``affected``, columns
        # by local index): ``raw`` is each ticket's dot with the group's sum as it stands
        # (base sum + delta sum + segment tickets already placed there), ``retrieval``
        # its informative overlap with the delta and segment tickets. Placing a ticket
        # adds its column of the segment's gram matrices; sums on the grid are exact, so
        # this equals scoring each ticket from scratch.
        width = n_affected0 + n_rows
        # Every array the compiled loop takes is C-ordered: one compiled version serves
        # all of them (a one-row array is both C and F ordered).
        raw = np.zeros((n_rows, width))
        retrieval = np.zeros((n_rows, width))
        if n_affected0:
            delta_sums = _gather(self._delta_sums, np.arange(n_affected0), columns)
            retrieval[:, :n_affected0] = (delta_sums @ informative_t).toarray().T
            raw[:, :n_affected0] = retrieval[:, :n_affected0] + (delta_sums @ common_t).toarray().T
            in_base = np.flatnonzero(touched_positions >= 0)
            if in_base.size:
                raw[:, in_base] += base_full[:, base_local[touched_positions[in_base]]]
        overlaps, cosines = upper_grams(
            n_rows,
            informative_t.indptr,
            informative_t.indices,
            informative_t.data,
            common_t.indptr,
            common_t.indices,
            common_t.data,
        )

        # Group id -> local index and back, with room for the groups the segment creates.
        local_of = np.full(n_groups + n_rows, -1, dtype=np.int64)
        local_of[affected_gids0] = np.arange(n_affected0)
        affected = np.zeros(width, dtype=np.int64)
        affected[:n_affected0] = affected_gids0
        base_pos = np.full(n_groups + n_rows, -1, dtype=np.int64)
        base_pos[:n_groups] = self._base_pos[:n_groups]
        sizes = np.zeros(n_groups + n_rows)
        sizes[:n_groups] = self.size_[:n_groups]
        gids, scores, is_new, segment_local, n_affected = place_segment(
            top_base,
            forced,
            raw,
            retrieval,
            cosines,
            overlaps,
            base_full,
            base_pos,
            base_local,
            local_of,
            affected,
            n_affected0,
            sizes,
            n_groups,
            float(self.similarity_threshold),
            _TOP_DELTA,
            n_rows if commit else 1,
        )
        if not commit:
            gid = -1 if is_new[0] else int(gids[0])
            return [self._prediction(records[0].ticket_id, gid, float(scores[0]))]
        for local in range(n_affected0, n_affected):
            gid = int(affected[local])
            self._affected_local[gid] = local
            self._affected_gids.append(gid)
        joined: list[tuple[bool, int]] = []
        recent: list[list[str]] = []
        for record, gid, score, is_new_group in zip(
            records, gids.tolist(), scores.tolist(), is_new.tolist(), strict=True
        ):
            if is_new_group:
                self._new_group(_CANDIDATE)
            recent.append([] if is_new_group else list(self.groups_[gid].recent))
            joined.append(self._join(record, gid, score, is_new_group))
        self._absorb_segment(rows, segment_local)
        return self._nearest_members(records, joined, recent, columns, compact_t, cosines)

    def _absorb_segment(self, rows: sp.csr_matrix, segment_local: np.ndarray) -> None:
        """Add the segment's rows to the delta buffer and to the per-group delta sums."""
        n_affected = len(self._affected_gids)
        n_columns = self.n_columns_
        row_ids, columns, values = _triplets(rows, segment_local)
        segment_sums = _rows_from_triplets(row_ids, columns, values, (n_affected, n_columns))
        current = self._delta_sums
        if current.shape[0] < n_affected:
            indptr = np.concatenate(
                [current.indptr, np.full(n_affected - current.shape[0], current.indptr[-1])]
            )
            current = sp.csr_matrix(
                (current.data, current.indices, indptr), shape=(n_affected, n_columns)
            )
        self._delta_sums = sp.csr_matrix(current + segment_sums)
        n_delta = self.delta_rows_.shape[0]
        self.delta_rows_ = sp.csr_matrix(sp.vstack([self.delta_rows_, rows], format="csr"))
        for offset, ticket_id in enumerate(self.delta_tickets_[n_delta:]):
            self._delta_index[ticket_id] = n_delta + offset

    def _nearest_members(
        self,
        records: Sequence[TicketLike],
        joined: list[tuple[bool, int]],
        recent: list[list[str]],
        columns: np.ndarray,
        compact_t: sp.csr_matrix,
        cosines: np.ndarray,
    ) -> list[Assignment]:
        """The assignments of a segment's tickets, each with its nearest member among its
        group's latest members whose rows are still in the delta buffer (else the group's
        representative).

        ``joined`` holds, per ticket, whether it made a new cluster and the kind of its
        group right after it joined; ``columns``, ``compact_t`` and ``cosines`` are the
        segment's compacted rows and the upper triangle of their gram matrix, from
        `_assign_segment`."""
        n_rows = len(records)
        pair_rows, pair_entries = [], []
        for i, members in enumerate(recent):
            for ticket_id in members:
                entry = self._delta_index.get(ticket_id)
                if entry is not None:
                    pair_rows.append(i)
                    pair_entries.append(entry)
        rows_of = np.array(pair_rows, dtype=np.int64)
        entries = np.array(pair_entries, dtype=np.int64)
        n_delta = self.delta_rows_.shape[0] - n_rows
        dots = np.zeros(entries.size)
        is_earlier = entries < n_delta
        earlier = _unique(entries[is_earlier])
        earlier_dots = _dots_against(self.delta_rows_, earlier, columns, compact_t)
        dots[is_earlier] = earlier_dots[
            np.searchsorted(earlier, entries[is_earlier]), rows_of[is_earlier]
        ]
        in_segment = ~is_earlier
        # ``cosines`` holds its upper triangle: a member placed before ticket i is row j < i.
        dots[in_segment] = cosines[entries[in_segment] - n_delta, rows_of[in_segment]]
        # Per ticket, the first of its highest dots with a member placed before it.
        usable = np.flatnonzero(entries < n_delta + rows_of)
        order = usable[np.lexsort((usable, -dots[usable], rows_of[usable]))]
        first = np.ones(order.size, dtype=bool)
        first[1:] = rows_of[order[1:]] != rows_of[order[:-1]]
        best = np.full(n_rows, -1, dtype=np.int64)
        best[rows_of[order[first]]] = entries[order[first]]
        results = []
        for record, (is_new_cluster, kind), entry, members in zip(
            records, joined, best.tolist(), recent, strict=True
        ):
            ticket_id = record.ticket_id
            gid, similarity, nearest, shared = self.tickets_[ticket_id]
            if entry >= 0:
                nearest = self.delta_tickets_[entry]
            elif members:
                nearest = self.groups_[gid].rep_ticket
            if nearest == ticket_id:
                nearest = None
            elif nearest is not None:
                self.tickets_[ticket_id] = (gid, similarity, nearest, shared)
            results.append(
                Assignment(
                    ticket_id,
                    self.groups_[gid].public_id if kind == _CLUSTER else None,
                    similarity,
                    nearest,
                    shared,
                    is_new_cluster,
                    f"C-{gid:06d}" if kind == _CANDIDATE else None,
                    kind == _NOISE,
                )
            )
        return results

    def _join(
        self, record: TicketLike, gid: int, score: float, is_new_group: bool
    ) -> tuple[bool, int]:
        """Count a ticket in group ``gid``; whether it made that group a cluster, and
        the group's kind right after (its nearest member is filled in later)."""
        group = self.groups_[gid]
        ticket_id = record.ticket_id
        moment = _epoch(record.first_closed_at)
        self.size_[gid] += 1
        group.recent.append(ticket_id)
        if len(group.recent) > _RECENT_MEMBERS:
            del group.recent[0]
        first = self.first_[gid]
        self.first_[gid] = moment if math.isnan(first) else min(first, moment)
        last = self.last_[gid]
        self.last_[gid] = moment if math.isnan(last) else max(last, moment)
        latest = self.latest_time_
        self.latest_time_ = moment if math.isnan(latest) else max(latest, moment)

        scanned = record.subject + "\n" + record.text[:_SIGNATURE_CHARS]
        signatures = self._signatures.get(scanned)
        if signatures is None:
            signatures = extract_signatures(scanned)
        family = version_family(record.version)
        shared: list[str] = []
        if not is_new_group:
            if record.product and record.product in group.products:
                shared.append("product")
            if record.component and record.component in group.components:
                shared.append("component")
            if family and family in group.versions:
                shared.append("version")
            shared.extend(code for code in signatures if code in group.error_codes)
        _bump(group.products, record.product)
        _bump(group.components, record.component)
        _bump(group.versions, family)
        for code in signatures:
            _bump(group.error_codes, code)
        words = _words(record.subject)
        for word in words:
            group.terms[word] = group.terms.get(word, 0) + 1
            self.doc_freq_[word] = self.doc_freq_.get(word, 0) + 1
        subject = record.subject[:_SUBJECT_CHARS]
        if group.rep_ticket is None:
            group.rep_ticket, group.rep_subject = ticket_id, subject

        if (
            signatures
            or _FAILURE.search(record.subject)
            or _FAILURE.search(record.text[:_SIGNATURE_CHARS])
        ):
            group.n_failing += 1
        is_new_cluster = False
        if self.kind_[gid] == _CANDIDATE:
            assert group.members is not None
            group.members.append(ticket_id)
            if self.size_[gid] >= self.min_cluster_size:
                self._name_cluster(gid)
                is_new_cluster = True
                self.kind_[gid] = _CLUSTER
                self._auto_noise(gid)
        elif not group.touched_by_person:
            self._auto_noise(gid)
        similarity = round(score, 6) if math.isfinite(score) else 0.0
        self.tickets_[ticket_id] = (gid, similarity, None, tuple(shared))
        self.delta_gids_.append(gid)
        self.delta_tickets_.append(ticket_id)
        self.delta_subjects_.append(subject)
        self.n_learned_ += 1
        return is_new_cluster, int(self.kind_[gid])

    def _auto_noise(self, gid: int) -> None:
        """A cluster that reads as a recurring question rather than a fault is noise."""
        if self.groups_[gid].touched_by_person or self.kind_[gid] not in (_CLUSTER, _NOISE):
            return
        failing = self.groups_[gid].n_failing
        quiet = failing < self.min_failure_share * float(self.size_[gid])
        self.kind_[gid] = _NOISE if quiet else _CLUSTER

    def _assignment(self, ticket_id: str, is_new_cluster: bool = False) -> Assignment:
        gid, similarity, nearest, shared = self.tickets_[ticket_id]
        gid = self._resolve(gid)
        kind = self.kind_[gid]
        group = self.groups_[gid]
        return Assignment(
            ticket_id=ticket_id,
            cluster_id=group.public_id if kind == _CLUSTER else None,
            similarity=similarity,
            nearest_ticket_id=nearest,
            shared_fields=shared,
            is_new_cluster=is_new_cluster,
            candidate_id=f"C-{gid:06d}" if kind == _CANDIDATE else None,
            is_noise=bool(kind == _NOISE),
        )

    def _view(self, ticket_id: str) -> Assignment:
        return self._assignment(ticket_id)

    # -- rebuild -----------------------------------------------------------------------

    def _rebuild(
        self,
        merge_into: dict[int, int] | None = None,
        moves: sp.csr_matrix | None = None,
    ) -> None:
        """Fold the delta buffer into the group sums, drop dead groups, truncate sums.

        Only the rows of groups that changed are recomputed. ``merge_into`` maps group
        ids whose sums go to another group; ``moves`` is a (groups x features) matrix
        added to the sums (rows of tickets a person moved).
        """
        n_groups = len(self.groups_)
        n_columns = self.n_columns_
        self._expire_candidates()
        changed = set(self._affected_gids)
        if merge_into:
            changed.update(merge_into)
            changed.update(merge_into.values())
        if moves is not None:
            moves = sp.csr_matrix(moves)
            changed.update(np.flatnonzero(np.diff(moves.indptr)).tolist())
        changed_gids = np.array(sorted(changed), dtype=np.int64)
        parts = []
        positions = self._base_pos[changed_gids] if changed_gids.size else changed_gids
        in_base = positions >= 0
        if in_base.any():
            parts.append(_triplets(self.sums_[positions[in_base]], changed_gids[in_base]))
        if self._affected_gids:
            parts.append(_triplets(self._delta_sums, np.array(self._affected_gids, dtype=np.int64)))
        if moves is not None:
            parts.append(_triplets(moves, np.arange(moves.shape[0], dtype=np.int64)))
        if parts:
            row_ids = np.concatenate([part[0] for part in parts]).astype(np.int64)
            columns = np.concatenate([part[1] for part in parts])
            values = np.concatenate([part[2] for part in parts]).astype(np.float64)
        else:
            row_ids = np.zeros(0, dtype=np.int64)
            columns = np.zeros(0, dtype=np.int32)
            values = np.zeros(0)
        if merge_into:
            targets = np.arange(n_groups, dtype=np.int64)
            for source, target in merge_into.items():
                targets[source] = target
            row_ids = targets[row_ids]
        full = _rows_from_triplets(row_ids, columns, values, (n_groups, n_columns))
        if moves is not None:
            full.data = np.maximum(full.data, 0.0)
            full.eliminate_zeros()
        live = np.flatnonzero(np.isin(self.kind_[:n_groups], _LIVE_KINDS)).astype(np.int64)
        is_changed = np.isin(live, changed_gids)
        live_changed = live[is_changed]
        new_rows = _truncate_rows(sp.csr_matrix(full[live_changed]), self.max_centroid_features)
        n_old = self.sums_.shape[0]
        row_source = np.empty(live.size, dtype=np.int64)
        row_source[~is_changed] = self._base_pos[live[~is_changed]]
        row_source[is_changed] = n_old + np.arange(live_changed.size)
        stacked = sp.vstack([self.sums_, new_rows], format="csr")
        self.sums_ = sp.csr_matrix(stacked[row_source])
        self.base_gids_ = live
        norm_rows = np.repeat(np.arange(live_changed.size), np.diff(new_rows.indptr))
        self.norm2_[live_changed] = np.bincount(
            norm_rows, weights=new_rows.data**2, minlength=live_changed.size
        )
        self._base_pos = np.full(max(n_groups, self.kind_.size), -1, dtype=np.int64)
        self._base_pos[live] = np.arange(live.size)
        if self.delta_gids_:
            self._update_representatives()
            self._remember_recent()
        self._prune_counters()
        self.delta_rows_ = _empty_rows(0, n_columns)
        self.delta_gids_, self.delta_tickets_, self.delta_subjects_ = [], [], []
        self._refresh_caches()
        if self.consolidate_every and self.n_learned_ >= self.next_consolidation_:
            self.next_consolidation_ = self.n_learned_ + self.consolidate_every
            self._consolidate(by="consolidation")

    def _update_representatives(self) -> None:
        """Among the delta tickets, the one closest to its group's new centroid wins
        over the current representative when closer than that one was."""
        gids = np.array([self._resolve(g) for g in self.delta_gids_], dtype=np.int64)
        positions = self._base_pos[gids]
        entries = np.flatnonzero(positions >= 0)
        if entries.size == 0:
            return
        dots = _row_sums(self.delta_rows_[entries].multiply(self.sums_[positions[entries]]).tocsr())
        norms = np.sqrt(np.maximum(self.norm2_[gids[entries]], 1e-24))
        cosines = dots / norms
        for entry, cosine in zip(entries.tolist(), cosines.tolist(), strict=True):
            group = self.groups_[int(gids[entry])]
            if cosine > group.rep_score:
                group.rep_score = round(cosine, 9)
                group.rep_ticket = self.delta_tickets_[entry]
                group.rep_subject = self.delta_subjects_[entry]

    def _remember_recent(self) -> None:
        self.recent_.append((list(self.delta_tickets_), self.delta_rows_))
        total = sum(len(ids) for ids, _ in self.recent_)
        while len(self.recent_) > 1 and total - len(self.recent_[0][0]) >= self.keep_recent:
            total -= len(self.recent_[0][0])
            self.recent_.pop(0)

    def _expire_candidates(self) -> None:
        n_groups = len(self.groups_)
        candidates = np.flatnonzero(self.kind_[:n_groups] == _CANDIDATE)
        if candidates.size == 0 or math.isnan(self.latest_time_):
            return
        horizon = self.latest_time_ - self.candidate_ttl_days * 86_400.0
        last = self.last_[candidates]
        expired = candidates[last < horizon]
        alive = candidates[last >= horizon]
        if alive.size > self.max_candidates:
            order = np.lexsort((alive, self.last_[alive]))
            expired = np.concatenate([expired, alive[order[: alive.size - self.max_candidates]]])
        for gid in np.sort(expired).tolist():
            group = self.groups_[gid]
            self.kind_[gid] = _EVICTED
            group.terms, group.products, group.components = {}, {}, {}
            group.versions, group.error_codes = {}, {}
            group.members = []

    def _prune_counters(self) -> None:
        for gid in sorted(set(self.delta_gids_)):
            group = self.groups_[gid]
            group.terms = _prune(group.terms, self.max_terms)
            group.error_codes = _prune(group.error_codes, _MAX_META_VALUES)
            group.versions = _prune(group.versions, _MAX_META_VALUES)
            group.components = _prune(group.components, _MAX_META_VALUES)
            group.products = _prune(group.products, _MAX_META_VALUES)
        if len(self.doc_freq_) > self.max_vocabulary:
            keep = _top(self.doc_freq_, self.max_vocabulary // 2)
            self.doc_freq_ = {word: self.doc_freq_[word] for word in sorted(keep)}

    # -- reading -----------------------------------------------------------------------

    def predict_one(self, record: TicketLike) -> Assignment:
        """Where ``record`` would go if learned now, without learning it (no state change).

        ``nearest_ticket_id`` is the representative of that group.
        """
        self._ensure()
        if record.ticket_id in self.tickets_:
            return self._view(record.ticket_id)
        return self._assign_segment([record], self._featurize([record]), commit=False)[0]

    def _prediction(self, ticket_id: str, gid: int, score: float) -> Assignment:
        similarity = round(score, 6) if math.isfinite(score) else 0.0
        if gid < 0:
            return Assignment(ticket_id, None, similarity, None)
        kind = self.kind_[gid]
        group = self.groups_[gid]
        return Assignment(
            ticket_id=ticket_id,
            cluster_id=group.public_id if kind == _CLUSTER else None,
            similarity=similarity,
            nearest_ticket_id=group.rep_ticket,
            candidate_id=f"C-{gid:06d}" if kind == _CANDIDATE else None,
            is_noise=bool(kind == _NOISE),
        )

    def similar(self, record: TicketLike, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` most similar past tickets, best first, as ``(ticket_id, cosine)``."""
        self._ensure()
        if self.similar_index_ is None:
            raise RuntimeError("problems.cluster.similar is not available")
        result: list[tuple[str, float]] = self.similar_index_.query(record, k=k)
        return result

    def cluster_of(self, ticket_id: str) -> str | None:
        """The problem cluster of a ticket; None while a candidate, noise or unknown."""
        self._ensure()
        entry = self.tickets_.get(ticket_id)
        if entry is None:
            return None
        gid = self._resolve(entry[0])
        return self.groups_[gid].public_id if self.kind_[gid] == _CLUSTER else None

    def memberships(self) -> dict[str, str]:
        """``ticket_id -> cluster id`` for every ticket in a problem cluster (not noise)."""
        self._ensure()
        names: dict[int, str | None] = {}
        result: dict[str, str] = {}
        for ticket_id, entry in self.tickets_.items():
            gid = entry[0]
            name = names.get(gid, "")
            if name == "":
                final = self._resolve(gid)
                name = self.groups_[final].public_id if self.kind_[final] == _CLUSTER else None
                names[gid] = name
            if name is not None:
                result[ticket_id] = name
        return result

    def groups(self) -> dict[str, str]:
        """``ticket_id -> group id`` including candidates (``C-…``) and noise clusters.

        For evaluation: duplicates that are still a pair form a candidate, not a cluster.
        """
        self._ensure()
        result: dict[str, str] = {}
        for ticket_id, entry in self.tickets_.items():
            gid = self._resolve(entry[0])
            kind = self.kind_[gid]
            if kind in (_CLUSTER, _NOISE):
                result[ticket_id] = self.groups_[gid].public_id or ""
            elif kind == _CANDIDATE:
                result[ticket_id] = f"C-{gid:06d}"
        return result

    def _gid_of_cluster(self, cluster_id: str) -> int:
        self._ensure()
        match = re.fullmatch(r"P-(\d+)", cluster_id)
        if match:
            for gid, group in enumerate(self.groups_):
                if group.public_id == cluster_id:
                    return gid
        raise UnknownCluster(cluster_id)

    def _terms(self, group: _Group, size: int, n: int = 8) -> tuple[str, ...]:
        n_docs = max(self.n_learned_, 1)
        scored = []
        for word, count in group.terms.items():
            idf = math.log((1 + n_docs) / (1 + self.doc_freq_.get(word, count)))
            scored.append((-(count / max(size, 1)) * idf, word))
        scored.sort()
        return tuple(word for score, word in scored[:n] if score < 0)

    def _summary(self, gid: int) -> ClusterSummary:
        group = self.groups_[gid]
        kind = self.kind_[gid]
        merged_into = None
        if kind == _MERGED:
            merged_into = self.groups_[self._resolve(gid)].public_id
        size = int(self.size_[gid])
        terms = self._terms(group, size)
        title = group.title or group.rep_subject or ", ".join(terms[:3])
        return ClusterSummary(
            id=group.public_id or f"C-{gid:06d}",
            title=title,
            size=size if kind != _MERGED else 0,
            terms=terms,
            representative_ticket_id=group.rep_ticket,
            representative_subject=group.rep_subject,
            components=tuple(_top(group.components, 5)),
            products=tuple(_top(group.products, 5)),
            versions=tuple(_top(group.versions, 5)),
            error_codes=tuple(_top(group.error_codes, 5)),
            first_seen=_moment(float(self.first_[gid])),
            last_seen=_moment(float(self.last_[gid])),
            is_noise=bool(kind == _NOISE),
            merged_into=merged_into,
            title_by_person=group.title_by_person,
        )

    def clusters(self, include_merged: bool = False) -> list[ClusterSummary]:
        """Summaries of the problem clusters (noise ones flagged), oldest id first.

        ``include_merged`` also lists clusters merged into another (size 0, with
        ``merged_into`` set), for following lineage.
        """
        self._ensure()
        wanted = (_CLUSTER, _NOISE, _MERGED) if include_merged else (_CLUSTER, _NOISE)
        return [
            self._summary(gid)
            for gid, group in enumerate(self.groups_)
            if group.public_id is not None and self.kind_[gid] in wanted
        ]

    def cluster(self, cluster_id: str) -> ClusterSummary:
        """The summary of one cluster (merged ones say where they went)."""
        return self._summary(self._gid_of_cluster(cluster_id))

    def explain_ticket(self, ticket_id: str) -> dict[str, Any]:
        """Why a ticket is where it is: score, nearest member, shared fields, its cluster.

        Raises
        ------
        UnknownTicket
            The ticket was never learned.
        """
        self._ensure()
        entry = self.tickets_.get(ticket_id)
        if entry is None:
            raise UnknownTicket(ticket_id)
        joined_gid, similarity, nearest, shared = entry
        gid = self._resolve(joined_gid)
        kind = int(self.kind_[gid])
        status = {
            _CANDIDATE: "candidate",
            _CLUSTER: "cluster",
            _NOISE: "noise",
            _EVICTED: "unassigned",
        }.get(kind, "unassigned")
        group = self.groups_[gid]
        explanation: dict[str, Any] = {
            "ticket_id": ticket_id,
            "status": status,
            "cluster_id": group.public_id if kind in (_CLUSTER, _NOISE) else None,
            "candidate_id": f"C-{gid:06d}" if kind == _CANDIDATE else None,
            "similarity": similarity,
            "linkage": "average",
            "threshold": self.similarity_threshold,
            "nearest_ticket_id": nearest,
            "shared_fields": list(shared),
            "started_group": nearest is None,
            "moved_by_person": any(
                ticket_id in c.ticket_ids
                for c in self.corrections_
                if c.action in ("move", "split")
            ),
        }
        if kind in (_CLUSTER, _NOISE, _CANDIDATE):
            summary = self._summary(gid)
            explanation["cluster_terms"] = list(summary.terms)
            explanation["cluster_title"] = summary.title
            explanation["cluster_size"] = summary.size
        return explanation

    # -- corrections -------------------------------------------------------------------

    def _at(self) -> datetime | None:
        return _moment(self.latest_time_)

    def _record(self, action: str, **fields: Any) -> Correction:
        self.n_operations_ += 1
        correction = Correction(action=action, order=self.n_operations_, at=self._at(), **fields)
        self.corrections_.append(correction)
        return correction

    def _cluster_gids(self, cluster_ids: Sequence[str]) -> list[int]:
        gids = []
        for cluster_id in cluster_ids:
            gid = self._gid_of_cluster(cluster_id)
            if self.kind_[gid] == _MERGED:
                raise InvalidCorrection(
                    f"{cluster_id} was merged into {self.groups_[self._resolve(gid)].public_id}"
                )
            gids.append(gid)
        return gids

    def _merge_groups(self, target: int, sources: list[int]) -> None:
        """Fold ``sources`` into ``target`` (counters now, sums at the rebuild after)."""
        group = self.groups_[target]
        for source in sources:
            other = self.groups_[source]
            self.size_[target] += self.size_[source]
            group.n_failing += other.n_failing
            self.first_[target] = np.fmin(self.first_[target], self.first_[source])
            self.last_[target] = np.fmax(self.last_[target], self.last_[source])
            for name in ("terms", "products", "components", "versions", "error_codes"):
                mine: dict[str, int] = getattr(group, name)
                for key, count in getattr(other, name).items():
                    mine[key] = mine.get(key, 0) + count
            if other.title_by_person and not group.title_by_person:
                group.title, group.title_by_person = other.title, True
            group.touched_by_person |= other.touched_by_person
            other.merged_into = target
            self.kind_[source] = _MERGED
            self.size_[source] = 0
        self._auto_noise(target)

    def merge(self, cluster_ids: list[str], title: str | None = None) -> str:
        """Merge clusters into the oldest of them (it keeps its id); return that id.

        Examples
        --------
        >>> engine = ClusterEngine()
        >>> engine.merge(["P-000001"])
        Traceback (most recent call last):
        ...
        problems.cluster.errors.UnknownCluster: 'P-000001'
        """
        self._ensure()
        gids = sorted(dict.fromkeys(self._cluster_gids(cluster_ids)))
        if not gids:
            raise InvalidCorrection("merge needs at least one cluster")
        target, sources = gids[0], gids[1:]
        target_id = self.groups_[target].public_id
        assert target_id is not None
        source_ids = [self.groups_[gid].public_id or "" for gid in sources]
        forbidden = {frozenset(pair) for pair in self.cannot_link_}
        for source_id in source_ids:
            if frozenset((source_id, target_id)) in forbidden:
                self.cannot_link_ = [
                    pair for pair in self.cannot_link_ if set(pair) != {source_id, target_id}
                ]
        if sources:
            self._merge_groups(target, sources)
            self._rebuild(merge_into=dict.fromkeys(sources, target))
        self.groups_[target].touched_by_person = True
        if title is not None:
            self.groups_[target].title = title
            self.groups_[target].title_by_person = True
        self._record("merge", cluster_ids=tuple(cluster_ids), value=title, result=target_id)
        if sources:
            self.lineage_.append(
                LineageEntry(
                    "merge",
                    tuple(source_ids),
                    (target_id,),
                    "person",
                    self.n_operations_,
                    self._at(),
                    "merged by a person",
                )
            )
        return target_id

    def _row_of(self, ticket_id: str) -> sp.csr_matrix | None:
        entry = self._delta_index.get(ticket_id)
        if entry is not None:
            row: sp.csr_matrix = self.delta_rows_[entry]
            return row
        # Only corrections read the recent rows: a scan beats an index rebuilt at every
        # rebuild.
        for ticket_ids, rows in reversed(self.recent_):
            if ticket_id in ticket_ids:
                row = rows[ticket_ids.index(ticket_id)]
                return row
        for pinned_id, _, row in reversed(self.pinned_):
            if pinned_id == ticket_id:
                return row
        return None

    def _move_tickets(self, ticket_ids: Sequence[str], target: int) -> None:
        """Move tickets to ``target``; their rows (when still known) are pinned there."""
        n_groups = len(self.groups_)
        moved_rows, moved_to = [], []
        for ticket_id in ticket_ids:
            entry = self.tickets_.get(ticket_id)
            if entry is None:
                raise UnknownTicket(ticket_id)
            source = self._resolve(entry[0])
            if source == target:
                continue
            self.size_[source] -= 1
            self.size_[target] += 1
            members = self.groups_[source].members
            if members is not None and ticket_id in members:
                members.remove(ticket_id)
            self.tickets_[ticket_id] = (target, *entry[1:])
            row = self._row_of(ticket_id)
            if row is not None:
                moved_rows.extend([row, -row])
                moved_to.extend([target, source])
                self.pinned_.append((ticket_id, target, row))
        self.pinned_ = self.pinned_[-self.max_pinned :]
        moves = None
        if moved_rows:
            stacked = sp.vstack(moved_rows, format="csr")
            placement = sp.csr_matrix(
                (np.ones(len(moved_to)), (np.array(moved_to), np.arange(len(moved_to)))),
                shape=(n_groups, len(moved_to)),
            )
            moves = (placement @ stacked).tocsr()
        self._rebuild(moves=moves)

    def split(self, cluster_id: str, ticket_ids: list[str]) -> str:
        """Move ``ticket_ids`` out of a cluster into a new one; return the new id.

        The two clusters are never merged back by `consolidate`, and later tickets nearly
        identical to the moved ones follow them.
        """
        self._ensure()
        (source,) = self._cluster_gids([cluster_id])
        for ticket_id in ticket_ids:
            entry = self.tickets_.get(ticket_id)
            if entry is None:
                raise UnknownTicket(ticket_id)
            if self._resolve(entry[0]) != source:
                raise InvalidCorrection(f"{ticket_id} is not in {cluster_id}")
        if not ticket_ids:
            raise InvalidCorrection("split needs at least one ticket")
        target = self._new_group(_CLUSTER)
        source_group, target_group = self.groups_[source], self.groups_[target]
        if self.kind_[source] == _NOISE:
            self.kind_[target] = _NOISE
        target_group.touched_by_person = source_group.touched_by_person = True
        self.first_[target] = self.first_[source]
        self.last_[target] = self.last_[source]
        target_group.rep_ticket = ticket_ids[0]
        if source_group.rep_ticket in ticket_ids:
            source_group.rep_ticket, source_group.rep_score = None, -1.0
        self._move_tickets(ticket_ids, target)
        new_id = target_group.public_id
        assert new_id is not None
        self.cannot_link_.append((cluster_id, new_id))
        self._record(
            "split", cluster_ids=(cluster_id,), ticket_ids=tuple(ticket_ids), result=new_id
        )
        self.lineage_.append(
            LineageEntry(
                "split",
                (cluster_id,),
                (new_id,),
                "person",
                self.n_operations_,
                self._at(),
                "split by a person",
            )
        )
        return new_id

    def move(self, ticket_id: str, cluster_id: str) -> None:
        """Move one ticket into a cluster; its look-alikes will follow it there."""
        self._ensure()
        (target,) = self._cluster_gids([cluster_id])
        self.groups_[target].touched_by_person = True
        self._move_tickets([ticket_id], target)
        self._record("move", cluster_ids=(cluster_id,), ticket_ids=(ticket_id,))

    def set_title(self, cluster_id: str, title: str) -> None:
        """Give a cluster a person's title; it survives merges and consolidation."""
        self._ensure()
        (gid,) = self._cluster_gids([cluster_id])
        self.groups_[gid].title = title
        self.groups_[gid].title_by_person = True
        self._record("set_title", cluster_ids=(cluster_id,), value=title)

    def mark_noise(self, cluster_id: str, noise: bool = True) -> None:
        """Mark a cluster as noise (its look-alikes stay noise), or undo that."""
        self._ensure()
        (gid,) = self._cluster_gids([cluster_id])
        self.kind_[gid] = _NOISE if noise else _CLUSTER
        self.groups_[gid].touched_by_person = True
        self._record("mark_noise", cluster_ids=(cluster_id,), value=noise)

    # -- consolidation -----------------------------------------------------------------

    def consolidate(self) -> list[LineageEntry]:
        """Merge clusters that converged; return the lineage entries it added."""
        self._ensure()
        if self.delta_gids_:
            self._rebuild()
        return self._consolidate(by="consolidation")

    def _consolidate(self, by: str) -> list[LineageEntry]:
        threshold = (
            self.merge_threshold if self.merge_threshold is not None else self.similarity_threshold
        )
        added: list[LineageEntry] = []
        forbidden = {frozenset(pair) for pair in self.cannot_link_}
        for _ in range(8):
            kinds = self.kind_[self.base_gids_]
            big = self.size_[self.base_gids_] >= self.min_merge_size
            rows = np.flatnonzero(np.isin(kinds, (_CLUSTER, _NOISE)) & big)
            if rows.size < 2:
                break
            gids = self.base_gids_[rows]
            a, b, scores = self._pair_scores(self.sums_[rows], gids, threshold)
            if a.size == 0:
                break
            order = np.lexsort((gids[b], gids[a], -scores))
            used: set[int] = set()
            merges: dict[int, int] = {}
            for index in order.tolist():
                first, second = int(gids[a[index]]), int(gids[b[index]])
                if first in used or second in used:
                    continue
                if self.kind_[first] != self.kind_[second]:
                    continue
                pair = frozenset(
                    (self.groups_[first].public_id or "", self.groups_[second].public_id or "")
                )
                if pair in forbidden or self._cannot_link(first, second, forbidden):
                    continue
                target, source = self._survivor(first, second)
                used.update((first, second))
                merges[source] = target
            if not merges:
                break
            for source, target in sorted(merges.items()):
                self._merge_groups(target, [source])
                self.n_operations_ += 1
                entry = LineageEntry(
                    "merge",
                    (self.groups_[source].public_id or "",),
                    (self.groups_[target].public_id or "",),
                    by,
                    self.n_operations_,
                    self._at(),
                    "centroids converged",
                )
                self.lineage_.append(entry)
                added.append(entry)
            self._rebuild(merge_into=merges)
        return added

    def _pair_scores(
        self, sums: sp.csr_matrix, gids: np.ndarray, threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs ``a < b`` of rows whose group-to-group score reaches ``threshold``."""
        sums = _restrict(sums, _unique(sums.indices))  # same products, narrow transpose
        transposed = sums.T.tocsr()
        scale = 1.0 / np.maximum(self.size_[gids].astype(np.float64), 1.0)
        found_a, found_b, found_scores = [], [], []
        block = 512
        for start in range(0, sums.shape[0], block):
            dots = (sums[start : start + block] @ transposed).toarray()
            scores = dots * scale[start : start + block, None] * scale[None, :]
            rows, columns = np.nonzero(scores >= threshold)
            rows_abs = rows + start
            upper = rows_abs < columns
            found_a.append(rows_abs[upper])
            found_b.append(columns[upper])
            found_scores.append(scores[rows[upper], columns[upper]])
        return np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_scores)

    def _cannot_link(self, first: int, second: int, forbidden: set[frozenset[str]]) -> bool:
        """Whether any cluster merged into one of them was split from the other's side."""
        if not forbidden:
            return False

        def names(gid: int) -> set[str]:
            return {
                group.public_id or ""
                for other, group in enumerate(self.groups_)
                if group.public_id and self._resolve(other) == gid
            }

        left, right = names(first), names(second)
        return any(frozenset((x, y)) in forbidden for x in left for y in right)

    def _survivor(self, first: int, second: int) -> tuple[int, int]:
        a, b = self.groups_[first], self.groups_[second]
        if a.title_by_person != b.title_by_person:
            return (first, second) if a.title_by_person else (second, first)
        return (first, second) if first < second else (second, first)

    # -- persistence -------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict (``schema_version``, no pickle)."""
        self._ensure()
        n_groups = len(self.groups_)
        return {
            "schema_version": SCHEMA_VERSION,
            "params": self.get_params(),
            "n_learned": self.n_learned_,
            "n_operations": self.n_operations_,
            "n_clusters_made": self.n_clusters_made_,
            "next_consolidation": self.next_consolidation_,
            "latest_time": None if math.isnan(self.latest_time_) else self.latest_time_,
            "groups": [group.to_state() for group in self.groups_],
            "kind": _pack(self.kind_[:n_groups]),
            "size": _pack(self.size_[:n_groups]),
            "norm2": _pack(self.norm2_[:n_groups]),
            "first": _pack(self.first_[:n_groups]),
            "last": _pack(self.last_[:n_groups]),
            "sums": _pack_csr(self.sums_),
            "base_gids": _pack(self.base_gids_),
            "delta_rows": _pack_csr(self.delta_rows_, exact_float32=True),
            "delta_gids": list(self.delta_gids_),
            "delta_tickets": list(self.delta_tickets_),
            "delta_subjects": list(self.delta_subjects_),
            "recent": [[ids, _pack_csr(rows, True)] for ids, rows in self.recent_],
            "pinned": [[tid, gid, _pack_csr(row, True)] for tid, gid, row in self.pinned_],
            "tickets": [[tid, *entry[:3], list(entry[3])] for tid, entry in self.tickets_.items()],
            "doc_freq": dict(self.doc_freq_),
            "corrections": [c.to_dict() for c in self.corrections_],
            "lineage": [entry.to_dict() for entry in self.lineage_],
            "cannot_link": [list(pair) for pair in self.cannot_link_],
            "similar": (
                self.similar_index_.to_state()
                if self.similar_index_ is not None and hasattr(self.similar_index_, "to_state")
                else None
            ),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClusterEngine:
        """An engine that behaves exactly as the one that wrote ``state``.

        Raises
        ------
        ClusterSnapshotError
            Another schema version, or missing or corrupt fields.
        """
        version = state.get("schema_version") if isinstance(state, dict) else None
        if version != SCHEMA_VERSION:
            raise ClusterSnapshotError(
                f"engine state schema_version {version!r} is not {SCHEMA_VERSION}: "
                "rebuild it by replaying the tickets"
            )
        try:
            engine = cls(**state["params"])
            engine._ensure()
            engine._load(state)
        except (KeyError, TypeError, ValueError) as error:
            raise ClusterSnapshotError(f"engine state is invalid: {error!r}") from None
        return engine

    def _load(self, state: dict[str, Any]) -> None:
        self.n_learned_ = int(state["n_learned"])
        self.n_operations_ = int(state["n_operations"])
        self.n_clusters_made_ = int(state["n_clusters_made"])
        self.next_consolidation_ = int(state["next_consolidation"])
        latest = state["latest_time"]
        self.latest_time_ = math.nan if latest is None else float(latest)
        self.groups_ = [_Group.from_state(row) for row in state["groups"]]
        for name in ("kind", "size", "norm2", "first", "last"):
            setattr(self, name + "_", _unpack(state[name]).copy())
        self.sums_ = _unpack_csr(state["sums"])
        self.base_gids_ = _unpack(state["base_gids"]).astype(np.int64)
        self.delta_rows_ = _unpack_csr(state["delta_rows"])
        self.delta_gids_ = [int(gid) for gid in state["delta_gids"]]
        self.delta_tickets_ = list(state["delta_tickets"])
        self.delta_subjects_ = list(state["delta_subjects"])
        self.recent_ = [(list(ids), _unpack_csr(rows)) for ids, rows in state["recent"]]
        self.pinned_ = [(tid, int(gid), _unpack_csr(row)) for tid, gid, row in state["pinned"]]
        self.tickets_ = {
            row[0]: (int(row[1]), float(row[2]), row[3], tuple(row[4])) for row in state["tickets"]
        }
        self.doc_freq_ = dict(state["doc_freq"])
        self.corrections_ = [_correction(row) for row in state["corrections"]]
        self.lineage_ = [_lineage(row) for row in state["lineage"]]
        self.cannot_link_ = [(str(a), str(b)) for a, b in state["cannot_link"]]
        similar_state = state.get("similar")
        if similar_state is not None and self.similar_index_ is not None:
            self.similar_index_ = type(self.similar_index_).from_state(similar_state)
        self._refresh_caches()


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _correction(row: dict[str, Any]) -> Correction:
    return Correction(
        action=row["action"],
        cluster_ids=tuple(row["cluster_ids"]),
        ticket_ids=tuple(row["ticket_ids"]),
        value=row["value"],
        result=row["result"],
        order=int(row["order"]),
        at=_parse_time(row["at"]),
        extra=dict(row["extra"]),
    )


def _lineage(row: dict[str, Any]) -> LineageEntry:
    return LineageEntry(
        kind=row["kind"],
        sources=tuple(row["sources"]),
        targets=tuple(row["targets"]),
        by=row["by"],
        order=int(row["order"]),
        at=_parse_time(row["at"]),
        reason=row["reason"],
    )
