"""The two-method persistence boundary: in memory, on disk, and in Redis with deltas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from problems.store import (
    BaseMissing,
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


@pytest.mark.redis
def test_a_base_in_parts_lands_whole_or_not_at_all(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from problems import store as store_module
    from problems.store import parts_chain_bytes

    monkeypatch.setattr(store_module, "PART_BYTES", 10)  # so a part spans several keys
    keys = ("state", "lease", "owner")
    old = FencedRedisStore(redis_client, *keys, token="old", lease_ms=60_000)
    assert old.acquire()
    old.save_state(b'{"n": 0}')  # a full snapshot first: the first base replaces it

    def manifest(n: int) -> Any:
        def build(parts: dict[str, list[str]], generation: int, _previous: Any) -> bytes:
            return json.dumps(
                {"checkpoint_version": 3, "n": n, "generation": generation, "parts": parts},
                separators=(",", ":"),
            ).encode()

        return build

    def part(data: bytes) -> Any:
        return lambda: data

    with pytest.raises(BaseMissing):  # nothing to add parts to: the first is whole
        old.save_parts([("b", part(b'["b0"]'))], manifest(0))
    first_parts = [("a", part(b'["a1", "a1-long-enough"]')), ("b", part(b'["b1"]'))]
    old.save_parts(first_parts, manifest(1), full=True)
    old.save_delta(b'{"d": 1}')
    first = old.load_state()
    assert first is not None and first.startswith(b'{"chain_version": 2')
    document = json.loads(first)
    assert document["parts"] == {"a": ["a1", "a1-long-enough"], "b": ["b1"]}
    assert document["deltas"] == [{"d": 1}]
    assert len(old.parts["a"]) == 3  # 23 bytes in keys of 10
    assert RedisStore(redis_client, "state").load_state() == first  # what analysis reads

    def crash() -> bytes:
        raise RuntimeError("killed between two parts")

    with pytest.raises(RuntimeError):
        old.save_parts([("b", part(b'["b2"]')), ("a", crash)], manifest(2))
    assert old.load_state() == first  # the previous base stands, with its deltas
    assert old.collect_garbage() == 1  # the part of b written before the crash
    old.save_parts([("b", part(b'["b3"]'))], manifest(3))  # "a" is kept as it was
    second = json.loads(old.load_state() or b"")
    assert second["manifest"]["n"] == 3 and second["deltas"] == []
    assert second["parts"] == {"a": ["a1", "a1-long-enough"], "b": ["b3"]}
    live = {key for keys in old.parts.values() for key in keys}
    assert {key.decode() for key in redis_client.scan_iter("state:part:*")} == live

    redis_client.delete("lease")
    new = FencedRedisStore(redis_client, *keys, token="new", lease_ms=60_000)
    assert new.acquire()
    with pytest.raises(LeaseLost):
        old.save_parts([("b", part(b'["stale"]'))], manifest(4))
    redis_client.set("state:part:99:x:0", b"orphan")
    with pytest.raises(LeaseLost):
        old.collect_garbage()  # a stale writer deletes nothing
    assert new.collect_garbage() == 1
    assert new.load_state() is not None and new.parts == old.parts
    new.save_state(b'{"n": 5}')  # a full snapshot again: every part goes
    assert new.load_state() == b'{"n": 5}'
    assert not list(redis_client.scan_iter("state:part:*"))
    assert parts_chain_bytes(b"{}", {}, []) == (
        b'{"chain_version": 2, "manifest": {}, "parts": {}, "deltas": []}'
    )


@pytest.mark.redis
def test_a_base_whose_reply_was_lost_is_built_upon(redis_client: redis.Redis) -> None:
    """The manifest landed but the writer saw an error (Redis died before replying): the
    next base keeps the parts that one named, its engine part and its position."""
    from problems.events import parse_event
    from problems.pipeline import Pipeline
    from problems.sample import generate_sample

    events = [parse_event(payload) for payload in generate_sample(seed=5, n_tickets=120).events]
    reference = Pipeline()
    reference.apply_many(events)
    store = FencedRedisStore(redis_client, "state", "lease", "owner", token="w", lease_ms=60_000)
    assert store.acquire()
    pipeline = Pipeline()
    pipeline.defer_clustering = True

    def write(with_engine: bool, *, lost: bool = False) -> None:
        view = pipeline.parts_view(with_engine=with_engine)
        remembered = dict(store.parts)
        store.save_parts(
            [(name, lambda part=part: pipeline.encode_part(part)) for name, part in view.parts],
            lambda names, generation, previous: pipeline.encode_manifest(
                view, names, generation, previous
            ),
            full=view.full,
        )
        if lost:
            pipeline.base_failed(view)
            store.parts = remembered  # and the writer remembers the base before it
        else:
            pipeline.base_landed(view)

    pipeline.apply_many(events[:40])
    write(False)
    pipeline.apply_many(events[40:80])
    pipeline.cluster_pending()
    write(True, lost=True)  # replaced the engine part: the first one is gone
    pipeline.apply_many(events[80:])
    write(False)
    restored = Pipeline.load(store.load_state() or b"")
    assert restored.save() == reference.save()
