"""Load labeled duplicate-report sets (trimmed Jira issues, GitBugs CSV) as ticket records.

Each report becomes a `problems.records.TicketRecord` built through the same path as a
closed ticket in production (`ticket_record` of a `TicketClosed` event, so text is
cleaned and masked). Duplicate groups are the connected components of the duplicate
links among the reports present.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx

from problems.events import TicketClosed
from problems.records import TicketRecord, ticket_record

__all__ = ["LabeledSet", "duplicate_groups", "load_gitbugs", "load_jira"]

MAX_BODY_CHARS = 4_000
"""The protocol reads the summary and the first 4,000 characters of the description."""


@dataclass
class LabeledSet:
    """Reports as ticket records plus their duplicate ground truth.

    Attributes
    ----------
    records : list of TicketRecord
        In creation order (ties by id), which is also the order a stream would see them.
    summaries, bodies : dict of str to str
        Raw summary and first 4,000 characters of the description per ticket id (for the
        baselines, which read unmasked text as published).
    links : list of (str, str)
        Duplicate links between reports present (each unordered pair once).
    groups : list of list of str
        Connected components of ``links`` (size 2 or more).
    scope : dict of str to str
        Retrieval scope per ticket id: candidates are the reports of the same scope.
    """

    name: str
    records: list[TicketRecord]
    summaries: dict[str, str]
    bodies: dict[str, str]
    links: list[tuple[str, str]]
    groups: list[list[str]]
    scope: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def positions_by_scope(self) -> dict[str, list[int]]:
        """Positions in ``records`` of each retrieval scope's tickets, in record order."""
        positions: dict[str, list[int]] = {}
        for position, record in enumerate(self.records):
            positions.setdefault(self.scope[record.ticket_id], []).append(position)
        return positions

    def without_identical_summaries(self) -> LabeledSet:
        """The same set minus groups whose summaries are all identical (re-submissions)."""
        kept = [
            group
            for group in self.groups
            if len({" ".join(self.summaries[i].lower().split()) for i in group}) > 1
        ]
        kept_ids = {ticket_id for group in kept for ticket_id in group}
        links = [(a, b) for a, b in self.links if a in kept_ids and b in kept_ids]
        return LabeledSet(
            name=self.name + "-no-identical",
            records=self.records,
            summaries=self.summaries,
            bodies=self.bodies,
            links=links,
            groups=kept,
            scope=self.scope,
            extra=self.extra,
        )


def duplicate_groups(links: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of the links, each sorted, largest first then by first id.

    >>> duplicate_groups([("a", "b"), ("c", "b"), ("d", "e")])
    [['a', 'b', 'c'], ['d', 'e']]
    """
    graph: nx.Graph[str] = nx.Graph()
    graph.add_edges_from(links)
    groups = [sorted(component) for component in nx.connected_components(graph)]
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def _event(
    ticket_id: str,
    subject: str,
    body: str,
    created: datetime,
    resolved: datetime | None,
    product: str,
    component: str | None,
    version: str | None,
    severity: str,
) -> TicketClosed:
    closed = resolved if resolved is not None and resolved >= created else created
    return TicketClosed.model_validate(
        {
            "event_type": "ticket.closed",
            "event_id": "bench-" + ticket_id,
            "ticket_id": ticket_id,
            "opened_at": created,
            "closed_at": closed,
            "subject": subject[:2_000],
            "description": body,
            "customer": {"account_id": "bench"},
            "product": product or "unknown",
            "component": component[:200] if component else None,
            "version": version[:200] if version else None,
            "severity": severity,
        }
    )


_SEVERITY = {
    "blocker": "critical",
    "critical": "critical",
    "major": "high",
    "minor": "low",
    "trivial": "low",
}


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _sorted_records(records: list[TicketRecord]) -> list[TicketRecord]:
    return sorted(records, key=lambda record: (record.opened_at, record.ticket_id))


def load_jira(path: str | Path) -> LabeledSet:
    """Trimmed Jira REST issue objects, one JSON object a line (gzip or plain).

    Summary is the subject, the first 4,000 characters of the description the text,
    the project the product (and the retrieval scope), the first component and first
    affected version the metadata, ``created`` the time. Duplicate groups come from
    ``Duplicate`` issue links between issues present. An issue written more than once
    keeps its first copy, with the links of all.
    """
    path = Path(path)
    records: list[TicketRecord] = []
    summaries: dict[str, str] = {}
    bodies: dict[str, str] = {}
    scope: dict[str, str] = {}
    raw_links: list[tuple[str, str]] = []
    skipped = repeated = 0
    for issue in _read_jsonl(path):
        key = str(issue["key"])
        fields = issue.get("fields") or {}
        for link in fields.get("issuelinks") or []:
            if (link.get("type") or {}).get("name") != "Duplicate":
                continue
            other = (link.get("inwardIssue") or link.get("outwardIssue") or {}).get("key")
            if other:
                raw_links.append((key, str(other)))
        if key in summaries:
            # An issue written twice (exports concatenated, a crawl repeated): the first
            # is the report, and the links of every copy count.
            repeated += 1
            continue
        created = parse_time(fields.get("created"))
        if created is None:
            skipped += 1
            continue
        summary = fields.get("summary") or ""
        body = (fields.get("description") or "")[:MAX_BODY_CHARS]
        components = [c.get("name") for c in fields.get("components") or [] if c.get("name")]
        versions = [v.get("name") for v in fields.get("versions") or [] if v.get("name")]
        priority = ((fields.get("priority") or {}).get("name") or "").lower()
        project = key.rsplit("-", 1)[0]
        event = _event(
            key,
            summary,
            body,
            created,
            parse_time(fields.get("resolutiondate")),
            project,
            components[0] if components else None,
            versions[0] if versions else None,
            _SEVERITY.get(priority, "medium"),
        )
        records.append(ticket_record(event))
        summaries[key] = summary
        bodies[key] = body
        scope[key] = project
    if skipped:
        print(f"skipped {skipped} issues without a creation time", file=sys.stderr)
    if repeated:
        print(f"kept the first of each repeated issue ({repeated} repeats)", file=sys.stderr)
    return _labeled_set(path.parent.name or path.stem, records, summaries, bodies, raw_links, scope)


def _present_links(raw: Iterable[tuple[str, str]], present: set[str]) -> list[tuple[str, str]]:
    pairs = {tuple(sorted((a, b))) for a, b in raw if a != b and a in present and b in present}
    return sorted((a, b) for a, b in pairs)


_TIME_LAYOUTS = ("%d/%b/%y %H:%M", "%d/%b/%Y %H:%M")
"""Jira's CSV export (``30/Sep/21 17:20``); ISO 8601 needs no layout."""


def parse_time(value: str | None) -> datetime | None:
    """A time as the data sets write it, in UTC (naive means UTC); None when unreadable.

    Jira's REST form (``2015-01-01T10:00:00.000+0000``), other ISO 8601 forms (``Z``, no
    fraction, a space for the ``T``) and Jira's CSV export (``30/Sep/21 17:20``).
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for layout in _TIME_LAYOUTS:
            try:
                return datetime.strptime(value, layout).replace(tzinfo=UTC)
            except ValueError:
                continue
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_gitbugs(reports: str | Path, duplicates: str | Path) -> LabeledSet:
    """GitBugs reports CSV plus its ``Issue id, Duplicate id`` CSV.

    Columns used: Summary, Issue id, Priority, Created, Resolved, Description and, when
    present, Affects Version/s and Component/s. Every report is in one retrieval scope.
    A duplicate cell may list several ids separated by commas. Both files may start with a
    byte-order mark (spreadsheet exports write one), which would otherwise hide the first
    column's name.
    """
    reports = Path(reports)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    records: list[TicketRecord] = []
    summaries: dict[str, str] = {}
    bodies: dict[str, str] = {}
    scope: dict[str, str] = {}
    product = reports.parent.name or "reports"
    fallback_time = datetime(2000, 1, 1, tzinfo=UTC)
    with reports.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            ticket_id = (row.get("Issue id") or "").strip()
            if not ticket_id or ticket_id in summaries:
                continue
            summary = row.get("Summary") or ""
            body = (row.get("Description") or "")[:MAX_BODY_CHARS]
            created = parse_time(row.get("Created")) or fallback_time
            version = (row.get("Affects Version/s") or "").split(",")[0].strip() or None
            component = (row.get("Component/s") or "").split(",")[0].strip() or None
            priority = (row.get("Priority") or "").strip().lower()
            event = _event(
                ticket_id,
                summary,
                body,
                created,
                parse_time(row.get("Resolved")),
                product,
                component,
                version,
                _SEVERITY.get(priority, "medium"),
            )
            records.append(ticket_record(event))
            summaries[ticket_id] = summary
            bodies[ticket_id] = body
            scope[ticket_id] = product
    raw_links: list[tuple[str, str]] = []
    with Path(duplicates).open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            source = (row.get("Issue id") or "").strip()
            for other in (row.get("Duplicate id") or "").split(","):
                if other.strip():
                    raw_links.append((source, other.strip()))
    return _labeled_set(
        reports.parent.name or reports.stem, records, summaries, bodies, raw_links, scope
    )


def _labeled_set(
    name: str,
    records: list[TicketRecord],
    summaries: dict[str, str],
    bodies: dict[str, str],
    raw_links: list[tuple[str, str]],
    scope: dict[str, str],
) -> LabeledSet:
    """A labeled set from what a loader read; links to absent reports are dropped."""
    links = _present_links(raw_links, set(summaries))
    return LabeledSet(
        name=name,
        records=_sorted_records(records),
        summaries=summaries,
        bodies=bodies,
        links=links,
        groups=duplicate_groups(links),
        scope=scope,
    )
