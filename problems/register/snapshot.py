"""Build the frozen register of an ISO week, compare two weeks, and keep a register as JSON.

A week's register counts only tickets first closed before the end of that week, judges
links, fixes and releases as they stood then, and orders everything it sums, so building a
past week again from the same state gives byte-identical files. `build_register` also
builds the week before from the same state and attaches what moved (`compare`).

Examples
--------
>>> from datetime import UTC, datetime
>>> from problems.records import TicketRecord
>>> def ticket(ticket_id, day, customer):
...     closed = datetime(2026, 11, day, 12, tzinfo=UTC)
...     return TicketRecord(ticket_id=ticket_id, event_ids=("e" + ticket_id,),
...         opened_at=closed, first_closed_at=closed, closed_at=closed, subject="Export fails",
...         text="", customer_id=customer, product="billing")
>>> tickets = {t.ticket_id: t for t in [ticket("T-1", 16, "acme"), ticket("T-2", 17, "zeta"),
...     ticket("T-3", 10, "acme")]}
>>> register = build_register(tickets, {}, {}, {"T-1": "C1", "T-2": "C1", "T-3": "C2"},
...     {"C1": ClusterInfo("C1", title="Export fails")}, {}, "2026-W47")
>>> [(row.rank, row.cluster_id, row.status, row.n_tickets) for row in register.rows]
[(1, 'C1', 'new', 2), (2, 'C2', 'new', 1)]
>>> [entry.cluster_id for entry in register.movers.new_entries]
['C1']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from problems.errors import SnapshotError
from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register.columns import TicketColumns
from problems.register.impact import (
    COMPONENTS,
    ImpactWeights,
    ProblemStats,
    impact_score,
    load_weights,
)
from problems.register.model import (
    SCHEMA_VERSION,
    ClusterInfo,
    Impact,
    LinkInfo,
    Mover,
    Movers,
    Register,
    RegisterRow,
    shift_week,
    week_bounds,
    week_of,
    weeks_between,
)
from problems.register.status import (
    DefectState,
    ReleaseCalendar,
    StatusRules,
    count_regressions,
    defect_state,
    load_status_rules,
    problem_status,
    suggested_action,
)

__all__ = [
    "build_register",
    "compare",
    "latest_week",
    "register_from_dict",
    "register_from_json",
    "register_to_dict",
]

_WEEK = timedelta(weeks=1)
_N_BIGGEST_MOVERS = 5


def build_register(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    releases: Mapping[str, ReleaseRecord],
    memberships: Mapping[str, str],
    clusters: Mapping[str, ClusterInfo],
    links: Mapping[str, LinkInfo],
    week: str,
    *,
    weights: ImpactWeights | None = None,
    rules: StatusRules | None = None,
    with_movers: bool = True,
) -> Register:
    """The register of ``week``, rows by impact (noise last), with the movers since last week.

    Parameters
    ----------
    tickets, defects, releases
        Records by id, as the pipeline keeps them (never mutated).
    memberships
        Ticket id to cluster id; a ticket with no cluster is not in any problem.
    clusters
        Cluster facts by id; a cluster missing here is shown under its id.
    links
        Cluster id to its best defect link.
    week
        ISO week such as ``2026-W47``; only tickets first closed before its end count.
    weights, rules
        Impact weights and status thresholds; the shipped defaults when None.
    with_movers
        Also build the week before from the same state and attach `compare` of the two.

    Returns
    -------
    Register
    """
    weights = weights or load_weights(None)
    rules = rules or load_status_rules(None)
    columns = TicketColumns.build(tickets, memberships, weights)
    calendar = ReleaseCalendar(releases)
    closes = np.fromiter(
        (record.first_closed_at.timestamp() for record in tickets.values()),
        dtype=np.float64,
        count=len(tickets),
    )
    register = _build_week(
        columns, closes, defects, calendar, clusters, links, week, weights, rules
    )
    if not with_movers:
        return register
    previous = _build_week(
        columns, closes, defects, calendar, clusters, links, shift_week(week, -1), weights, rules
    )
    return _with_movers(register, compare(register, previous))


def latest_week(tickets: Mapping[str, TicketRecord]) -> str | None:
    """The ISO week of the latest first close, the natural default week; None when empty.

    >>> latest_week({}) is None
    True
    """
    if not tickets:
        return None
    return week_of(max(record.first_closed_at for record in tickets.values()))


def _with_movers(register: Register, movers: Movers) -> Register:
    return Register(**{**_shallow(register), "movers": movers})


def _shallow(register: Register) -> dict[str, Any]:
    return {name: getattr(register, name) for name in register.__dataclass_fields__}


def _build_week(
    columns: TicketColumns,
    closes: np.ndarray,
    defects: Mapping[str, DefectRecord],
    calendar: ReleaseCalendar,
    clusters: Mapping[str, ClusterInfo],
    links: Mapping[str, LinkInfo],
    week: str,
    weights: ImpactWeights,
    rules: StatusRules,
) -> Register:
    week_start, week_end = week_bounds(week)
    n_trend = weights.trend_weeks
    trend_weeks = tuple(shift_week(week, offset) for offset in range(-n_trend + 1, 1))
    trend_start = week_bounds(trend_weeks[0])[0]
    rows: list[RegisterRow] = []
    n_clustered = 0
    all_stats = columns.week_stats(week, weights)
    for index, (cluster_id, stats) in enumerate(zip(columns.cluster_ids, all_stats, strict=True)):
        if not stats.n_all_tickets:
            continue
        n_clustered += stats.n_all_tickets
        info = clusters.get(cluster_id) or ClusterInfo(cluster_id, title=cluster_id)
        link = links.get(cluster_id)
        defect = defect_state(link, defects, calendar, week_end, rules)
        rows.append(
            _row(
                info,
                columns,
                index,
                stats,
                link,
                defect,
                calendar,
                week,
                week_start,
                week_end,
                trend_start,
                weights,
                rules,
            )
        )
    rows.sort(key=lambda row: (row.is_noise, -row.impact.score, row.cluster_id))
    ranked = tuple(_ranked(row, rank) for rank, row in enumerate(rows, start=1))
    n_tickets = int(np.count_nonzero(closes < week_end.timestamp()))
    return Register(
        week=week,
        week_start=week_start.date().isoformat(),
        week_end=week_end.date().isoformat(),
        rows=ranked,
        trend_weeks=trend_weeks,
        weights={name: weights.components.get(name, 0.0) for name in COMPONENTS},
        n_tickets=n_tickets,
        n_clustered_tickets=n_clustered,
    )


def _ranked(row: RegisterRow, rank: int) -> RegisterRow:
    values = {name: getattr(row, name) for name in row.__dataclass_fields__}
    values["rank"] = rank
    return RegisterRow(**values)


def _age_weeks(moment: datetime, week_start: datetime) -> int:
    """Whole ISO weeks from ``moment`` to the register's week (0: within it)."""
    return max(0, -((moment - week_start) // _WEEK))


def _row(
    info: ClusterInfo,
    columns: TicketColumns,
    index: int,
    stats: ProblemStats,
    link: LinkInfo | None,
    defect: DefectState | None,
    calendar: ReleaseCalendar,
    week: str,
    week_start: datetime,
    week_end: datetime,
    trend_start: datetime,
    weights: ImpactWeights,
    rules: StatusRules,
) -> RegisterRow:
    first = datetime.fromtimestamp(stats.first_closed, UTC)
    last = datetime.fromtimestamp(stats.last_closed, UTC)
    impact = impact_score(stats, weights)
    regressions = 0
    weeks_since_fix: int | None = None
    if defect is not None and defect.fix_date is not None:
        regressions = count_regressions(
            columns.opened_versions(index, week),
            defect.fix_version,
            defect.fix_date,
            calendar,
        )
        weeks_since_fix = weeks_between(week_of(defect.fix_date), week)
    status = problem_status(
        is_noise=info.is_noise,
        weeks_since_first=_age_weeks(first, week_start),
        weeks_since_last=_age_weeks(last, week_start),
        tickets_this_week=stats.tickets_this_week,
        baseline_per_week=stats.baseline_per_week,
        defect=defect,
        regression_tickets=regressions,
        rules=rules,
        weeks_since_fix=weeks_since_fix,
    )
    action, action_defect = suggested_action(status, defect, stats.jira_keys)
    versions = _top(stats.versions, 5) or list(info.versions)
    marked = set(versions)
    if defect is not None and defect.fix_version:
        marked.add(defect.fix_version)
    release_marks = tuple(
        (_age_weeks_index(calendar, name, trend_start), name)
        for name in calendar.in_range(marked, trend_start, week_end)
    )
    n_trend = weights.trend_weeks
    weekly = tuple(reversed(stats.weekly_counts[:n_trend]))
    return RegisterRow(
        rank=0,
        cluster_id=info.id,
        title=info.title or info.representative_subject or info.id,
        status=status,
        action=action,
        summary=_summary(stats, weights, defect, status),
        impact=impact,
        n_tickets=stats.n_tickets,
        n_customers=stats.n_customers,
        n_enterprise_customers=stats.n_enterprise_customers,
        arr_affected=round(stats.arr_affected, 2),
        n_critical=stats.severity_counts.get("critical", 0),
        n_high=stats.severity_counts.get("high", 0),
        n_medium=stats.severity_counts.get("medium", 0),
        n_low=stats.severity_counts.get("low", 0),
        tickets_this_week=stats.tickets_this_week,
        baseline_per_week=round(stats.baseline_per_week, 4),
        growth=round(stats.growth, 4),
        recent_tickets=stats.recent_tickets,
        handle_hours=round(stats.handle_hours, 4),
        reopens=stats.reopens,
        sla_breaches=stats.sla_breaches,
        poor_csat=stats.poor_csat,
        n_csat=stats.n_csat,
        first_seen=first.date().isoformat(),
        last_seen=last.date().isoformat(),
        first_week=week_of(first),
        last_week=week_of(last),
        weekly_counts=weekly,
        release_marks=release_marks,
        products=tuple(_top(stats.products, 5)),
        components=tuple(_top(stats.components, 5) or list(info.components)),
        versions=tuple(versions),
        terms=info.terms[:10],
        representative_subject=info.representative_subject,
        sample_ticket_ids=stats.sample_ticket_ids,
        suggested_defect=action_defect,
        defect_key=defect.key if defect else "",
        defect_summary=defect.summary if defect else "",
        defect_status=defect.status if defect else "",
        defect_priority=defect.priority if defect else "",
        link_status=link.status if link and defect else "",
        link_confidence=round(link.confidence, 4) if link and defect else 0.0,
        link_evidence=link.evidence_summary if link and defect else "",
        fix_version=defect.fix_version if defect else "",
        fix_date=defect.fix_date.isoformat() if defect and defect.fix_date else "",
        regression_tickets=regressions,
        is_noise=info.is_noise,
    )


def _age_weeks_index(calendar: ReleaseCalendar, name: str, trend_start: datetime) -> int:
    day = calendar.release_date(name)
    assert day is not None  # in_range only returns dated releases
    return weeks_between(week_of(trend_start), week_of(day))


def _top(counts: Mapping[str, int], n: int) -> list[str]:
    return sorted(counts, key=lambda name: (-counts[name], name))[:n]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summary(
    stats: ProblemStats, weights: ImpactWeights, defect: DefectState | None, status: str
) -> str:
    window = f"{weights.window_weeks} weeks" if weights.window_weeks else "all time"
    parts = [
        f"{_plural(stats.n_tickets, 'ticket')} from "
        f"{_plural(stats.n_customers, 'customer')} ({stats.n_enterprise_customers} enterprise) "
        f"in {window}",
        f"{stats.tickets_this_week} this week vs {stats.baseline_per_week:.1f}/week before",
    ]
    severe = stats.severity_counts.get("critical", 0) + stats.severity_counts.get("high", 0)
    if severe:
        parts.append(f"{severe} critical/high")
    if defect is not None and defect.fix_date is not None:
        fixed_in = f" in {defect.fix_version}" if defect.fix_version else ""
        parts.append(f"fix{fixed_in} {defect.fix_date.isoformat()}")
    elif defect is not None:
        parts.append(f"{defect.key} {defect.status}")
    return "; ".join(parts)


def compare(this_week: Register, last_week: Register) -> Movers:
    """What moved between two weeks' registers: new entries, movers, regressions, resolved.

    Noise rows are left out. Biggest movers are the problems in both weeks with the
    largest change of impact (ties by id), at most five.
    """
    now = {row.cluster_id: row for row in this_week.problems}
    before = {row.cluster_id: row for row in last_week.problems}

    def mover(cluster_id: str) -> Mover:
        after, earlier = now.get(cluster_id), before.get(cluster_id)
        shown = after or earlier
        assert shown is not None
        return Mover(
            cluster_id=cluster_id,
            title=shown.title,
            rank_before=earlier.rank if earlier else None,
            rank_after=after.rank if after else None,
            impact_before=earlier.impact.score if earlier else 0.0,
            impact_after=after.impact.score if after else 0.0,
            status_before=earlier.status if earlier else "",
            status_after=after.status if after else "",
        )

    by_rank = sorted(now, key=lambda cluster_id: now[cluster_id].rank)
    both = [cluster_id for cluster_id in by_rank if cluster_id in before]
    changes = sorted(
        (mover(cluster_id) for cluster_id in both),
        key=lambda entry: (-abs(entry.impact_change), entry.cluster_id),
    )
    return Movers(
        week=this_week.week,
        previous_week=last_week.week,
        new_entries=tuple(mover(c) for c in by_rank if c not in before),
        biggest_movers=tuple(m for m in changes[:_N_BIGGEST_MOVERS] if m.impact_change != 0),
        regressions=tuple(
            mover(c)
            for c in by_rank
            if now[c].status == "regressed" and (c not in before or before[c].status != "regressed")
        ),
        resolved=tuple(
            mover(c)
            for c in by_rank
            if now[c].status == "resolved" and (c not in before or before[c].status != "resolved")
        ),
        gone=tuple(mover(c) for c in sorted(before) if c not in now),
    )


def register_to_dict(register: Register) -> dict[str, Any]:
    """A JSON-able dict of a register, with ``schema_version``."""
    return {"schema_version": SCHEMA_VERSION, **asdict(register)}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def _row_from(data: Mapping[str, Any]) -> RegisterRow:
    values = {name: _tuples(value) for name, value in data.items() if name != "impact"}
    impact = data["impact"]
    values["impact"] = Impact(
        score=impact["score"],
        points=dict(impact["points"]),
        contributions=dict(impact["contributions"]),
    )
    return RegisterRow(**values)


def _movers_from(data: Mapping[str, Any] | None) -> Movers | None:
    if data is None:
        return None
    groups = {
        name: tuple(Mover(**entry) for entry in data[name])
        for name in ("new_entries", "biggest_movers", "regressions", "resolved", "gone")
    }
    return Movers(week=data["week"], previous_week=data["previous_week"], **groups)


def register_from_dict(data: Mapping[str, Any]) -> Register:
    """The register a `register_to_dict` dict holds.

    Raises
    ------
    SnapshotError
        When the dict has another schema version or is not a register.
    """
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SnapshotError(
            f"register schema_version {version!r} is not {SCHEMA_VERSION}; rebuild the week"
        )
    try:
        return Register(
            week=data["week"],
            week_start=data["week_start"],
            week_end=data["week_end"],
            rows=tuple(_row_from(row) for row in data["rows"]),
            trend_weeks=tuple(data["trend_weeks"]),
            weights=dict(data["weights"]),
            n_tickets=data["n_tickets"],
            n_clustered_tickets=data["n_clustered_tickets"],
            movers=_movers_from(data.get("movers")),
            notes=tuple(data.get("notes", ())),
        )
    except (KeyError, TypeError) as error:
        raise SnapshotError(f"not a register snapshot: {error}") from None


def register_from_json(text: str | bytes) -> Register:
    """The register a `problems.register.render.to_json` text holds."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SnapshotError(f"register snapshot is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise SnapshotError("register snapshot is not a JSON object")
    return register_from_dict(data)
