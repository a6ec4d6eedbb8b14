"""Domain records: what `problems` keeps of each event, masked, in a JSON-friendly shape.

Events (`problems.events`) are what arrives; records are what is kept. Every text field of
a record has been through `problems.text.clean_ticket_text` (quoted replies dropped,
personal data masked), so no later stage can leak what the customer wrote about
themselves. Records are the common currency of the later stages: clustering reads
`TicketRecord`, the linker reads `DefectRecord` and `ReleaseRecord`, the register reads
all three.

Examples
--------
>>> from problems.events import parse_event
>>> event = parse_event({"event_type": "ticket.closed", "event_id": "e1", "ticket_id": "T-1",
...     "opened_at": "2026-03-02T09:00:00Z", "closed_at": "2026-03-02T11:00:00Z",
...     "subject": "Export fails for jane@example.com", "customer": {"account_id": "acme"},
...     "product": "billing"})
>>> ticket_record(event).subject
'Export fails for [email]'
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from problems.events import JiraIssue, JiraVersion, TicketClosed
from problems.text import clean_ticket_text

__all__ = [
    "MAX_KEPT_TEXT_CHARS",
    "DefectRecord",
    "ReleaseRecord",
    "TicketRecord",
    "defect_record",
    "release_record",
    "ticket_record",
    "updated_ticket",
]

MAX_KEPT_TEXT_CHARS = 4_000
"""How much of a ticket's or defect's body is kept: the first lines say what matters, and
a bounded record keeps a million-ticket state in memory."""


class TicketRecord(BaseModel):
    """One support ticket as kept in state (masked text, latest close)."""

    model_config = ConfigDict(frozen=True)

    ticket_id: str
    event_ids: tuple[str, ...] = Field(description="ids of the close events applied, in order")
    opened_at: datetime
    first_closed_at: datetime
    closed_at: datetime
    subject: str
    text: str = Field(description="description, resolution notes and public comments, masked")
    customer_id: str
    customer_name: str | None = None
    tier: str = "pro"
    arr: float = 0.0
    product: str
    component: str | None = None
    version: str | None = None
    severity: str = "medium"
    channel: str = "web"
    tags: tuple[str, ...] = ()
    jira_keys: tuple[str, ...] = ()
    reopen_count: int = 0
    close_count: int = 1
    handle_time_minutes: float = 0.0
    sla_breached: bool = False
    csat: int | None = None


class DefectRecord(BaseModel):
    """A Jira issue (usually a bug) as kept in state."""

    model_config = ConfigDict(frozen=True)

    key: str
    project: str
    summary: str
    description: str = ""
    issue_type: str | None = None
    status: str | None = None
    status_category: str | None = None
    priority: str | None = None
    resolution: str | None = None
    components: tuple[str, ...] = ()
    affected_versions: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    created: datetime
    updated: datetime | None = None
    resolved_at: datetime | None = None


class ReleaseRecord(BaseModel):
    """A Jira project version: a release, shipped or planned."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    project_id: str = ""
    release_date: date | None = None
    released: bool = False
    archived: bool = False


def _ticket_text(event: TicketClosed) -> str:
    parts = [event.description, event.resolution_notes or "", *event.public_comments]
    text = "\n".join(part for part in parts if part)
    return clean_ticket_text(text[: MAX_KEPT_TEXT_CHARS * 2])[:MAX_KEPT_TEXT_CHARS]


def ticket_record(event: TicketClosed) -> TicketRecord:
    """The record of a ticket's first close."""
    customer = event.customer
    return TicketRecord(
        ticket_id=event.ticket_id,
        event_ids=(event.event_id,),
        opened_at=event.opened_at,
        first_closed_at=event.closed_at,
        closed_at=event.closed_at,
        subject=clean_ticket_text(event.subject),
        text=_ticket_text(event),
        customer_id=customer.account_id,
        customer_name=clean_ticket_text(customer.name) if customer.name else None,
        tier=customer.tier,
        arr=customer.arr,
        product=event.product,
        component=event.component,
        version=event.version,
        severity=event.severity,
        channel=event.channel,
        tags=tuple(event.tags),
        jira_keys=tuple(event.jira_keys),
        reopen_count=event.reopen_count,
        handle_time_minutes=event.handle_time_minutes,
        sla_breached=event.sla_breached,
        csat=event.csat,
    )


def updated_ticket(record: TicketRecord, event: TicketClosed) -> TicketRecord:
    """The record after another close of the same ticket (a close after a reopen).

    The text and first close stay as they were, so the ticket keeps its cluster; what a
    reopen changes (effort, satisfaction, linked defects, latest close) is updated. An
    event already applied returns the record unchanged.
    """
    if event.event_id in record.event_ids:
        return record
    newer = event.closed_at >= record.closed_at
    latest = event if newer else None
    return record.model_copy(
        update={
            "event_ids": (*record.event_ids, event.event_id),
            "close_count": record.close_count + 1,
            "closed_at": max(record.closed_at, event.closed_at),
            "jira_keys": tuple(dict.fromkeys((*record.jira_keys, *event.jira_keys))),
            "tags": tuple(dict.fromkeys((*record.tags, *event.tags))),
            "reopen_count": max(record.reopen_count, event.reopen_count),
            "handle_time_minutes": max(record.handle_time_minutes, event.handle_time_minutes),
            "sla_breached": record.sla_breached or event.sla_breached,
            "csat": latest.csat if latest and latest.csat is not None else record.csat,
            "severity": latest.severity if latest else record.severity,
        }
    )


def _names(versions: list[JiraVersion]) -> tuple[str, ...]:
    return tuple(version.name for version in versions)


def defect_record(issue: JiraIssue) -> DefectRecord:
    """The record of a Jira issue, from a webhook or from the REST API (same shape)."""
    fields = issue.fields
    project = issue.key.rsplit("-", 1)[0]
    description = clean_ticket_text((fields.description or "")[: MAX_KEPT_TEXT_CHARS * 2])
    return DefectRecord(
        key=issue.key,
        project=project,
        summary=clean_ticket_text(fields.summary),
        description=description[:MAX_KEPT_TEXT_CHARS],
        issue_type=fields.issuetype.name if fields.issuetype else None,
        status=fields.status.name if fields.status else None,
        status_category=_status_category(issue),
        priority=fields.priority.name if fields.priority else None,
        resolution=fields.resolution.name if fields.resolution else None,
        components=tuple(component.name for component in fields.components),
        affected_versions=_names(fields.versions),
        fix_versions=_names(fields.fixVersions),
        labels=tuple(fields.labels),
        created=fields.created,
        updated=fields.updated,
        resolved_at=fields.resolutiondate,
    )


def _status_category(issue: JiraIssue) -> str | None:
    status = issue.fields.status
    category = status.statusCategory if status else None
    key = category.get("key") if category else None
    return key if isinstance(key, str) else None


def release_record(version: JiraVersion) -> ReleaseRecord:
    """The record of a Jira version."""
    return ReleaseRecord(
        id=version.id or version.name,
        name=version.name,
        project_id=version.projectId,
        release_date=version.releaseDate,
        released=version.released,
        archived=version.archived,
    )
