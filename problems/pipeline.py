"""The one place that composes the stages and applies an event.

`problems run` (files) and the worker (Redis Streams) feed this very same code, so what
the register says does not depend on how the events arrived.

Data flows one way: event -> record (masked) -> cluster -> link -> graph -> register.
`Pipeline.apply` is idempotent: an event already applied changes nothing, so
at-least-once delivery gives exactly-once effect.

Examples
--------
>>> from problems.events import parse_event
>>> pipeline = Pipeline()
>>> event = parse_event({"event_type": "ticket.closed", "event_id": "e1", "ticket_id": "T-1",
...     "opened_at": "2026-03-02T09:00:00Z", "closed_at": "2026-03-02T11:00:00Z",
...     "subject": "Export to CSV times out", "customer": {"account_id": "acme"},
...     "product": "reporting"})
>>> pipeline.apply(event), pipeline.apply(event)
(True, False)
>>> restored = Pipeline.load(pipeline.save())
>>> restored.save() == pipeline.save()
True
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import to_json

from problems.book import RecordBook
from problems.cluster.duplicates import DuplicateGrouper, learn_from_index
from problems.cluster.engine import ClusterEngine
from problems.cluster.model import ClusterSummary
from problems.cluster.rerank import BACK_RANK_CAP, Reranker, model_name
from problems.cluster.semantic import TicketEmbeddings
from problems.errors import SnapshotError
from problems.events import Event, TicketClosed
from problems.graph import build_graph
from problems.linker import Link, LinkDecision, find_spikes, problem_groups, propose_links
from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register import ClusterInfo, LinkInfo, Register, build_register, render, week_of
from problems.register.render import FORMATS as REGISTER_FORMATS
from problems.register.snapshot import latest_week
from problems.store import CHAIN_VERSION, PARTS_CHAIN_VERSION, chain_bytes

__all__ = [
    "CHAIN_VERSION",
    "DELTA_VERSION",
    "PARTS_CHAIN_VERSION",
    "PARTS_VERSION",
    "REGISTER_FORMATS",
    "SCHEMA_VERSION",
    "SEGMENT_TICKETS",
    "PartsView",
    "Pipeline",
    "PipelineSettings",
    "chain_bytes",
]

SCHEMA_VERSION = 2
"""Version of a full snapshot. 2 added ``unclustered``; version 1 snapshots still load."""

DELTA_VERSION = 1
"""Version of a delta (`Pipeline.save_delta`)."""

PARTS_VERSION = 3
"""Version of a base in parts (`Pipeline.parts_view`; ``checkpoint_version`` of its
manifest): full snapshots (versions 1 and 2) still load."""

SEGMENT_TICKETS = 10_000
"""Tickets per part of a base in parts, in arrival order: a base rewrites only the
segments that changed since the previous one (the tail, and those of re-closed tickets)."""


class PipelineSettings(BaseModel):
    """Hyperparameters of every stage, kept in the snapshot so a restore behaves the same."""

    model_config = ConfigDict(frozen=True)

    seed: int = 0
    cluster: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of ClusterEngine"
    )


class _Snapshot(BaseModel):
    """The versioned snapshot format of a pipeline (JSON)."""

    schema_version: int
    settings: PipelineSettings
    tickets: list[TicketRecord]
    defects: list[DefectRecord]
    releases: list[ReleaseRecord]
    deleted: dict[str, str] = Field(
        default_factory=dict, description="tombstones: Jira issue key or version id -> when"
    )
    jira_times: dict[str, int] = Field(
        default_factory=dict, description="newest webhook timestamp applied per issue/version"
    )
    engine: dict[str, Any]
    link_decisions: list[LinkDecision] = Field(default_factory=list)
    jira_synced_until: datetime | None = None
    cursor: dict[str, str]
    n_applied: int
    unclustered: list[TicketRecord] = Field(
        default_factory=list,
        description="new tickets not yet handed to the engine, in arrival order",
    )


class _Delta(BaseModel):
    """What changed since the previous snapshot or delta (JSON): records as they are now
    (None: removed), and the new tickets in the order the engine must learn them."""

    delta_version: int
    tickets: list[TicketRecord]
    defects: dict[str, DefectRecord | None]
    releases: dict[str, ReleaseRecord | None]
    deleted: dict[str, str | None]
    jira_times: dict[str, int | None]
    learned: list[TicketRecord | str] = Field(
        description="tickets first added since the previous save, as first added: the id "
        "alone when that is the record in ``tickets`` (it was not closed again since)"
    )
    link_decisions: list[LinkDecision]
    jira_synced_until: datetime | None
    cursor: dict[str, str]
    n_applied: int


class _Manifest(BaseModel):
    """What a base in parts holds besides its parts (JSON, under the checkpoint key): the
    small fields of the state, and how the tickets are cut. The store adds the keys of
    the parts (``parts``) and a ``generation``."""

    checkpoint_version: int
    settings: PipelineSettings
    cursor: dict[str, str]
    n_applied: int
    link_decisions: list[LinkDecision]
    jira_synced_until: datetime | None
    n_tickets: int = Field(description="tickets in the segments, in arrival order")
    segment_tickets: int
    engine_at: int | None = Field(
        description="tickets the engine part has learned (the first ones in arrival "
        "order); None: no engine part, the engine is rebuilt from every ticket"
    )


class _JiraPart(BaseModel):
    """The Jira tables of a base in parts (one part)."""

    defects: list[DefectRecord]
    releases: list[ReleaseRecord]
    deleted: dict[str, str]
    jira_times: dict[str, int]


_SEGMENT = "tickets:"
"""Name prefix of the ticket segments of a base in parts (``tickets:0``, ...)."""


@dataclass
class PartsView:
    """A base in parts, taken cheaply under the worker's locks (`Pipeline.parts_view`)
    and encoded part by part in another thread (`Pipeline.encode_part`).

    ``parts`` are only the parts that changed since the previous base (all of them when
    ``full``); the others are kept as they are in the store. The rest is what
    `Pipeline.base_failed` needs to undo the view when its write fails.
    """

    manifest: dict[str, Any]
    parts: list[tuple[str, Any]]
    full: bool
    with_engine: bool
    dirty: set[str]
    jira_dirty: bool
    base_count: int
    engine_at: int | None


class Pipeline:
    """State of `problems` and the verbs that change it.

    Parameters
    ----------
    settings
        Hyperparameters of the stages; defaults suit most support desks.
    """

    def __init__(self, settings: PipelineSettings | None = None) -> None:
        self.settings = settings or PipelineSettings()
        self.book_ = RecordBook()
        self.cursor_: dict[str, str] = {}
        self.link_decisions_: list[LinkDecision] = []
        self.jira_synced_until_: datetime | None = None
        self.n_applied_ = 0
        self.engine_ = ClusterEngine(seed=self.settings.seed, **self.settings.cluster)
        self.unclustered_: list[TicketRecord] = []
        self.defer_clustering = False
        """When true, `apply_many` only queues new tickets; `cluster_pending` clusters
        them later (the worker does, so ingest never waits for clustering)."""
        self.originals_: dict[str, TicketRecord] = {}
        """Re-closed tickets as first added (what the engine learns), while a base in
        parts may need them: its engine part may not have learned them yet."""
        self._learned_since_save: list[TicketRecord] = []
        self._reranker: Reranker | None = None
        self.semantic: TicketEmbeddings | None = None
        """Sentence embeddings of tickets for `similar` and `duplicates` (optional and
        slow, see `problems.cluster.semantic`); None: words and the index alone."""
        # Duplicate groups (`duplicates`), derived like the re-ranker: the grouper
        # and its own re-ranker have seen the index's first tickets, in its order,
        # with or without `semantic` (the last item).
        self._duplicates: tuple[DuplicateGrouper, Reranker, bool] | None = None
        # What changed since the last base in parts (`parts_view`): tickets past
        # ``_base_count`` are new, ``_dirty`` are older ones closed again.
        self._base_count = 0
        self._dirty: set[str] = set()
        self._jira_dirty = True
        self._engine_at: int | None = None
        self._segment_tickets = SEGMENT_TICKETS
        self._has_parts_base = False

    # -- applying events -------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one event; return whether the state changed."""
        return self.apply_many([event]) == 1

    def apply_many(self, events: Iterable[Event]) -> int:
        """Apply events in order; return how many changed the state.

        New tickets are handed to the clustering engine in one batch, in arrival order,
        which gives the same clusters as applying them one by one (or in batches cut
        anywhere, now or later: see `defer_clustering`).
        """
        changed = 0
        apply = self.book_.apply
        tickets = self.book_.tickets
        originals = self.originals_
        for event in events:
            known = tickets.get(event.ticket_id) if type(event) is TicketClosed else None
            applied = apply(event)
            changed += applied.changed
            if applied.new_ticket is not None:
                self.unclustered_.append(applied.new_ticket)
                self._learned_since_save.append(applied.new_ticket)
            elif known is not None and applied.changed and known.ticket_id not in originals:
                originals[known.ticket_id] = known
        self.n_applied_ += changed
        if not self.defer_clustering:
            self.cluster_pending()
        return changed

    def cluster_pending(self, limit: int | None = None) -> int:
        """Hand up to ``limit`` queued new tickets (all by default) to the engine, oldest
        first; return how many.

        Safe to run in another thread while `apply_many` queues more: only the head of
        the queue is read and removed, and appending to a list is atomic.
        """
        batch = self.unclustered_[: len(self.unclustered_) if limit is None else limit]
        if batch:
            self.engine_.learn_many(batch)
            del self.unclustered_[: len(batch)]
        return len(batch)

    @property
    def tickets_(self) -> dict[str, TicketRecord]:
        """Tickets by id (masked records)."""
        return self.book_.tickets

    @property
    def defects_(self) -> dict[str, DefectRecord]:
        """Jira issues by key."""
        return self.book_.defects

    @property
    def releases_(self) -> dict[str, ReleaseRecord]:
        """Jira versions by id."""
        return self.book_.releases

    # -- people's decisions ----------------------------------------------------------

    def decide_link(
        self,
        cluster_id: str,
        defect_key: str,
        decision: Literal["confirmed", "rejected"],
        at: datetime,
    ) -> None:
        """Record a person's confirmation or rejection of a link; it wins over scoring."""
        self.link_decisions_.append(
            LinkDecision(cluster_id=cluster_id, defect_key=defect_key, decision=decision, at=at)
        )

    # -- derived views: links, graph, register ---------------------------------------
    # Derived from the state on demand, never stored: a rebuild from a saved state gives
    # the very same links, graph and register.

    def _cluster_facts(self) -> tuple[list[ClusterSummary], dict[str, str], dict[str, str]]:
        """Cluster summaries, problem memberships (noise left out) and titles, from one
        pass over the engine: each derived view needs all three."""
        summaries = self.engine_.clusters()
        noise = {summary.id for summary in summaries if summary.is_noise}
        memberships = {
            ticket: cluster
            for ticket, cluster in self.engine_.memberships().items()
            if cluster not in noise
        }
        titles = {summary.id: summary.title for summary in summaries}
        return summaries, memberships, titles

    def problem_memberships(self) -> dict[str, str]:
        """Ticket id to cluster id, for problem clusters only (noise left out)."""
        return self._cluster_facts()[1]

    def cluster_titles(self) -> dict[str, str]:
        """Cluster id to its title (a person's, else the engine's)."""
        return self._cluster_facts()[2]

    def links(self) -> list[Link]:
        """Cluster-to-defect links with their evidence, people's decisions applied."""
        _, memberships, titles = self._cluster_facts()
        return self._links(memberships, titles)

    def _links(self, memberships: dict[str, str], titles: dict[str, str]) -> list[Link]:
        return propose_links(
            self.tickets_,
            self.defects_,
            memberships,
            cluster_titles=titles,
            decisions=self.link_decisions_,
        )

    def graph(self, *, include_tickets: bool = False) -> nx.MultiDiGraph:
        """The problem graph: clusters, defects, releases, customers, components, products."""
        _, memberships, titles = self._cluster_facts()
        links = self._links(memberships, titles)
        # Clusters linked to one defect are one problem for the spike test: the engine may
        # split a root cause, and each piece alone can look too small or too late.
        groups = problem_groups(memberships, links)
        return build_graph(
            self.tickets_,
            self.defects_,
            self.releases_,
            memberships,
            links,
            cluster_titles=titles,
            spikes=find_spikes(self.tickets_, groups, self.releases_),
            include_tickets=include_tickets,
        )

    def similar(
        self, record: TicketRecord, k: int = 10, n_candidates: int = 50
    ) -> list[tuple[str, float]]:
        """The ``k`` past tickets most like ``record``, best first, as ``(ticket_id, score)``.

        The engine's similar-tickets index proposes ``n_candidates``; `Reranker` orders
        them by pairwise evidence (summary and description overlap, shared error
        signatures and identifiers, time apart, same component or version, how near
        the top of each candidate's own neighbours this ticket stands, and with
        `semantic` set, how close the tickets' sentence embeddings are). Scores order
        the candidates of one query; they are not probabilities. The ticket itself is
        never returned.
        """
        tickets = self.tickets_
        proposed = self.engine_.similar(record, k=n_candidates + 1)
        kept = [
            (tickets[ticket_id], score)
            for ticket_id, score in proposed
            if ticket_id != record.ticket_id and ticket_id in tickets
        ][:n_candidates]
        if not kept:
            return []
        candidates = [candidate for candidate, _ in kept]
        index = self.engine_.similar_index_
        back_ranks = None
        if index is not None:
            back_ranks = index.neighbour_ranks(
                candidates,
                [score for _, score in kept],
                exclude=record.ticket_id,
                cap=BACK_RANK_CAP,
            )
        cosines = None if self.semantic is None else self.semantic.similarity(record, candidates)
        return self._updated_reranker().rerank(
            record, candidates, k=k, back_ranks=back_ranks, semantic=cosines
        )

    def duplicates(self) -> DuplicateGrouper:
        """Duplicate groups of the clustered tickets, caught up (``.groups()``:
        ``ticket_id -> group id``, ``.links_``: the earlier ticket each one joined).

        Narrower than problem clusters: tickets that report the same thing. Each ticket,
        in the order the engine clustered it, joins the group of the best of its nearest
        earlier tickets when the ``duplicate`` model says so
        (`problems.cluster.duplicates.learn_from_index`, the procedure ``bench/quality.py``
        measures); a group id is its first ticket's id and never changes. Only tickets in
        a group of two or more are listed. Derived from the engine's similar-tickets index
        and the book like links and the graph, so not in snapshots; caught up on demand.
        Each new ticket costs a few ms plus time that grows with the index (its
        candidates' neighbour ranks); with `semantic` set, the groups are formed again
        with the ``duplicate_semantic`` model, each ticket encoded once (about 14 a second
        on two cores).
        """
        index = self.engine_.similar_index_
        semantic = self.semantic is not None
        if index is None:
            return DuplicateGrouper(purpose=model_name("duplicate", True, semantic))
        ids = index.ticket_ids_
        if self._duplicates is not None:
            decided = self._duplicates[0].group_of_
            last = next(reversed(decided), None)
            # The index only ever appends; if it was rebuilt in another order, start over.
            if (
                len(decided) > len(ids)
                or (last is not None and ids[len(decided) - 1] != last)
                or self._duplicates[2] != semantic
            ):
                self._duplicates = None
        if self._duplicates is None:
            grouper = DuplicateGrouper(purpose=model_name("duplicate", True, semantic))
            self._duplicates = (grouper, Reranker(), semantic)
        grouper, reranker, _ = self._duplicates
        tickets = self.tickets_
        learn_from_index(
            grouper,
            index,
            [tickets[ticket_id] for ticket_id in ids],
            reranker,
            embeddings=self.semantic,
        )
        return grouper

    def _updated_reranker(self) -> Reranker:
        """The re-ranker, its word frequencies caught up with every ticket of the book.

        Derived from the tickets like links and the graph, so it is not in snapshots;
        tickets are only ever added to the book, so the newest ones are those past the
        count already learned.
        """
        if self._reranker is None:
            self._reranker = Reranker()
        reranker = self._reranker
        tickets = self.tickets_
        if reranker.n_tickets_ < len(tickets):
            reranker.learn_many(itertools.islice(tickets.values(), reranker.n_tickets_, None))
        return reranker

    def register(self, week: str | None = None, *, links: list[Link] | None = None) -> Register:
        """The register of an ISO week (default: the latest week with a ticket).

        ``links`` may be passed when building many weeks, so they are computed once.
        """
        week = week or latest_week(self.tickets_) or week_of(datetime.now().astimezone())
        summaries, memberships, titles = self._cluster_facts()
        clusters = {
            summary.id: ClusterInfo(
                summary.id,
                title=summary.title,
                terms=summary.terms,
                representative_subject=summary.representative_subject,
                is_noise=summary.is_noise,
                components=summary.components,
                versions=summary.versions,
            )
            for summary in summaries
        }
        best: dict[str, LinkInfo] = {}
        # A person's confirmation outranks any score.
        ranked = sorted(
            self._links(memberships, titles) if links is None else links,
            key=lambda item: (item.status != "confirmed", -item.confidence),
        )
        for link in ranked:
            if link.status == "rejected" or link.cluster_id in best:
                continue
            best[link.cluster_id] = LinkInfo(
                link.defect_key,
                confidence=link.confidence,
                status=link.status,
                evidence_summary=_evidence_summary(link),
            )
        return build_register(
            self.tickets_,
            self.defects_,
            self.releases_,
            self.engine_.memberships(),
            clusters,
            best,
            week,
        )

    def write_register(self, out: Path, week: str | None = None) -> Register:
        """Write the register of a week to ``out/register-WEEK.{md,csv,parquet,html,json}``."""
        register = self.register(week)
        out.mkdir(parents=True, exist_ok=True)
        for fmt in REGISTER_FORMATS:
            render(register, fmt, out / f"register-{register.week}.{fmt}")
        return register

    # -- state -----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts for metrics and progress lines."""
        clusters = self.engine_.clusters()
        return {
            "events_applied": self.n_applied_,
            "tickets": len(self.tickets_),
            "defects": len(self.defects_),
            "releases": len(self.releases_),
            "clusters": sum(1 for cluster in clusters if not cluster.is_noise),
            "unclustered": len(self.unclustered_),
        }

    def save(self) -> bytes:
        """The whole state as versioned JSON bytes (same state, same bytes).

        Also starts a new delta: the next `save_delta` holds what changes after this.
        """
        return bytes(self.encode_snapshot(self.snapshot_view()))

    def snapshot_view(self) -> dict[str, Any]:
        """The fields of a full snapshot, taken cheaply so the worker can encode them in
        another thread (`encode_snapshot`) while events keep being applied.

        The containers that `apply_many` changes are copied (shallow: records are frozen);
        the engine is referenced, not copied, so the caller must keep `cluster_pending`
        from running until `encode_snapshot` returns. Also starts a new delta.
        """
        book = self.book_
        self._take_changes()
        return {
            "schema_version": SCHEMA_VERSION,
            "settings": self.settings,
            "tickets": list(book.tickets.values()),
            "defects": sorted(book.defects.values(), key=lambda record: record.key),
            "releases": sorted(book.releases.values(), key=lambda record: record.id),
            "deleted": dict(sorted(book.deleted.items())),
            "jira_times": dict(sorted(book.jira_times.items())),
            "engine": self.engine_,
            "link_decisions": list(self.link_decisions_),
            "jira_synced_until": self.jira_synced_until_,
            "cursor": dict(sorted(self.cursor_.items())),
            "n_applied": self.n_applied_,
            "unclustered": list(self.unclustered_),
        }

    @staticmethod
    def encode_snapshot(view: dict[str, Any]) -> bytearray:
        """`snapshot_view` as the JSON of `_Snapshot` (the very bytes its
        ``model_dump_json`` gives), written in pieces of `_CHUNK` items into one buffer.

        Pieces, because one serializer call holds the GIL until it returns: encoding a
        million tickets at once would freeze every other thread (the worker's event loop)
        for the whole time. One buffer, because holding the text, its bytes and the
        pieces at once costs two to three times the snapshot's size in memory.
        """
        return _encode_fields(_Snapshot, view)

    def save_delta(self) -> bytes:
        """What changed since the last `save` or `save_delta`, as versioned JSON bytes.

        Its size grows with the change, not with the state: changed records, the new
        tickets, the cursor. The engine's state is not in it: a restore re-learns the new
        tickets from the snapshot's engine, which gives the very same clusters.
        `Pipeline.load` of `chain_bytes(snapshot, [delta, ...])` restores this state.
        """
        return bytes(self.encode_delta(self.delta_view()))

    def delta_view(self) -> dict[str, Any]:
        """The fields of a delta (`save_delta`), taken so that `encode_delta` can run in
        another thread: after a long full snapshot the first delta holds everything
        applied meanwhile, too much to encode on the worker's event loop."""
        book = self.book_
        touched, learned, new = self._take_changes()
        keys: dict[str, list[str]] = {}
        for table, key in sorted(touched):
            keys.setdefault(table, []).append(key)
        return {
            "delta_version": DELTA_VERSION,
            # New tickets last, in arrival order: a restore then inserts them in the
            # same order as here, and the snapshot lists tickets in that order.
            "tickets": [book.tickets[key] for key in keys.get("tickets", []) if key not in new]
            + [book.tickets[record.ticket_id] for record in learned],
            "defects": {key: book.defects.get(key) for key in keys.get("defects", [])},
            "releases": {key: book.releases.get(key) for key in keys.get("releases", [])},
            "deleted": {key: book.deleted.get(key) for key in keys.get("deleted", [])},
            "jira_times": {key: book.jira_times.get(key) for key in keys.get("jira_times", [])},
            "learned": [
                record.ticket_id if book.tickets[record.ticket_id] is record else record
                for record in learned
            ],
            "link_decisions": list(self.link_decisions_),
            "jira_synced_until": self.jira_synced_until_,
            "cursor": dict(sorted(self.cursor_.items())),
            "n_applied": self.n_applied_,
        }

    @staticmethod
    def encode_delta(view: dict[str, Any]) -> bytearray:
        """`delta_view` as the JSON of `_Delta` (the bytes of its ``model_dump_json``),
        in pieces like `encode_snapshot`."""
        return _encode_fields(_Delta, view)

    def _take_changes(self) -> tuple[set[tuple[str, str]], list[TicketRecord], set[str]]:
        """What changed since the last save (and start tracking afresh): the book's
        touched entries, the new tickets in order and their ids. Older tickets closed
        again and Jira changes are also noted for the next base in parts."""
        touched = self.book_.take_touched()
        learned, self._learned_since_save = self._learned_since_save, []
        new = {record.ticket_id for record in learned}
        for table, key in touched:
            if table != "tickets":
                self._jira_dirty = True
            elif key not in new:
                self._dirty.add(key)
        return touched, learned, new

    def engine_lag(self) -> int:
        """Tickets the engine learned since the engine part of the last base in parts
        (all it learned when there is none)."""
        learned = len(self.book_.tickets) - len(self.unclustered_)
        return learned - (self._engine_at or 0)

    def engine_part_missing(self) -> bool:
        """Whether the next base in parts must hold the engine (none that landed does)."""
        return not self._has_parts_base or self._engine_at is None

    def parts_view(self, *, with_engine: bool = False) -> PartsView:
        """A base in parts: only what changed since the previous one, so its cost grows
        with the change, not with the state (see docs/scaling.md).

        Parts: ``tickets:<i>`` (`SEGMENT_TICKETS` tickets each, in arrival order: new
        tickets fill the tail, so only the tail and the segments of re-closed tickets
        are rewritten), ``jira`` (defects, releases, tombstones, webhook times; when one
        changed), ``originals`` (re-closed tickets as first added, when the engine part
        has not learned them) and ``engine`` (only ``with_engine``, or when no base in
        parts holds one yet: its state is a full copy, so it is written less often; a
        restore re-learns the tickets after it). The small fields go in the manifest.

        Taken cheaply on the caller's thread (lists of frozen records, the engine by
        reference: with ``with_engine`` the caller keeps `cluster_pending` from running
        until `encode_part` of the engine returned); also starts a new delta. The
        caller reports the outcome with `base_landed` or `base_failed`.
        """
        self._take_changes()
        book = self.book_
        tickets = book.tickets
        full = not self._has_parts_base
        if full:
            self._segment_tickets = SEGMENT_TICKETS
        size = self._segment_tickets
        with_engine = with_engine or full or self._engine_at is None
        count = len(tickets)
        base_count = 0 if full else self._base_count
        first = base_count // size if count > base_count else -(-count // size)
        segments = set(range(first, -(-count // size)))
        if self._dirty and not full:
            dirty = self._dirty
            for position, key in enumerate(itertools.islice(tickets, base_count)):
                if key in dirty:
                    segments.add(position // size)
        values = list(tickets.values()) if segments else []
        parts: list[tuple[str, Any]] = [
            (f"{_SEGMENT}{index}", ("tickets", values[index * size : (index + 1) * size]))
            for index in sorted(segments)
        ]
        if full or self._jira_dirty:
            jira = {
                "defects": sorted(book.defects.values(), key=lambda record: record.key),
                "releases": sorted(book.releases.values(), key=lambda record: record.id),
                "deleted": dict(sorted(book.deleted.items())),
                "jira_times": dict(sorted(book.jira_times.items())),
            }
            parts.append(("jira", ("jira", jira)))
        engine_at = count - len(self.unclustered_) if with_engine else self._engine_at
        parts.append(("originals", ("tickets", self._originals_after(engine_at or 0))))
        if with_engine:
            parts.append(("engine", ("engine", self.engine_)))
        view = PartsView(
            manifest={
                "checkpoint_version": PARTS_VERSION,
                "settings": self.settings,
                "cursor": dict(sorted(self.cursor_.items())),
                "n_applied": self.n_applied_,
                "link_decisions": list(self.link_decisions_),
                "jira_synced_until": self.jira_synced_until_,
                "n_tickets": count,
                "segment_tickets": size,
                "engine_at": engine_at,
            },
            parts=parts,
            full=full,
            with_engine=with_engine,
            dirty=self._dirty,
            jira_dirty=self._jira_dirty,
            base_count=self._base_count,
            engine_at=self._engine_at,
        )
        self._dirty, self._jira_dirty = set(), False
        self._base_count, self._engine_at = count, engine_at
        return view

    def _originals_after(self, position: int) -> list[TicketRecord]:
        """First-added records of the re-closed tickets from arrival ``position`` on."""
        if not self.originals_:
            return []
        later = set(itertools.islice(self.book_.tickets, position, None))
        return [record for key, record in self.originals_.items() if key in later]

    def base_landed(self, view: PartsView) -> None:
        """The base of ``view`` is the checkpoint now: forget what its engine part holds."""
        self._has_parts_base = True
        if view.with_engine and self.originals_:
            kept = self._originals_after(view.manifest["engine_at"] or 0)
            self.originals_ = {record.ticket_id: record for record in kept}

    def base_failed(self, view: PartsView, *, whole: bool = False) -> None:
        """The base of ``view`` was not written (or perhaps was: a lost reply): the next
        one must hold its changes too; ``whole``: the next one rewrites every part."""
        self._dirty |= view.dirty
        self._jira_dirty = self._jira_dirty or view.jira_dirty
        self._base_count, self._engine_at = view.base_count, view.engine_at
        if whole:
            self._has_parts_base = False

    @staticmethod
    def encode_part(part: Any) -> bytearray:
        """One part of a `PartsView` as JSON, in pieces like `encode_snapshot`."""
        kind, payload = part
        if kind == "jira":
            return _encode_fields(_JiraPart, payload)
        out = bytearray()
        if kind == "engine":
            _encode_any(payload.to_state(), out)
        else:
            _encode_typed(_adapter(list[TicketRecord]), payload, out)
        return out

    @staticmethod
    def encode_manifest(
        view: PartsView,
        parts: dict[str, list[str]],
        generation: int,
        previous: dict[str, Any] | None = None,
    ) -> bytes:
        """The manifest of ``view``, naming the keys of every part of the base.

        Without an engine part of its own, the base keeps the ``previous`` manifest's, and
        its position with it: that base may be newer than the last one this pipeline saw
        land (a write whose reply was lost), and the originals kept cover both.
        """
        fields = view.manifest
        if not view.with_engine and previous:
            fields = {**fields, "engine_at": previous.get("engine_at")}
        out = _encode_fields(_Manifest, fields)
        extra = json.dumps({"generation": generation, "parts": parts}, separators=(",", ":"))
        out[-1:] = b"," + extra[1:].encode()
        return bytes(out)

    @classmethod
    def load(cls, data: bytes, *, cluster: bool = True) -> Pipeline:
        """Restore a pipeline from `save` output, or from `chain_bytes` of a snapshot and
        the deltas written after it; fails clearly on another format.

        With ``cluster=False`` the tickets of the deltas (and any the snapshot had not
        clustered yet) stay queued for `cluster_pending` instead of being clustered now.
        """
        try:
            header = json.loads(data)
        except ValueError as error:
            raise SnapshotError(f"snapshot is not JSON: {error}") from None
        deltas: list[Any] = []
        chain = header.get("chain_version") if isinstance(header, dict) else None
        if chain not in (None, CHAIN_VERSION, PARTS_CHAIN_VERSION):
            raise SnapshotError(
                f"checkpoint chain_version {chain!r} is not {CHAIN_VERSION} or "
                f"{PARTS_CHAIN_VERSION}: rebuild the state by replaying the events"
            )
        if chain is not None:
            deltas = list(header.get("deltas") or [])
        try:
            changes = [_Delta.model_validate(delta) for delta in deltas]
        except ValidationError as error:
            raise SnapshotError(f"snapshot is invalid: {error}") from None
        for delta in changes:
            if delta.delta_version != DELTA_VERSION:
                raise SnapshotError(
                    f"delta_version {delta.delta_version!r} is not {DELTA_VERSION}: "
                    "rebuild the state by replaying the events"
                )
        if chain == PARTS_CHAIN_VERSION:
            pipeline = cls._from_parts(header.get("manifest"), header.get("parts"))
        else:
            pipeline = cls._from_snapshot(header.get("base") if chain else header)
        for delta in changes:
            pipeline._apply_delta(delta)
        if cluster:
            pipeline.cluster_pending()
        return pipeline

    @classmethod
    def _from_snapshot(cls, document: Any) -> Pipeline:
        """A full snapshot (schema version 1 or 2)."""
        version = document.get("schema_version") if isinstance(document, dict) else None
        if version not in (1, SCHEMA_VERSION):
            raise SnapshotError(
                f"snapshot schema_version {version!r} is not {SCHEMA_VERSION}: "
                "rebuild the state by replaying the events"
            )
        try:
            snapshot = _Snapshot.model_validate(document)
        except ValidationError as error:
            raise SnapshotError(f"snapshot is invalid: {error}") from None
        pipeline = cls(snapshot.settings)
        book = pipeline.book_
        book.tickets = {record.ticket_id: record for record in snapshot.tickets}
        book.defects = {record.key: record for record in snapshot.defects}
        book.releases = {record.id: record for record in snapshot.releases}
        book.deleted = dict(snapshot.deleted)
        book.jira_times = dict(snapshot.jira_times)
        pipeline.engine_ = ClusterEngine.from_state(snapshot.engine)
        pipeline.cursor_ = dict(snapshot.cursor)
        pipeline.link_decisions_ = list(snapshot.link_decisions)
        pipeline.jira_synced_until_ = snapshot.jira_synced_until
        pipeline.n_applied_ = snapshot.n_applied
        pipeline.unclustered_ = list(snapshot.unclustered)
        # Queued tickets closed again since: the queue holds them as first added.
        pipeline.originals_ = {
            record.ticket_id: record
            for record in snapshot.unclustered
            if book.tickets.get(record.ticket_id) != record
        }
        return pipeline

    @classmethod
    def _from_parts(cls, document: Any, parts: Any) -> Pipeline:
        """A base in parts: the manifest and its parts by name (`parts_view`)."""
        version = document.get("checkpoint_version") if isinstance(document, dict) else None
        if version != PARTS_VERSION or not isinstance(parts, dict):
            raise SnapshotError(
                f"base checkpoint_version {version!r} is not {PARTS_VERSION}: "
                "rebuild the state by replaying the events"
            )
        try:
            manifest = _Manifest.model_validate(document)
            size = manifest.segment_tickets
            records = _adapter(list[TicketRecord])
            segments = [
                records.validate_python(parts[f"{_SEGMENT}{index}"])
                for index in range(-(-manifest.n_tickets // size))
            ]
            jira = _JiraPart.model_validate(parts["jira"])
            originals = records.validate_python(parts["originals"])
            engine = parts["engine"] if manifest.engine_at is not None else None
        except KeyError as error:
            raise SnapshotError(f"base in parts misses part {error}") from None
        except ValidationError as error:
            raise SnapshotError(f"base in parts is invalid: {error}") from None
        pipeline = cls(manifest.settings)
        book = pipeline.book_
        book.tickets = {record.ticket_id: record for segment in segments for record in segment}
        if len(book.tickets) != manifest.n_tickets:
            raise SnapshotError(
                f"base in parts holds {len(book.tickets)} tickets, its manifest "
                f"{manifest.n_tickets}: rebuild the state by replaying the events"
            )
        book.defects = {record.key: record for record in jira.defects}
        book.releases = {record.id: record for record in jira.releases}
        book.deleted = dict(jira.deleted)
        book.jira_times = dict(jira.jira_times)
        if engine is not None:
            pipeline.engine_ = ClusterEngine.from_state(engine)
        pipeline.cursor_ = dict(manifest.cursor)
        pipeline.link_decisions_ = list(manifest.link_decisions)
        pipeline.jira_synced_until_ = manifest.jira_synced_until
        pipeline.n_applied_ = manifest.n_applied
        pipeline.originals_ = {record.ticket_id: record for record in originals}
        # The engine learned the first ``engine_at`` tickets; the rest are queued as
        # they were first added, as in the process that wrote the base.
        first = pipeline.originals_
        pipeline.unclustered_ = [
            first.get(key, record)
            for key, record in itertools.islice(book.tickets.items(), manifest.engine_at or 0, None)
        ]
        pipeline._has_parts_base = True
        pipeline._segment_tickets = size
        pipeline._base_count = manifest.n_tickets
        pipeline._engine_at = manifest.engine_at
        pipeline._jira_dirty = False
        return pipeline

    def _apply_delta(self, delta: _Delta) -> None:
        book = self.book_
        originals = self.originals_
        for record in delta.tickets:
            known = book.tickets.get(record.ticket_id)
            if known is not None:
                # Closed again: the next base rewrites its segment; the engine learns
                # the record as first added.
                self._dirty.add(record.ticket_id)
                originals.setdefault(record.ticket_id, known)
            book.tickets[record.ticket_id] = record
        for item in delta.learned:
            if isinstance(item, str):
                self.unclustered_.append(book.tickets[item])
            else:
                self.unclustered_.append(item)
                originals.setdefault(item.ticket_id, item)
        if delta.defects or delta.releases or delta.deleted or delta.jira_times:
            self._jira_dirty = True
        tables: list[tuple[dict[str, Any], dict[str, Any]]] = [
            (book.defects, delta.defects),
            (book.releases, delta.releases),
            (book.deleted, delta.deleted),
            (book.jira_times, delta.jira_times),
        ]
        for table, changes in tables:
            for key, value in changes.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
        self.link_decisions_ = list(delta.link_decisions)
        self.jira_synced_until_ = delta.jira_synced_until
        self.cursor_ = dict(delta.cursor)
        self.n_applied_ = delta.n_applied


def _evidence_summary(link: Link) -> str:
    """One line a triage meeting can read: which evidence ties the cluster to the defect."""
    evidence = link.evidence
    parts = []
    if evidence.explicit_count:
        parts.append(f"{evidence.explicit_count} tickets name it ({evidence.explicit_share:.0%})")
    parts.append(f"text cosine {evidence.cosine:.2f}, fuzzy {evidence.fuzzy:.0f}")
    if evidence.version_share is not None:
        parts.append(f"versions {evidence.version_share:.0%} in affected")
    if evidence.days_from_defect is not None:
        parts.append(f"defect {evidence.days_from_defect:+.0f} days from first ticket")
    if evidence.component_share is not None:
        parts.append(f"component match {evidence.component_share:.0%}")
    return "; ".join(parts)


_CHUNK = 1_000
"""Items serialized per call by `Pipeline.encode_snapshot`: a few milliseconds each."""

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(annotation)
    if adapter is None:
        adapter = _ADAPTERS[annotation] = TypeAdapter(annotation)
    return adapter


def _encode_fields(model: type[BaseModel], values: dict[str, Any]) -> bytearray:
    """``model(**values).model_dump_json()`` as bytes, without building the model, a
    field at a time; ``engine`` (a `ClusterEngine`) is encoded from its state here."""
    out = bytearray(b"{")
    for index, (name, field) in enumerate(model.model_fields.items()):
        out += b',"' if index else b'"'
        out += name.encode()
        out += b'":'
        value = values[name]
        if isinstance(value, ClusterEngine):
            _encode_any(value.to_state(), out)
        else:
            _encode_typed(_adapter(field.annotation), value, out)
    out += b"}"
    return out


def _encode_typed(adapter: TypeAdapter[Any], value: Any, out: bytearray) -> None:
    """A field of `_Snapshot` with its own serializer; long lists and dicts in slices
    (the same adapter serializes a slice: the element type is the same)."""
    if isinstance(value, list) and len(value) > _CHUNK:
        out += b"["
        for start in range(0, len(value), _CHUNK):
            if start:
                out += b","
            out += adapter.dump_json(value[start : start + _CHUNK])[1:-1]
        out += b"]"
    elif isinstance(value, dict) and len(value) > _CHUNK:
        items = list(value.items())
        out += b"{"
        for start in range(0, len(items), _CHUNK):
            if start:
                out += b","
            out += adapter.dump_json(dict(items[start : start + _CHUNK]))[1:-1]
        out += b"}"
    else:
        out += adapter.dump_json(value)


def _encode_any(value: Any, out: bytearray) -> None:
    """The engine's JSON-able state, as pydantic serializes ``Any`` (so the bytes are
    those of ``model_dump_json``), descending into containers longer than `_CHUNK`."""
    if isinstance(value, dict) and value:
        out += b"{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                out += b","
            out += to_json(key)
            out += b":"
            _encode_any(item, out)
        out += b"}"
    elif isinstance(value, list) and len(value) > _CHUNK:
        out += b"["
        for start in range(0, len(value), _CHUNK):
            if start:
                out += b","
            out += to_json(value[start : start + _CHUNK])[1:-1]
        out += b"]"
    else:
        out += to_json(value)
