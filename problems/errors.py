"""Exceptions of the domain; each says what the caller should do with the input."""

from __future__ import annotations

__all__ = [
    "InvalidEvent",
    "PermanentError",
    "ProblemsError",
    "SnapshotError",
    "TransientError",
]


class ProblemsError(Exception):
    """Base of every error raised by `problems`."""


class PermanentError(ProblemsError):
    """The input can never be applied: dead-letter it now, do not retry."""


class TransientError(ProblemsError):
    """The input may apply later (a dependency is down): retry it."""


class InvalidEvent(PermanentError):
    """An event failed validation.

    ``errors`` holds ``(field, reason)`` pairs; the field is a dotted path such as
    ``customer.tier`` or ``(payload)`` when the payload as a whole is unusable.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors))

    @property
    def fields(self) -> list[str]:
        """The names of the offending fields, in the order found."""
        return [field for field, _ in self.errors]


class SnapshotError(PermanentError):
    """A saved state cannot be loaded (unknown schema version, corrupt bytes)."""
