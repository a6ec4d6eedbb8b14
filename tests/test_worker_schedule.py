"""Scheduled publishing (weekly register, daily movers) with a controlled clock, against a
real Redis: an in-process worker that leads, recovers the events and publishes when due."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from problems import streams
from problems.sample import generate_sample
from tests.poison import push

pytestmark = pytest.mark.redis


def _published(client: redis.Redis) -> list[tuple[str, str]]:
    return [
        (fields[b"kind"].decode(), fields[b"week"].decode())
        for _, fields in client.xrange(streams.REGISTER_STREAM)
    ]


async def test_weekly_and_daily_movers_publish_once_each_when_due(
    redis_url: str, redis_client: redis.Redis
) -> None:
    import worker as worker_module

    push(redis_client, generate_sample(seed=9, n_tickets=120).events)
    settings = worker_module.WorkerSettings(
        redis_url=redis_url, consumer="schedule-test", publish_weekday=0, publish_hour=6
    )
    instance = worker_module.Worker(settings)
    await instance.acquire()
    try:
        await instance.recover()
        monday = datetime(2026, 3, 2, tzinfo=UTC)  # ISO week 2026-W10
        assert await instance.publish_due(monday.replace(hour=5, minute=59)) == []
        assert _published(redis_client) == []

        assert await instance.publish_due(monday.replace(hour=6)) == ["weekly", "movers"]
        assert _published(redis_client) == [("weekly", "2026-W09"), ("movers", "2026-W10")]
        # Later the same day, and after a restart (the marks live in Redis): nothing more.
        assert await instance.publish_due(monday.replace(hour=23)) == []
        restarted = worker_module.Worker(settings)
        restarted.pipeline = instance.pipeline
        assert await restarted.publish_due(monday.replace(hour=7)) == []
        await restarted.redis.aclose()
        restarted.sync.close()

        tuesday = monday.replace(day=3, hour=6, minute=1)
        assert await instance.publish_due(tuesday) == ["movers"]
        next_monday = monday.replace(day=9, hour=8)
        assert await instance.publish_due(next_monday) == ["weekly", "movers"]
        assert _published(redis_client)[-3:] == [
            ("movers", "2026-W10"),
            ("weekly", "2026-W10"),
            ("movers", "2026-W11"),
        ]
        entry = redis_client.xrange(streams.REGISTER_STREAM)[-1][1]
        assert entry[b"published_at"].decode() == next_monday.isoformat(timespec="seconds")
        latest = redis_client.get(streams.REGISTER_LATEST_KEY)
        assert latest is not None and b'"week": "2026-W11"' in latest.replace(b'":"', b'": "')
    finally:
        await instance.stop()
