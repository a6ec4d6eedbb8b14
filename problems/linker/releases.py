"""Releases looked up by version: a ticket's release, a defect's fixes, a cluster's first.

Tickets name the version a customer runs, defects name the versions they affect and the
ones that fix them, and Jira keeps the releases with their dates. `ReleaseIndex` ties the
names together through `problems.linker.versions`, so ``Release 7.1``, ``v7.1`` and
``7.1.0`` find the same release.

Examples
--------
>>> from datetime import date
>>> from problems.records import ReleaseRecord
>>> index = ReleaseIndex.from_releases({
...     "1": ReleaseRecord(id="1", name="3.3.0", release_date=date(2026, 1, 5), released=True),
...     "2": ReleaseRecord(id="2", name="Release 3.4", release_date=date(2026, 2, 9),
...                        released=True)})
>>> index.find("v3.4.0").id
'2'
>>> index.includes_fix("3.4.1", ["3.4"]), index.includes_fix("3.3.0", ["3.4"])
(True, False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from problems.linker.versions import parse_version, version_family, version_key
from problems.records import DefectRecord, ReleaseRecord, TicketRecord

__all__ = [
    "ReleaseIndex",
]

_MISSING_DATE = date.max


def _preference(release: ReleaseRecord) -> tuple[date, str]:
    # Several projects may ship a version of the same name; the earliest is the one
    # customers could first run.
    return (release.release_date or _MISSING_DATE, release.id)


@dataclass(frozen=True)
class ReleaseIndex:
    """Releases by version key.

    Build it with `ReleaseIndex.from_releases`. When several releases share a version (the
    same name in several Jira projects) the one released first stands for them all.
    """

    by_key: Mapping[tuple[int, tuple[int, ...], int, int, str], ReleaseRecord] = field(
        default_factory=dict
    )

    @classmethod
    def from_releases(cls, releases: Mapping[str, ReleaseRecord]) -> ReleaseIndex:
        """Index releases (a mapping of any key to records, e.g. by Jira version id)."""
        by_key: dict[tuple[int, tuple[int, ...], int, int, str], ReleaseRecord] = {}
        for release in sorted(releases.values(), key=_preference):
            by_key.setdefault(version_key(release.name), release)
        return cls(by_key=by_key)

    def find(self, name: str | None) -> ReleaseRecord | None:
        """The release of a version name, or None when no release has that version."""
        if not name:
            return None
        return self.by_key.get(version_key(name))

    def release_date(self, name: str | None) -> date | None:
        """The date a version shipped, None when unknown or not released yet."""
        release = self.find(name)
        if release is None or not release.released:
            return None
        return release.release_date

    def ticket_release(self, ticket: TicketRecord) -> ReleaseRecord | None:
        """The release a ticket's customer runs, from the ticket's version."""
        return self.find(ticket.version)

    def fix_releases(self, defect: DefectRecord) -> list[ReleaseRecord]:
        """The releases that fix a defect, in version order.

        A fix version with no release record yet (not synced, or not created in Jira) is
        returned as an unreleased record of that name, so the caller still sees it.
        """
        found = [
            self.find(name) or ReleaseRecord(id=name, name=name) for name in defect.fix_versions
        ]
        return sorted(found, key=lambda release: version_key(release.name))

    def fix_date(self, defect: DefectRecord) -> date | None:
        """When the first fix of a defect shipped; None if no fix has shipped."""
        dates = [
            release.release_date
            for release in self.fix_releases(defect)
            if release.released and release.release_date is not None
        ]
        return min(dates) if dates else None

    def includes_fix(self, version: str | None, fix_versions: Sequence[str]) -> bool:
        """Whether a version carries a defect's fix.

        A fix in a release line (``3.4.x``) covers the later versions of that line. A version
        of a line with no fix of its own is covered when it is past the first fix and did not
        ship before that fix did (``2.9.0`` branched after a fix in ``2.8.0`` has it; ``2.8.0``
        shipped before a backport to ``2.7.4`` does not).

        Examples
        --------
        >>> ReleaseIndex().includes_fix("2.8.1", ["2.7.4", "2.8.1", "3.0.0"])
        True
        >>> ReleaseIndex().includes_fix("2.8.0", ["2.7.4", "2.8.1", "3.0.0"])
        False
        """
        if not version or not parse_version(version).numbered:
            return False
        fixes = [name for name in fix_versions if parse_version(name).numbered]
        if not fixes:
            return False
        key = version_key(version)
        family = version_family(version)
        same_line = [version_key(name) for name in fixes if version_family(name) == family]
        if same_line:
            return key >= min(same_line)
        first = min(fixes, key=version_key)
        if key < version_key(first):
            return False
        shipped = self.release_date(version)
        fixed = [day for name in fixes if (day := self.release_date(name)) is not None]
        return shipped is None or not fixed or shipped >= min(fixed)

    def tickets_after_fix(
        self, tickets: Iterable[TicketRecord], defect: DefectRecord
    ) -> list[TicketRecord]:
        """Tickets opened after a defect's fix shipped, on a version that carries the fix.

        These are the "fix did not work" candidates: a customer runs the fixed code and
        still reports the problem.
        """
        shipped = self.fix_date(defect)
        if shipped is None:
            return []
        return [
            ticket
            for ticket in tickets
            if ticket.opened_at.date() > shipped
            and self.includes_fix(ticket.version, defect.fix_versions)
        ]

    def first_seen_release(
        self, tickets: Iterable[TicketRecord], min_share: float = 0.05
    ) -> ReleaseRecord | None:
        """The release a cluster of tickets first appeared in.

        The earliest version its tickets report, among versions that had shipped by the
        cluster's first ticket; a version named by fewer than ``min_share`` of the tickets
        is taken as a mislabel and ignored (unless nothing else is left).

        Examples
        --------
        >>> from datetime import date, datetime, UTC
        >>> index = ReleaseIndex.from_releases({n: ReleaseRecord(id=n, name=n,
        ...     release_date=date(2026, m, 1), released=True)
        ...     for n, m in [("3.1", 1), ("3.2", 2), ("3.3", 3)]})
        >>> def ticket(i, version, month):
        ...     at = datetime(2026, month, 10, tzinfo=UTC)
        ...     return TicketRecord(ticket_id=f"T{i}", event_ids=(), opened_at=at,
        ...         first_closed_at=at, closed_at=at, subject="", text="", customer_id="c",
        ...         product="p", version=version)
        >>> index.first_seen_release([ticket(1, "3.2", 2), ticket(2, "3.3", 3)]).name
        '3.2'
        """
        listed = list(tickets)
        if not listed:
            return None
        first_day = min(ticket.opened_at for ticket in listed).date()
        counts = Counter(ticket.version for ticket in listed if ticket.version)
        total = sum(counts.values())
        seen: list[tuple[ReleaseRecord, int]] = []
        for name, count in counts.items():
            release = self.find(name)
            if release is not None:
                seen.append((release, count))
        if not seen:
            return None
        shipped = [
            (release, count)
            for release, count in seen
            if release.release_date is None or release.release_date <= first_day
        ]
        candidates = shipped or seen
        supported = [pair for pair in candidates if pair[1] >= min_share * total] or candidates
        return min(supported, key=lambda pair: version_key(pair[0].name))[0]
