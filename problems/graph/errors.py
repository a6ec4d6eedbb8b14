"""Exceptions of the graph package."""

from __future__ import annotations

from problems.errors import ProblemsError

__all__ = ["GraphError"]


class GraphError(ProblemsError):
    """The graph cannot be built or updated as asked (wrong schema, missing inputs)."""
