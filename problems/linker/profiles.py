"""Cluster profiles: what the linker needs to know of each cluster, in one pass.

A cluster can hold hundreds of thousands of tickets; the linker never looks at them one by
one again. `cluster_profiles` reads every ticket once and keeps, per cluster, counts
(versions, components, products, the defect keys its tickets carry or mention), the first
and last ticket, a handful of representative subjects and a bounded text signature built
from members spread over the cluster's life.

Examples
--------
>>> from datetime import UTC, datetime
>>> at = datetime(2026, 3, 2, tzinfo=UTC)
>>> def ticket(i, subject, keys=()):
...     return TicketRecord(ticket_id=f"T{i}", event_ids=(), opened_at=at, first_closed_at=at,
...         closed_at=at, subject=subject, text="", customer_id="c", product="shop",
...         version="2.1", jira_keys=keys)
>>> tickets = {t.ticket_id: t for t in [ticket(1, "Checkout NPE", ("CHK-1",)),
...     ticket(2, "NPE at checkout, see CHK-1"), ticket(3, "checkout npe")]}
>>> profile = cluster_profiles(tickets, {"T1": "P1", "T2": "P1", "T3": "P1"}, {"CHK-1"})["P1"]
>>> profile.n_tickets, profile.mentions["CHK-1"], profile.versions["2.1"]
(3, 2, 3)
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from problems.records import TicketRecord
from problems.text import mask_pii, normalize

__all__ = [
    "ClusterProfile",
    "cluster_profiles",
    "mention_pattern",
]

SIGNATURE_CHARS = 12_000
"""Budget of body text per cluster signature, shared among the members chosen: a lone
ticket gives up to `MAX_MEMBER_CHARS`, forty members 300 each. It bounds the cost of a
refresh by the number of clusters, not of tickets."""

MAX_MEMBER_CHARS = 4_000
MIN_MEMBER_CHARS = 300


@dataclass(slots=True)
class ClusterProfile:
    """Aggregates of one cluster's tickets."""

    cluster_id: str
    n_tickets: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    versions: Counter[str] = field(default_factory=Counter)
    components: Counter[str] = field(default_factory=Counter)
    products: Counter[str] = field(default_factory=Counter)
    mentions: Counter[str] = field(default_factory=Counter)
    subjects: list[str] = field(default_factory=list)
    signature: str = ""

    @property
    def n_versioned(self) -> int:
        """Tickets that name a version."""
        return sum(self.versions.values())

    @property
    def n_with_component(self) -> int:
        """Tickets that name a component."""
        return sum(self.components.values())


def mention_pattern(defect_keys: Collection[str]) -> re.Pattern[str] | None:
    """A regex finding the keys of the given defects' projects in text (None if no keys).

    Examples
    --------
    >>> mention_pattern(["CHK-1", "PAY-20"]).findall("see CHK-12, pay-3 and PAY-20")
    ['CHK-12', 'PAY-20']
    """
    projects = sorted({key.rsplit("-", 1)[0] for key in defect_keys if "-" in key})
    if not projects:
        return None
    alternatives = "|".join(re.escape(project) for project in projects)
    return re.compile(rf"\b(?:{alternatives})-[1-9][0-9]*\b")


def _spread(items: list[str], count: int) -> list[str]:
    """Up to ``count`` items evenly spaced over the list, first and last included."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def cluster_profiles(
    tickets: Mapping[str, TicketRecord],
    memberships: Mapping[str, str],
    defect_keys: Collection[str] = (),
    cluster_titles: Mapping[str, str] | None = None,
    *,
    max_members: int = 40,
    n_subjects: int = 5,
) -> dict[str, ClusterProfile]:
    """Profile every cluster of ``memberships`` in one pass over the tickets.

    Parameters
    ----------
    tickets : mapping of ticket id to TicketRecord
    memberships : mapping of ticket id to cluster id
        Tickets missing from ``tickets`` are skipped.
    defect_keys : collection of str
        The defects whose keys count as mentions; other keys in text are ignored.
    cluster_titles : mapping of cluster id to title, optional
        A title (set by a person or the clustering) is put first in the signature.
    max_members : int
        Members whose subject and text build the signature, spread over the cluster's
        life so an old cluster is not described by its first week alone.
    n_subjects : int
        Most frequent distinct subjects kept for fuzzy matching.

    Returns
    -------
    dict of cluster id to ClusterProfile
    """
    known = set(defect_keys)
    pattern = mention_pattern(known)
    # A plain substring test is much cheaper than the regex; with few projects it rules
    # out most texts before the regex runs.
    prefixes = sorted({key.rsplit("-", 1)[0] + "-" for key in known if "-" in key})
    quick = prefixes if len(prefixes) <= 32 else None
    profiles: dict[str, ClusterProfile] = {}
    members: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for ticket_id, cluster_id in memberships.items():
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue
        profile = profiles.get(cluster_id)
        if profile is None:
            profile = profiles[cluster_id] = ClusterProfile(cluster_id)
        profile.n_tickets += 1
        opened = ticket.opened_at
        if profile.first_seen is None or opened < profile.first_seen:
            profile.first_seen = opened
        if profile.last_seen is None or opened > profile.last_seen:
            profile.last_seen = opened
        if ticket.version:
            profile.versions[ticket.version] += 1
        if ticket.component:
            profile.components[ticket.component.casefold()] += 1
        profile.products[ticket.product] += 1
        keys = {key for key in ticket.jira_keys if key in known}
        if pattern is not None:
            for text in (ticket.subject, ticket.text):
                if quick is None or any(prefix in text for prefix in quick):
                    keys.update(key for key in pattern.findall(text) if key in known)
        profile.mentions.update(keys)
        members[cluster_id].append((opened.timestamp(), ticket_id))
    titles = cluster_titles or {}
    for cluster_id, profile in profiles.items():
        ordered = [ticket_id for _, ticket_id in sorted(members[cluster_id])]
        members[cluster_id] = []
        chosen = _spread(ordered, max_members)
        subjects = Counter(normalize(tickets[ticket_id].subject) for ticket_id in chosen)
        profile.subjects = [
            subject for subject, _ in sorted(subjects.items(), key=lambda kv: (-kv[1], kv[0]))
        ][:n_subjects]
        parts = [mask_pii(titles[cluster_id])] if cluster_id in titles else []
        share = SIGNATURE_CHARS // max(len(chosen), 1)
        per_member = max(MIN_MEMBER_CHARS, min(MAX_MEMBER_CHARS, share))
        for ticket_id in chosen:
            ticket = tickets[ticket_id]
            parts.append(ticket.subject)
            parts.append(ticket.text[:per_member])
        profile.signature = "\n".join(part for part in parts if part)
    return profiles
