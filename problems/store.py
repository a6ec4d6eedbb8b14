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

__all__ = ["FileStore", "MemoryStore", "RedisStore", "StateStore"]


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

    A ``SET`` of one key is atomic, so a reader sees the old snapshot or the new one,
    never half of each.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.client = client
        self.key = key

    def save_state(self, data: bytes) -> None:
        self.client.set(self.key, data)

    def load_state(self) -> bytes | None:
        value = self.client.get(self.key)
        return bytes(value) if value is not None else None
