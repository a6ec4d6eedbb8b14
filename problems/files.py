"""Reading events from JSONL files, line by line, keeping where each line came from.

Used by `problems run` (the main job from files) and by the backfill onto the streams, so
both count lines and report bad ones the same way.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
>>> _ = path.write_bytes(b'{"a": 1}\\n\\nnot json\\n')
>>> [(line.number, line.raw) for line in iter_lines([path])]
[(1, b'{"a": 1}'), (3, b'not json')]
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

__all__ = ["SourceLine", "count_lines", "iter_lines"]


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One non-blank line of an input file, as bytes."""

    path: str
    number: int
    raw: bytes


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def iter_lines(paths: Iterable[str | os.PathLike[str]]) -> Iterator[SourceLine]:
    """Yield the non-blank lines of each file in turn (``.gz`` files are decompressed)."""
    for name in paths:
        path = Path(name)
        with _open(path) as file:
            for number, line in enumerate(file, start=1):
                raw = line.rstrip(b"\r\n")
                if raw.strip():
                    yield SourceLine(str(path), number, raw)


def count_lines(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Number of lines in the files, for progress bars (fast, without parsing)."""
    total = 0
    for name in paths:
        with _open(Path(name)) as file:
            while chunk := file.read(1 << 20):
                total += chunk.count(b"\n")
    return total
