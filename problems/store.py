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

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from problems.errors import TransientError

__all__ = [
    "CHAIN_VERSION",
    "FencedRedisStore",
    "FileStore",
    "LeaseLost",
    "MemoryStore",
    "RedisStore",
    "StateStore",
    "chain_bytes",
    "deltas_key",
]

CHAIN_VERSION = 1
"""Version of a checkpoint chain: a full snapshot and the deltas written after it."""


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


def deltas_key(key: str) -> str:
    """The Redis list of the deltas written after the snapshot under ``key``."""
    return f"{key}:deltas"


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

    The worker may also have appended deltas after the snapshot (`deltas_key`);
    `load_state` returns both as one chain (`chain_bytes`), which `Pipeline.load` reads,
    and `save_state` replaces both. A ``MULTI`` makes each atomic, so a reader sees the
    old state or the new one, never half of each.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    def save_state(self, data: bytes) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key, data)
        pipe.delete(deltas_key(self.key))
        pipe.execute()

    def load_state(self) -> bytes | None:
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.key)
        pipe.lrange(deltas_key(self.key), 0, -1)
        value, deltas = pipe.execute()
        return chain_bytes(bytes(value), [bytes(d) for d in deltas]) if value is not None else None


class LeaseLost(TransientError):
    """Another process holds the writer's lease: this one must stop writing state."""


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
        """Write a full snapshot (dropping the deltas it replaces) and renew the lease, or
        raise `LeaseLost` and write nothing."""
        self._write(data, "base")

    def save_delta(self, data: bytes | bytearray) -> None:
        """Append a delta after the snapshot, fenced like `save_state`."""
        self._write(data, "delta")

    def _write(self, data: bytes | bytearray, mode: str) -> None:
        keys = [self.lease_key, self.owner_key, self.key, deltas_key(self.key)]
        arguments = (self.token, self.lease_ms, data, self.base_owner, mode)
        if not self.client.eval(_SAVE_SCRIPT, len(keys), *keys, *arguments):
            raise LeaseLost(f"lease {self.lease_key!r} is held by another process")
        self.base_owner = self.token

    def load_state(self) -> bytes | None:
        """The state (snapshot and deltas, as `chain_bytes`), remembering who wrote it (a
        lapsed lease may be taken back only while that is still the latest checkpoint)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.key)
        pipe.lrange(deltas_key(self.key), 0, -1)
        pipe.get(self.owner_key)
        value, deltas, owner = pipe.execute()
        self.base_owner = owner.decode() if isinstance(owner, bytes) else (owner or "")
        return chain_bytes(bytes(value), [bytes(d) for d in deltas]) if value is not None else None


# Write the checkpoint only while holding the lease: KEYS = lease, owner, state, deltas;
# ARGV = token, lease ms, data, base owner, mode. One script, so the check and the write
# are atomic: a full snapshot ("base") replaces the state and drops the deltas it covers; a
# "delta" is appended after them.
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
if ARGV[5] == 'delta' then
  redis.call('RPUSH', KEYS[4], ARGV[3])
else
  redis.call('SET', KEYS[3], ARGV[3])
  redis.call('DEL', KEYS[4])
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
