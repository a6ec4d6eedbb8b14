"""Push historical events from JSONL files onto the input streams, pipelined.

Each line is parsed once to learn its kind (`problems.events.event_kind`) and so its
stream; the original bytes are what is written (field ``data``), so the worker sees
exactly what the file held. Lines that do not parse are counted and skipped, never sent:
the files are ours to fix, unlike live traffic. A connection is passed in (redis-py,
synchronous); this module never opens one from settings.

Examples
--------
>>> class FakeRedis:
...     def __init__(self): self.entries = []
...     def pipeline(self, transaction=False): return self
...     def xadd(self, stream, fields, maxlen=None, approximate=True):
...         self.entries.append((stream, fields))
...     def execute(self): return []
>>> import tempfile, pathlib, json
>>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
>>> ticket = {"event_type": "ticket.closed", "event_id": "e1", "ticket_id": "T-1",
...     "opened_at": "2026-03-02T09:00:00Z", "closed_at": "2026-03-02T11:00:00Z",
...     "subject": "Export fails", "customer": {"account_id": "acme"}, "product": "reporting"}
>>> _ = path.write_text(json.dumps(ticket) + "\\nnot json\\n")
>>> fake = FakeRedis()
>>> result = backfill(fake, [path], progress=False)
>>> result.sent, result.invalid, fake.entries[0][0]
(1, 1, 'tickets.closed')
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from problems.errors import InvalidEvent
from problems.events import event_kind, parse_event
from problems.files import count_lines, iter_lines
from problems.streams import CONTROL_STREAM, PAYLOAD_FIELD, STREAM_OF_KIND

__all__ = ["BackfillResult", "backfill", "request_publish"]


@dataclass
class BackfillResult:
    """What a backfill did: entries sent per stream, lines skipped and where."""

    sent: int = 0
    invalid: int = 0
    per_stream: Counter[str] = field(default_factory=Counter)
    invalid_lines: list[tuple[str, int, str]] = field(default_factory=list)


def backfill(
    client: Any,
    paths: Iterable[str | os.PathLike[str]],
    *,
    streams: Mapping[str, str] | None = None,
    pipeline_size: int = 1_000,
    maxlen: int | None = None,
    progress: bool = True,
    keep_invalid: int = 100,
) -> BackfillResult:
    """Send every event of the files to its input stream, in file order.

    Parameters
    ----------
    client
        A synchronous redis-py client (``redis.Redis.from_url(url)``).
    paths
        JSONL files (``.jsonl`` or ``.jsonl.gz``), read in the order given.
    streams
        Stream of each event kind; defaults to `problems.streams.STREAM_OF_KIND`.
    pipeline_size
        Entries per round trip.
    maxlen
        Optional approximate cap of each stream (``XADD MAXLEN ~``). Leave it None
        while a worker has not consumed the history: trimming drops unread entries.
    progress
        Show a rich progress bar on stderr.
    keep_invalid
        How many skipped lines to remember (path, line number, reason) for the report.

    Returns
    -------
    BackfillResult
    """
    targets = dict(STREAM_OF_KIND if streams is None else streams)
    names = list(paths)
    result = BackfillResult()
    pipe = client.pipeline(transaction=False)
    queued = 0

    bar: Any = None
    task: Any = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("[bold]backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        bar.start()
        task = bar.add_task("backfill", total=count_lines(names))
    try:
        for line in iter_lines(names):
            try:
                event = parse_event(line.raw)
            except InvalidEvent as error:
                result.invalid += 1
                if len(result.invalid_lines) < keep_invalid:
                    result.invalid_lines.append((line.path, line.number, str(error)[:300]))
                continue
            stream = targets[event_kind(event)]
            pipe.xadd(stream, {PAYLOAD_FIELD: line.raw}, maxlen=maxlen, approximate=True)
            result.per_stream[stream] += 1
            result.sent += 1
            queued += 1
            if queued >= pipeline_size:
                pipe.execute()
                queued = 0
                if bar is not None:
                    bar.update(task, completed=result.sent + result.invalid)
        if queued:
            pipe.execute()
    finally:
        if bar is not None:
            bar.stop()
    return result


def request_publish(client: Any, kind: str = "on_demand", week: str | None = None) -> str:
    """Ask the running worker to publish the register now; returns the control entry id.

    Every worker process reads the control stream; only the leader acts on it.
    """
    fields = {"command": "publish", "kind": kind}
    if week:
        fields["week"] = week
    entry_id = client.xadd(CONTROL_STREAM, fields, maxlen=1_000, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
