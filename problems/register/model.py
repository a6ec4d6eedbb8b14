"""The register's data: what it reads (cluster and link facts), what it holds (rows), ISO weeks.

The register sits on the top domain floor, so it takes what the stages below produce as
plain values: `ClusterInfo` (filled by the pipeline from the clustering engine's
summaries) and `LinkInfo` (the best defect link of a cluster, from the linker). It never
imports those stages.

Weeks are ISO weeks written ``2026-W47``; a week runs Monday 00:00 UTC to the next Monday
00:00 UTC, and the register for a week counts what was known at its end.

Examples
--------
>>> [moment.isoformat() for moment in week_bounds("2026-W47")]
['2026-11-16T00:00:00+00:00', '2026-11-23T00:00:00+00:00']
>>> shift_week("2026-W01", -1), week_of(datetime(2026, 11, 22, 23, 59, tzinfo=UTC))
('2025-W52', '2026-W47')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

__all__ = [
    "ACTIONS",
    "LINK_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "Action",
    "ClusterInfo",
    "Impact",
    "LinkInfo",
    "Mover",
    "Movers",
    "Register",
    "RegisterRow",
    "Status",
    "parse_week",
    "shift_week",
    "week_bounds",
    "week_of",
    "weeks_between",
]

SCHEMA_VERSION = 1
"""Version of the register's JSON form; bump it when a field changes meaning."""

Status = Literal[
    "new",
    "rising",
    "ongoing",
    "known error",
    "fix released",
    "regressed",
    "resolved",
    "noise",
]
STATUSES: tuple[Status, ...] = get_args(Status)

Action = Literal["file a defect", "link one", "escalate", "confirm the fix", "watch", "none"]
ACTIONS: tuple[Action, ...] = get_args(Action)

LINK_STATUSES = ("proposed", "confirmed", "rejected")

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[int, int]:
    """The ISO year and week number of ``YYYY-Www``; raises ValueError when malformed.

    >>> parse_week("2026-W47")
    (2026, 47)
    """
    match = _WEEK.match(week)
    if not match:
        raise ValueError(f"not an ISO week like 2026-W47: {week[:40]!r}")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"no week {number} in ISO year {year}") from None
    return year, number


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of an ISO week, in UTC."""
    year, number = parse_week(week)
    monday = date.fromisocalendar(year, number, 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def week_of(moment: datetime | date) -> str:
    """The ISO week holding a moment (naive datetimes are taken as UTC)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        day = moment.date()
    else:
        day = moment
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


def shift_week(week: str, n_weeks: int) -> str:
    """The week ``n_weeks`` after (or before, when negative) ``week``."""
    start, _ = week_bounds(week)
    return week_of(start + timedelta(weeks=n_weeks))


def weeks_between(earlier: str, later: str) -> int:
    """How many weeks ``later`` comes after ``earlier`` (negative when before)."""
    return (week_bounds(later)[0] - week_bounds(earlier)[0]).days // 7


def _strings(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in values) if values is not None else ()


@dataclass(frozen=True)
class ClusterInfo:
    """What the register needs to know of a cluster; the pipeline fills it from the engine.

    Parameters
    ----------
    id
        The cluster's stable id.
    title
        A person's title if one was set, else the engine's generated one.
    terms
        Distinguishing terms, most telling first.
    representative_subject
        The (masked) subject of the ticket that best stands for the cluster.
    is_noise
        The engine's noise bucket, or a cluster a person marked as noise.
    components, versions
        Shared metadata of the cluster's tickets.
    """

    id: str
    title: str = ""
    terms: tuple[str, ...] = ()
    representative_subject: str = ""
    is_noise: bool = False
    components: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Callers hand in lists; tuples keep the record hashable and immutable.
        object.__setattr__(self, "terms", _strings(self.terms))
        object.__setattr__(self, "components", _strings(self.components))
        object.__setattr__(self, "versions", _strings(self.versions))


@dataclass(frozen=True)
class LinkInfo:
    """The best defect link of a cluster, as the linker proposes or a person decided it.

    ``status`` is ``proposed``, ``confirmed`` or ``rejected``; a rejected link is ignored.
    """

    defect_key: str
    confidence: float = 0.0
    status: str = "proposed"
    evidence_summary: str = ""


@dataclass(frozen=True)
class Impact:
    """The measures behind a problem's impact score and what each adds to it.

    ``points`` are the measures on the scale the weights apply to; ``contributions`` are
    weight times points, and they add up to ``score``.
    """

    score: float
    points: dict[str, float]
    contributions: dict[str, float]


@dataclass(frozen=True)
class RegisterRow:
    """One problem in the register for one week; every field is a plain value."""

    rank: int
    cluster_id: str
    title: str
    status: Status
    action: Action
    summary: str
    impact: Impact
    n_tickets: int
    n_customers: int
    n_enterprise_customers: int
    arr_affected: float
    n_critical: int
    n_high: int
    n_medium: int
    n_low: int
    tickets_this_week: int
    baseline_per_week: float
    growth: float
    recent_tickets: int
    handle_hours: float
    reopens: int
    sla_breaches: int
    poor_csat: int
    n_csat: int
    first_seen: str
    last_seen: str
    first_week: str
    last_week: str
    weekly_counts: tuple[int, ...]
    release_marks: tuple[tuple[int, str], ...]
    products: tuple[str, ...]
    components: tuple[str, ...]
    versions: tuple[str, ...]
    terms: tuple[str, ...]
    representative_subject: str
    sample_ticket_ids: tuple[str, ...]
    suggested_defect: str
    defect_key: str
    defect_summary: str
    defect_status: str
    defect_priority: str
    link_status: str
    link_confidence: float
    link_evidence: str
    fix_version: str
    fix_date: str
    regression_tickets: int
    is_noise: bool


@dataclass(frozen=True)
class Mover:
    """A problem whose standing changed between two weeks."""

    cluster_id: str
    title: str
    rank_before: int | None
    rank_after: int | None
    impact_before: float
    impact_after: float
    status_before: str
    status_after: str

    @property
    def impact_change(self) -> float:
        """Impact after minus impact before."""
        return round(self.impact_after - self.impact_before, 4)


@dataclass(frozen=True)
class Movers:
    """What changed from one week's register to the next."""

    week: str
    previous_week: str
    new_entries: tuple[Mover, ...] = ()
    biggest_movers: tuple[Mover, ...] = ()
    regressions: tuple[Mover, ...] = ()
    resolved: tuple[Mover, ...] = ()
    gone: tuple[Mover, ...] = ()


@dataclass(frozen=True)
class Register:
    """The register of one ISO week: rows ranked by impact, noise last.

    ``trend_weeks`` names the weeks of every row's ``weekly_counts``, oldest first.
    """

    week: str
    week_start: str
    week_end: str
    rows: tuple[RegisterRow, ...]
    trend_weeks: tuple[str, ...]
    weights: dict[str, float]
    n_tickets: int
    n_clustered_tickets: int
    movers: Movers | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[RegisterRow, ...]:
        """The rows that are problems, not noise, in rank order."""
        return tuple(row for row in self.rows if not row.is_noise)
