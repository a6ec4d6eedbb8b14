"""The `problems` worker on Redis Streams (FastStream): nothing lost, nothing counted twice.

Run it with ``faststream run worker:app`` (add ``--host``/``--port`` for ``/health``,
``/metrics`` and ``/docs``) or ``python -m worker``. Settings come from the environment
(`WorkerSettings`: ``REDIS_URL`` and ``PROBLEMS_*``).

How it stays correct (docs/scaling.md and docs/operations.md say more):

* **One writer.** Clustering is order dependent, so exactly one process applies events:
  the holder of a lease key (``SET NX PX``, renewed). Other processes wait in startup as
  hot standbys and take over when the lease lapses. Every checkpoint write is fenced by
  the lease in one Lua script, so a paused ex-leader can never overwrite newer state.
* **Checkpoint, then ack.** The pipeline snapshot carries the last applied entry id of
  every input stream (its cursor) and is written with one atomic script. Entries are
  XACKed only after a checkpoint that contains their effect, so a ``kill -9`` at any
  moment leaves them pending, and the next leader replays everything after the cursor
  (``XRANGE``) in stream order. The pipeline is idempotent (event_id / ticket_id), so
  what was applied but not yet checkpointed is simply applied again.
* **No gaps.** Before a batch read from the group is applied, the worker checks that its
  first entry directly follows the cursor; if a dead or paused consumer holds entries in
  between, it reads the range with ``XRANGE`` instead, so events are always applied in
  stream order. A reclaim task takes over entries pending for other consumers
  (``XAUTOCLAIM`` after an idle time) and counts deliveries with ``XPENDING``; an entry
  delivered more than ``max_deliveries`` times without reaching a checkpoint (it kept
  killing the worker) is dead-lettered.
* **Bad input never stops it.** An entry that does not parse goes to the dead-letter
  stream at once, with the reason, its source stream and id and the original bytes. An
  event that makes the pipeline raise is isolated (state rebuilt from the checkpoint,
  events re-applied one by one) and dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
import redis.asyncio as aredis
from faststream import AckPolicy, Context
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.message import StreamMessage
from faststream.redis import RedisBroker, StreamSub
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis._parsers import Encoder
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.connection import PythonRespSerializer

from problems import streams
from problems.errors import InvalidEvent
from problems.events import Event, event_kind, parse_event
from problems.register.model import shift_week, week_of
from problems.store import BaseMissing, FencedRedisStore, LeaseLost

__all__ = [
    "Worker",
    "WorkerSettings",
    "app",
    "broker",
    "main",
    "settings",
    "worker",
]

log = logging.getLogger("problems.worker")

Entry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as redis-py returns it: id and fields."""

_PAYLOAD_KEY = streams.PAYLOAD_FIELD.encode()
# What a restarted or unreachable Redis raises: worth waiting out, not worth dying for.
_REDIS_AWAY = (redis.ConnectionError, redis.TimeoutError, OSError)


class WorkerSettings(BaseSettings):
    """Settings of the worker, from the environment (``PROBLEMS_*``, ``REDIS_URL``).

    Frozen: the worker reads them once at start.
    """

    # populate_by_name: ``WorkerSettings(redis_url=...)`` must not silently fall back to
    # the default URL (the alias alone would make it ignore the keyword).
    model_config = SettingsConfigDict(
        env_prefix="PROBLEMS_", frozen=True, extra="ignore", populate_by_name=True
    )

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "PROBLEMS_REDIS_URL"),
        description="redis:// or rediss:// URL, with user and password if needed",
    )
    tickets_stream: str = streams.TICKETS_STREAM
    jira_issues_stream: str = streams.JIRA_ISSUES_STREAM
    jira_versions_stream: str = streams.JIRA_VERSIONS_STREAM
    register_stream: str = streams.REGISTER_STREAM
    dlq_stream: str = streams.DLQ_STREAM
    control_stream: str = streams.CONTROL_STREAM
    checkpoint_key: str = streams.CHECKPOINT_KEY
    checkpoint_owner_key: str = streams.CHECKPOINT_OWNER_KEY
    lease_key: str = streams.LEASE_KEY
    register_latest_key: str = streams.REGISTER_LATEST_KEY
    group: str = streams.GROUP
    consumer: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="consumer name, unique per process",
    )
    batch_size: int = Field(default=1_000, ge=1, le=100_000)
    poll_ms: int = Field(default=500, ge=10, description="longest blocking read, in milliseconds")
    checkpoint_events: int = Field(default=20_000, ge=1, description="checkpoint after this many")
    checkpoint_seconds: float = Field(default=1.0, gt=0, description="or after this long")
    base_seconds: float = Field(
        default=300.0, gt=0, description="a full snapshot at least this often; deltas between"
    )
    base_events: int = Field(
        default=200_000, ge=1, description="or after this many entries since the last one"
    )
    base_idle_seconds: float = Field(
        default=2.0, gt=0, description="or once idle this long with everything clustered"
    )
    engine_events: int = Field(
        default=500_000,
        ge=1,
        description="a base holds the engine's state once it learned this many tickets "
        "since the last base that held it (and when idle): a restore re-learns the rest",
    )
    cluster_chunk: int = Field(
        default=500, ge=1, description="new tickets clustered per step, between batches"
    )
    cluster_during_backlog: bool = Field(
        default=False,
        description="cluster while a backlog is read in full batches (false: ingest first, "
        "clustering catches up as soon as reads come short)",
    )
    max_deliveries: int = Field(default=5, ge=1)
    reclaim_idle_ms: int = Field(default=30_000, ge=100)
    lease_ms: int = Field(default=10_000, ge=500)
    trim_inputs: bool = Field(default=False, description="XTRIM MINID inputs to the checkpoint")
    register_maxlen: int = Field(default=1_000, ge=1)
    dlq_maxlen: int | None = None
    output_dir: Path | None = None
    publish_weekday: int = Field(default=0, ge=0, le=6, description="weekly register: 0 = Monday")
    publish_hour: int = Field(
        default=6, ge=0, le=23, description="UTC hour of scheduled publishing"
    )
    publish_schedule: bool = True
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    log_level: str = "INFO"
    pipeline: str = Field(
        default="problems.pipeline:Pipeline",
        description="import path of the state class (needs load, apply_many, save)",
    )

    @property
    def input_streams(self) -> tuple[str, str, str]:
        """The streams consumed, tickets first."""
        return (self.tickets_stream, self.jira_issues_stream, self.jira_versions_stream)

    def stream_of_kind(self, kind: str) -> str:
        """The configured input stream of an `event_kind`."""
        return {
            "ticket": self.tickets_stream,
            "jira_issue": self.jira_issues_stream,
            "jira_version": self.jira_versions_stream,
        }[kind]


class JsonFormatter(logging.Formatter):
    """One JSON object per line; callers put ids and counts in ``extra``, never text."""

    _skip = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._skip and not key.startswith("_"):
                line[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str) -> None:
    """Send the worker's and FastStream's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("problems", "faststream"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


class _Latency:
    """XADD-to-durable latency: a Prometheus histogram plus recent values for quantiles."""

    buckets = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

    def __init__(self, keep: int = 100_000) -> None:
        self.counts = [0] * len(self.buckets)
        self.total = 0
        self.sum = 0.0
        self.recent: deque[float] = deque(maxlen=keep)

    def observe_many(self, values: Iterable[float]) -> None:
        values = list(values)
        self.total += len(values)
        self.sum += sum(values)
        self.recent.extend(values)
        counts, buckets, last = self.counts, self.buckets, len(self.buckets)
        for value in values:
            index = bisect_left(buckets, value)  # the first bound >= value
            if index < last:
                counts[index] += 1

    def quantile(self, q: float) -> float | None:
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Worker:
    """The single writer: recovery, batch application, checkpoints, reclaim, publishing.

    Parameters
    ----------
    settings
        Worker settings.
    new_state
        Builds an empty pipeline (``problems.pipeline.Pipeline`` by default).
    load_state
        Restores a pipeline from checkpoint bytes (``Pipeline.load`` by default).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        new_state: Callable[[], Any] | None = None,
        load_state: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._new_state = new_state
        self._load_state = load_state
        self.token = f"{settings.consumer}:{uuid.uuid4().hex[:12]}"
        self.redis: aredis.Redis = aredis.Redis.from_url(settings.redis_url)
        # The checkpoint writer packs commands in Python: hiredis' packer copies a
        # checkpoint argument twice (hundreds of MB for a full snapshot) holding the GIL,
        # which froze the event loop for seconds; Python's passes a large value through
        # uncopied and ``sendall`` releases the GIL. Replies are still parsed by hiredis.
        self.sync: redis.Redis = redis.Redis.from_url(
            settings.redis_url,
            command_packer=PythonRespSerializer(6_000, Encoder("utf-8", "strict", False).encode),
        )
        self.store = FencedRedisStore(
            self.sync,
            settings.checkpoint_key,
            settings.lease_key,
            settings.checkpoint_owner_key,
            self.token,
            settings.lease_ms,
        )
        self.pipeline: Any = None
        self.cursor: dict[str, str | None] = {}
        self.unacked: dict[str, list[bytes]] = defaultdict(list)
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        self.lock = asyncio.Lock()
        self.write_lock = asyncio.Lock()
        # Held while the engine changes (clustering runs in a thread) or is read whole
        # (full snapshot, register); ingest and delta checkpoints never need it.
        self.engine_lock = asyncio.Lock()
        self.base_in_flight = False
        """A full snapshot holds or waits for ``engine_lock`` (see `checkpoint`)."""
        self.need_base = True
        self.garbage = True
        """Part keys that no manifest names may exist (startup, a failed write)."""
        self.since_base = 0
        self.last_base = time.monotonic()
        self.clustered_wakeup = asyncio.Event()
        self.unclustered_batches: deque[tuple[int, float]] = deque()
        self.kind_of_stream = {
            settings.stream_of_kind(kind): kind for kind in ("ticket", "jira_issue", "jira_version")
        }
        self.leader = False
        self.lease_lost = False
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []
        self.on_lease_lost: Callable[[], None] | None = None
        self.should_stop: Callable[[], bool] = lambda: False
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """Now, for scheduled publishing (tests set their own)."""
        self._lease_stop: threading.Event | None = None
        self._lease_thread = threading.Thread()
        self.counters: dict[str, int] = defaultdict(int)
        self.dead_reasons: dict[str, int] = defaultdict(int)
        self.latency = _Latency()
        self.clustered_latency = _Latency()
        self.last_checkpoint_seconds = 0.0
        self.last_delta_seconds = 0.0
        self.last_checkpoint_bytes = 0
        self.last_base_seconds = 0.0
        self.last_base_bytes = 0
        self.started_at = time.monotonic()
        self.last_batch_at: dict[str, float] = defaultdict(float)
        self.last_full_batch_at = 0.0
        self.full_batches_in_hand = 0
        """Full batches read and not yet applied (waiting for the lock, or applying)."""
        self.full_batches = 0
        """Full batches applied so far; ``full_batches_durable`` of them are checkpointed."""
        self.full_batches_durable = 0
        self._stats_cache: dict[str, int] = {}
        self._stats_at = 0.0
        self._stats_of: Any = None

    # -- state ---------------------------------------------------------------------

    def _state_class(self) -> Any:
        module, _, name = self.settings.pipeline.partition(":")
        return getattr(importlib.import_module(module), name)

    def _fresh(self) -> Any:
        if self._new_state is not None:
            return self._new_state()
        return self._state_class()()

    def _restore(self, data: bytes) -> Any:
        if self._load_state is not None:
            return self._load_state(data)
        state_class = self._state_class()
        if hasattr(state_class, "cluster_pending"):
            # Tickets the checkpoint has not clustered are clustered in the background.
            return state_class.load(data, cluster=False)
        return state_class.load(data)

    async def _load_checkpoint(self) -> None:
        data = await asyncio.to_thread(self.store.load_state)
        self.pipeline = self._fresh() if data is None else self._restore(data)
        if hasattr(self.pipeline, "cluster_pending"):
            self.pipeline.defer_clustering = True
        saved = dict(getattr(self.pipeline, "cursor_", {}) or {})
        self.cursor = {name: saved.get(name) for name in self.settings.input_streams}
        self.unacked = defaultdict(list)
        self.since_checkpoint = 0
        self.unclustered_batches.clear()
        # The loaded object tracks changes from here on; whatever was tracked before is
        # either in the checkpoint or thrown away and applied again. Deltas need a
        # snapshot to follow.
        self.need_base = data is None or not hasattr(self.pipeline, "save_delta")

    # -- leadership ----------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait (as a hot standby) until this process holds the writer's lease."""
        waited = False
        while not await asyncio.to_thread(self.store.acquire):
            if not waited:
                log.info("standby: another worker holds the lease", extra=self._ids())
                waited = True
            if self.should_stop():
                raise RuntimeError("asked to stop while waiting as a standby")
            await asyncio.sleep(min(self.settings.lease_ms / 4000, 0.5))
        self.leader = True
        self.lease_lost = False
        self._start_lease_keeper()
        log.info("leader: lease acquired", extra=self._ids())

    def _ids(self) -> dict[str, Any]:
        return {"consumer": self.settings.consumer, "group": self.settings.group}

    def _lost(self, why: str) -> None:
        if self.lease_lost:
            return
        self.leader = False
        self.lease_lost = True
        log.error("lease lost: stopping", extra={**self._ids(), "why": why})
        if self.on_lease_lost is not None:
            self.on_lease_lost()

    # -- startup recovery ----------------------------------------------------------

    async def ensure_groups(self) -> None:
        """Create the consumer groups at id 0, so entries older than the group count."""
        for stream in self.settings.input_streams:
            with contextlib.suppress(redis.ResponseError):
                await self.redis.xgroup_create(stream, self.settings.group, id="0", mkstream=True)

    async def recover(self) -> None:
        """Load the checkpoint, take over pending entries, replay what follows the cursor.

        Afterwards the group's last-delivered id is the last replayed entry, so group
        reads continue right after it, and a checkpoint makes the replay durable.
        """
        await self.ensure_groups()
        await self._load_checkpoint()
        replayed = 0
        for stream in self.settings.input_streams:
            deliveries = await self._claim_all(stream)
            replayed += await self._replay(stream, deliveries)
            cursor = self.cursor[stream]
            if cursor is not None:
                await self.redis.xgroup_setid(stream, self.settings.group, cursor)
        log.info(
            "recovered",
            extra={**self._ids(), "replayed": replayed, "cursor": json.dumps(self.cursor)},
        )
        await self.checkpoint(force=True)

    async def start(self) -> None:
        """Take the lease and recover, waiting for Redis when it is away.

        Recovery starts again from the checkpoint when Redis goes away in the middle of
        it (restarted, failed over): everything it did is either in the checkpoint it
        loads next time or applied again from the stream, and nothing was acknowledged
        that a checkpoint does not hold. Only a lost lease or a stop request ends it.
        """
        delay = 0.1
        while True:
            try:
                if not self.leader:
                    await self.acquire()
                await self.recover()
                return
            except _REDIS_AWAY as error:
                if self.should_stop() or self.lease_lost:
                    raise
                log.warning(
                    "startup: Redis unavailable, trying again",
                    extra={**self._ids(), "error": type(error).__name__, "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _claim_all(self, stream: str, min_idle_ms: int = 0) -> dict[bytes, int]:
        """Claim pending entries of the group for this consumer; return delivery counts.

        XAUTOCLAIM counts a delivery for each entry it claims, and XPENDING reports it:
        an entry that was in flight in every one of several crashes shows it here.
        """
        start: bytes | str = "0-0"
        while True:
            # Raw command: redis-py drops the next start id when JUSTID is given.
            reply = await self.redis.execute_command(
                "XAUTOCLAIM",
                stream,
                self.settings.group,
                self.settings.consumer,
                min_idle_ms,
                start,
                "COUNT",
                self.settings.batch_size,
                "JUSTID",
            )
            start = reply[0]
            if start in (b"0-0", "0-0"):
                break
        counts: dict[bytes, int] = {}
        low: bytes | str = "-"
        while True:
            rows = await self.redis.xpending_range(
                stream,
                self.settings.group,
                min=low,
                max="+",
                count=self.settings.batch_size,
                consumername=self.settings.consumer,
            )
            for row in rows:
                counts[cast(bytes, row["message_id"])] = int(row["times_delivered"])
            if len(rows) < self.settings.batch_size:
                break
            low = "(" + _text(cast(bytes, rows[-1]["message_id"]))
        return counts

    async def _range(
        self, stream: str, after: str | None, upto: bytes | str = "+", count: int | None = None
    ) -> list[Entry]:
        """Entries after ``after`` (exclusive) up to ``upto`` (inclusive)."""
        reply = await self.redis.xrange(
            stream, min="-" if after is None else f"({after}", max=upto, count=count
        )
        return cast(list[Entry], reply)

    async def _replay(
        self, stream: str, deliveries: dict[bytes, int], upto: bytes | str = "+"
    ) -> int:
        """Apply every entry after the cursor (up to ``upto``) in stream order."""
        total = 0
        while True:
            if self.lease_lost:
                raise LeaseLost("lease lost during replay")
            after = self.cursor[stream]
            entries = await self._range(stream, after, upto, self.settings.batch_size)
            if not entries:
                return total
            await self._process(stream, entries, deliveries)
            total += len(entries)
            if len(entries) < self.settings.batch_size:
                return total
            if not self.lock.locked() and self._checkpoint_due():
                # A long replay (startup after a long outage) keeps its progress.
                await self.checkpoint()

    # -- applying ------------------------------------------------------------------

    async def handle_batch(self, stream: str, entries: Sequence[Entry]) -> None:
        """Apply a batch read from the group, filling any gap before it first."""
        full = len(entries) >= self.settings.batch_size
        self.full_batches_in_hand += full
        try:
            await self._handle_batch(stream, entries)
        finally:
            self.full_batches_in_hand -= full

    async def _handle_batch(self, stream: str, entries: Sequence[Entry]) -> None:
        async with self.lock:
            self.last_batch_at[stream] = time.monotonic()
            if not self.leader:
                return  # entries stay pending; the next leader replays them
            after = self.cursor[stream]
            fresh: Sequence[Entry] = entries
            if entries and not streams.newer(entries[0][0], after):
                # Some were applied already (a replay overtook the group): ack them with
                # the next checkpoint. Otherwise all are new, as a group read comes in
                # stream order: no need to compare every id.
                fresh = [entry for entry in entries if streams.newer(entry[0], after)]
                self.unacked[stream].extend(
                    entry[0] for entry in entries if not streams.newer(entry[0], after)
                )
            if not fresh:
                return
            following = await self._range(stream, after, "+", 1)
            if following and following[0][0] != fresh[0][0]:
                # Someone else holds entries between our cursor and this batch (a
                # consumer that died or was paused): read the range in order instead.
                self.counters["gaps_filled"] += 1
                log.warning(
                    "gap before batch: reading the range",
                    extra={"stream": stream, "after": str(after), "first": fresh[0][0].decode()},
                )
                await self._replay(stream, {}, upto=fresh[-1][0].decode())
            else:
                await self._process(stream, fresh, {})
        now = time.monotonic()
        if len(entries) >= self.settings.batch_size:
            self.last_full_batch_at = now
            self.full_batches += 1
        # Caught up: this read did not fill a batch, and no stream did for a while (the
        # Jira streams are small: their short batches say nothing about the tickets').
        caught_up = now - self.last_full_batch_at >= 0.05
        # While a full snapshot is written, keep applying: the timer checkpoints after it.
        if not self.write_lock.locked() and self._checkpoint_due(caught_up=caught_up):
            try:
                await self.checkpoint()
            except _REDIS_AWAY as error:
                # Nothing was acknowledged; the timer tries again once Redis is back.
                log.warning("checkpoint failed", extra={"error": type(error).__name__})

    async def _process(
        self, stream: str, entries: Sequence[Entry], deliveries: dict[bytes, int]
    ) -> None:
        """Dead-letter what cannot apply, apply the rest in one batch, advance the cursor."""
        events: list[Event] = []
        dead: list[dict[str, str]] = []
        expect = self.kind_of_stream[stream]
        max_deliveries = self.settings.max_deliveries
        for entry_id, fields in entries:
            payload = fields.get(_PAYLOAD_KEY)
            if payload is None:
                payload = streams.entry_payload(fields)
            count = deliveries.get(entry_id, 1) if deliveries else 1
            reason: str | None = None
            if count > max_deliveries:
                reason = (
                    f"delivered {count} times without reaching a checkpoint "
                    f"(max_deliveries={max_deliveries})"
                )
            elif payload is None:
                reason = f"entry has no {streams.PAYLOAD_FIELD!r} field"
            else:
                try:
                    event = parse_event(payload, expect=expect)
                except InvalidEvent as error:
                    reason = f"invalid event: {error}"
                else:
                    kind = event_kind(event)
                    if kind != expect:
                        reason = f"{kind} event on stream {stream!r}"
                    else:
                        events.append(event)
            if reason is not None:
                dead.append(
                    streams.dead_letter_fields(
                        reason[:2_000], payload, stream, entry_id.decode(), count
                    )
                )
        if dead:
            await self._dead_letter(dead)
        queued = len(getattr(self.pipeline, "unclustered_", ()))
        try:
            self.pipeline.apply_many(events)
        except Exception as error:  # a bug or a poison event: isolate it, never stop
            log.error(
                "pipeline failed on a batch: isolating",
                extra={"stream": stream, "error": type(error).__name__},
            )
            await self._isolate(stream, entries)
            return
        last = entries[-1][0]
        self.cursor[stream] = last.decode()
        self.unacked[stream].extend(entry_id for entry_id, _ in entries)
        self.since_checkpoint += len(entries)
        self.since_base += len(entries)
        self.counters["entries_processed"] += len(entries)
        self.counters["events_applied"] += len(events)
        new_tickets = len(getattr(self.pipeline, "unclustered_", ())) - queued
        if new_tickets > 0:
            # For the ingest-to-clustered latency: per batch, from its last entry's XADD.
            self.unclustered_batches.append((new_tickets, streams.entry_id_key(last)[0] / 1000))
            self.clustered_wakeup.set()

    async def _isolate(self, stream: str, entries: Sequence[Entry]) -> None:
        """Rebuild state from the checkpoint, applying one event at a time; dead-letter
        each event that raises. The partly changed state is thrown away."""
        target = dict(self.cursor)
        target[stream] = entries[-1][0].decode()
        poisoned: set[tuple[str, bytes]] = set()
        while True:
            pending = dict(self.unacked)
            await self._load_checkpoint()
            self.unacked = defaultdict(list, pending)
            failed = await self._apply_one_by_one(target, poisoned)
            if failed is None:
                break
            poisoned.add(failed)
        # A checkpoint may have landed after the reload (a snapshot written in a thread):
        # the reloaded state's change tracking then overlaps it, and only a full
        # snapshot is sure to be right after it.
        self.need_base = True
        self.counters["isolations"] += 1

    async def _apply_one_by_one(
        self, target: dict[str, str | None], poisoned: set[tuple[str, bytes]]
    ) -> tuple[str, bytes] | None:
        for stream in self.settings.input_streams:
            upto = target.get(stream)
            if upto is None or not streams.newer(upto, self.cursor[stream]):
                continue
            after = self.cursor[stream]
            entries = await self._range(stream, after, upto)
            for entry_id, fields in entries:
                if (stream, entry_id) in poisoned:
                    continue
                payload = streams.entry_payload(fields)
                try:
                    event = parse_event(payload) if payload is not None else None
                except InvalidEvent:
                    event = None  # dead-lettered when first seen
                if event is None or self.settings.stream_of_kind(event_kind(event)) != stream:
                    continue
                try:
                    self.pipeline.apply(event)
                except Exception as error:
                    reason = f"pipeline raised {type(error).__name__} on this event"
                    await self._dead_letter(
                        [streams.dead_letter_fields(reason, payload, stream, entry_id.decode(), 1)]
                    )
                    return stream, entry_id
            if entries:
                self.cursor[stream] = entries[-1][0].decode()
                self.unacked[stream].extend(entry_id for entry_id, _ in entries)
                self.since_checkpoint += len(entries)
        return None

    async def _dead_letter(self, letters: Sequence[dict[str, str]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for letter in letters:
                pipe.xadd(
                    self.settings.dlq_stream,
                    letter,  # type: ignore[arg-type]
                    maxlen=self.settings.dlq_maxlen,
                    approximate=True,
                )
            await pipe.execute()
        for letter in letters:
            self.counters["dead_letters"] += 1
            self.dead_reasons[letter["reason"].split(":")[0][:60]] += 1
            log.warning(
                "dead-lettered",
                extra={
                    "stream": letter["source_stream"],
                    "entry_id": letter["source_id"],
                    "reason_kind": letter["reason"].split(":")[0][:60],
                    "payload_bytes": letter["payload_bytes"],
                },
            )

    # -- checkpoints ---------------------------------------------------------------

    def _base_due(self) -> bool:
        """Whether the next checkpoint is a full snapshot rather than a delta."""
        if self.need_base or self.since_base >= self.settings.base_events:
            return True
        return time.monotonic() - self.last_base >= self.settings.base_seconds

    def _compaction_due(self) -> bool:
        """Idle, everything clustered, deltas written since the last full snapshot: a
        good moment to fold them into one (a restart then loads one document)."""
        if not self.since_base or not self.leader:
            return False
        if len(getattr(self.pipeline, "unclustered_", ())) or self.since_checkpoint:
            return False
        quiet = time.monotonic() - max(self.last_batch_at.values(), default=0.0)
        return quiet >= self.settings.base_idle_seconds

    def _checkpoint_due(self, caught_up: bool = False) -> bool:
        if self.since_checkpoint >= self.settings.checkpoint_events:
            return True
        # Once the backlog is drained there is no batch to share a checkpoint with: write
        # it now rather than wait out the timer. Either way, space checkpoints so that
        # writing deltas takes at most a fifth of the time (a full snapshot is written
        # in a thread: its duration must not hold the next deltas back).
        wait = 0.0 if caught_up else self.settings.checkpoint_seconds
        interval = max(wait, 4 * self.last_delta_seconds)
        elapsed = time.monotonic() - self.last_checkpoint
        return self.since_checkpoint > 0 and elapsed >= interval

    async def checkpoint(self, force: bool = False, base: bool = False) -> bool:
        """Make the applied state durable, then acknowledge the entries it covers.

        A checkpoint is a delta (what changed since the previous one, `Pipeline.save_delta`)
        appended after the last full snapshot, or a full snapshot that replaces both when
        one is due (`_base_due`) or asked for (``base``). Either holds every applied
        entry's effect: masked records, new tickets in order, the cursor.

        A full snapshot of a large state takes long to encode, so it is taken as a view
        (`Pipeline.snapshot_view`, cheap, under the locks) and encoded and written in a
        thread: the event loop keeps applying batches and answering HTTP meanwhile.
        Clustering waits (the view references the engine), and so does the next
        checkpoint (the write lock): a delta appended before the snapshot landed would
        be deleted with the deltas it replaces, so deltas are only ever written after it.
        """
        async with self.write_lock:
            asked = base
            base = base or self._base_due() or not hasattr(self.pipeline, "save_delta")
            if not base:
                return await self._write_checkpoint(force, base)
            with_engine = self._engine_due(asked)
            if not with_engine:
                return await self._write_checkpoint(force, base, with_engine=False)
            # A base with the engine holds it until written: no clustering step may
            # change it under the encoder. Flagged first, so /metrics stops waiting for
            # the engine as soon as the snapshot queues for it.
            self.base_in_flight = True
            try:
                async with self.engine_lock:
                    return await self._write_checkpoint(force, base)
            finally:
                self.base_in_flight = False

    def _engine_due(self, asked: bool) -> bool:
        """Whether the next base holds the engine's state: always for a state without
        parts (its base is a full snapshot); for one in parts when none holds it yet,
        when asked (idle compaction, shutdown) and it learned anything since, or when it
        learned `engine_events` tickets since the last base that held it."""
        pipeline = self.pipeline
        if not hasattr(pipeline, "parts_view"):
            return True
        lag = pipeline.engine_lag()
        if pipeline.engine_part_missing():
            return True
        return (asked and lag > 0) or lag >= self.settings.engine_events

    async def _write_checkpoint(self, force: bool, base: bool, with_engine: bool = True) -> bool:
        async with self.lock:
            has_work = self.since_checkpoint or any(self.unacked.values())
            if not self.leader or not (has_work or force or base):
                return False
            pipeline = self.pipeline
            pipeline.cursor_ = {s: c for s, c in self.cursor.items() if c is not None}
            started = time.perf_counter()
            encode: Callable[[], bytes | bytearray] = bytearray
            parts_view: Any = None
            # Views are taken here and encoded in the thread: a base, and the delta
            # after one (it holds everything applied while the base was written).
            if base and hasattr(pipeline, "parts_view"):
                parts_view = pipeline.parts_view(with_engine=with_engine)
            elif base and hasattr(pipeline, "snapshot_view"):
                view = pipeline.snapshot_view()
                encode = lambda: pipeline.encode_snapshot(view)  # noqa: E731
            elif not base and hasattr(pipeline, "delta_view"):
                view = pipeline.delta_view()
                encode = lambda: pipeline.encode_delta(view)  # noqa: E731
            else:  # a state without views (small): encoded here
                data = pipeline.save() if base else pipeline.save_delta()
                encode = lambda: data  # noqa: E731
            acks, self.unacked = self.unacked, defaultdict(list)
            full_batches = self.full_batches
            covered, self.since_checkpoint = self.since_checkpoint, 0
            since_base = self.since_base
            cursor = dict(self.cursor)
        write = self.store.save_state if base else self.store.save_delta

        def encode_and_write() -> int:
            if parts_view is not None:
                return self.store.save_parts(
                    [
                        (name, functools.partial(pipeline.encode_part, part))
                        for name, part in parts_view.parts
                    ],
                    functools.partial(pipeline.encode_manifest, parts_view),
                    full=parts_view.full,
                )
            data = encode()
            write(data)
            return len(data)

        try:
            size = await _to_thread_to_the_end(encode_and_write)
        except LeaseLost:
            self._lost("checkpoint refused: another worker holds the lease")
            return False
        except BaseException as error:
            # Not written (Redis away, cancelled, a bug in encoding): nothing is
            # acknowledged, and the changes taken for this write are gone from the
            # delta tracking, so only a base holds them now (a base in parts knows
            # what changed since the last one that landed).
            for stream, ids in acks.items():
                self.unacked[stream][:0] = ids
            self.since_checkpoint += covered
            self.need_base = True
            self.garbage = True
            if parts_view is not None:
                pipeline.base_failed(parts_view, whole=isinstance(error, BaseMissing))
            raise
        if parts_view is not None:
            pipeline.base_landed(parts_view)
            if self.garbage:
                # Parts of a base that failed half-way are named by no manifest.
                self.garbage = False
                with contextlib.suppress(redis.RedisError, LeaseLost):
                    await asyncio.to_thread(self.store.collect_garbage)
        durable_at = time.time()
        elapsed = time.perf_counter() - started
        self.last_checkpoint = time.monotonic()
        self.last_checkpoint_seconds = elapsed
        self.last_checkpoint_bytes = size
        self.counters["checkpoints"] += 1
        if base:
            self.counters["base_checkpoints"] += 1
            self.need_base = False
            self.since_base -= since_base
            self.last_base = time.monotonic()
            self.last_base_seconds = elapsed
            self.last_base_bytes = size
        else:
            self.last_delta_seconds = elapsed
        self.full_batches_durable = max(self.full_batches_durable, full_batches)
        await self._ack(acks, cursor)
        self.latency.observe_many(
            max(0.0, durable_at - streams.entry_id_key(entry_id)[0] / 1000)
            for ids in acks.values()
            for entry_id in ids
        )
        return True

    async def _ack(self, acks: dict[str, list[bytes]], cursor: dict[str, str | None]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, ids in acks.items():
                for start in range(0, len(ids), 10_000):
                    pipe.xack(stream, self.settings.group, *ids[start : start + 10_000])
            if self.settings.trim_inputs:
                # MINID keeps the cursor entry and everything newer: never trims past
                # what is durable. Approximate trimming only ever keeps more.
                for stream, entry_id in cursor.items():
                    if entry_id is not None:
                        pipe.xtrim(stream, minid=entry_id, approximate=True)
            await pipe.execute()
        self.counters["acked"] += sum(len(ids) for ids in acks.values())

    # -- background tasks ----------------------------------------------------------

    def start_background(self) -> None:
        """Start the lease keeper, the checkpoint timer, the reclaimer and the scheduler."""
        jobs = [self._keep_lease, self._tick, self._reclaim, self._cluster]
        if self.settings.publish_schedule:
            jobs.append(self._schedule)
        for job in jobs:
            self.tasks.append(asyncio.create_task(self._guard(job), name=job.__name__))

    async def _guard(self, job: Callable[[], Any]) -> None:
        while not self.stopping and not self.lease_lost:
            try:
                await job()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                detail = str(error)[:200] if isinstance(error, redis.RedisError) else ""
                log.warning(
                    "background task failed: retrying",
                    extra={"task": job.__name__, "error": type(error).__name__, "detail": detail},
                )
                await asyncio.sleep(1.0)

    def _start_lease_keeper(self) -> None:
        """Renew the lease from a thread: applying a large batch holds the event loop
        for seconds, which must not let the lease lapse."""
        loop = asyncio.get_running_loop()
        stop = self._lease_stop = threading.Event()
        client = redis.Redis.from_url(self.settings.redis_url)
        keeper = FencedRedisStore(
            client,
            self.settings.checkpoint_key,
            self.settings.lease_key,
            self.settings.checkpoint_owner_key,
            self.token,
            self.settings.lease_ms,
        )

        def keep() -> None:
            while not stop.wait(self.settings.lease_ms / 3000):
                keeper.base_owner = self.store.base_owner
                try:
                    held = keeper.renew()
                except redis.RedisError:
                    continue  # Redis away: the lease is taken back when it returns
                if not held:
                    why = "renewal refused: another worker holds the lease"
                    loop.call_soon_threadsafe(self._lost, why)
                    break
            client.close()

        self._lease_thread = threading.Thread(target=keep, name="lease-keeper", daemon=True)
        self._lease_thread.start()

    async def _keep_lease(self) -> None:
        """Watch the lease thread (health sees this task end if the thread dies)."""
        while not self.stopping and self._lease_thread.is_alive():
            await asyncio.sleep(1.0)

    async def _tick(self) -> None:
        # Short: the last batch of a burst is made durable as soon as no other follows.
        period = min(self.settings.checkpoint_seconds / 2, 0.05)
        last_catch_up = time.monotonic()
        while not self.stopping:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - last_catch_up >= 1.0:
                last_catch_up = now
                await self._catch_up()
            quiet = now - max(self.last_batch_at.values(), default=0.0) >= 0.05
            if self.write_lock.locked():
                continue  # a full snapshot is being written: checkpoint after it lands
            if self._checkpoint_due(caught_up=quiet):
                await self.checkpoint()
            elif self._compaction_due():
                await self.checkpoint(base=True)

    async def _cluster(self) -> None:
        """Cluster new tickets in the background, a chunk at a time, oldest first.

        Clustering is derived state: the records and their order are durable as soon as
        a checkpoint holds them, and the engine's result follows from them. So ingest
        never waits for it, and during a burst (a backfill) it lags and catches up. The
        step runs in a thread so the event loop keeps reading, applying and acking.
        """
        while not self.stopping:
            pipeline = self.pipeline
            if pipeline is None or not getattr(pipeline, "unclustered_", None):
                self.clustered_wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.clustered_wakeup.wait(), 1.0)
                continue
            if self._backlog() and not self.settings.cluster_during_backlog:
                # Durability first: a clustering step holds the GIL for a good part of
                # its time, which ingest would otherwise wait for. Reads come short as
                # soon as the backlog is drained, and clustering catches up then.
                await asyncio.sleep(0.05)
                continue
            async with self.engine_lock:
                if pipeline is not self.pipeline:
                    continue  # replaced (isolation reloaded the checkpoint)
                chunk = self.settings.cluster_chunk
                done = await asyncio.to_thread(pipeline.cluster_pending, chunk)
            self._observe_clustered(done)
            await asyncio.sleep(0)  # let a batch in between two steps

    def _backlog(self) -> bool:
        """Whether a backlog is being read: a full batch is in hand, came a moment ago,
        or is applied but not yet in a checkpoint (the backlog's last one is written
        once reads come short: a clustering step would hold it back).

        In hand counts too: under load applying one batch can take longer than the
        moment, and a clustering step started then would slow every batch after it.
        """
        if self.full_batches_in_hand:
            return True
        since = time.monotonic() - self.last_full_batch_at
        # Bounded: checkpoints that keep failing (Redis away) must not stall clustering.
        return since < 0.25 or (self.full_batches > self.full_batches_durable and since < 5.0)

    def _observe_clustered(self, done: int) -> None:
        self.counters["clustered"] += done
        now = time.time()
        batches = self.unclustered_batches
        while done > 0 and batches:
            count, added_at = batches[0]
            taken = min(done, count)
            self.clustered_latency.observe_many([max(0.0, now - added_at)] * taken)
            done -= taken
            if taken == count:
                batches.popleft()
            else:
                batches[0] = (count - taken, added_at)

    async def cluster_all(self) -> None:
        """Cluster every queued ticket now (before a register is built)."""
        pipeline = self.pipeline
        if pipeline is None or not hasattr(pipeline, "cluster_pending"):
            return
        async with self.engine_lock:
            done = await asyncio.to_thread(pipeline.cluster_pending)
        self._observe_clustered(done)

    async def _catch_up(self) -> None:
        """Apply entries the group delivered to us but no batch applied.

        A batch whose handler failed (Redis went away mid-batch) stays pending for this
        consumer and is never read again by ``>``; without this, its stream would stall
        until the next entry arrives behind it.
        """
        quiet = 2 * self.settings.poll_ms / 1000
        for stream in self.settings.input_streams:
            if time.monotonic() - self.last_batch_at[stream] < quiet:
                continue
            delivered = None
            for group in await self.redis.xinfo_groups(stream):
                if _text(group["name"]) == self.settings.group:
                    delivered = _text(group["last-delivered-id"])
            if delivered is None:
                continue
            async with self.lock:
                if self.leader and streams.newer(delivered, self.cursor[stream]):
                    self.counters["caught_up"] += 1
                    log.warning("catching up on delivered entries", extra={"stream": stream})
                    await self._replay(stream, {}, upto=delivered)

    async def _reclaim(self) -> None:
        """Take over entries pending too long for other consumers, in stream order."""
        while not self.stopping:
            await asyncio.sleep(self.settings.reclaim_idle_ms / 2000)
            for stream in self.settings.input_streams:
                summary = await self.redis.xpending(stream, self.settings.group)
                others = [
                    consumer
                    for consumer in summary.get("consumers") or []
                    if consumer["name"].decode() != self.settings.consumer
                ]
                if not others:
                    continue
                deliveries = await self._claim_all(stream, self.settings.reclaim_idle_ms)
                async with self.lock:
                    if not self.leader:
                        return
                    cursor = self.cursor[stream]
                    # XAUTOCLAIM also takes this consumer's own entries that wait for a
                    # checkpoint: they are in `unacked` already and must be acked once.
                    waiting = set(self.unacked[stream])
                    done = [
                        i for i in deliveries if not streams.newer(i, cursor) and i not in waiting
                    ]
                    self.unacked[stream].extend(done)  # applied already: ack at checkpoint
                    later = [i for i in deliveries if streams.newer(i, cursor)]
                    if later:
                        upto = max(later, key=streams.entry_id_key).decode()
                        await self._replay(stream, deliveries, upto=upto)
                self.counters["reclaimed"] += len(deliveries)

    async def _schedule(self) -> None:
        """Weekly register and daily movers, at ``publish_hour`` UTC, once each."""
        while not self.stopping:
            await self.publish_due(self.clock())
            await asyncio.sleep(60)

    async def publish_due(self, now: datetime) -> list[str]:
        """Publish what the schedule makes due at ``now`` and was not published yet; return
        the kinds published. Marks in Redis make each happen once, across restarts."""
        published: list[str] = []
        if now.hour < self.settings.publish_hour:
            return published
        marks_key = f"{self.settings.register_latest_key}:schedule"
        marks = {_text(k): _text(v) for k, v in (await self.redis.hgetall(marks_key)).items()}
        today = now.date().isoformat()
        this_week = week_of(now)
        if now.weekday() == self.settings.publish_weekday and marks.get("weekly") != this_week:
            # The weekly register is the one of the week that just ended.
            await self.publish("weekly", week=shift_week(this_week, -1), now=now)
            await self.redis.hset(marks_key, "weekly", this_week)
            published.append("weekly")
        if marks.get("movers") != today:
            # The current week so far, compared with the week before (its movers); not
            # "the latest week with a ticket", which a quiet week would leave behind.
            await self.publish("movers", week=this_week, now=now)
            await self.redis.hset(marks_key, "movers", today)
            published.append("movers")
        return published

    async def stop(self) -> None:
        """Finish: stop background tasks, checkpoint what was applied, give up the lease."""
        self.stopping = True
        if self._lease_stop is not None:
            self._lease_stop.set()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.leader and not self.lease_lost:
            with contextlib.suppress(Exception):
                await self.checkpoint()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release)
        self.leader = False
        await self.redis.aclose()
        self.sync.close()

    # -- publishing ----------------------------------------------------------------

    async def publish(
        self, kind: str = "on_demand", week: str | None = None, now: datetime | None = None
    ) -> dict[str, str]:
        """Publish the register of the durable state: a stream entry (small: counts, top
        rows, digest), the full snapshot JSON under the latest key, and files."""
        await self.checkpoint()
        await self.cluster_all()
        async with self.engine_lock, self.lock:
            fields, snapshot, register = _register_outputs(self.pipeline, week)
        fields = {
            "kind": kind,
            "published_at": (now or self.clock()).isoformat(timespec="seconds"),
            **fields,
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.settings.register_stream,
                fields,  # type: ignore[arg-type]
                maxlen=self.settings.register_maxlen,
                approximate=True,
            )
            pipe.set(self.settings.register_latest_key, snapshot)
            await pipe.execute()
        if self.settings.output_dir is not None and register is not None:
            await asyncio.to_thread(_write_files, self.settings.output_dir, register)
        self.counters["published"] += 1
        log.info(
            "register published",
            extra={"kind": kind, "week": fields.get("week", ""), "bytes": len(snapshot)},
        )
        return fields

    # -- observing -----------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        """Whether the worker does its job, and why not."""
        if self.lease_lost:
            return False, "lease lost"
        if not self.leader:
            return False, "not leading"
        for task in self.tasks:
            if task.done() and not self.stopping:
                return False, f"background task {task.get_name()} stopped"
        return True, "ok"

    async def _stats(self) -> dict[str, int]:
        """The pipeline's counts, at most every 5 s: counting clusters walks the engine,
        which must wait for the clustering step in flight (it runs in a thread)."""
        if self.pipeline is None or not hasattr(self.pipeline, "stats"):
            return {}
        now = time.monotonic()
        if self.base_in_flight:
            # A full snapshot holds the engine until written, perhaps for a minute: answer
            # with the last counts (none yet: empty) rather than stall /metrics. (A
            # clustering step holds it too, but briefly: waiting for it keeps counts fresh.)
            return self._stats_cache
        if now - self._stats_at >= 5.0 or self._stats_of is not self.pipeline:
            async with self.engine_lock:
                self._stats_cache = self.pipeline.stats()
            self._stats_at, self._stats_of = now, self.pipeline
        return self._stats_cache

    async def metrics_text(self, subscribers_running: int, subscribers: int) -> str:
        """Prometheus text exposition of the worker's figures."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        counters = self.counters
        metric(
            "problems_leader",
            "gauge",
            "1 while this process holds the lease",
            [("", float(self.leader))],
        )
        metric(
            "problems_subscribers_running",
            "gauge",
            "input subscribers consuming",
            [("", float(subscribers_running)), ('{state="declared"}', float(subscribers))],
        )
        metric(
            "problems_events_applied_total",
            "counter",
            "valid events handed to the pipeline",
            [("", counters["events_applied"])],
        )
        metric(
            "problems_entries_processed_total",
            "counter",
            "input entries processed",
            [("", counters["entries_processed"])],
        )
        metric(
            "problems_entries_acked_total",
            "counter",
            "entries acknowledged after a checkpoint",
            [("", counters["acked"])],
        )
        metric(
            "problems_dead_letters_total",
            "counter",
            "entries sent to the dead-letter stream",
            [(f'{{reason="{_label(k)}"}}', v) for k, v in sorted(self.dead_reasons.items())]
            or [("", 0)],
        )
        metric(
            "problems_checkpoints_total",
            "counter",
            "checkpoints written",
            [("", counters["checkpoints"])],
        )
        metric(
            "problems_base_checkpoints_total",
            "counter",
            "checkpoints that were full snapshots (the others were deltas)",
            [("", counters["base_checkpoints"])],
        )
        metric(
            "problems_checkpoint_seconds",
            "gauge",
            "duration of the last checkpoint",
            [("", self.last_checkpoint_seconds), ('{kind="base"}', self.last_base_seconds)],
        )
        metric(
            "problems_checkpoint_bytes",
            "gauge",
            "size of the last checkpoint",
            [("", self.last_checkpoint_bytes), ('{kind="base"}', self.last_base_bytes)],
        )
        metric(
            "problems_clustered_total",
            "counter",
            "new tickets handed to the clustering engine",
            [("", counters["clustered"])],
        )
        metric(
            "problems_gaps_filled_total",
            "counter",
            "batches preceded by a gap read by XRANGE",
            [("", counters["gaps_filled"])],
        )
        metric(
            "problems_reclaimed_total",
            "counter",
            "entries claimed from other consumers",
            [("", counters["reclaimed"])],
        )
        lag: list[tuple[str, float]] = []
        pending: list[tuple[str, float]] = []
        for stream in self.settings.input_streams:
            with contextlib.suppress(redis.RedisError):
                for group in await self.redis.xinfo_groups(stream):
                    if group["name"].decode() == self.settings.group:
                        lag.append((f'{{stream="{stream}"}}', float(group.get("lag") or 0)))
                        pending.append((f'{{stream="{stream}"}}', float(group["pending"])))
        metric("problems_consumer_lag", "gauge", "entries not yet delivered to the group", lag)
        metric("problems_pending", "gauge", "entries delivered but not acknowledged", pending)
        stats = await self._stats()
        metric(
            "problems_clusters",
            "gauge",
            "clusters (recurring problems)",
            [("", stats.get("clusters", 0))],
        )
        for key in ("tickets", "defects", "releases"):
            metric(f"problems_{key}", "gauge", f"{key} in state", [("", stats.get(key, 0))])
        metric(
            "problems_unclustered",
            "gauge",
            "new tickets durable but not clustered yet (clustering lag)",
            [("", len(getattr(self.pipeline, "unclustered_", ())))],
        )
        hist = self.latency
        samples: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(hist.buckets, hist.counts, strict=True):
            running += count
            samples.append((f'_bucket{{le="{bound}"}}', running))
        samples += [('_bucket{le="+Inf"}', hist.total), ("_sum", hist.sum), ("_count", hist.total)]
        metric(
            "problems_processing_latency_seconds",
            "histogram",
            "time from XADD of an entry to its effect being durable",
            samples,
        )
        quantiles = [(q, hist.quantile(q)) for q in (0.5, 0.99)]
        metric(
            "problems_processing_latency_recent_seconds",
            "summary",
            "XADD-to-durable latency over the last 100,000 entries",
            [(f'{{quantile="{q}"}}', value) for q, value in quantiles if value is not None],
        )
        clustered = [(q, self.clustered_latency.quantile(q)) for q in (0.5, 0.99)]
        metric(
            "problems_clustered_latency_recent_seconds",
            "summary",
            "XADD-to-clustered latency of new tickets (per batch, from its last entry's XADD)",
            [(f'{{quantile="{q}"}}', value) for q, value in clustered if value is not None],
        )
        return "\n".join(lines) + "\n"


async def _to_thread_to_the_end(job: Callable[[], int]) -> int:
    """``asyncio.to_thread(job)``, but a cancelled caller still waits for the job to end:
    the write lock must not be released while a write is still in flight in a thread (a
    later delta could land before that snapshot, which would then delete it)."""
    future = asyncio.ensure_future(asyncio.to_thread(job))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _register_outputs(pipeline: Any, week: str | None) -> tuple[dict[str, str], str, Any]:
    """Stream fields, snapshot JSON and the register itself (None for a state without a
    register stage, such as the benchmark's)."""
    make = getattr(pipeline, "register", None)
    if not callable(make):
        stats = pipeline.stats() if hasattr(pipeline, "stats") else {}
        snapshot = json.dumps({"stats": stats}, sort_keys=True)
        return {"stats": snapshot}, snapshot, None
    from problems.register import to_json, to_stream_payload

    register = make(week=week)
    return to_stream_payload(register), to_json(register), register


def _write_files(directory: Path, register: Any) -> None:
    """Every format of the register, each file replaced atomically."""
    from problems.register import render
    from problems.register.render import FORMATS

    directory.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        final = directory / f"register-{register.week}.{fmt}"
        temporary = directory / f".{final.name}.tmp"
        render(register, fmt, temporary)
        temporary.replace(final)


# -- the FastStream application ------------------------------------------------------


def make_broker(redis_url: str) -> RedisBroker:
    """The FastStream broker of the worker, patient with a Redis that is coming back.

    FastStream creates each consumer group with one command as the app starts, and its
    connection pool retries on no error (``retry_on_error=[]``): when Redis is restarted
    or fails over just then, the first refused connection fails the start and the app
    exits. This waits instead, backing off up to 2 s between 20 tries (about 30 s).
    """
    return RedisBroker(
        redis_url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=20),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        graceful_timeout=30.0,
        logger=logging.getLogger("faststream.problems"),
        log_level=logging.DEBUG,
    )


settings = WorkerSettings()
broker = make_broker(settings.redis_url)
worker = Worker(settings)


async def _raw_entries(message: Any, _original: Any) -> StreamMessage[Any]:
    """Keep entries as bytes: FastStream's own parser fails a whole batch on one
    non-UTF-8 payload, which would leave it pending forever."""
    return StreamMessage(raw_message=message, body=b"")


async def _no_decode(_message: Any, _original: Any) -> None:
    return None


_MESSAGE = Context("message")


def _input_subscriber(stream: str, title: str, about: str) -> Any:
    source = StreamSub(
        stream,
        group=settings.group,
        consumer=settings.consumer,
        batch=True,
        max_records=settings.batch_size,
        polling_interval=settings.poll_ms,
    )

    async def consume(message: StreamMessage[Any] = _MESSAGE) -> None:
        raw = message.raw_message
        await worker.handle_batch(stream, list(zip(raw["message_ids"], raw["data"], strict=True)))

    consume.__name__ = title
    return broker.subscriber(
        stream=source,
        ack_policy=AckPolicy.MANUAL,  # XACK only after a checkpoint holds the effect
        parser=_raw_entries,
        decoder=_no_decode,
        title=title,
        description=about,
    )(consume)


_input_subscriber(settings.tickets_stream, "tickets", "Closed support tickets (ticket.closed).")
_input_subscriber(settings.jira_issues_stream, "jira_issues", "Jira issue webhooks.")
_input_subscriber(settings.jira_versions_stream, "jira_versions", "Jira version webhooks.")


@broker.subscriber(
    stream=StreamSub(settings.control_stream, polling_interval=settings.poll_ms),
    title="control",
    description='Commands: {"command": "publish", "kind": "on_demand", "week": "2026-W47"}.',
)
async def control(body: dict[str, Any]) -> None:
    """Act on a control message; every process sees it, only the leader acts."""
    if not worker.leader or not isinstance(body, dict):
        return
    if body.get("command") == "publish":
        week = body.get("week")
        await worker.publish(str(body.get("kind") or "on_demand"), str(week) if week else None)


broker.publisher(
    stream=settings.register_stream,
    title="register",
    description="Register snapshots: fields kind, week, data (JSON). Written with XADD MAXLEN.",
)
broker.publisher(
    stream=settings.dlq_stream,
    title="dead_letters",
    description="Dead letters: reason, source_stream, source_id, deliveries, payload "
    "(utf-8 or base64, see payload_encoding).",
)


def _input_subscribers() -> list[Any]:
    return [sub for sub in broker.subscribers if getattr(sub, "calls", None)][:3]


@get(include_in_schema=False)
async def health(_scope: Any) -> AsgiResponse:
    """200 while leading with every subscriber consuming, else 503 with the reason."""
    ok, why = worker.healthy()
    stopped = [sub for sub in _input_subscribers() if not sub.running]
    if ok and stopped:
        ok, why = False, f"{len(stopped)} subscriber(s) stopped"
    body = json.dumps(
        {"status": "ok" if ok else "unhealthy", "reason": why, "consumer": settings.consumer}
    )
    return AsgiResponse(
        body.encode(), status_code=200 if ok else 503, headers={"content-type": "application/json"}
    )


@get(include_in_schema=False)
async def metrics(_scope: Any) -> AsgiResponse:
    """Prometheus text format."""
    subs = _input_subscribers()
    text = await worker.metrics_text(sum(1 for sub in subs if sub.running), len(subs))
    return AsgiResponse(
        text.encode(), status_code=200, headers={"content-type": "text/plain; version=0.0.4"}
    )


def tune_gc() -> None:
    """Collect young objects every 50,000 allocations rather than 700.

    Ingest allocates a few hundred objects per event (parsed event, record, masked
    texts), nearly all of which either die young by reference counting or stay in the
    state; at the default threshold the cyclic collector ran every couple of events and
    took about a quarter of ingest's CPU time (bench/worker.py). It finds little: the
    state holds no reference cycles to speak of. A higher threshold keeps it from
    re-scanning survivors so often; memory held by uncollected cycles stays small.
    """
    gc.set_threshold(50_000, 10, 10)


async def _startup() -> None:
    """Wait for the lease (hot standby), then recover before the subscribers start."""
    setup_logging(settings.log_level)
    tune_gc()
    await worker.start()


async def _after_startup() -> None:
    worker.on_lease_lost = app.exit
    worker.start_background()


async def _after_shutdown() -> None:
    await worker.stop()


app = AsgiFastStream(
    broker,
    asgi_routes=[("/health", health), ("/metrics", metrics)],
    on_startup=[_startup],
    after_startup=[_after_startup],
    after_shutdown=[_after_shutdown],
    asyncapi_path="/docs",
    logger=logging.getLogger("problems.worker.app"),
)


def main() -> None:
    """Run the worker with its HTTP endpoints (``python -m worker``)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None)
    )
    # A standby waits inside startup, where uvicorn cannot interrupt it: let it look.
    worker.should_stop = lambda: server.should_exit
    server.run()


if __name__ == "__main__":
    main()
