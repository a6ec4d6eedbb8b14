"""The two-method persistence boundary, in memory and on disk."""

from __future__ import annotations

from pathlib import Path

from problems.store import FileStore, MemoryStore, StateStore


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
