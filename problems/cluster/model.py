"""What the clustering engine hands out: assignments, cluster summaries, lineage, corrections.

Plain frozen dataclasses, cheap to build for every ticket; ``to_dict`` gives a JSON-able
dict (datetimes as ISO 8601 strings).

Examples
--------
>>> a = Assignment("T-1", "P-000001", 0.71, "T-0", ("component", "exc:ioexception"), False)
>>> a.to_dict()["shared_fields"]
['component', 'exc:ioexception']
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

__all__ = ["Assignment", "ClusterSummary", "Correction", "LineageEntry"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


class _ToDict:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Assignment(_ToDict):
    """Where one ticket went, and why.

    Attributes
    ----------
    ticket_id : str
    cluster_id : str or None
        The problem cluster (``P-000123``); None while the ticket sits in a candidate
        (too few look-alikes yet) or in a cluster marked as noise.
    similarity : float
        Score against the group it joined (average cosine to its members, or cosine to its
        centroid, per the engine's ``linkage``); for a new candidate, the best score found.
    nearest_ticket_id : str or None
        The most similar known member of that group.
    shared_fields : tuple of str
        Metadata the ticket shares with the group: ``product``, ``component``,
        ``version`` and error signatures such as ``exc:ioexception``.
    is_new_cluster : bool
        This ticket made a candidate a cluster: ``cluster_id`` is shown for the first time.
    candidate_id : str or None
        Internal id of the candidate (``C-…``) while ``cluster_id`` is None for that reason.
    is_noise : bool
        The ticket joined a cluster a person marked as noise.
    """

    ticket_id: str
    cluster_id: str | None
    similarity: float
    nearest_ticket_id: str | None
    shared_fields: tuple[str, ...] = ()
    is_new_cluster: bool = False
    candidate_id: str | None = None
    is_noise: bool = False


@dataclass(frozen=True, slots=True)
class ClusterSummary(_ToDict):
    """One problem cluster as people see it (all text masked).

    ``terms`` are readable words that distinguish the cluster (frequent in it, rare
    overall); ``components``, ``products``, ``versions`` and ``error_codes`` are its most
    common values, most common first.
    """

    id: str
    title: str
    size: int
    terms: tuple[str, ...]
    representative_ticket_id: str | None
    representative_subject: str
    components: tuple[str, ...]
    products: tuple[str, ...]
    versions: tuple[str, ...]
    error_codes: tuple[str, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    is_noise: bool = False
    merged_into: str | None = None
    title_by_person: bool = False


@dataclass(frozen=True, slots=True)
class LineageEntry(_ToDict):
    """One merge or split: which cluster ids became which.

    ``kind`` is ``"merge"`` (``sources`` went into ``targets[0]``, which keeps its id) or
    ``"split"`` (``sources[0]`` keeps its id and gave tickets to the new ``targets``).
    ``by`` is ``"person"`` or ``"consolidation"``; ``order`` counts engine operations, and
    ``at`` is the latest ticket time the engine had seen (never the wall clock).
    """

    kind: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    by: str
    order: int
    at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Correction(_ToDict):
    """A person's correction, kept in state and replayed as a constraint.

    ``action`` is one of ``merge``, ``split``, ``move``, ``set_title``, ``mark_noise``;
    ``cluster_ids`` and ``ticket_ids`` are its arguments, ``value`` its title or noise flag,
    ``result`` the cluster id it produced (merge and split).
    """

    action: str
    cluster_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()
    value: str | bool | None = None
    result: str | None = None
    order: int = 0
    at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
