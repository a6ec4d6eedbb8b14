"""The status of a problem in a week, and the action the triage meeting should take.

Statuses, in the order they win when several apply:

* ``noise``: the engine's noise bucket or a cluster a person marked as noise;
* ``regressed``: its defect's fix shipped, and tickets opened after the fix release come
  from customers on the fixed version or a later one;
* ``resolved``: its fix shipped and no ticket came for ``quiet_weeks`` weeks after it;
* ``fix released``: its fix shipped, awaiting confirmation that the tickets stopped;
* ``rising``: this week's tickets are at least ``rising_ratio`` times the mean of the
  baseline weeks before (smoothed by one) and at least ``rising_min_tickets``;
* ``new``: first seen within the last ``new_weeks`` weeks;
* ``known error``: linked to a defect that is still open;
* ``ongoing``: anything else.

A link counts when a person confirmed it or the linker proposed it with confidence of at
least ``min_link_confidence``; a weaker proposal only suggests "link one". Everything is
judged as of the end of the week, so building a past week again gives the same answer.

Examples
--------
>>> from datetime import date
>>> from problems.records import ReleaseRecord
>>> calendar = ReleaseCalendar({"1": ReleaseRecord(id="1", name="2.4.0",
...     release_date=date(2026, 3, 2), released=True)})
>>> calendar.at_or_after("2.10.0", "2.4.0"), calendar.at_or_after("2.3.9", "2.4.0")
(True, False)
>>> problem_status(is_noise=False, weeks_since_first=10, weeks_since_last=0,
...     tickets_this_week=9, baseline_per_week=1.0, defect=None, regression_tickets=0,
...     rules=StatusRules())
'rising'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path

from problems.linker.versions import version_key
from problems.records import DefectRecord, ReleaseRecord
from problems.register.impact import ConfigError, read_config
from problems.register.model import Action, LinkInfo, Status

__all__ = [
    "DefectState",
    "ReleaseCalendar",
    "StatusRules",
    "count_regressions",
    "defect_state",
    "load_status_rules",
    "problem_status",
    "suggested_action",
]

_DONE_RESOLUTIONS = {"fixed", "done", "resolved", "implemented"}


@dataclass(frozen=True)
class StatusRules:
    """Thresholds of the status rules (the ``[status]`` section of the weights file)."""

    new_weeks: int = 2
    quiet_weeks: int = 4
    rising_ratio: float = 2.0
    rising_min_tickets: int = 3
    regression_min_tickets: int = 1
    min_link_confidence: float = 0.5


def load_status_rules(path: str | Path | None = None) -> StatusRules:
    """Status thresholds from the ``[status]`` section of a weights file.

    >>> load_status_rules(None).quiet_weeks
    4
    """
    section = read_config(path).get("status", {})
    known = {item.name: item for item in fields(StatusRules)}
    values: dict[str, float | int] = {}
    for key, value in section.items():
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in [status]; expected some of {sorted(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"[status] {key} must be a non-negative number, got {value!r}")
        values[key] = float(value) if known[key].type in ("float", float) else int(value)
    return StatusRules(**values)  # type: ignore[arg-type]


class ReleaseCalendar:
    """Release dates by version name, and the order of versions.

    Versions are ordered by release date where both have one, else by their parsed name
    (`problems.linker.versions.version_key`). A name shared by several projects takes its
    earliest date.
    """

    def __init__(self, releases: Mapping[str, ReleaseRecord]) -> None:
        self.dates_: dict[str, date] = {}
        self.released_: set[str] = set()
        for release in releases.values():
            if release.release_date is None:
                continue
            known = self.dates_.get(release.name)
            if known is None or release.release_date < known:
                self.dates_[release.name] = release.release_date
            if release.released:
                self.released_.add(release.name)

    def release_date(self, name: str) -> date | None:
        """The date a version shipped (or is planned to), if known."""
        return self.dates_.get(name)

    def shipped_by(self, name: str, moment: datetime) -> date | None:
        """The release date of ``name`` if it had shipped before ``moment``, else None."""
        day = self.dates_.get(name)
        if day is None or name not in self.released_:
            return None
        return day if _start_of(day) < moment else None

    def at_or_after(self, version: str, reference: str) -> bool:
        """Whether ``version`` is ``reference`` or a later version."""
        if version == reference:
            return True
        mine, theirs = self.dates_.get(version), self.dates_.get(reference)
        if mine is not None and theirs is not None and mine != theirs:
            return mine > theirs
        return version_key(version) >= version_key(reference)

    def in_range(self, names: Iterable[str], start: datetime, end: datetime) -> list[str]:
        """Of ``names``, those released in ``[start, end)``, by date then name."""
        found = {
            name
            for name in names
            if name in self.dates_ and start <= _start_of(self.dates_[name]) < end
        }
        return sorted(found, key=lambda name: (self.dates_[name], version_key(name)))


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class DefectState:
    """A linked defect as it stood at the end of the register's week."""

    key: str
    summary: str
    status: str
    priority: str
    is_open: bool
    trusted: bool
    fix_version: str
    fix_date: date | None


def defect_state(
    link: LinkInfo | None,
    defects: Mapping[str, DefectRecord],
    calendar: ReleaseCalendar,
    week_end: datetime,
    rules: StatusRules,
) -> DefectState | None:
    """What a cluster's best link says as of ``week_end``; None when there is no link.

    A rejected link, or one to a defect created after the week, is no link. The fix is
    the earliest of the defect's fix versions that had shipped by the week's end; a defect
    resolved as fixed with no shipped fix version counts as fixed on its resolution day.
    """
    if link is None or link.status == "rejected":
        return None
    trusted = link.status == "confirmed" or link.confidence >= rules.min_link_confidence
    defect = defects.get(link.defect_key)
    if defect is None:
        return DefectState(
            key=link.defect_key,
            summary="",
            status="unknown",
            priority="",
            is_open=True,
            trusted=trusted,
            fix_version="",
            fix_date=None,
        )
    if defect.created >= week_end:
        return None
    done_by_then = (defect.status_category == "done" or defect.resolution is not None) and (
        defect.resolved_at is None or defect.resolved_at < week_end
    )
    shipped = [
        (day, version_key(name), name)
        for name in defect.fix_versions
        if (day := calendar.shipped_by(name, week_end)) is not None
    ]
    fix_version, fix_date = "", None
    if shipped:
        fix_date, _, fix_version = min(shipped)
    elif (
        done_by_then
        and defect.resolved_at is not None
        and (defect.resolution or "fixed").lower() in _DONE_RESOLUTIONS
    ):
        fix_date = defect.resolved_at.date()
    status = defect.status or ("done" if done_by_then else "open")
    if defect.resolved_at is not None and defect.resolved_at >= week_end:
        status = "open"  # it was still open at the end of that week
    return DefectState(
        key=defect.key,
        summary=defect.summary,
        status=status,
        priority=defect.priority or "",
        is_open=not done_by_then,
        trusted=trusted,
        fix_version=fix_version,
        fix_date=fix_date,
    )


def count_regressions(
    tickets: Iterable[tuple[float, str | None]],
    fix_version: str,
    fix_date: date | None,
    calendar: ReleaseCalendar,
) -> int:
    """Tickets opened on or after the fix release, on the fixed version or a later one.

    ``tickets`` are ``(opened_at as epoch seconds, version)`` pairs. A ticket with no
    version proves nothing, so it does not count; with no fix version there is nothing to
    compare.

    >>> calendar = ReleaseCalendar({})
    >>> opened = datetime(2026, 3, 9, tzinfo=UTC).timestamp()
    >>> count_regressions([(opened, "2.5"), (opened, "2.3"), (opened, None)], "2.4",
    ...     date(2026, 3, 2), calendar)
    1
    """
    if not fix_version or fix_date is None:
        return 0
    since = _start_of(fix_date).timestamp()
    verdicts: dict[str, bool] = {}
    count = 0
    for opened_at, version in tickets:
        if not version or opened_at < since:
            continue
        verdict = verdicts.get(version)
        if verdict is None:
            verdict = verdicts[version] = calendar.at_or_after(version, fix_version)
        count += verdict
    return count


def problem_status(
    *,
    is_noise: bool,
    weeks_since_first: int,
    weeks_since_last: int,
    tickets_this_week: int,
    baseline_per_week: float,
    defect: DefectState | None,
    regression_tickets: int,
    rules: StatusRules,
    weeks_since_fix: int | None = None,
) -> Status:
    """The status of a problem as of its register week (see the module docstring).

    ``weeks_since_*`` count whole ISO weeks back from the register's week (0: that week).
    """
    if is_noise:
        return "noise"
    trusted = defect is not None and defect.trusted
    if trusted and defect is not None and defect.fix_date is not None:
        if regression_tickets >= max(rules.regression_min_tickets, 1):
            return "regressed"
        fix_age = weeks_since_fix if weeks_since_fix is not None else 0
        if weeks_since_last >= rules.quiet_weeks and fix_age >= rules.quiet_weeks:
            return "resolved"
        return "fix released"
    growth = (tickets_this_week + 1.0) / (baseline_per_week + 1.0)
    if tickets_this_week >= rules.rising_min_tickets and growth >= rules.rising_ratio:
        return "rising"
    if weeks_since_first < rules.new_weeks:
        return "new"
    if trusted and defect is not None and defect.is_open:
        return "known error"
    return "ongoing"


def suggested_action(
    status: Status, defect: DefectState | None, jira_keys: Mapping[str, int]
) -> tuple[Action, str]:
    """The action for the meeting and the defect it concerns (may be empty).

    >>> suggested_action("ongoing", None, {"PAY-7": 3})
    ('link one', 'PAY-7')
    >>> suggested_action("ongoing", None, {})
    ('file a defect', '')
    """
    if status in ("noise", "resolved"):
        return "none", defect.key if defect else ""
    if status == "regressed":
        return "escalate", defect.key if defect else ""
    if status == "fix released":
        return "confirm the fix", defect.key if defect else ""
    if defect is not None and defect.trusted:
        return ("escalate" if status == "rising" else "watch"), defect.key
    if defect is not None:
        return "link one", defect.key
    if jira_keys:
        key = min(jira_keys, key=lambda k: (-jira_keys[k], k))
        return "link one", key
    return "file a defect", ""
