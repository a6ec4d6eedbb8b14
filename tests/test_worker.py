"""The worker against a real Redis: end to end, poison input, one writer with a standby."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from problems import streams
from problems.backfill import request_publish
from problems.sample import generate_sample
from problems.store import FencedRedisStore, LeaseLost
from tests.builders import ticket_payload
from tests.conftest import WorkerProcess, wait_until
from tests.poison import (
    comparable,
    differences,
    done,
    poison_corpus,
    push,
    reference_snapshot,
    saved_cursor,
    saved_state,
)

pytestmark = pytest.mark.redis

SpawnWorker = Callable[..., WorkerProcess]


def test_end_to_end_register_published(
    redis_client: redis.Redis, spawn_worker: SpawnWorker, tmp_path: Path
) -> None:
    events = generate_sample(seed=5, n_tickets=150).events
    push(redis_client, events)
    output = tmp_path / "out"
    worker = spawn_worker(output_dir=str(output))
    wait_until(lambda: done(redis_client) or not worker.alive(), 90)
    assert worker.alive()
    state = saved_state(redis_client)
    assert state is not None
    assert comparable(state) == comparable(reference_snapshot(events))

    request_publish(redis_client, kind="on_demand")
    latest = wait_until(lambda: redis_client.get(streams.REGISTER_LATEST_KEY), 60)
    snapshot = json.loads(latest)
    assert snapshot["schema_version"] and snapshot["week"] and "rows" in snapshot
    entries = redis_client.xrange(streams.REGISTER_STREAM)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"kind"] == b"on_demand"
    assert fields[b"digest"].decode() == hashlib.sha256(latest).hexdigest()
    assert fields[b"week"].decode() == snapshot["week"]
    wanted = {".json", ".md", ".html", ".csv", ".parquet"}
    wait_until(lambda: wanted <= {p.suffix for p in output.glob("register-*")}, 30)

    wait_until(lambda: worker.http("/health")[0] == 200, 30, workers=[worker])
    status, text = worker.http("/metrics")
    assert status == 200
    for name in (
        "problems_events_applied_total",
        "problems_consumer_lag",
        "problems_pending",
        "problems_dead_letters_total",
        "problems_clusters",
        "problems_processing_latency_seconds_bucket",
    ):
        assert name in text
    applied = [line for line in text.splitlines() if line.startswith("problems_events_applied")]
    assert applied == [f"problems_events_applied_total {len(events)}"]
    assert worker.terminate() in (0, -15)
    assert redis_client.get(streams.LEASE_KEY) is None  # released on graceful exit


def test_poison_corpus_is_dead_lettered_and_good_events_applied(
    redis_client: redis.Redis, spawn_worker: SpawnWorker
) -> None:
    corpus = poison_corpus()
    good = [
        ticket_payload(event_id=f"good-{index}", ticket_id=f"G-{index}")
        for index in range(len(corpus) + 1)
    ]
    ids: dict[str, bytes] = {}
    for index, (name, stream, fields) in enumerate(corpus):
        push(redis_client, [good[index]])
        ids[name] = redis_client.xadd(stream, fields)  # type: ignore[arg-type]
    push(redis_client, [good[-1]])
    worker = spawn_worker()
    wait_until(lambda: done(redis_client) or not worker.alive(), 60)
    assert worker.alive()
    wait_until(lambda: worker.http("/health")[0] == 200, 30, workers=[worker])

    letters = {
        fields[b"source_id"]: fields for _, fields in redis_client.xrange(streams.DLQ_STREAM)
    }
    assert set(letters) == set(ids.values())
    for name, stream, fields in corpus:
        letter = letters[ids[name]]
        assert letter[b"source_stream"].decode() == stream
        assert letter[b"reason"], name
        original = fields.get(streams.PAYLOAD_FIELD.encode(), b"")
        stored = letter[b"payload"]
        if letter[b"payload_encoding"] == b"base64":
            stored = base64.b64decode(stored)
        assert stored == original, name
    assert b"not UTF-8" in letters[ids["invalid UTF-8"]][b"reason"]
    assert b"ticket_id" in letters[ids["missing required field"]][b"reason"]
    assert b"unknown event type" in letters[ids["unknown event type"]][b"reason"]
    assert b"larger than" in letters[ids["10 MB description"]][b"reason"]
    assert b"nested" in letters[ids["deeply nested JSON"]][b"reason"]

    state = comparable(saved_state(redis_client) or b"")
    assert sorted(ticket["ticket_id"] for ticket in state["tickets"]) == sorted(
        payload["ticket_id"] for payload in good
    )


def test_pipeline_bug_is_isolated_and_dead_lettered(
    redis_client: redis.Redis, spawn_worker: SpawnWorker
) -> None:
    events = [
        ticket_payload(event_id=f"e-{index}", ticket_id=f"T-{index}", subject=f"case {index}")
        for index in range(20)
    ]
    events[7] = dict(events[7], subject="BOOM goes the pipeline")
    push(redis_client, events)
    worker = spawn_worker(pipeline="tests.poison:ExplodingPipeline")
    wait_until(lambda: done(redis_client) or not worker.alive(), 60)
    assert worker.alive()
    letters = redis_client.xrange(streams.DLQ_STREAM)
    assert len(letters) == 1
    assert b"RuntimeError" in letters[0][1][b"reason"]
    state = comparable(saved_state(redis_client) or b"")
    kept = sorted(ticket["ticket_id"] for ticket in state["tickets"])
    assert kept == sorted(f"T-{index}" for index in range(20) if index != 7)


def test_two_workers_one_writer_and_standby_takeover(
    redis_client: redis.Redis, spawn_worker: SpawnWorker
) -> None:
    sample = generate_sample(seed=11, n_tickets=300).events
    first, second = sample[: len(sample) // 2], sample[len(sample) // 2 :]
    workers = [spawn_worker(lease_ms=2_000), spawn_worker(lease_ms=2_000)]
    push(redis_client, first)
    wait_until(lambda: done(redis_client), 90, workers=workers)
    holder = redis_client.get(streams.LEASE_KEY)
    assert holder is not None
    leader = next(w for w in workers if holder.decode().startswith(w.consumer + ":"))
    standby = next(w for w in workers if w is not leader)
    assert standby.alive()
    got = comparable(saved_state(redis_client) or b"")
    want = comparable(reference_snapshot(first))
    assert differences(got, want) == []

    leader.kill()
    push(redis_client, second)
    wait_until(lambda: done(redis_client), 90, workers=workers)
    holder = redis_client.get(streams.LEASE_KEY)
    assert holder is not None and holder.decode().startswith(standby.consumer + ":")
    assert comparable(saved_state(redis_client) or b"") == comparable(reference_snapshot(sample))
    assert redis_client.xlen(streams.DLQ_STREAM) == 0


def test_fenced_store_refuses_a_stale_writer(redis_client: redis.Redis) -> None:
    keys = ("state", "lease", "owner")
    old = FencedRedisStore(redis_client, *keys, token="old", lease_ms=60_000)
    new = FencedRedisStore(redis_client, *keys, token="new", lease_ms=60_000)
    assert old.acquire()
    assert not new.acquire()
    old.save_state(b"v1")
    redis_client.delete("lease")  # the old writer's lease lapsed ...
    assert new.acquire()  # ... and a standby took over
    new.save_state(b"v2")
    with pytest.raises(LeaseLost):
        old.save_state(b"stale")
    assert not old.renew()
    assert new.load_state() == b"v2"
    redis_client.delete("lease")  # lapsed again, nobody else wrote since: resume
    assert new.renew()
    assert not old.renew()  # the old writer was overtaken: never again
    new.release()
    assert redis_client.get("lease") is None


def test_trimming_keeps_everything_after_the_checkpoint(
    redis_client: redis.Redis, spawn_worker: SpawnWorker
) -> None:
    events = [
        ticket_payload(event_id=f"e-{index}", ticket_id=f"T-{index}", subject=f"case {index}")
        for index in range(1_500)
    ]
    push(redis_client, events[:1_000])
    worker = spawn_worker(trim_inputs="true")
    wait_until(lambda: done(redis_client), 90, workers=[worker])
    push(redis_client, events[1_000:])
    wait_until(lambda: done(redis_client), 90, workers=[worker])
    cursor = saved_cursor(redis_client)[streams.TICKETS_STREAM]
    # Trimming (MINID at the checkpoint cursor) removed old entries but never the cursor
    # entry or anything after it.
    assert redis_client.xrange(streams.TICKETS_STREAM, min=cursor, max=cursor)
    assert redis_client.xlen(streams.TICKETS_STREAM) < 1_500
    state = comparable(saved_state(redis_client) or b"")
    assert len(state["tickets"]) == 1_500


async def test_loop_keeps_serving_while_a_full_snapshot_is_written(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """A full snapshot is encoded and written off the event loop: while one is in
    flight (held open here, as a very large state would hold it), /health and /metrics
    answer and batches are applied, but nothing is acked before a checkpoint holds it,
    and the delta written after the snapshot lands survives it."""
    import asyncio
    import threading
    import time

    import worker as worker_module
    from problems.pipeline import Pipeline
    from problems.store import deltas_key

    tickets = [
        ticket_payload(event_id=f"e-{index}", ticket_id=f"T-{index}", subject=f"case {index}")
        for index in range(60)
    ]
    push(redis_client, tickets[:40])
    settings = worker_module.WorkerSettings(redis_url=redis_url, consumer="snapshot-test")
    instance = worker_module.Worker(settings)
    await instance.acquire()
    try:
        await instance.recover()  # applies the first 40 and writes the first snapshot
        await instance.cluster_all()  # so that the next base holds the engine again
        await instance.metrics_text(0, 0)
        # Hold the next snapshot's encoding open (the engine is encoded in it): a state
        # encoded on the event loop would freeze the loop for the whole time.
        entered, release = threading.Event(), threading.Event()
        engine = instance.pipeline.engine_
        to_state = engine.to_state

        def slow_to_state() -> dict[str, object]:
            entered.set()
            release.wait(5.0)
            return to_state()

        engine.to_state = slow_to_state
        push(redis_client, tickets[40:])
        started = time.monotonic()
        writing = asyncio.create_task(instance.checkpoint(base=True))
        while not entered.is_set():
            await asyncio.sleep(0.01)

        assert instance.healthy() == (True, "ok")
        text = await asyncio.wait_for(instance.metrics_text(0, 0), 2.0)
        assert "problems_tickets 40" in text
        stream, group = streams.TICKETS_STREAM, settings.group
        reply = await instance.redis.xreadgroup(group, settings.consumer, {stream: ">"})
        entries = reply[0][1]
        assert len(entries) == 20
        await asyncio.wait_for(instance.handle_batch(stream, entries), 2.0)
        assert len(instance.pipeline.tickets_) == 60
        assert time.monotonic() - started < 2.0, "the event loop was held by the snapshot"
        assert not writing.done()
        # Applied, not durable yet: still pending.
        assert redis_client.xpending(stream, group)["pending"] == 20

        release.set()
        assert await writing
        assert redis_client.xpending(stream, group)["pending"] == 20  # not in that base
        assert await instance.checkpoint()  # a delta, after the snapshot
        assert redis_client.xpending(stream, group)["pending"] == 0
        assert redis_client.llen(deltas_key(settings.checkpoint_key)) == 1
        restored = Pipeline.load(instance.store.load_state() or b"")
        assert set(restored.tickets_) == {f"T-{index}" for index in range(60)}
        assert restored.cursor_[stream] == entries[-1][0].decode()
    finally:
        release.set()
        await instance.stop()


async def test_startup_recovers_again_when_redis_goes_away_during_recovery(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Redis restarted while the worker recovers (here: the first ack after the
    recovery checkpoint fails, as it did when a restart fell in that window): startup
    recovers again from that checkpoint instead of exiting, and nothing is applied twice."""
    import worker as worker_module
    from problems.pipeline import Pipeline

    tickets = [
        ticket_payload(event_id=f"e-{index}", ticket_id=f"T-{index}", subject=f"case {index}")
        for index in range(30)
    ]
    push(redis_client, tickets)
    settings = worker_module.WorkerSettings(redis_url=redis_url, consumer="restart-test")
    instance = worker_module.Worker(settings)
    ack = instance._ack
    failures: list[int] = []

    async def ack_once_failing(*args: object) -> None:
        if not failures:
            failures.append(1)
            raise redis.ConnectionError("Error while reading: Connection reset by peer")
        await ack(*args)  # type: ignore[arg-type]

    instance._ack = ack_once_failing  # type: ignore[method-assign]
    try:
        await instance.start()
        assert failures == [1]
        assert instance.leader
        group = settings.group
        assert redis_client.xpending(streams.TICKETS_STREAM, group)["pending"] == 0
        restored = Pipeline.load(instance.store.load_state() or b"")
        assert set(restored.tickets_) == {f"T-{index}" for index in range(30)}
        assert restored.n_applied_ == 30
    finally:
        await instance.stop()
