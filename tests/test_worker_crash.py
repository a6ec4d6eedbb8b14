"""Crash and outage tests of the worker: kill -9 at random points, Redis restarted."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from problems import streams
from problems.sample import generate_sample
from tests.conftest import WorkerProcess, free_port, wait_until
from tests.poison import (
    comparable,
    differences,
    done,
    push,
    reference_snapshot,
    saved_cursor,
    saved_state,
    start_reference,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SpawnWorker = Callable[..., WorkerProcess]


def _cursor(client: redis.Redis) -> dict[str, str]:
    return saved_cursor(client)


def _applied_once(snapshot: dict[str, object], events: list[dict[str, object]]) -> None:
    """Every ticket event id is in the state exactly once."""
    tickets = snapshot["tickets"]
    assert isinstance(tickets, list)
    seen = Counter(event_id for ticket in tickets for event_id in ticket["event_ids"])
    expected = Counter(str(e["event_id"]) for e in events if e.get("event_type"))
    assert seen == expected


def test_kill_9_at_random_points_loses_and_doubles_nothing(
    redis_client: redis.Redis, spawn_worker: SpawnWorker
) -> None:
    events = generate_sample(seed=21, n_tickets=19_000).events
    assert len(events) >= 20_000
    expected = start_reference(events)  # in parallel with the workers
    push(redis_client, events)
    rng = random.Random(21)
    kills = 0
    mid_run_kills = 0
    workers: list[WorkerProcess] = []
    while kills < 4 and not done(redis_client):
        worker = spawn_worker(lease_ms=4_000, checkpoint_seconds=0.5)
        workers.append(worker)
        before = _cursor(redis_client)
        # Kill only once this run made durable progress, so the test also proves
        # restarts move forward; then at a random moment after that.
        wait_until(
            lambda b=before: _cursor(redis_client) != b or done(redis_client),  # type: ignore[misc]
            120,
            workers=[worker],
        )
        # Short random delays: a fast machine may finish the whole run in a few seconds.
        time.sleep(rng.uniform(0.0, 0.8))
        mid_run_kills += not done(redis_client)
        worker.kill()
        kills += 1
    last = spawn_worker(lease_ms=4_000)
    workers.append(last)
    wait_until(lambda: done(redis_client), 400, every=0.5, workers=[last])
    assert kills >= 2
    assert mid_run_kills >= 2, "the run ended before the worker could be killed twice mid-run"
    assert redis_client.xlen(streams.DLQ_STREAM) == 0
    got = comparable(saved_state(redis_client) or b"")
    assert differences(got, comparable(expected())) == []
    _applied_once(got, events)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A private redis-server (AOF, fsync always) and a function that restarts it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(tmp_path),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL)]
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_until(lambda: _pings(client), 10)

    def restart() -> None:
        processes[-1].kill()  # as hard as it gets; the AOF has every write
        processes[-1].wait()
        time.sleep(1.0)
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        wait_until(lambda: _pings(client), 10)

    yield url, restart
    client.close()
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


async def test_broker_starts_while_redis_comes_back(tmp_path: Path) -> None:
    """The app's broker creates its consumer groups as it starts: with Redis down for
    6 s at that moment (restarted, failing over) it waits for it rather than failing."""
    import asyncio

    from faststream.redis import StreamSub

    import worker as worker_module

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    url = f"redis://127.0.0.1:{port}/0"
    broker = worker_module.make_broker(url)

    @broker.subscriber(stream=StreamSub("probe.stream", group="probe", consumer="c"))
    async def probe(body: bytes) -> None:
        return None

    started = time.monotonic()
    server: subprocess.Popen[bytes] | None = None

    async def bring_redis_up_later() -> None:
        nonlocal server
        await asyncio.sleep(6.0)
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    later = asyncio.create_task(bring_redis_up_later())
    try:
        await broker.start()
        assert time.monotonic() - started >= 6.0  # it did wait for the server
        client = redis.Redis.from_url(url)
        groups = client.xinfo_groups("probe.stream")
        assert [group["name"] for group in groups] == [b"probe"]
        client.close()
    finally:
        await later
        await broker.stop()
        if server is not None:
            server.kill()
            server.wait()


def test_redis_restarted_mid_run_nothing_lost(
    own_redis: tuple[str, Callable[[], None]], spawn_worker: SpawnWorker
) -> None:
    url, restart = own_redis
    client = redis.Redis.from_url(url)
    events = generate_sample(seed=31, n_tickets=1_500).events
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    worker = spawn_worker(redis_url=url, checkpoint_seconds=0.5)
    push(client, first)
    wait_until(lambda: _cursor(client), 60, workers=[worker])
    restart()
    push(client, second)
    wait_until(lambda: done(client), 120, every=0.5, workers=[worker])
    assert worker.alive()
    assert client.xlen(streams.DLQ_STREAM) == 0
    got = comparable(saved_state(client) or b"")
    assert differences(got, comparable(reference_snapshot(events))) == []
    _applied_once(got, events)
    wait_until(lambda: worker.http("/health")[0] == 200, 30, workers=[worker])
    client.close()
