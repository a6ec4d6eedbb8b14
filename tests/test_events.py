"""The event contract: valid events of every type read, invalid ones name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from problems.errors import InvalidEvent
from problems.events import (
    JiraIssueEvent,
    JiraVersionEvent,
    TicketClosed,
    json_schemas,
    parse_event,
)
from tests.builders import jira_issue_payload, jira_version_payload, ticket_payload


def test_ticket_reads_with_all_fields() -> None:
    event = parse_event(json.dumps(ticket_payload()).encode())
    assert isinstance(event, TicketClosed)
    assert event.customer.tier == "enterprise"
    assert event.customer.arr == 120000
    assert event.closed_at.tzinfo is not None
    assert event.csat == 2


def test_ticket_keeps_unknown_fields() -> None:
    event = parse_event(ticket_payload(queue="tier-2", sentiment={"score": -0.4}))
    assert event.model_extra == {"queue": "tier-2", "sentiment": {"score": -0.4}}


def test_naive_times_are_utc() -> None:
    event = parse_event(ticket_payload(opened_at="2026-03-02T09:00:00"))
    assert isinstance(event, TicketClosed)
    assert event.opened_at.utcoffset() is not None
    assert event.opened_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ticket_id": ""}, "ticket_id"),
        ({"customer": {"account_id": "a", "tier": "platinum"}}, "customer.tier"),
        ({"customer": {"account_id": "a", "arr": -5}}, "customer.arr"),
        ({"severity": "urgent"}, "severity"),
        ({"csat": 9}, "csat"),
        ({"reopen_count": -1}, "reopen_count"),
        ({"jira_keys": ["not a key"]}, "jira_keys.0"),
        ({"opened_at": "yesterday"}, "opened_at"),
        ({"handle_time_minutes": "long"}, "handle_time_minutes"),
        ({"description": "x" * 200_001}, "description"),
    ],
)
def test_invalid_ticket_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(ticket_payload(**overrides))
    assert field in caught.value.fields
    assert field in str(caught.value)


def test_missing_required_fields_are_all_named() -> None:
    payload = ticket_payload()
    for name in ("ticket_id", "customer", "closed_at"):
        del payload[name]
    with pytest.raises(InvalidEvent) as caught:
        parse_event(payload)
    assert {"ticket_id", "customer", "closed_at"} <= set(caught.value.fields)


def test_closed_before_opened_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="closed_at is before opened_at"):
        parse_event(ticket_payload(closed_at="2026-03-01T00:00:00Z"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"event_type": "ticket.opened"}', "unknown event type"),
        (b'{"webhookEvent": "jira:sprint_started"}', "unknown event type"),
        (b'{"hello": 1}', "missing"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}", "nested"),
        (b'{"description": "' + b"x" * 1_100_000 + b'"}', "larger than"),
    ],
)
def test_unusable_payloads_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(raw)


def test_jira_issue_webhook_v2_reads() -> None:
    event = parse_event(jira_issue_payload())
    assert isinstance(event, JiraIssueEvent)
    assert event.issue.key == "CHK-12"
    assert event.issue.fields.status is not None
    assert event.issue.fields.status.statusCategory == {"key": "indeterminate"}
    assert event.issue.fields.versions[0].name == "4.2.1"
    assert event.issue.fields.created.year == 2026


def test_jira_issue_webhook_v3_adf_description_reads() -> None:
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Saved cards fail"}]},
            {"type": "codeBlock", "content": [{"type": "text", "text": "ERR_3DS"}]},
        ],
    }
    event = parse_event(jira_issue_payload(description=adf))
    assert isinstance(event, JiraIssueEvent)
    assert event.issue.fields.description == "Saved cards fail\nERR_3DS"


@pytest.mark.parametrize("kind", ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"])
def test_every_issue_webhook_reads(kind: str) -> None:
    assert isinstance(parse_event(jira_issue_payload(event=kind)), JiraIssueEvent)


@pytest.mark.parametrize(
    "kind",
    [f"jira:version_{verb}" for verb in ("created", "released", "updated", "deleted")],
)
def test_every_version_webhook_reads(kind: str) -> None:
    event = parse_event(jira_version_payload(event=kind))
    assert isinstance(event, JiraVersionEvent)
    assert event.version.projectId == "10000"


def test_invalid_jira_issue_names_the_field() -> None:
    payload = jira_issue_payload()
    del payload["issue"]["fields"]["summary"]
    payload["issue"]["key"] = "lowercase-1"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(payload)
    assert {"issue.fields.summary", "issue.key"} <= set(caught.value.fields)


def test_json_schemas_describe_every_event() -> None:
    schemas = json_schemas()
    assert set(schemas) == {
        "ticket.closed.schema.json",
        "jira.issue.schema.json",
        "jira.version.schema.json",
    }
    assert "ticket_id" in schemas["ticket.closed.schema.json"]["required"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_no_bytes_crash_the_parser(raw: bytes) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as error:
        assert error.fields
        assert all(field for field in error.fields)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([ticket_payload(), jira_issue_payload(), jira_version_payload()]),
    st.data(),
)
def test_mutated_events_read_or_name_a_field(base: dict[str, Any], data: st.DataObject) -> None:
    payload = json.loads(json.dumps(base))
    target = payload
    if payload.get("webhookEvent", "").startswith("jira:issue"):
        target = payload["issue"]["fields"]
    elif payload.get("webhookEvent", "").startswith("jira:version"):
        target = payload["version"]
    name = data.draw(st.sampled_from(sorted(target)))
    if data.draw(st.booleans()):
        target[name] = data.draw(json_values)
    else:
        del target[name]
    try:
        parse_event(json.dumps(payload))
    except InvalidEvent as error:
        assert error.fields
        assert all(isinstance(field, str) and field for field in error.fields)


def test_published_schema_files_are_current() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "schemas"
    for name, schema in json_schemas().items():
        assert json.loads((folder / name).read_text()) == schema, f"regenerate {name}"


def _outcome(raw: bytes, expect: str | None) -> tuple[str, Any]:
    try:
        event = parse_event(raw, expect=expect)
    except InvalidEvent as error:
        return "invalid", error.errors
    return type(event).__name__, event.model_dump(mode="json")


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-03-02T09:00:00Z", "jira:issue_created", "ticket.closed", "x-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    [
        "event_type",
        "webhookEvent",
        "ticket_id",
        "opened_at",
        "closed_at",
        "customer",
        "severity",
        "csat",
        "tags",
        "jira_keys",
        "timestamp",
        "issue",
        "version",
        "extra",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["ticket", "jira_issue", "jira_version"]),
    st.sampled_from(["ticket", "jira_issue", "jira_version"]),
    st.dictionaries(_FIELDS, _JSON_VALUES, max_size=3),
)
def test_expected_kind_only_makes_parsing_faster(
    built: str, expect: str, overrides: dict[str, Any]
) -> None:
    base = {
        "ticket": ticket_payload,
        "jira_issue": jira_issue_payload,
        "jira_version": jira_version_payload,
    }[built]()
    raw = json.dumps({**base, **overrides}).encode()
    assert _outcome(raw, expect) == _outcome(raw, None)
