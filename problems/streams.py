"""Names on the event bus, and the small pure helpers that go with them.

Every stream, consumer group and Redis key `problems` uses is named here once, so the
worker, the backfill and the tests cannot disagree. Nothing here talks to Redis.

An input entry carries the event's JSON in one field, ``data`` (`PAYLOAD_FIELD`); the
bytes are kept exactly as produced, so a dead letter can hand back the original payload.

Examples
--------
>>> STREAM_OF_KIND["ticket"]
'tickets.closed'
>>> entry_id_key(b"1700000000000-2") < entry_id_key("1700000000000-10")
True
>>> newer("5-0", "4-9"), newer("4-9", "4-9")
(True, False)
>>> dead_letter_fields("not JSON", b"\\xff", "tickets.closed", "1-0", 1)["payload_encoding"]
'base64'
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

__all__ = [
    "CHECKPOINT_KEY",
    "CHECKPOINT_OWNER_KEY",
    "CONTROL_STREAM",
    "DLQ_STREAM",
    "GROUP",
    "INPUT_STREAMS",
    "JIRA_ISSUES_STREAM",
    "JIRA_VERSIONS_STREAM",
    "LEASE_KEY",
    "PAYLOAD_FIELD",
    "REGISTER_LATEST_KEY",
    "REGISTER_STREAM",
    "STREAM_OF_KIND",
    "TICKETS_STREAM",
    "dead_letter_fields",
    "entry_id_key",
    "entry_payload",
    "newer",
]

TICKETS_STREAM = "tickets.closed"
"""Closed (and re-closed) support tickets."""

JIRA_ISSUES_STREAM = "jira.issues"
"""Jira issue webhooks (created, updated, deleted)."""

JIRA_VERSIONS_STREAM = "jira.versions"
"""Jira version webhooks (releases)."""

INPUT_STREAMS = (TICKETS_STREAM, JIRA_ISSUES_STREAM, JIRA_VERSIONS_STREAM)
"""The streams the worker consumes, in a fixed order."""

STREAM_OF_KIND = {
    "ticket": TICKETS_STREAM,
    "jira_issue": JIRA_ISSUES_STREAM,
    "jira_version": JIRA_VERSIONS_STREAM,
}
"""Input stream of each `problems.events.event_kind`."""

REGISTER_STREAM = "problems.register"
"""Published register snapshots (weekly, daily movers, on demand)."""

DLQ_STREAM = "problems.dlq"
"""Dead letters: entries that can never be applied, with the reason and the payload."""

CONTROL_STREAM = "problems.control"
"""Commands to the running worker, e.g. ``{"command": "publish"}``."""

GROUP = "problems"
"""Consumer group of the worker on every input stream."""

CHECKPOINT_KEY = "problems:checkpoint"
"""The durable state: one pipeline snapshot, including the per-stream cursor."""

CHECKPOINT_OWNER_KEY = "problems:checkpoint:owner"
"""Lease token of the worker that wrote the checkpoint last (for fencing)."""

LEASE_KEY = "problems:leader"
"""The writer's lease (``SET NX PX``): whoever holds it is the only one applying events."""

REGISTER_LATEST_KEY = "problems:register:latest"
"""The latest published register, as JSON."""

PAYLOAD_FIELD = "data"
"""Field of an input entry that holds the event JSON."""


def entry_id_key(entry_id: str | bytes) -> tuple[int, int]:
    """Sort key of a stream entry id ``<ms>-<seq>``: ids compare as number pairs.

    >>> entry_id_key("1700000000000-3")
    (1700000000000, 3)
    """
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)


def newer(entry_id: str | bytes, than: str | bytes | None) -> bool:
    """Whether ``entry_id`` comes after ``than`` in its stream (anything is after None).

    >>> newer("2-0", None), newer("2-0", "10-0")
    (True, False)
    """
    return than is None or entry_id_key(entry_id) > entry_id_key(than)


def entry_payload(fields: Mapping[bytes, bytes] | Mapping[str, bytes]) -> bytes | None:
    """The event bytes of an input entry, or None when it has no ``data`` field.

    >>> entry_payload({b"data": b'{"a": 1}'})
    b'{"a": 1}'
    >>> entry_payload({b"other": b"x"}) is None
    True
    """
    for key, value in fields.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        if name == PAYLOAD_FIELD:
            return value if isinstance(value, bytes) else str(value).encode()
    return None


def dead_letter_fields(
    reason: str,
    payload: bytes | None,
    stream: str,
    entry_id: str,
    deliveries: int,
) -> dict[str, str]:
    """Fields of a dead-letter entry: why, where from, and the payload untouched.

    A payload that is valid UTF-8 is stored as text; any other bytes are stored as base64
    (``payload_encoding`` says which), so nothing of the original is lost.

    >>> fields = dead_letter_fields("boom", b'{"x": 1}', "jira.issues", "7-0", 2)
    >>> fields["payload"], fields["payload_encoding"], fields["source_id"]
    ('{"x": 1}', 'utf-8', '7-0')
    """
    raw = payload or b""
    try:
        text, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {
        "reason": reason,
        "source_stream": stream,
        "source_id": entry_id,
        "deliveries": str(deliveries),
        "payload": text,
        "payload_encoding": encoding,
        "payload_bytes": str(len(raw)),
        "has_payload": json.dumps(payload is not None),
    }
