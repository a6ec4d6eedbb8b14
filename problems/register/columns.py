"""The clustered tickets as columns, and one week's measures of every problem in one go.

A register over a million tickets cannot afford a Python loop per ticket per week: it reads
each record once into numpy columns (sorted by cluster, then ticket id, so every sum runs in
the same order whatever order the state was built in), and then computes a week's measures
of all problems with a handful of vectorised group-by counts.

Examples
--------
>>> from datetime import UTC, datetime
>>> from problems.records import TicketRecord
>>> from problems.register.impact import ImpactWeights
>>> def ticket(ticket_id, day, customer, tier):
...     closed = datetime(2026, 11, day, 12, tzinfo=UTC)
...     return TicketRecord(ticket_id=ticket_id, event_ids=("e",), opened_at=closed,
...         first_closed_at=closed, closed_at=closed, subject="s", text="",
...         customer_id=customer, tier=tier, product="billing", severity="high")
>>> tickets = {t.ticket_id: t for t in [ticket("T-1", 17, "acme", "enterprise"),
...     ticket("T-2", 18, "acme", "enterprise"), ticket("T-3", 9, "zeta", "free")]}
>>> columns = TicketColumns.build(tickets, {"T-1": "P1", "T-2": "P1", "T-3": "P2"},
...     ImpactWeights())
>>> stats = columns.week_stats("2026-W47", ImpactWeights())
>>> [(s.n_tickets, s.n_customers, s.tickets_this_week) for s in stats]
[(2, 1, 2), (1, 1, 0)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from problems.records import TicketRecord
from problems.register.impact import ImpactWeights, ProblemStats, customer_value
from problems.register.model import week_bounds

__all__ = ["TicketColumns"]

_WEEK_SECONDS = 7 * 86_400.0

_FIELDS = itemgetter(
    "first_closed_at",
    "opened_at",
    "customer_id",
    "tier",
    "arr",
    "severity",
    "handle_time_minutes",
    "reopen_count",
    "sla_breached",
    "csat",
    "product",
    "component",
    "version",
    "jira_keys",
)
_N_SAMPLE_TICKETS = 3


def _codes(values: Sequence[str | None]) -> tuple[np.ndarray, list[str]]:
    """Integer codes of values (-1 for None or empty) and the sorted names they index.

    An empty text counts as missing, as ``if component:`` would have it.
    """
    if not values:
        return np.zeros(0, dtype=np.int64), []
    array = np.array([value or "" for value in values], dtype=str)
    names, inverse = np.unique(array, return_inverse=True)
    codes = inverse.astype(np.int64).reshape(-1)
    named = names.tolist()
    if named[0] == "":
        return codes - 1, named[1:]
    return codes, named


@dataclass(frozen=True)
class TicketColumns:
    """Columns of the clustered tickets, rows sorted by cluster id then ticket id.

    ``offsets[k]:offsets[k + 1]`` are the rows of ``cluster_ids[k]``. Text columns hold
    integer codes into the matching ``*_names`` list (-1: none).
    """

    cluster_ids: list[str]
    offsets: np.ndarray
    cluster: np.ndarray
    ticket_ids: list[str]
    closed: np.ndarray
    opened: np.ndarray
    customer: np.ndarray
    tier: np.ndarray
    tier_names: list[str]
    arr: np.ndarray
    value: np.ndarray
    severity: np.ndarray
    severity_names: list[str]
    severity_weight: np.ndarray
    handle: np.ndarray
    reopens: np.ndarray
    sla: np.ndarray
    csat: np.ndarray
    product: np.ndarray
    product_names: list[str]
    component: np.ndarray
    component_names: list[str]
    version: np.ndarray
    version_names: list[str]
    jira_rows: np.ndarray
    jira_keys: list[str]

    @classmethod
    def build(
        cls,
        tickets: Mapping[str, TicketRecord],
        memberships: Mapping[str, str],
        weights: ImpactWeights,
    ) -> TicketColumns:
        """Read every clustered ticket once; tickets missing from ``tickets`` are skipped."""
        # One pass in the mapping's own order (records sit in memory roughly in that order,
        # so this reads them sequentially); the sort by cluster and id is done on arrays.
        # Fields are read from the record's __dict__ in one C call: attribute access on a
        # model costs ten times more, and this loop sees every ticket.
        cluster_names: list[str] = []
        ticket_names: list[str] = []
        rows: list[tuple[Any, ...]] = []
        for ticket_id, cluster_id in memberships.items():
            record = tickets.get(ticket_id)
            if record is None:
                continue
            cluster_names.append(cluster_id)
            ticket_names.append(ticket_id)
            rows.append(_FIELDS(record.__dict__))
        n_rows = len(rows)
        # Column by column: zip(*rows) would make 100k-argument calls and GC-tracked
        # iterators, which costs more than the reads themselves.
        columns: list[list[Any]] = [list(map(itemgetter(i), rows)) for i in range(14)]
        cluster_codes, cluster_ids = _codes(cluster_names)
        order = (
            np.lexsort((np.array(ticket_names, dtype=str), cluster_codes))
            if rows
            else (np.zeros(0, dtype=np.int64))
        )

        def numbers(index: int, dtype: type) -> np.ndarray:
            values = columns[index]
            if index in (0, 1):  # datetimes
                values = [moment.timestamp() for moment in values]
            elif index == 9:  # CSAT, None when not rated
                values = [score or 0 for score in values]
            return np.array(values, dtype=dtype)[order]

        def coded(index: int) -> tuple[np.ndarray, list[str]]:
            codes, names = _codes(columns[index])
            return codes[order], names

        cluster = cluster_codes[order]
        tier, tier_names = coded(3)
        severity, severity_names = coded(5)
        arr = numbers(4, np.float64)
        value_of = {
            pair: customer_value(pair[0], pair[1], weights)
            for pair in set(zip(columns[3], columns[4], strict=True))
        }
        value = np.array(
            [value_of[pair] for pair in zip(columns[3], columns[4], strict=True)],
            dtype=np.float64,
        )[order]
        weight_of = np.array([weights.severity_weight(name) for name in severity_names])
        jira_rows: list[int] = []
        jira_keys: list[str] = []
        for row, original in enumerate(order.tolist()):
            for key in columns[13][original]:
                jira_rows.append(row)
                jira_keys.append(key)
        product, product_names = coded(10)
        component, component_names = coded(11)
        version, version_names = coded(12)
        return cls(
            cluster_ids=cluster_ids,
            offsets=np.searchsorted(cluster, np.arange(len(cluster_ids) + 1), side="left"),
            cluster=cluster,
            ticket_ids=[ticket_names[original] for original in order.tolist()],
            closed=numbers(0, np.float64),
            opened=numbers(1, np.float64),
            customer=coded(2)[0],
            tier=tier,
            tier_names=tier_names,
            arr=arr,
            value=value,
            severity=severity,
            severity_names=severity_names,
            severity_weight=(
                np.where(severity >= 0, weight_of[severity], weights.severity_weight(""))
                if n_rows
                else np.zeros(0)
            ),
            handle=numbers(6, np.float64),
            reopens=numbers(7, np.int64),
            sla=numbers(8, np.bool_),
            csat=numbers(9, np.int64),
            product=product,
            product_names=product_names,
            component=component,
            component_names=component_names,
            version=version,
            version_names=version_names,
            jira_rows=np.array(jira_rows, dtype=np.int64),
            jira_keys=jira_keys,
        )

    def _per_cluster(self, mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        n_clusters = len(self.cluster_ids)
        if weights is None:
            return np.bincount(self.cluster[mask], minlength=n_clusters)
        return np.bincount(self.cluster[mask], weights=weights[mask], minlength=n_clusters)

    def _counts(
        self, mask: np.ndarray, codes: np.ndarray, names: list[str]
    ) -> list[dict[str, int]]:
        result: list[dict[str, int]] = [{} for _ in self.cluster_ids]
        chosen = mask & (codes >= 0)
        if not names or not chosen.any():
            return result
        keys = self.cluster[chosen] * len(names) + codes[chosen]
        unique, counts = np.unique(keys, return_counts=True)
        for key, count in zip(unique.tolist(), counts.tolist(), strict=True):
            cluster, code = divmod(key, len(names))
            result[cluster][names[code]] = count
        return result

    def week_stats(self, week: str, weights: ImpactWeights) -> list[ProblemStats]:
        """The measures of every cluster (in ``cluster_ids`` order) for the register of ``week``.

        Only tickets first closed before the week's end count; a cluster with none has
        ``n_all_tickets == 0``.
        """
        start, end = (moment.timestamp() for moment in week_bounds(week))
        n_clusters = len(self.cluster_ids)
        n_weekly = max(weights.trend_weeks, weights.baseline_weeks + 1)
        closed = self.closed
        known = closed < end
        # Whole weeks before the register's week (0: within it), as in ISO week arithmetic.
        age = np.maximum(0.0, -np.floor((closed - start) / _WEEK_SECONDS)).astype(np.int64)
        window = weights.window_weeks or math.inf
        counted = known & (age < window)

        n_all = self._per_cluster(known)
        trend_rows = known & (age < n_weekly)
        weekly = np.bincount(
            self.cluster[trend_rows] * n_weekly + age[trend_rows], minlength=n_clusters * n_weekly
        ).reshape(n_clusters, n_weekly)
        n_tickets = self._per_cluster(counted)
        severity_points = self._per_cluster(counted, self.severity_weight)
        recent = self._per_cluster(counted & (age < weights.recent_weeks))
        baseline = self._per_cluster(counted & (age >= 1) & (age <= weights.baseline_weeks))
        handle = self._per_cluster(counted, self.handle)
        reopens = self._per_cluster(counted, self.reopens.astype(np.float64))
        breaches = self._per_cluster(counted & self.sla)
        rated = counted & (self.csat > 0)
        n_csat = self._per_cluster(rated)
        poor = self._per_cluster(rated & (self.csat <= weights.poor_csat_max))
        first = np.full(n_clusters, np.inf)
        last = np.full(n_clusters, -np.inf)
        np.minimum.at(first, self.cluster[known], closed[known])
        np.maximum.at(last, self.cluster[known], closed[known])

        # Each customer counts once per problem, as the most valuable it showed there;
        # among equal values the first ticket (by id) speaks for it.
        rows = np.nonzero(counted)[0]
        order = rows[np.lexsort((rows, -self.value[rows], self.customer[rows], self.cluster[rows]))]
        pair = self.cluster[order] * (int(self.customer.max(initial=0)) + 1) + self.customer[order]
        leading = np.ones(len(order), dtype=bool)
        leading[1:] = pair[1:] != pair[:-1]
        chosen = order[leading]
        chosen_cluster = self.cluster[chosen]
        n_customers = np.bincount(chosen_cluster, minlength=n_clusters)
        customer_points = np.bincount(chosen_cluster, self.value[chosen], minlength=n_clusters)
        arr_affected = np.bincount(chosen_cluster, self.arr[chosen], minlength=n_clusters)
        enterprise = self.tier_names.index("enterprise") if "enterprise" in self.tier_names else -2
        n_enterprise = np.bincount(
            chosen_cluster[self.tier[chosen] == enterprise], minlength=n_clusters
        )

        severity_counts = self._counts(counted, self.severity, self.severity_names)
        products = self._counts(counted, self.product, self.product_names)
        components = self._counts(counted, self.component, self.component_names)
        versions = self._counts(counted, self.version, self.version_names)
        jira: list[dict[str, int]] = [{} for _ in self.cluster_ids]
        for row, key in zip(self.jira_rows.tolist(), self.jira_keys, strict=True):
            if counted[row]:
                mentions = jira[int(self.cluster[row])]
                mentions[key] = mentions.get(key, 0) + 1

        latest = np.nonzero(known)[0]
        latest = latest[np.lexsort((latest, closed[latest], self.cluster[latest]))]
        ends = np.searchsorted(self.cluster[latest], np.arange(n_clusters), side="right")
        begins = np.searchsorted(self.cluster[latest], np.arange(n_clusters), side="left")

        result = []
        for k in range(n_clusters):
            sample = latest[max(begins[k], ends[k] - _N_SAMPLE_TICKETS) : ends[k]][::-1]
            result.append(
                ProblemStats(
                    weights=weights,
                    n_all_tickets=int(n_all[k]),
                    n_tickets=int(n_tickets[k]),
                    first_closed=float(first[k]),
                    last_closed=float(last[k]),
                    n_customers=int(n_customers[k]),
                    n_enterprise_customers=int(n_enterprise[k]),
                    arr_affected=float(arr_affected[k]),
                    customer_points=float(customer_points[k]),
                    severity_counts=severity_counts[k],
                    severity_points=float(severity_points[k]),
                    weekly_counts=weekly[k].tolist(),
                    recent_tickets=int(recent[k]),
                    baseline_total=int(baseline[k]),
                    handle_minutes=float(handle[k]),
                    reopens=round(float(reopens[k])),
                    sla_breaches=int(breaches[k]),
                    poor_csat=int(poor[k]),
                    n_csat=int(n_csat[k]),
                    products=products[k],
                    components=components[k],
                    versions=versions[k],
                    jira_keys=jira[k],
                    sample_ticket_ids=tuple(self.ticket_ids[row] for row in sample.tolist()),
                )
            )
        return result

    def opened_versions(self, cluster_index: int, week: str) -> list[tuple[float, str | None]]:
        """``(opened_at epoch, version)`` of a cluster's tickets closed before the week's end."""
        _, end = week_bounds(week)
        begin, stop = int(self.offsets[cluster_index]), int(self.offsets[cluster_index + 1])
        names = self.version_names
        return [
            (opened, names[code] if code >= 0 else None)
            for opened, closed, code in zip(
                self.opened[begin:stop].tolist(),
                self.closed[begin:stop].tolist(),
                self.version[begin:stop].tolist(),
                strict=True,
            )
            if closed < end.timestamp()
        ]
