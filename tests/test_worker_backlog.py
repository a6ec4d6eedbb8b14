"""Fast tests of the worker's backlog detection and latency histogram (no Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st


def _worker() -> Any:
    import worker

    settings = worker.WorkerSettings(redis_url="redis://127.0.0.1:6379/15", batch_size=2)
    return worker.Worker(settings)


@settings(deadline=None)  # the first example imports the worker module
@given(st.lists(st.floats(min_value=0.0, max_value=100.0), max_size=50))
def test_latency_buckets_count_each_value_once_in_its_first_bound(values: list[float]) -> None:
    import worker

    latency = worker._Latency()
    latency.observe_many(iter(values))
    expected = [0] * len(latency.buckets)
    for value in values:
        for index, bound in enumerate(latency.buckets):
            if value <= bound:
                expected[index] += 1
                break
    assert latency.counts == expected
    assert latency.total == len(values) and list(latency.recent) == values


def test_backlog_lasts_while_a_full_batch_is_in_hand_or_not_yet_durable() -> None:
    worker = _worker()
    assert not worker._backlog()
    worker.full_batches_in_hand = 1  # a full batch waits for the lock or is applied
    assert worker._backlog()
    worker.full_batches_in_hand = 0
    worker.full_batches = 3  # applied a second ago, the last one not in a checkpoint yet
    worker.last_full_batch_at = time.monotonic() - 1
    worker.full_batches_durable = 2
    assert worker._backlog()
    worker.full_batches_durable = 3
    assert not worker._backlog()
    worker.full_batches_durable = 2  # checkpoints keep failing: clustering goes on
    worker.last_full_batch_at = time.monotonic() - 10
    assert not worker._backlog()


def test_handle_batch_counts_its_full_batch_in_hand_until_it_ends() -> None:
    worker = _worker()
    seen: list[bool] = []

    async def handle(stream: str, entries: Any) -> None:
        seen.append(worker._backlog())

    worker._handle_batch = handle
    asyncio.run(worker.handle_batch("s", [(b"1-0", {}), (b"2-0", {})]))
    asyncio.run(worker.handle_batch("s", [(b"3-0", {})]))
    assert seen == [True, False]
    assert worker.full_batches_in_hand == 0
