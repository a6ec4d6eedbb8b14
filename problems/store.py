"""The persistence boundary: two methods, ``save_state(bytes)`` and ``load_state()``.

Everything stateful in `problems` serializes itself to bytes (versioned JSON, never
pickle); where those bytes live is the store's business alone. `MemoryStore` serves tests
and notebooks, `FileStore` the command line (written atomically), and `RedisStore` the
worker (a connection is passed in; this module never opens one).

Examples
--------
>>> store = MemoryStore()
>>> store.load_state() is None
True
>>> store.save_state(b'{"schema_version": 1}')
>>> store.load_state()
b'{"schema_version": 1}'
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from problems.errors import SnapshotError, TransientError

__all__ = [
    "CHAIN_VERSION",
    "MANIFEST_PREFIX",
    "PARTS_CHAIN_VERSION",
    "PART_BYTES",
    "BaseMissing",
    "FencedRedisStore",
    "FileStore",
    "LeaseLost",
    "MemoryStore",
    "RedisStore",
    "StateStore",
    "chain_bytes",
    "deltas_key",
    "parts_chain_bytes",
    "parts_prefix",
]

CHAIN_VERSION = 1
"""Version of a checkpoint chain: a full snapshot and the deltas written after it."""

PARTS_CHAIN_VERSION = 2
"""Version of a checkpoint chain whose base is in parts: its manifest, the parts it names
and the deltas written after it (`parts_chain_bytes`)."""

MANIFEST_PREFIX = b'{"checkpoint_version":'
"""How the value under the checkpoint key begins when it is the manifest of a base in
parts (a full snapshot begins otherwise)."""

PART_BYTES = 64 << 20
"""Largest value written under one key: a part is split into keys of this size (Redis
refuses any value over 512 MB, and a large one blocks it while it is copied)."""


def chain_bytes(base: bytes, deltas: list[bytes]) -> bytes:
    """One JSON document of a full snapshot and the deltas written after it, in order
    (`problems.pipeline.Pipeline.load` reads it); the snapshot alone when there are none.

    The parts are joined as bytes, never re-encoded, so this costs a copy, not a parse.

    >>> chain_bytes(b'{"n": 1}', [b'{"d": 2}'])
    b'{"chain_version": 1, "base": {"n": 1}, "deltas": [{"d": 2}]}'
    """
    if not deltas:
        return base
    parts = (b'{"chain_version": ', str(CHAIN_VERSION).encode(), b', "base": ', base)
    return b"".join((*parts, b', "deltas": [', b", ".join(deltas), b"]}"))


def parts_chain_bytes(manifest: bytes, parts: dict[str, bytes], deltas: list[bytes]) -> bytes:
    """One JSON document of a base in parts (its manifest and each part by name) and the
    deltas written after it, joined as bytes like `chain_bytes`.

    >>> parts_chain_bytes(b'{"m": 1}', {"a": b"[]"}, [])
    b'{"chain_version": 2, "manifest": {"m": 1}, "parts": {"a": []}, "deltas": []}'
    """
    pieces = [b'{"chain_version": ', str(PARTS_CHAIN_VERSION).encode(), b', "manifest": ']
    pieces += [manifest, b', "parts": {']
    for index, (name, data) in enumerate(parts.items()):
        pieces += [b", " if index else b"", json.dumps(name).encode(), b": ", data]
    pieces += [b'}, "deltas": [', b", ".join(deltas), b"]}"]
    return b"".join(pieces)


def deltas_key(key: str) -> str:
    """The Redis list of the deltas written after the snapshot under ``key``."""
    return f"{key}:deltas"


def parts_prefix(key: str) -> str:
    """Prefix of the keys of the parts of a base in parts stored under ``key``."""
    return f"{key}:part:"


def _manifest_parts(value: bytes | None) -> dict[str, list[str]]:
    """Keys of every part named by the value under a checkpoint key (none for a full
    snapshot)."""
    if value is None or not value.startswith(MANIFEST_PREFIX):
        return {}
    return {str(name): list(keys) for name, keys in json.loads(value)["parts"].items()}


def _read_chain(
    client: Any, key: str, owner_key: str | None = None
) -> tuple[bytes | None, str, dict[str, list[str]]]:
    """The checkpoint under ``key`` as one document (a chain when deltas follow the base),
    and its owner token.

    The base, the deltas and the owner are read in one ``MULTI``; a base in parts then
    has its parts read by the keys its manifest names. Parts are never changed once
    written, only deleted when a newer base replaces them, so a part found missing means
    a newer base landed meanwhile: read again.
    """
    missing: list[str] = []
    seen: bytes | None = None
    for _ in range(10):
        pipe = client.pipeline(transaction=True)
        pipe.get(key)
        pipe.lrange(deltas_key(key), 0, -1)
        if owner_key is not None:
            pipe.get(owner_key)
        value, deltas, *rest = pipe.execute()
        owner = rest[0] if rest else None
        owner_text = owner.decode() if isinstance(owner, bytes) else (owner or "")
        if value is None:
            return None, owner_text, {}
        deltas = [bytes(delta) for delta in deltas]
        if not value.startswith(MANIFEST_PREFIX):
            return chain_bytes(bytes(value), deltas), owner_text, {}
        if value == seen:
            # The same manifest twice, a part missing both times: not a newer base.
            raise SnapshotError(
                f"the base under {key!r} names parts that do not exist ({missing[0]}): "
                "rebuild the state by replaying the events"
            )
        seen = value
        names = _manifest_parts(value)
        parts: dict[str, bytes] = {}
        for name, keys in names.items():
            chunks = client.mget(keys) if keys else []
            missing = [k for k, chunk in zip(keys, chunks, strict=True) if chunk is None]
            if missing:
                break
            parts[name] = b"".join(chunks)
        else:
            return parts_chain_bytes(bytes(value), parts, deltas), owner_text, names
    raise TransientError(f"the base under {key!r} kept changing while it was read")


@runtime_checkable
class StateStore(Protocol):
    """Where a snapshot of state is kept."""

    def save_state(self, data: bytes) -> None:
        """Replace the saved state by ``data``."""
        ...

    def load_state(self) -> bytes | None:
        """The saved state, or None when nothing was saved yet."""
        ...


class MemoryStore:
    """Keeps the snapshot in memory; for tests and notebooks."""

    def __init__(self) -> None:
        self._data: bytes | None = None

    def save_state(self, data: bytes) -> None:
        self._data = bytes(data)

    def load_state(self) -> bytes | None:
        return self._data


class FileStore:
    """Keeps the snapshot in one file, replaced atomically so a crash leaves the old one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def save_state(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load_state(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None


class RedisStore:
    """Keeps the snapshot under one Redis key of a synchronous redis-py client.

    The worker may also have appended deltas after the snapshot (`deltas_key`), and its
    snapshot may be a base in parts (a manifest under the key naming the keys of its
    parts, `FencedRedisStore.save_parts`); `load_state` returns it all as one chain
    (`chain_bytes` or `parts_chain_bytes`), which `Pipeline.load` reads, and
    `save_state` replaces it all. A ``MULTI`` makes each atomic, so a reader sees the
    old state or the new one, never half of each.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    def save_state(self, data: bytes) -> None:
        head = self.client.getrange(self.key, 0, len(MANIFEST_PREFIX) - 1)
        replaced = _manifest_parts(self.client.get(self.key)) if head == MANIFEST_PREFIX else {}
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key, data)
        pipe.delete(deltas_key(self.key))
        for keys in replaced.values():
            if keys:
                pipe.delete(*keys)
        pipe.execute()

    def load_state(self) -> bytes | None:
        return _read_chain(self.client, self.key)[0]


class LeaseLost(TransientError):
    """Another process holds the writer's lease: this one must stop writing state."""


class BaseMissing(TransientError):
    """A base in parts was to be added to, but the store holds none (the next must be
    whole)."""


# Renew (or take back) the lease: KEYS = lease, owner; ARGV = token, lease ms, base owner.
# A lapsed lease is taken back only if nobody wrote a checkpoint since the one this writer
# loaded (or wrote), so a writer that merely missed renewals (a long GIL-bound load, Redis
# restarting) keeps going safely, and one that was overtaken is refused.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder == false then
  local owner = redis.call('GET', KEYS[2])
  if owner == false or owner == ARGV[1] or owner == ARGV[3] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
  end
end
return 0
"""

# Take a free lease: KEYS = lease; ARGV = token, lease ms.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class FencedRedisStore:
    """A `RedisStore` whose writes succeed only while ``token`` holds the writer's lease.

    Two processes may believe they lead for a moment (a paused leader wakes up after its
    lease lapsed and a standby took over). Fencing makes that harmless: the check of the
    lease and the ``SET`` of the state run as one Lua script, so a stale leader's write
    is refused (`LeaseLost`) and the newer leader's checkpoint survives. Each successful
    write also renews the lease and records ``token`` as the checkpoint's owner.

    Parameters
    ----------
    client
        A synchronous redis-py client (``decode_responses=False``).
    key, lease_key, owner_key
        Keys of the state, the lease and the checkpoint owner.
    token
        This writer's unique lease token.
    lease_ms
        Lease time to live, renewed on each write.
    """

    def __init__(
        self,
        client: Any,
        key: str,
        lease_key: str,
        owner_key: str,
        token: str,
        lease_ms: int = 10_000,
    ) -> None:
        self.client = client
        self.key = key
        self.lease_key = lease_key
        self.owner_key = owner_key
        self.token = token
        self.lease_ms = lease_ms
        self.base_owner = ""
        """Owner token of the checkpoint this writer loaded (set by `load_state`)."""
        self.parts: dict[str, list[str]] = {}
        """Keys of the parts of the base this writer loaded or wrote, by part name."""

    def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); return whether we hold it."""
        keys = [self.lease_key]
        return bool(self.client.eval(_ACQUIRE, len(keys), *keys, self.token, self.lease_ms))

    def renew(self) -> bool:
        """Extend our lease; False when another process holds it."""
        keys = [self.lease_key, self.owner_key]
        arguments = (self.token, self.lease_ms, self.base_owner)
        return bool(self.client.eval(_RENEW, len(keys), *keys, *arguments))

    def release(self) -> None:
        """Give the lease up now (graceful shutdown), if it is still ours."""
        script = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"
        self.client.eval(script, 1, self.lease_key, self.token)

    def save_state(self, data: bytes | bytearray) -> None:
        """Write a full snapshot (dropping the deltas it replaces, and the parts of a base
        in parts it replaces) and renew the lease, or raise `LeaseLost` and write nothing."""
        self._write(data, "base", [key for keys in self.parts.values() for key in keys])
        self.parts = {}

    def save_delta(self, data: bytes | bytearray) -> None:
        """Append a delta after the snapshot, fenced like `save_state`."""
        self._write(data, "delta")

    def save_parts(
        self,
        parts: Iterable[tuple[str, Callable[[], bytes | bytearray]]],
        manifest: Callable[[dict[str, list[str]], int, dict[str, Any]], bytes],
        *,
        full: bool = False,
    ) -> int:
        """Write a base in parts and return its size in bytes: each part (encoded when
        its turn comes, so one is in memory at a time) under keys of its own, then the
        manifest, which names the keys of every part of the base, in place of the
        previous base (dropping its deltas and the parts no longer named).

        Parts named by the previous manifest and not written again are kept (``full``:
        none is). The previous manifest is read from Redis, not remembered: a write whose
        reply was lost may have landed. ``manifest`` gets the keys of every part, the
        generation and that previous manifest (``{}`` if none). Until the manifest is
        written, the previous base stands: a crash between parts leaves a consistent
        checkpoint (and keys nobody names, removed by `collect_garbage`). Every write is
        fenced like `save_state`.

        Raises
        ------
        BaseMissing
            Not ``full``, and there is no base in parts to add to.
        """
        previous = self._current_manifest()
        if not full and not previous:
            raise BaseMissing(f"no base in parts under {self.key!r}: write a whole one")
        self.parts = {str(name): list(keys) for name, keys in previous.get("parts", {}).items()}
        generation = int(self.client.incr(f"{self.key}:generation"))
        written: dict[str, list[str]] = {}
        size = 0
        for name, encode in parts:
            data = encode()
            keys = [
                f"{parts_prefix(self.key)}{generation}:{name}:{index}"
                for index in range(max(1, -(-len(data) // PART_BYTES)))
            ]
            if len(keys) == 1:
                self._write(data, "part", keys)
            else:
                for index, part_key in enumerate(keys):
                    piece = bytes(memoryview(data)[index * PART_BYTES : (index + 1) * PART_BYTES])
                    self._write(piece, "part", [part_key])
            written[name] = keys
            size += len(data)
            del data
        names = dict(written) if full else {**self.parts, **written}
        kept = {key for keys in names.values() for key in keys}
        replaced = [key for keys in self.parts.values() for key in keys if key not in kept]
        document = manifest(names, generation, previous)
        self._write(document, "base", replaced)
        self.parts = names
        return size + len(document)

    def _current_manifest(self) -> dict[str, Any]:
        """The manifest under the key, parsed ({} when the key holds a full snapshot or
        nothing: only its first bytes are read then)."""
        head = self.client.getrange(self.key, 0, len(MANIFEST_PREFIX) - 1)
        if head != MANIFEST_PREFIX:
            return {}
        value = self.client.get(self.key)
        return dict(json.loads(value)) if value is not None else {}

    def collect_garbage(self) -> int:
        """Delete part keys that the current manifest does not name (left by a crash or a
        failed write in the middle of a base); return how many. Only while holding the
        lease, so a newer leader's parts are never touched."""
        current = _manifest_parts(self.client.get(self.key))
        named = {
            key.encode()
            for names in (self.parts, current)
            for keys in names.values()
            for key in keys
        }
        orphans = [
            key
            for key in self.client.scan_iter(match=f"{parts_prefix(self.key)}*", count=1_000)
            if key not in named
        ]
        script = (
            "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
            "for index = 2, #KEYS do redis.call('DEL', KEYS[index]) end return 1"
        )
        for start in range(0, len(orphans), 500):
            batch = orphans[start : start + 500]
            if not self.client.eval(script, 1 + len(batch), self.lease_key, *batch, self.token):
                raise LeaseLost(f"lease {self.lease_key!r} is held by another process")
        return len(orphans)

    def _write(self, data: bytes | bytearray, mode: str, extra: list[str] | None = None) -> None:
        keys = [self.lease_key, self.owner_key, self.key, deltas_key(self.key), *(extra or [])]
        arguments = (self.token, self.lease_ms, data, self.base_owner, mode)
        if not self.client.eval(_SAVE_SCRIPT, len(keys), *keys, *arguments):
            raise LeaseLost(f"lease {self.lease_key!r} is held by another process")
        if mode != "part":
            self.base_owner = self.token

    def load_state(self) -> bytes | None:
        """The state (snapshot and deltas, as `chain_bytes` or `parts_chain_bytes`),
        remembering who wrote it (a lapsed lease may be taken back only while that is
        still the latest checkpoint) and the parts its base is made of."""
        data, self.base_owner, self.parts = _read_chain(self.client, self.key, self.owner_key)
        return data


# Write the checkpoint only while holding the lease: KEYS = lease, owner, state, deltas,
# and more keys for some modes; ARGV = token, lease ms, data, base owner, mode. One
# script, so the check and the write are atomic: a "base" (a full snapshot or the manifest
# of a base in parts) replaces the state and drops the deltas it covers and the keys
# after the fourth (parts it no longer names); a "delta" is appended after them; a "part"
# is written under the fifth key (named by a manifest only later).
_SAVE_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  local owner = redis.call('GET', KEYS[2])
  if owner == false or owner == ARGV[1] or owner == ARGV[4] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    holder = ARGV[1]
  end
end
if holder ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[5] == 'part' then
  redis.call('SET', KEYS[5], ARGV[3])
  return 1
end
if ARGV[5] == 'delta' then
  redis.call('RPUSH', KEYS[4], ARGV[3])
else
  redis.call('SET', KEYS[3], ARGV[3])
  redis.call('DEL', KEYS[4])
  for index = 5, #KEYS do
    redis.call('DEL', KEYS[index])
  end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
