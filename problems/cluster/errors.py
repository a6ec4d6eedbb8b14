"""Exceptions of the clustering engine; each says what the caller did wrong."""

from __future__ import annotations

from problems.errors import PermanentError, SnapshotError

__all__ = [
    "ClusterError",
    "ClusterSnapshotError",
    "InvalidCorrection",
    "UnknownCluster",
    "UnknownTicket",
]


class ClusterError(PermanentError):
    """Base of every error raised by `problems.cluster`."""


class UnknownCluster(ClusterError, KeyError):
    """A cluster id that the engine never showed (or a candidate's internal id)."""


class UnknownTicket(ClusterError, KeyError):
    """A ticket id that the engine never learned."""


class InvalidCorrection(ClusterError, ValueError):
    """A correction that cannot apply as asked (e.g. merging a cluster with itself)."""


class ClusterSnapshotError(ClusterError, SnapshotError):
    """A saved engine state cannot be loaded (other schema version, corrupt arrays)."""
