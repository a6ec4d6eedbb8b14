"""A corpus of entries that must never stop the worker, and helpers to drive it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import redis

from problems import streams
from problems.events import event_kind, parse_event
from problems.pipeline import Pipeline
from problems.store import RedisStore, deltas_key
from tests.builders import jira_issue_payload, ticket_payload

__all__ = [
    "comparable",
    "differences",
    "done",
    "poison_corpus",
    "push",
    "reference",
    "reference_snapshot",
    "saved_cursor",
    "saved_state",
    "start_reference",
]


def _nested(depth: int) -> bytes:
    return b'{"event_type": "ticket.closed", "x": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


def poison_corpus() -> list[tuple[str, str, dict[bytes, bytes]]]:
    """(name, stream, entry fields) of entries that can never be applied."""
    good = ticket_payload(event_id="poison", ticket_id="P-1")
    wrong_types = dict(good, reopen_count="many", customer="acme")
    missing = {key: value for key, value in good.items() if key != "ticket_id"}
    huge = dict(good, description="x" * 10_000_000)
    unknown = dict(good, event_type="ticket.opened")
    tickets = streams.TICKETS_STREAM

    def data(payload: bytes) -> dict[bytes, bytes]:
        return {streams.PAYLOAD_FIELD.encode(): payload}

    return [
        ("invalid JSON", tickets, data(b'{"event_type": "ticket.closed", "event_id": ')),
        ("wrong types", tickets, data(json.dumps(wrong_types).encode())),
        ("missing required field", tickets, data(json.dumps(missing).encode())),
        ("10 MB description", tickets, data(json.dumps(huge).encode())),
        ("invalid UTF-8", tickets, data(b'\xff\xfe{"event_type": "ticket.closed"}\xc3\x28')),
        ("unknown event type", tickets, data(json.dumps(unknown).encode())),
        ("deeply nested JSON", tickets, data(_nested(100_000))),
        ("no data field", tickets, {b"payload": json.dumps(good).encode()}),
        ("event on the wrong stream", tickets, data(json.dumps(jira_issue_payload()).encode())),
    ]


def push(client: redis.Redis, events: Iterable[dict[str, Any]], chunk: int = 1_000) -> int:
    """XADD events to their streams in order, as the backfill does; return how many."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for payload in events:
        stream = streams.STREAM_OF_KIND[event_kind(parse_event(payload))]
        pipe.xadd(stream, {streams.PAYLOAD_FIELD: json.dumps(payload)})
        count += 1
        if count % chunk == 0:
            pipe.execute()
    pipe.execute()
    return count


def start_reference(events: Sequence[dict[str, Any]]) -> Callable[[], bytes]:
    """Start computing `reference` in a subprocess (same frozen code as the worker
    processes); call the result to wait for the snapshot bytes."""
    import subprocess
    import sys
    import tempfile

    from tests.conftest import code_dir

    folder = tempfile.mkdtemp()
    source = Path(folder) / "events.json"
    source.write_text(json.dumps(list(events)))
    script = (
        "import json, sys; from tests.poison import reference; "
        "events = json.loads(open(sys.argv[1]).read()); "
        "sys.stdout.buffer.write(reference(events).save())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(source)],
        cwd=code_dir(),
        env={**os.environ, "PYTHONPATH": str(code_dir())},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def wait() -> bytes:
        out, err = process.communicate(timeout=900)
        source.unlink()
        Path(folder).rmdir()
        if process.returncode:
            raise RuntimeError(err.decode(errors="replace")[-2000:])
        return out

    return wait


def reference_snapshot(events: Sequence[dict[str, Any]]) -> bytes:
    """`reference` computed by the same frozen code the worker processes run."""
    return start_reference(events)()


def reference(events: Sequence[dict[str, Any]]) -> Pipeline:
    """The state of one uninterrupted run: every event applied once, per-stream order."""
    pipeline = Pipeline()
    parsed = [parse_event(payload) for payload in events]
    for start in range(0, len(parsed), 1_000):
        pipeline.apply_many(parsed[start : start + 1_000])
    return pipeline


def saved_state(client: redis.Redis) -> bytes | None:
    """The worker's checkpoint: its last full snapshot and the deltas after it."""
    return RedisStore(client, streams.CHECKPOINT_KEY).load_state()


def saved_cursor(client: redis.Redis) -> dict[str, str]:
    """The cursor of the checkpoint (of its last delta if any), without loading the state."""
    last = client.lindex(deltas_key(streams.CHECKPOINT_KEY), -1)
    data = last if last is not None else client.get(streams.CHECKPOINT_KEY)
    return dict(json.loads(data)["cursor"]) if data is not None else {}


def comparable(snapshot: bytes) -> dict[str, Any]:
    """The state a checkpoint restores to (snapshot and deltas, every queued ticket
    clustered), as a document without the stream cursor (ids differ from run to run)."""
    document = json.loads(Pipeline.load(snapshot).save())
    document.pop("cursor", None)
    return document


def differences(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    """Top-level (and engine) keys where two comparable snapshots differ."""
    keys = [key for key in left if key != "engine" and left[key] != right.get(key)]
    engine_left, engine_right = left.get("engine", {}), right.get("engine", {})
    keys += [f"engine.{key}" for key in engine_left if engine_left[key] != engine_right.get(key)]
    return keys


def done(client: redis.Redis, group: str = streams.GROUP) -> bool:
    """Whether the checkpoint covers the last entry of every input stream, all acked."""
    cursor = saved_cursor(client)
    if not cursor:
        return False
    for stream in streams.INPUT_STREAMS:
        last = client.xrevrange(stream, count=1)
        if not last:
            continue
        if cursor.get(stream) != last[0][0].decode():
            return False
        if client.xpending(stream, group)["pending"]:
            return False
    return True


class ExplodingPipeline(Pipeline):
    """A pipeline with a bug: it raises on tickets whose subject says BOOM."""

    def apply_many(self, events: Iterable[Any]) -> int:
        events = list(events)
        if any("BOOM" in getattr(event, "subject", "") for event in events):
            self.tickets_["half-applied"] = None  # type: ignore[assignment]
            raise RuntimeError("bug")
        return super().apply_many(events)
