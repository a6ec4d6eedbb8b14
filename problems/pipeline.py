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

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from problems.book import RecordBook
from problems.cluster.engine import ClusterEngine
from problems.cluster.model import ClusterSummary
from problems.errors import SnapshotError
from problems.events import Event
from problems.graph import build_graph
from problems.linker import Link, LinkDecision, find_spikes, problem_groups, propose_links
from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register import ClusterInfo, LinkInfo, Register, build_register, render, week_of
from problems.register.render import FORMATS as REGISTER_FORMATS
from problems.register.snapshot import latest_week

__all__ = ["REGISTER_FORMATS", "SCHEMA_VERSION", "Pipeline", "PipelineSettings"]

SCHEMA_VERSION = 1


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

    # -- applying events -------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply one event; return whether the state changed."""
        return self.apply_many([event]) == 1

    def apply_many(self, events: Iterable[Event]) -> int:
        """Apply events in order; return how many changed the state.

        New tickets are handed to the clustering engine in one batch, in arrival order,
        which gives the same clusters as applying them one by one.
        """
        changed = 0
        new_tickets: list[TicketRecord] = []
        for event in events:
            applied = self.book_.apply(event)
            changed += applied.changed
            if applied.new_ticket is not None:
                new_tickets.append(applied.new_ticket)
        if new_tickets:
            self.engine_.learn_many(new_tickets)
        self.n_applied_ += changed
        return changed

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
        }

    def save(self) -> bytes:
        """The whole state as versioned JSON bytes (same state, same bytes)."""
        snapshot = _Snapshot(
            schema_version=SCHEMA_VERSION,
            settings=self.settings,
            tickets=list(self.tickets_.values()),
            defects=sorted(self.defects_.values(), key=lambda record: record.key),
            releases=sorted(self.releases_.values(), key=lambda record: record.id),
            deleted=dict(sorted(self.book_.deleted.items())),
            jira_times=dict(sorted(self.book_.jira_times.items())),
            engine=self.engine_.to_state(),
            link_decisions=list(self.link_decisions_),
            jira_synced_until=self.jira_synced_until_,
            cursor=dict(sorted(self.cursor_.items())),
            n_applied=self.n_applied_,
        )
        return snapshot.model_dump_json().encode()

    @classmethod
    def load(cls, data: bytes) -> Pipeline:
        """Restore a pipeline from `save` output; fails clearly on another format."""
        try:
            header = json.loads(data)
        except ValueError as error:
            raise SnapshotError(f"snapshot is not JSON: {error}") from None
        version = header.get("schema_version") if isinstance(header, dict) else None
        if version != SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot schema_version {version!r} is not {SCHEMA_VERSION}: "
                "rebuild the state by replaying the events"
            )
        try:
            snapshot = _Snapshot.model_validate(header)
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
        return pipeline


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
