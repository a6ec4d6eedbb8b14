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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from problems.cluster.engine import ClusterEngine
from problems.errors import SnapshotError
from problems.events import Event, JiraIssueEvent, JiraVersionEvent, TicketClosed
from problems.records import (
    DefectRecord,
    ReleaseRecord,
    TicketRecord,
    defect_record,
    release_record,
    ticket_record,
    updated_ticket,
)

__all__ = ["SCHEMA_VERSION", "Pipeline", "PipelineSettings"]

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
        self.tickets_: dict[str, TicketRecord] = {}
        self.defects_: dict[str, DefectRecord] = {}
        self.releases_: dict[str, ReleaseRecord] = {}
        self.deleted_: dict[str, str] = {}
        self.jira_times_: dict[str, int] = {}
        self.cursor_: dict[str, str] = {}
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
            if isinstance(event, TicketClosed):
                record = self._apply_ticket(event)
                if record is not None:
                    changed += 1
                    if record.close_count == 1:
                        new_tickets.append(record)
            elif isinstance(event, JiraIssueEvent):
                changed += self._apply_issue(event)
            elif isinstance(event, JiraVersionEvent):
                changed += self._apply_version(event)
        if new_tickets:
            self.engine_.learn_many(new_tickets)
        self.n_applied_ += changed
        return changed

    def _apply_ticket(self, event: TicketClosed) -> TicketRecord | None:
        known = self.tickets_.get(event.ticket_id)
        if known is None:
            record = ticket_record(event)
        elif event.event_id in known.event_ids:
            return None
        else:
            record = updated_ticket(known, event)
        self.tickets_[event.ticket_id] = record
        return record

    def _is_stale(self, key: str, event: JiraIssueEvent | JiraVersionEvent) -> bool:
        """Webhooks may arrive twice or out of order; the newest one wins."""
        stamp = event.timestamp
        if stamp is None:
            return False
        # Equal stamps are not stale: a created and a released webhook may share a
        # millisecond, and re-applying an identical upsert changes nothing anyway.
        if stamp < self.jira_times_.get(key, -1):
            return True
        self.jira_times_[key] = stamp
        return False

    def _apply_issue(self, event: JiraIssueEvent) -> int:
        key = f"issue:{event.issue.key}"
        if self._is_stale(key, event):
            return 0
        if event.webhookEvent == "jira:issue_deleted":
            self.deleted_[key] = str(event.timestamp or "")
            return int(self.defects_.pop(event.issue.key, None) is not None)
        record = defect_record(event.issue)
        known = self.defects_.get(record.key)
        if known is not None and _older(record.updated, known.updated):
            return 0
        if known == record:
            return 0
        self.deleted_.pop(key, None)
        self.defects_[record.key] = record
        return 1

    def _apply_version(self, event: JiraVersionEvent) -> int:
        record = release_record(event.version)
        key = f"version:{record.id}"
        if self._is_stale(key, event):
            return 0
        if event.webhookEvent == "jira:version_deleted":
            self.deleted_[key] = str(event.timestamp or "")
            return int(self.releases_.pop(record.id, None) is not None)
        if self.releases_.get(record.id) == record:
            return 0
        self.deleted_.pop(key, None)
        self.releases_[record.id] = record
        return 1

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
            deleted=dict(sorted(self.deleted_.items())),
            jira_times=dict(sorted(self.jira_times_.items())),
            engine=self.engine_.to_state(),
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
        pipeline.tickets_ = {record.ticket_id: record for record in snapshot.tickets}
        pipeline.defects_ = {record.key: record for record in snapshot.defects}
        pipeline.releases_ = {record.id: record for record in snapshot.releases}
        pipeline.deleted_ = dict(snapshot.deleted)
        pipeline.jira_times_ = dict(snapshot.jira_times)
        pipeline.engine_ = ClusterEngine.from_state(snapshot.engine)
        pipeline.cursor_ = dict(snapshot.cursor)
        pipeline.n_applied_ = snapshot.n_applied
        return pipeline


def _older(candidate: datetime | None, known: datetime | None) -> bool:
    return candidate is not None and known is not None and candidate < known
