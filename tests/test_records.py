"""Records keep masked text and merge a reopened ticket's closes into one ticket."""

from __future__ import annotations

from problems.events import JiraIssueEvent, JiraVersionEvent, TicketClosed, parse_event
from problems.records import defect_record, release_record, ticket_record, updated_ticket
from tests.builders import jira_issue_payload, jira_version_payload, ticket_payload


def _ticket(**overrides: object) -> TicketClosed:
    event = parse_event(ticket_payload(**overrides))
    assert isinstance(event, TicketClosed)
    return event


def test_ticket_record_masks_personal_data() -> None:
    record = ticket_record(
        _ticket(
            subject="Refund for bob@example.org",
            description="Call +44 20 7946 0958, token=abcd1234efgh, from 192.168.10.20",
            resolution_notes="Reset key sk_live_51HxyzABCDEF0123456789",
        )
    )
    kept = record.subject + record.text
    for secret in ("bob@example.org", "7946 0958", "abcd1234efgh", "192.168.10.20", "sk_live_51Hx"):
        assert secret not in kept
    assert "[email]" in record.subject
    assert "Reset key [token]" in record.text


def test_reclose_updates_the_same_ticket() -> None:
    first = ticket_record(_ticket(event_id="e1", csat=2, reopen_count=0, handle_time_minutes=30))
    again = updated_ticket(
        first,
        _ticket(
            event_id="e2",
            closed_at="2026-03-05T10:00:00Z",
            csat=4,
            reopen_count=1,
            handle_time_minutes=55,
            jira_keys=["CHK-12"],
            subject="a different subject after the reopen",
        ),
    )
    assert again.ticket_id == first.ticket_id
    assert again.event_ids == ("e1", "e2")
    assert again.close_count == 2
    assert again.reopen_count == 1
    assert again.csat == 4
    assert again.handle_time_minutes == 55
    assert again.jira_keys == ("CHK-12",)
    assert again.subject == first.subject  # the text that clustered it stays
    assert again.first_closed_at == first.first_closed_at
    assert again.closed_at > first.closed_at


def test_reclose_is_idempotent() -> None:
    first = ticket_record(_ticket(event_id="e1"))
    event = _ticket(event_id="e2", closed_at="2026-03-05T10:00:00Z")
    once = updated_ticket(first, event)
    assert updated_ticket(once, event) == once


def test_defect_record_reads_webhook_fields() -> None:
    event = parse_event(
        jira_issue_payload(
            fixVersions=[{"id": "7", "name": "4.3.0", "released": True}],
            resolutiondate="2026-03-10T08:00:00.000+0000",
        )
    )
    assert isinstance(event, JiraIssueEvent)
    record = defect_record(event.issue)
    assert record.key == "CHK-12"
    assert record.project == "CHK"
    assert record.status_category == "indeterminate"
    assert record.components == ("payments",)
    assert record.affected_versions == ("4.2.1",)
    assert record.fix_versions == ("4.3.0",)
    assert record.resolved_at is not None and record.resolved_at.day == 10


def test_release_record() -> None:
    event = parse_event(jira_version_payload())
    assert isinstance(event, JiraVersionEvent)
    record = release_record(event.version)
    assert (record.id, record.name, record.released) == ("102", "4.3.0", True)
    assert record.release_date is not None and record.release_date.isoformat() == "2026-03-16"
