"""The record book: tickets, defects and releases kept from events, idempotently.

This is the part of the state that needs no model: which tickets, defects and releases
exist, as masked records. `problems.pipeline.Pipeline` keeps one and feeds the tickets it
reports as new to the clustering engine; benchmarks and tools that need the records
without clustering use it alone, so every caller derives records the same way.

Rules: a ``ticket.closed`` whose ``event_id`` was applied changes nothing; a later close of
a known ticket updates it (never a second ticket). Jira webhooks are upserts where the
newest ``timestamp`` (then ``fields.updated``) wins; a deletion leaves a tombstone.

Examples
--------
>>> from problems.events import parse_event
>>> book = RecordBook()
>>> event = parse_event({"event_type": "ticket.closed", "event_id": "e1", "ticket_id": "T-1",
...     "opened_at": "2026-03-02T09:00:00Z", "closed_at": "2026-03-02T11:00:00Z",
...     "subject": "Export fails", "customer": {"account_id": "acme"}, "product": "billing"})
>>> book.apply(event).new_ticket is not None, book.apply(event).changed
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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

__all__ = ["Applied", "RecordBook"]


@dataclass(frozen=True, slots=True)
class Applied:
    """What one event did: whether it changed the book, and the ticket it first added."""

    changed: bool
    new_ticket: TicketRecord | None = None


class RecordBook:
    """Tickets, defects and releases by id, with the bookkeeping that makes replays safe."""

    def __init__(self) -> None:
        self.tickets: dict[str, TicketRecord] = {}
        self.defects: dict[str, DefectRecord] = {}
        self.releases: dict[str, ReleaseRecord] = {}
        self.deleted: dict[str, str] = {}
        self.jira_times: dict[str, int] = {}
        self.touched: set[tuple[str, str]] = set()
        """(table, key) of every entry changed since `take_touched`: what a delta
        checkpoint must carry. Tables: tickets, defects, releases, deleted, jira_times."""

    def take_touched(self) -> set[tuple[str, str]]:
        """The entries changed since the last call, and start counting afresh."""
        touched, self.touched = self.touched, set()
        return touched

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> RecordBook:
        """A book with every event applied in order."""
        book = cls()
        for event in events:
            book.apply(event)
        return book

    def apply(self, event: Event) -> Applied:
        """Apply one event."""
        if isinstance(event, TicketClosed):
            return self._apply_ticket(event)
        if isinstance(event, JiraIssueEvent):
            return Applied(self._apply_issue(event))
        return Applied(self._apply_version(event))

    def _apply_ticket(self, event: TicketClosed) -> Applied:
        known = self.tickets.get(event.ticket_id)
        if known is None:
            record = ticket_record(event)
            self.tickets[event.ticket_id] = record
            self.touched.add(("tickets", event.ticket_id))
            return Applied(True, record)
        if event.event_id in known.event_ids:
            return Applied(False)
        self.tickets[event.ticket_id] = updated_ticket(known, event)
        self.touched.add(("tickets", event.ticket_id))
        return Applied(True)

    def _is_stale(self, key: str, event: JiraIssueEvent | JiraVersionEvent) -> bool:
        """Webhooks may arrive twice or out of order; the newest one wins."""
        stamp = event.timestamp
        if stamp is None:
            return False
        # Equal stamps are not stale: a created and a released webhook may share a
        # millisecond, and re-applying an identical upsert changes nothing anyway.
        if stamp < self.jira_times.get(key, -1):
            return True
        self.jira_times[key] = stamp
        self.touched.add(("jira_times", key))
        return False

    def _apply_issue(self, event: JiraIssueEvent) -> bool:
        key = f"issue:{event.issue.key}"
        if self._is_stale(key, event):
            return False
        if event.webhookEvent == "jira:issue_deleted":
            self.deleted[key] = str(event.timestamp or "")
            self.touched.update((("deleted", key), ("defects", event.issue.key)))
            return self.defects.pop(event.issue.key, None) is not None
        record = defect_record(event.issue)
        known = self.defects.get(record.key)
        if known is not None and _older(record.updated, known.updated):
            return False
        if known == record:
            return False
        self.deleted.pop(key, None)
        self.defects[record.key] = record
        self.touched.update((("deleted", key), ("defects", record.key)))
        return True

    def _apply_version(self, event: JiraVersionEvent) -> bool:
        record = release_record(event.version)
        key = f"version:{record.id}"
        if self._is_stale(key, event):
            return False
        if event.webhookEvent == "jira:version_deleted":
            self.deleted[key] = str(event.timestamp or "")
            self.touched.update((("deleted", key), ("releases", record.id)))
            return self.releases.pop(record.id, None) is not None
        if self.releases.get(record.id) == record:
            return False
        self.deleted.pop(key, None)
        self.releases[record.id] = record
        self.touched.update((("deleted", key), ("releases", record.id)))
        return True


def _older(candidate: datetime | None, known: datetime | None) -> bool:
    return candidate is not None and known is not None and candidate < known
