"""Post-release spikes: did a cluster's ticket rate jump right after a release?

For one cluster and one release, count the cluster's tickets in a window before the
release date and in a window of the same length after it. If the release changed nothing,
each of those tickets fell after the release with probability one half, so the count
after is Binomial(n, 1/2) and its upper tail is the p-value (the conditional test of two
Poisson rates). `find_spikes` runs that test for every cluster against every release, with
a Bonferroni correction over all the tests run, and keeps the spikes that the release
itself explains: most tickets after it come from customers running that release or later.

Examples
--------
>>> from datetime import UTC, date, datetime, timedelta
>>> release = date(2026, 3, 1)
>>> start = datetime(2026, 3, 1, tzinfo=UTC)
>>> times = [start - timedelta(days=3)] + [start + timedelta(hours=9 * i) for i in range(20)]
>>> test = spike_test(times, release, window_days=14)
>>> test.n_before, test.n_after, round(test.ratio, 1), test.p_value < 1e-4
(1, 20, 13.7, True)
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from scipy.stats import binom

from problems.linker.releases import ReleaseIndex
from problems.linker.versions import version_key
from problems.records import ReleaseRecord, TicketRecord

__all__ = [
    "Spike",
    "SpikeTest",
    "find_spikes",
    "spike_test",
]


@dataclass(frozen=True, slots=True)
class SpikeTest:
    """The outcome of one before/after comparison.

    Attributes
    ----------
    n_before, n_after : int
        Tickets in the window before the release and in the window after it.
    window_days : float
        Length of each window (shortened when the data ends before the window does).
    ratio : float
        Rate after over rate before, ``(n_after + 0.5) / (n_before + 0.5)``; the half
        keeps it finite when nothing came before.
    p_value : float
        One-sided: the chance of at least ``n_after`` of the ``n_before + n_after``
        tickets falling after the release if the rate did not change.
    """

    n_before: int
    n_after: int
    window_days: float
    ratio: float
    p_value: float


@dataclass(frozen=True, slots=True)
class Spike:
    """A cluster whose tickets jumped after a release."""

    cluster_id: str
    release: str
    release_date: date
    test: SpikeTest
    share_on_release: float


def _at(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        return day if day.tzinfo else day.replace(tzinfo=UTC)
    return datetime.combine(day, time(), tzinfo=UTC)


def spike_test(
    ticket_times: Iterable[datetime],
    release_date: date | datetime,
    window_days: float = 14,
    *,
    begin: datetime | None = None,
    end: datetime | None = None,
) -> SpikeTest:
    """Compare a cluster's ticket count after a release with the count before it.

    Parameters
    ----------
    ticket_times : iterable of datetime
        When each ticket of the cluster was opened.
    release_date : date or datetime
        When the release shipped (a date means its midnight, UTC).
    window_days : float
        Length of each window.
    begin, end : datetime, optional
        The start and end of the data; when one falls inside a window, both windows
        shrink to what was observed so the rates stay comparable.

    Returns
    -------
    SpikeTest

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> base = datetime(2026, 1, 1, tzinfo=UTC)
    >>> steady = [base + timedelta(days=i) for i in range(60)]
    >>> spike_test(steady, base + timedelta(days=30)).p_value > 0.3
    True
    """
    start = _at(release_date)
    width = timedelta(days=window_days)
    if end is not None and start + width > end:
        width = max(end - start, timedelta(0))
    if begin is not None and start - width < begin:
        width = max(start - begin, timedelta(0))
    n_before = n_after = 0
    for moment in ticket_times:
        if start - width <= moment < start:
            n_before += 1
        elif start <= moment < start + width:
            n_after += 1
    total = n_before + n_after
    p_value = float(binom.sf(n_after - 1, total, 0.5)) if total else 1.0
    return SpikeTest(
        n_before=n_before,
        n_after=n_after,
        window_days=width.total_seconds() / 86_400,
        ratio=(n_after + 0.5) / (n_before + 0.5),
        p_value=p_value,
    )


def find_spikes(
    tickets: Mapping[str, TicketRecord],
    memberships: Mapping[str, str],
    releases: Mapping[str, ReleaseRecord],
    *,
    window_days: float = 14,
    alpha: float = 0.01,
    min_ratio: float = 3.0,
    min_after: int = 5,
    min_share_on_release: float = 0.5,
    min_onset: float = 0.6,
) -> list[Spike]:
    """Every cluster whose tickets jumped right after a release.

    A spike is kept when the test is significant after a Bonferroni correction over every
    (cluster, release) pair tested (``p_value * n_tests < alpha``), the rate at least
    ``min_ratio`` times higher, at least ``min_after`` tickets came after, and at least
    ``min_share_on_release`` of those that name a version run that release or a later one
    (a jump among customers who never installed the release is not its doing). Only
    releases of the projects whose versions the cluster's tickets name are tested. The
    jump must be abrupt: the window after the release holds at least ``min_onset`` times
    the tickets of the window after that (a problem that builds up over weeks shows as a
    trend in the register, not as a release spike). Of spikes of one cluster at releases
    less than a window apart (a release and its hotfix), the most significant is kept.

    Parameters
    ----------
    tickets : mapping of ticket id to TicketRecord
    memberships : mapping of ticket id to cluster id
    releases : mapping of any key to ReleaseRecord
        Only shipped releases with a date are tested.

    Returns
    -------
    list of Spike
        Sorted by p-value, then cluster id.
    """
    dated = sorted(
        (release for release in releases.values() if release.released and release.release_date),
        key=lambda release: (release.release_date or date.min, release.id),
    )
    index = ReleaseIndex.from_releases({release.id: release for release in dated})
    # One release per version: the same version in several projects is one test.
    dated = [release for release in dated if index.find(release.name) is release]
    by_cluster: dict[str, list[TicketRecord]] = defaultdict(list)
    for ticket_id, cluster_id in memberships.items():
        ticket = tickets.get(ticket_id)
        if ticket is not None:
            by_cluster[cluster_id].append(ticket)
    if not dated or not by_cluster:
        return []
    begin = min(ticket.opened_at for members in by_cluster.values() for ticket in members)
    end = max(ticket.opened_at for members in by_cluster.values() for ticket in members)
    width = timedelta(days=window_days)
    candidates: list[tuple[str, ReleaseRecord, SpikeTest, list[TicketRecord], int]] = []
    n_tests = 0
    for cluster_id in sorted(by_cluster):
        members = sorted(by_cluster[cluster_id], key=lambda ticket: ticket.opened_at)
        times = [ticket.opened_at for ticket in members]
        # A release of another product line cannot explain this cluster: test only the
        # projects whose versions its tickets name (all of them if none names one).
        projects = {
            release.project_id
            for ticket in members
            if (release := index.find(ticket.version)) is not None
        }
        for release in dated:
            if projects and release.project_id not in projects:
                continue
            start = _at(release.release_date or date.min)
            low = bisect.bisect_left(times, start - width)
            high = bisect.bisect_left(times, start + width)
            if high == low:
                continue
            n_tests += 1
            test = spike_test(times[low:high], start, window_days, begin=begin, end=end)
            if test.n_after >= min_after and test.ratio >= min_ratio:
                after = [ticket for ticket in members[low:high] if ticket.opened_at >= start]
                later = bisect.bisect_left(times, start + 2 * width) - high
                candidates.append((cluster_id, release, test, after, later))
    spikes: list[Spike] = []
    for cluster_id, release, test, after, later in candidates:
        if test.p_value * n_tests >= alpha:
            continue
        # Abrupt: the window after the release holds at least ``min_onset`` times what the
        # next window does (a problem that builds up over weeks is a trend, not a spike).
        if test.window_days >= window_days and test.n_after < min_onset * later:
            continue
        share = _share_on_release(after, release, index)
        if share < min_share_on_release:
            continue
        spikes.append(
            Spike(
                cluster_id=cluster_id,
                release=release.name,
                release_date=release.release_date or date.min,
                test=test,
                share_on_release=share,
            )
        )
    return _first_per_episode(spikes, window_days)


def _share_on_release(
    after: list[TicketRecord], release: ReleaseRecord, index: ReleaseIndex
) -> float:
    """Share of the tickets naming a version that run this release or a later one of its line."""
    release_key = version_key(release.name)
    named = [ticket.version for ticket in after if ticket.version]
    if not named:
        return 1.0
    on_release = 0
    for name in named:
        found = index.find(name)
        same_line = found is None or found.project_id == release.project_id
        if same_line and version_key(name) >= release_key:
            on_release += 1
    return on_release / len(named)


def _first_per_episode(spikes: list[Spike], window_days: float) -> list[Spike]:
    """Of spikes of one cluster at releases within a window of each other, the strongest."""
    kept: list[Spike] = []
    for spike in sorted(spikes, key=lambda item: (item.test.p_value, item.cluster_id)):
        clash = any(
            other.cluster_id == spike.cluster_id
            and abs((other.release_date - spike.release_date).days) <= window_days
            for other in kept
        )
        if not clash:
            kept.append(spike)
    return kept
