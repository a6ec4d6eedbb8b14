"""The event contract: every event that enters `problems`, as pydantic models.

Three kinds of event arrive, on the bus or in JSONL files:

* ``ticket.closed``: a support ticket was closed (or closed again after a reopen, which
  updates the same ticket);
* Jira issue webhooks (``jira:issue_created`` / ``_updated`` / ``_deleted``);
* Jira version webhooks (``jira:version_created`` / ``_released`` / ``_updated`` /
  ``_deleted``).

`parse_event` is the single entry point: it takes raw bytes, text or a decoded mapping
and returns one of the models, or raises `InvalidEvent` naming each bad field.

Examples
--------
>>> event = parse_event(b'{"webhookEvent": "jira:version_released", '
...     b'"version": {"id": "10", "name": "2.4.0", "released": true, "projectId": 1}}')
>>> type(event).__name__, event.version.name, event.version.released
('JiraVersionEvent', '2.4.0', True)
>>> try:
...     parse_event({"event_type": "ticket.closed", "event_id": "e1"})
... except InvalidEvent as error:
...     "ticket_id" in error.fields
True
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from problems.errors import InvalidEvent

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "MAX_EVENT_BYTES",
    "Customer",
    "Event",
    "JiraIssue",
    "JiraIssueEvent",
    "JiraIssueFields",
    "JiraNamed",
    "JiraVersion",
    "JiraVersionEvent",
    "TicketClosed",
    "adf_to_text",
    "event_kind",
    "json_schemas",
    "parse_event",
]

MAX_EVENT_BYTES = 1_000_000
"""Payloads larger than this are rejected whole: no real ticket is a megabyte of text."""

MAX_DESCRIPTION_CHARS = 200_000
"""A description past this length is rejected rather than silently cut."""

MAX_NESTING = 64
"""Deeper JSON than this is rejected before it can exhaust the recursion limit."""

JIRA_KEY_PATTERN = r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$"

Tier = Literal["enterprise", "business", "pro", "free"]
Severity = Literal["critical", "high", "medium", "low"]


def _aware(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC; all times are kept in UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _jira_time(value: Any) -> Any:
    """Jira writes ``2007-04-30T21:09:36.000+0000``; Python wants ``+00:00``."""
    if isinstance(value, str) and re.search(r"[+-]\d{4}$", value):
        return value[:-2] + ":" + value[-2:]
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]
JiraDatetime = Annotated[datetime, BeforeValidator(_jira_time), AfterValidator(_aware)]
JiraKey = Annotated[str, Field(pattern=JIRA_KEY_PATTERN, max_length=64)]
ShortText = Annotated[str, Field(max_length=500)]


class Customer(BaseModel):
    """The account a ticket came from."""

    model_config = ConfigDict(extra="allow", frozen=True)

    account_id: Annotated[str, Field(min_length=1, max_length=200)]
    name: ShortText | None = None
    tier: Tier = "pro"
    arr: Annotated[float, Field(ge=0, description="annual recurring revenue")] = 0.0


class TicketClosed(BaseModel):
    """A support ticket was closed.

    A ticket closed again after a reopen carries the same ``ticket_id`` and a new
    ``event_id``: it updates that ticket, it is never a second ticket. Unknown extra
    fields are kept (``model_extra``), not rejected.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    event_type: Literal["ticket.closed"]
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    ticket_id: Annotated[str, Field(min_length=1, max_length=200)]
    opened_at: UtcDatetime
    closed_at: UtcDatetime
    subject: Annotated[str, Field(max_length=2_000)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    resolution_notes: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None = None
    public_comments: list[Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]] = Field(
        default_factory=list, max_length=200
    )
    customer: Customer
    product: Annotated[str, Field(min_length=1, max_length=200)]
    component: ShortText | None = None
    version: ShortText | None = None
    severity: Severity = "medium"
    channel: ShortText = "web"
    tags: list[ShortText] = Field(default_factory=list, max_length=100)
    jira_keys: list[JiraKey] = Field(default_factory=list, max_length=50)
    reopen_count: Annotated[int, Field(ge=0)] = 0
    handle_time_minutes: Annotated[float, Field(ge=0)] = 0.0
    sla_breached: bool = False
    csat: Annotated[int, Field(ge=1, le=5)] | None = None

    @model_validator(mode="after")
    def _closed_after_opened(self) -> TicketClosed:
        if self.closed_at < self.opened_at:
            raise ValueError("closed_at is before opened_at")
        return self


class JiraNamed(BaseModel):
    """A Jira object known by its name (status, issue type, priority, component)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    name: ShortText
    id: str | None = None
    statusCategory: dict[str, Any] | None = Field(default=None, description="statuses only")


class JiraVersion(BaseModel):
    """A Jira project version (a release), as REST v2 and the version webhooks give it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = ""
    name: ShortText
    releaseDate: date | None = None
    released: bool = False
    archived: bool = False
    projectId: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = ""


def adf_to_text(node: Any, depth: int = 0) -> str:
    """Flatten an Atlassian Document Format tree (Jira REST v3) to plain text.

    Block nodes end with a newline so paragraphs and list items stay apart.

    >>> adf_to_text({"type": "doc", "content": [{"type": "paragraph", "content": [
    ...     {"type": "text", "text": "NPE in "}, {"type": "text", "text": "Checkout"}]}]})
    'NPE in Checkout\\n'
    """
    if depth > MAX_NESTING:
        raise ValueError("document tree is nested too deeply")
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(adf_to_text(child, depth + 1) for child in node)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in {"mention", "emoji"}:
        return str(node.get("attrs", {}).get("text", ""))
    inner = "".join(adf_to_text(child, depth + 1) for child in node.get("content", []))
    block = kind in {"paragraph", "heading", "codeBlock", "listItem", "blockquote", "rule"}
    return (inner + "\n") if block else inner


def _description_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return adf_to_text(value).strip()
    return value


class JiraIssueFields(BaseModel):
    """The fields of a Jira issue that `problems` reads; other fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    summary: Annotated[str, Field(max_length=2_000)]
    description: Annotated[
        Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None,
        BeforeValidator(_description_text),
    ] = None
    status: JiraNamed | None = None
    issuetype: JiraNamed | None = None
    priority: JiraNamed | None = None
    resolution: JiraNamed | None = None
    components: list[JiraNamed] = Field(default_factory=list)
    versions: list[JiraVersion] = Field(default_factory=list)
    fixVersions: list[JiraVersion] = Field(default_factory=list)
    labels: list[ShortText] = Field(default_factory=list)
    created: JiraDatetime
    updated: JiraDatetime | None = None
    resolutiondate: JiraDatetime | None = None
    project: dict[str, Any] | None = None

    @field_validator("components", "versions", "fixVersions", "labels", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class JiraIssue(BaseModel):
    """A Jira issue as REST v2/v3 and the issue webhooks give it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = ""
    key: JiraKey
    fields: JiraIssueFields


class JiraIssueEvent(BaseModel):
    """A Jira issue webhook: ``jira:issue_created``, ``_updated`` or ``_deleted``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    webhookEvent: Literal["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
    timestamp: int | None = None
    issue: JiraIssue


class JiraVersionEvent(BaseModel):
    """A Jira version webhook: a release was created, released, updated or deleted."""

    model_config = ConfigDict(extra="allow", frozen=True)

    webhookEvent: Literal[
        "jira:version_created",
        "jira:version_released",
        "jira:version_updated",
        "jira:version_deleted",
    ]
    timestamp: int | None = None
    version: JiraVersion


Event = TicketClosed | JiraIssueEvent | JiraVersionEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "ticket": TypeAdapter(TicketClosed),
    "jira_issue": TypeAdapter(JiraIssueEvent),
    "jira_version": TypeAdapter(JiraVersionEvent),
}


def event_kind(event: Event) -> str:
    """The stream family of an event: ``ticket``, ``jira_issue`` or ``jira_version``."""
    if isinstance(event, TicketClosed):
        return "ticket"
    if isinstance(event, JiraIssueEvent):
        return "jira_issue"
    return "jira_version"


def _depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Nesting depth of decoded JSON, stopping early once past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def _brackets(raw: bytes | str) -> int:
    if isinstance(raw, bytes):
        return raw.count(b"{") + raw.count(b"[")
    return raw.count("{") + raw.count("[")


def _decode(raw: bytes | str) -> Any:
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent([("(payload)", f"larger than {MAX_EVENT_BYTES} bytes")])
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = f"not UTF-8: {error.reason} at byte {error.start}"
            raise InvalidEvent([("(payload)", reason)]) from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidEvent([("(payload)", "JSON nested too deeply")]) from None
    except ValueError as error:
        raise InvalidEvent([("(payload)", f"not JSON: {error}")]) from None


def _kind_of(payload: dict[str, Any]) -> str:
    hook = payload.get("webhookEvent")
    if isinstance(hook, str):
        if hook.startswith("jira:issue_"):
            return "jira_issue"
        if hook.startswith("jira:version_"):
            return "jira_version"
        raise InvalidEvent([("webhookEvent", f"unknown event type {hook[:80]!r}")])
    kind = payload.get("event_type")
    if kind == "ticket.closed":
        return "ticket"
    if kind is None:
        raise InvalidEvent([("event_type", "missing: expected 'ticket.closed' or a webhookEvent")])
    raise InvalidEvent([("event_type", f"unknown event type {str(kind)[:80]!r}")])


def _field_path(location: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in location if not str(part).startswith("function-")]
    return ".".join(parts) or "(event)"


def parse_event(raw: bytes | str | dict[str, Any], expect: str | None = None) -> Event:
    """Validate one event and return its model.

    Parameters
    ----------
    raw
        The event: JSON bytes or text, or a decoded mapping.
    expect
        The `event_kind` the caller expects (the kind its stream carries). It only makes
        parsing faster: the JSON is validated in one pass by pydantic-core, and anything
        that does not pass that way takes the full path below, so the result, and every
        error, is the same as without it.

    Raises
    ------
    InvalidEvent
        With a ``(field, reason)`` pair for each problem found.
    """
    if expect is not None and not isinstance(raw, dict):
        expected = _parse_expected(raw, expect)
        if expected is not None:
            return expected
    payload = raw if isinstance(raw, dict) else _decode(raw)
    if not isinstance(payload, dict):
        raise InvalidEvent([("(payload)", f"expected a JSON object, got {type(payload).__name__}")])
    # The count of opening brackets bounds the depth from above and costs a fraction of the
    # walk; only a payload with many brackets needs walking.
    may_be_deep = isinstance(raw, dict) or _brackets(raw) > MAX_NESTING
    if may_be_deep and _depth(payload) > MAX_NESTING:
        raise InvalidEvent([("(payload)", f"JSON nested deeper than {MAX_NESTING} levels")])
    kind = _kind_of(payload)
    try:
        event: Event = _ADAPTERS[kind].validate_python(payload)
    except ValidationError as error:
        raise InvalidEvent(
            [(_field_path(item["loc"]), item["msg"]) for item in error.errors()]
        ) from None
    return event


def _parse_expected(raw: bytes | str, expect: str) -> Event | None:
    """The event if ``raw`` is a valid event of kind ``expect``, else None (no verdict)."""
    # The full path's checks that one-pass validation does not make: size and nesting.
    if len(raw) > MAX_EVENT_BYTES or _brackets(raw) > MAX_NESTING:
        return None
    try:
        event: Event = _ADAPTERS[expect].validate_json(raw)
    except ValidationError:
        return None
    # The full path picks the kind from ``webhookEvent`` first; a ticket event carrying a
    # text ``webhookEvent`` (kept as an extra field) is not a ticket there.
    if isinstance(event, TicketClosed) and isinstance(
        (event.model_extra or {}).get("webhookEvent"), str
    ):
        return None
    return event


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each event, keyed by the file name it is published under."""
    return {
        "ticket.closed.schema.json": TicketClosed.model_json_schema(),
        "jira.issue.schema.json": JiraIssueEvent.model_json_schema(),
        "jira.version.schema.json": JiraVersionEvent.model_json_schema(),
    }
