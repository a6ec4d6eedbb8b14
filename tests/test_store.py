"""The two-method persistence boundary: in memory, on disk, and in Redis with deltas."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from problems.store import (
    FencedRedisStore,
    FileStore,
    LeaseLost,
    MemoryStore,
    RedisStore,
    StateStore,
    deltas_key,
)


def test_stores_follow_the_protocol(tmp_path: Path) -> None:
    for store in (MemoryStore(), FileStore(tmp_path / "state.json")):
        assert isinstance(store, StateStore)
        assert store.load_state() is None
        store.save_state(b"one")
        store.save_state(b"two")
        assert store.load_state() == b"two"


def test_file_store_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.json"
    store = FileStore(path)
    store.save_state(b"x" * 1000)
    store.save_state(b"y")
    assert path.read_bytes() == b"y"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


@pytest.mark.redis
def test_deltas_follow_the_snapshot_and_are_fenced(redis_client: redis.Redis) -> None:
    keys = ("state", "lease", "owner")
    old = FencedRedisStore(redis_client, *keys, token="old", lease_ms=60_000)
    new = FencedRedisStore(redis_client, *keys, token="new", lease_ms=60_000)
    assert old.acquire()
    old.save_state(b'{"n": 1}')
    old.save_delta(b'{"d": 1}')
    old.save_delta(b'{"d": 2}')
    chain = b'{"chain_version": 1, "base": {"n": 1}, "deltas": [{"d": 1}, {"d": 2}]}'
    assert old.load_state() == chain
    assert RedisStore(redis_client, "state").load_state() == chain  # what analysis reads
    redis_client.delete("lease")
    assert new.acquire()
    with pytest.raises(LeaseLost):
        old.save_delta(b'{"d": "stale"}')
    assert new.load_state() == chain
    new.save_state(b'{"n": 2}')  # a snapshot replaces the deltas it covers
    assert new.load_state() == b'{"n": 2}'
    assert redis_client.llen(deltas_key("state")) == 0
