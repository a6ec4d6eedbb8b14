"""Small builders of valid event payloads for tests; override any field by keyword."""

from __future__ import annotations

from typing import Any

__all__ = ["jira_issue_payload", "jira_version_payload", "ticket_payload"]


def ticket_payload(**overrides: Any) -> dict[str, Any]:
    """A valid ``ticket.closed`` payload."""
    payload: dict[str, Any] = {
        "event_type": "ticket.closed",
        "event_id": "evt-1",
        "ticket_id": "T-1",
        "opened_at": "2026-03-02T09:00:00Z",
        "closed_at": "2026-03-02T11:30:00Z",
        "subject": "Checkout fails with ERR_PAYMENT_DECLINED_3DS",
        "description": "Customer jane.doe@example.com sees the error from 10.1.2.3.",
        "customer": {"account_id": "acme", "name": "Acme", "tier": "enterprise", "arr": 120000},
        "product": "checkout",
        "component": "payments",
        "version": "4.2.1",
        "severity": "high",
        "channel": "email",
        "tags": ["payments"],
        "jira_keys": [],
        "reopen_count": 0,
        "handle_time_minutes": 35,
        "sla_breached": False,
        "csat": 2,
    }
    payload.update(overrides)
    return payload


def jira_issue_payload(
    key: str = "CHK-12", event: str = "jira:issue_created", **fields: Any
) -> dict[str, Any]:
    """A Jira issue webhook as Jira sends it (REST v2 field shapes)."""
    issue_fields: dict[str, Any] = {
        "summary": "3DS challenge declined for saved cards",
        "description": "ERR_PAYMENT_DECLINED_3DS when the card was saved before 4.2.",
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "issuetype": {"name": "Bug"},
        "priority": {"name": "Major"},
        "components": [{"name": "payments"}],
        "versions": [{"id": "101", "name": "4.2.1", "released": True}],
        "fixVersions": [],
        "labels": [],
        "created": "2026-03-03T10:00:00.000+0000",
        "updated": "2026-03-03T10:00:00.000+0000",
        "resolutiondate": None,
    }
    issue_fields.update(fields)
    return {
        "timestamp": 1772532000000,
        "webhookEvent": event,
        "issue_event_type_name": event.split(":")[1],
        "user": {"displayName": "someone"},
        "issue": {
            "id": "10012",
            "self": "https://jira.example/rest/api/2/issue/10012",
            "key": key,
            "fields": issue_fields,
        },
    }


def jira_version_payload(event: str = "jira:version_released", **version: Any) -> dict[str, Any]:
    """A Jira version webhook."""
    body: dict[str, Any] = {
        "self": "https://jira.example/rest/api/2/version/102",
        "id": "102",
        "name": "4.3.0",
        "description": "",
        "archived": False,
        "released": True,
        "releaseDate": "2026-03-16",
        "projectId": 10000,
    }
    body.update(version)
    return {"timestamp": 1773600000000, "webhookEvent": event, "version": body}
