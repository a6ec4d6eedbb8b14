"""A small pandas-friendly view of the state, for analysts in Jupyter.

`load_state` opens a snapshot (a file, its bytes, or the worker's checkpoint in Redis) and
returns a `State`: a read-only face over a `problems.pipeline.Pipeline` whose methods
return DataFrames (tickets, clusters, memberships, links with evidence, releases, defects,
register history) and the networkx graph. Helpers drill into one problem: its weekly
timeline with release markers, its terms, members and customers, and the tickets most like
a given one.

Every text column comes from the records kept in state, which were masked on intake: no
email, IP address or token of a customer reaches a DataFrame.

Examples
--------
>>> state = sample_state(n_tickets=120)
>>> clusters = state.clusters()
>>> list(clusters.columns) == list(CLUSTER_COLUMNS)
True
>>> len(state.tickets()) == len(state.pipeline.tickets_)
True
>>> biggest = clusters.loc[~clusters["is_noise"]].iloc[0]
>>> timeline = weekly_timeline(state, biggest["cluster_id"])
>>> bool(timeline["n_tickets"].sum() == biggest["size"])
True
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import networkx as nx
import pandas as pd

from problems.cluster.model import ClusterSummary
from problems.cluster.semantic import TicketEmbeddings
from problems.errors import InvalidEvent, SnapshotError
from problems.events import Event, parse_event
from problems.files import iter_lines
from problems.linker.links import Evidence
from problems.linker.versions import canonical_version
from problems.pipeline import Pipeline, PipelineSettings
from problems.records import ReleaseRecord, TicketRecord
from problems.register.model import Register, week_bounds, week_of
from problems.register.snapshot import register_from_dict
from problems.store import FileStore, RedisStore
from problems.streams import CHECKPOINT_KEY, REGISTER_STREAM, entry_payload
from problems.text import clean_ticket_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CLUSTER_COLUMNS",
    "CUSTOMER_COLUMNS",
    "DEFECT_COLUMNS",
    "DUPLICATE_COLUMNS",
    "GRAPH_EDGE_COLUMNS",
    "GRAPH_NODE_COLUMNS",
    "LINK_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "PUBLISHED_COLUMNS",
    "REGISTER_COLUMNS",
    "RELEASE_COLUMNS",
    "SIMILAR_COLUMNS",
    "TERM_COLUMNS",
    "TICKET_COLUMNS",
    "TIMELINE_COLUMNS",
    "State",
    "build_state",
    "cached_state",
    "cluster_customers",
    "cluster_members",
    "cluster_terms",
    "duplicate_groups",
    "explain_ticket",
    "find_repo_root",
    "graph_edges",
    "graph_nodes",
    "load_state",
    "plot_timeline",
    "published_registers",
    "sample_state",
    "similar_tickets",
    "weekly_timeline",
]

TICKET_COLUMNS = (
    "ticket_id",
    "cluster_id",
    "is_noise",
    "week",
    "opened_at",
    "first_closed_at",
    "closed_at",
    "subject",
    "text",
    "customer_id",
    "customer_name",
    "tier",
    "arr",
    "product",
    "component",
    "version",
    "severity",
    "channel",
    "tags",
    "jira_keys",
    "reopen_count",
    "close_count",
    "handle_time_minutes",
    "sla_breached",
    "csat",
)
"""Columns of `State.tickets`: one row per ticket; ``week`` is the ISO week of its first close,
``tags`` and ``jira_keys`` are comma-joined, ``cluster_id`` is None for an unassigned ticket."""

CLUSTER_COLUMNS = (
    "cluster_id",
    "title",
    "size",
    "n_customers",
    "is_noise",
    "first_seen",
    "last_seen",
    "terms",
    "representative_ticket_id",
    "representative_subject",
    "products",
    "components",
    "versions",
    "error_codes",
)
"""Columns of `State.clusters`: one row per cluster, biggest first; list-like fields joined
with ``", "``."""

MEMBERSHIP_COLUMNS = ("ticket_id", "cluster_id", "is_noise")
"""Columns of `State.memberships`: one row per assigned ticket."""

LINK_COLUMNS = (
    "cluster_id",
    "defect_key",
    "status",
    "confidence",
    *Evidence.model_fields,
    "time_score",
)
"""Columns of `State.links`: one row per cluster-to-defect link, with every field of its
`problems.linker.links.Evidence` (see there for what each measures)."""

RELEASE_COLUMNS = ("release_id", "name", "project_id", "release_date", "released", "archived")
"""Columns of `State.releases`, oldest release date first."""

DEFECT_COLUMNS = (
    "key",
    "project",
    "summary",
    "issue_type",
    "status",
    "status_category",
    "priority",
    "resolution",
    "components",
    "affected_versions",
    "fix_versions",
    "labels",
    "created",
    "updated",
    "resolved_at",
)
"""Columns of `State.defects`; list-like fields joined with ``", "``."""

REGISTER_COLUMNS = (
    "week",
    "rank",
    "cluster_id",
    "title",
    "status",
    "action",
    "impact",
    "n_tickets",
    "n_customers",
    "tickets_this_week",
    "growth",
    "defect_key",
    "link_status",
    "regression_tickets",
    "is_noise",
)
"""Columns of `State.register_history`: one row per problem and ISO week."""

GRAPH_NODE_COLUMNS = ("node", "kind")
"""First columns of `graph_nodes`; each node attribute follows as a column."""

GRAPH_EDGE_COLUMNS = ("source", "target", "kind")
"""First columns of `graph_edges`; each edge attribute follows as a column."""

PUBLISHED_COLUMNS = ("entry_id", "published_at", "kind", *REGISTER_COLUMNS)
"""Columns of `published_registers`: the publication, then `REGISTER_COLUMNS`."""

TIMELINE_COLUMNS = ("week", "week_start", "n_tickets", "releases")
"""Columns of `weekly_timeline`; ``releases`` names the releases shipped that week."""

TERM_COLUMNS = ("rank", "term")
"""Columns of `cluster_terms`."""

CUSTOMER_COLUMNS = (
    "customer_id",
    "customer_name",
    "tier",
    "arr",
    "n_tickets",
    "first_seen",
    "last_seen",
)
"""Columns of `cluster_customers`, most tickets first."""

DUPLICATE_COLUMNS = ("group_id", "ticket_id", "linked_to", "cluster_id", "closed_at", "subject")
"""Columns of `duplicate_groups`: one row per ticket in a group of two or more, by group
(``group_id``: its first ticket), then in arrival order; ``linked_to``: the earlier
ticket it joined through (empty for the group's first)."""
SIMILAR_COLUMNS = ("rank", "ticket_id", "score", "cluster_id", "subject", "customer_id")
"""Columns of `similar_tickets`, most similar first (``score``: the re-ranker's, which
orders the tickets of one query and is not a probability)."""

_LIST_SEPARATOR = ", "
_MARKER = "pyproject.toml"


def _joined(values: Iterable[Any] | None) -> str:
    return _LIST_SEPARATOR.join(str(value) for value in values or ())


def _timestamp(value: datetime | date | None) -> pd.Timestamp | None:
    if value is None:
        return None
    return pd.Timestamp(value, tz="UTC") if _naive(value) else pd.Timestamp(value)


def _naive(value: datetime | date) -> bool:
    return not isinstance(value, datetime) or value.tzinfo is None


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


class State:
    """A read-only view of a pipeline's state as DataFrames and a graph.

    Parameters
    ----------
    pipeline
        The state to look at; it is read, never changed.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> tickets = state.tickets()
    >>> tickets["ticket_id"].is_unique and len(tickets) == 120
    True
    >>> members = state.memberships()
    >>> set(members["ticket_id"]) <= set(tickets["ticket_id"])
    True
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._embeddings: TicketEmbeddings | None = None

    def _use_semantic(self, semantic: bool) -> None:
        """Give the pipeline sentence embeddings of tickets, or take them away; the
        vectors already encoded are kept for the next time."""
        if semantic and self._embeddings is None:
            self._embeddings = TicketEmbeddings()
        self.pipeline.semantic = self._embeddings if semantic else None

    def __repr__(self) -> str:
        stats = self.pipeline.stats()
        return (
            f"State({stats['tickets']} tickets, {stats['clusters']} clusters, "
            f"{stats['defects']} defects, {stats['releases']} releases)"
        )

    # -- what the stages know ---------------------------------------------------------

    def _summaries(self) -> dict[str, ClusterSummary]:
        # A merged cluster lives on in its target; its id only matters for lineage.
        return {
            summary.id: summary
            for summary in self.pipeline.engine_.clusters()
            if summary.merged_into is None
        }

    def _memberships(self) -> dict[str, str]:
        """Ticket id to cluster id, for problem clusters and clusters marked as noise."""
        engine = self.pipeline.engine_
        members = dict(engine.memberships())
        noise = self._noise_ids()
        if noise:
            # The engine's memberships leave noise out; analysts still want to see it.
            for ticket_id, group_id in engine.groups().items():
                if group_id in noise:
                    members[ticket_id] = group_id
        return members

    def _noise_ids(self) -> set[str]:
        return {cluster_id for cluster_id, summary in self._summaries().items() if summary.is_noise}

    # -- DataFrames -------------------------------------------------------------------

    def tickets(self) -> pd.DataFrame:
        """Every ticket with its cluster, masked text only (columns: `TICKET_COLUMNS`).

        Examples
        --------
        >>> state = sample_state(n_tickets=120)
        >>> frame = state.tickets()
        >>> bool(frame["text"].str.contains("@").any())
        False
        """
        return self._ticket_frame(self.pipeline.tickets_)

    def _ticket_frame(self, ticket_ids: Iterable[str]) -> pd.DataFrame:
        memberships = self._memberships()
        noise = self._noise_ids()
        records = self.pipeline.tickets_
        rows = []
        for ticket_id in ticket_ids:
            record = records[ticket_id]
            cluster_id = memberships.get(ticket_id)
            rows.append(
                {
                    "ticket_id": record.ticket_id,
                    "cluster_id": cluster_id,
                    "is_noise": cluster_id in noise,
                    "week": week_of(record.first_closed_at),
                    "opened_at": record.opened_at,
                    "first_closed_at": record.first_closed_at,
                    "closed_at": record.closed_at,
                    "subject": record.subject,
                    "text": record.text,
                    "customer_id": record.customer_id,
                    "customer_name": record.customer_name,
                    "tier": record.tier,
                    "arr": record.arr,
                    "product": record.product,
                    "component": record.component,
                    "version": record.version,
                    "severity": record.severity,
                    "channel": record.channel,
                    "tags": _joined(record.tags),
                    "jira_keys": _joined(record.jira_keys),
                    "reopen_count": record.reopen_count,
                    "close_count": record.close_count,
                    "handle_time_minutes": record.handle_time_minutes,
                    "sla_breached": record.sla_breached,
                    "csat": record.csat,
                }
            )
        frame = _frame(rows, TICKET_COLUMNS)
        for column in ("opened_at", "first_closed_at", "closed_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        frame["csat"] = frame["csat"].astype("Int64")
        return frame

    def clusters(self) -> pd.DataFrame:
        """Every cluster with its explanation, biggest first (columns: `CLUSTER_COLUMNS`).

        Examples
        --------
        >>> state = sample_state(n_tickets=120)
        >>> clusters = state.clusters()
        >>> bool(clusters["size"].is_monotonic_decreasing)
        True
        """
        customers: dict[str, set[str]] = {}
        tickets = self.pipeline.tickets_
        for ticket_id, cluster_id in self._memberships().items():
            record = tickets.get(ticket_id)
            if record is not None:
                customers.setdefault(cluster_id, set()).add(record.customer_id)
        rows = [
            {
                "cluster_id": summary.id,
                "title": summary.title,
                "size": summary.size,
                "n_customers": len(customers.get(summary.id, ())),
                "is_noise": summary.is_noise,
                "first_seen": _timestamp(summary.first_seen),
                "last_seen": _timestamp(summary.last_seen),
                "terms": _joined(summary.terms),
                "representative_ticket_id": summary.representative_ticket_id,
                "representative_subject": summary.representative_subject,
                "products": _joined(summary.products),
                "components": _joined(summary.components),
                "versions": _joined(summary.versions),
                "error_codes": _joined(summary.error_codes),
            }
            for summary in self._summaries().values()
        ]
        frame = _frame(rows, CLUSTER_COLUMNS)
        frame = frame.sort_values(["size", "cluster_id"], ascending=[False, True], kind="stable")
        return frame.reset_index(drop=True)

    def memberships(self) -> pd.DataFrame:
        """Which cluster each ticket is in (columns: `MEMBERSHIP_COLUMNS`)."""
        noise = self._noise_ids()
        rows = [
            {"ticket_id": ticket_id, "cluster_id": cluster_id, "is_noise": cluster_id in noise}
            for ticket_id, cluster_id in sorted(self._memberships().items())
        ]
        return _frame(rows, MEMBERSHIP_COLUMNS)

    def links(self) -> pd.DataFrame:
        """Cluster-to-defect links with their evidence, most confident first.

        Columns: `LINK_COLUMNS`. Rejected links are kept (status ``rejected``) so a reviewer
        sees what was considered.

        Examples
        --------
        >>> links = sample_state(n_tickets=120).links()
        >>> bool(links["confidence"].between(0, 1).all())
        True
        """
        rows = []
        for link in self.pipeline.links():
            evidence = link.evidence
            rows.append(
                {
                    "cluster_id": link.cluster_id,
                    "defect_key": link.defect_key,
                    "status": link.status,
                    "confidence": link.confidence,
                    **evidence.model_dump(),
                    "time_score": evidence.time_score,
                }
            )
        frame = _frame(rows, LINK_COLUMNS)
        frame = frame.sort_values(
            ["confidence", "cluster_id", "defect_key"], ascending=[False, True, True]
        )
        return frame.reset_index(drop=True)

    def releases(self) -> pd.DataFrame:
        """Every release (Jira version), oldest release date first (columns: `RELEASE_COLUMNS`)."""
        rows = [
            {
                "release_id": record.id,
                "name": record.name,
                "project_id": record.project_id,
                "release_date": _timestamp(record.release_date),
                "released": record.released,
                "archived": record.archived,
            }
            for record in self.pipeline.releases_.values()
        ]
        frame = _frame(rows, RELEASE_COLUMNS)
        frame["release_date"] = pd.to_datetime(frame["release_date"], utc=True)
        frame = frame.sort_values(["release_date", "name"], na_position="last", kind="stable")
        return frame.reset_index(drop=True)

    def defects(self) -> pd.DataFrame:
        """Every Jira defect, masked summary only (columns: `DEFECT_COLUMNS`)."""
        rows = [
            {
                "key": record.key,
                "project": record.project,
                "summary": record.summary,
                "issue_type": record.issue_type,
                "status": record.status,
                "status_category": record.status_category,
                "priority": record.priority,
                "resolution": record.resolution,
                "components": _joined(record.components),
                "affected_versions": _joined(record.affected_versions),
                "fix_versions": _joined(record.fix_versions),
                "labels": _joined(record.labels),
                "created": record.created,
                "updated": record.updated,
                "resolved_at": record.resolved_at,
            }
            for record in sorted(self.pipeline.defects_.values(), key=lambda record: record.key)
        ]
        frame = _frame(rows, DEFECT_COLUMNS)
        for column in ("created", "updated", "resolved_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def weeks(self) -> list[str]:
        """The ISO weeks from the first ticket's close to the last one's, in order."""
        closes = [record.first_closed_at for record in self.pipeline.tickets_.values()]
        if not closes:
            return []
        return _week_range(min(closes), max(closes))

    def register_history(self, weeks: Sequence[str] | None = None) -> pd.DataFrame:
        """The register of each week, rebuilt from this state (columns: `REGISTER_COLUMNS`).

        A week's register counts the tickets first closed by the end of that week, so the
        rows show how each problem ranked and what status it had week after week.

        Parameters
        ----------
        weeks
            ISO weeks such as ``2026-W20``; by default every week of `weeks`. Each week
            costs one `Pipeline.register`; the links are computed once for all weeks.

        Examples
        --------
        >>> state = sample_state(n_tickets=120)
        >>> history = state.register_history(state.weeks()[-2:])
        >>> sorted(set(history["week"])) == state.weeks()[-2:]
        True
        """
        rows: list[dict[str, Any]] = []
        links = self.pipeline.links()
        for week in self.weeks() if weeks is None else weeks:
            rows.extend(_register_rows(self.pipeline.register(week, links=links)))
        return _frame(rows, REGISTER_COLUMNS)

    def graph(self, include_tickets: bool = False) -> nx.MultiDiGraph:
        """The problem graph (see `problems.graph.model` for its nodes and edges).

        Parameters
        ----------
        include_tickets
            Add a node per ticket (no text) besides the aggregated edges.

        Examples
        --------
        >>> graph = sample_state(n_tickets=120).graph()
        >>> sorted(set(graph_nodes(graph)["kind"]))[:3]
        ['component', 'customer', 'defect']
        """
        return self.pipeline.graph(include_tickets=include_tickets)


def _register_rows(register: Register) -> list[dict[str, Any]]:
    return [
        {
            "week": register.week,
            "rank": row.rank,
            "cluster_id": row.cluster_id,
            "title": row.title,
            "status": row.status,
            "action": row.action,
            "impact": row.impact.score,
            "n_tickets": row.n_tickets,
            "n_customers": row.n_customers,
            "tickets_this_week": row.tickets_this_week,
            "growth": row.growth,
            "defect_key": row.defect_key,
            "link_status": row.link_status,
            "regression_tickets": row.regression_tickets,
            "is_noise": row.is_noise,
        }
        for row in register.rows
    ]


# -- what the worker published ----------------------------------------------------------


def published_registers(client: Any, stream: str = REGISTER_STREAM) -> pd.DataFrame:
    """The registers the worker published on its Redis stream, oldest first.

    Where `State.register_history` rebuilds each week from today's state, this reads what
    the weekly triage was actually shown: one row per problem and published register.

    Parameters
    ----------
    client
        A synchronous redis-py client.
    stream
        The register stream (`problems.streams.REGISTER_STREAM` by default).

    Returns
    -------
    pandas.DataFrame
        Columns `PUBLISHED_COLUMNS`: ``entry_id``, ``published_at`` and ``kind``
        (``weekly``, ``daily``, ``on_demand``) of each publication, then `REGISTER_COLUMNS`.
        Entries that hold no register (counts only) are left out.
    """
    rows: list[dict[str, Any]] = []
    for entry_id, fields in client.xrange(stream):
        payload = entry_payload(fields)
        if payload is None:
            continue
        document = json.loads(payload)
        if not isinstance(document, dict) or "register" not in document:
            continue
        register = register_from_dict(document["register"])
        publication = {
            "entry_id": entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id),
            "published_at": document.get("published_at"),
            "kind": document.get("kind"),
        }
        rows.extend({**publication, **row} for row in _register_rows(register))
    frame = _frame(rows, PUBLISHED_COLUMNS)
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return frame


def _week_range(first: datetime, last: datetime) -> list[str]:
    weeks = []
    start = week_bounds(week_of(first))[0]
    end = week_bounds(week_of(last))[0]
    while start <= end:
        weeks.append(week_of(start))
        start += timedelta(weeks=1)
    return weeks


# -- opening a state ------------------------------------------------------------------


def load_state(source: Any, key: str = CHECKPOINT_KEY) -> State:
    """Open a saved state: a snapshot file, its bytes, a Pipeline, or a Redis checkpoint.

    Parameters
    ----------
    source
        A path to a snapshot file (``problems run`` writes ``OUT/state.json``), the
        snapshot's bytes, a `Pipeline`, or a synchronous redis-py client.
    key
        With a Redis client: the key holding the snapshot; by default the worker's
        checkpoint (`problems.streams.CHECKPOINT_KEY`).

    Returns
    -------
    State

    Raises
    ------
    SnapshotError
        Nothing is saved there, or the snapshot is of another format.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> again = load_state(state.pipeline.save())
    >>> again.pipeline.save() == state.pipeline.save()
    True
    """
    if isinstance(source, Pipeline):
        return State(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return State(Pipeline.load(bytes(source)))
    if isinstance(source, str | os.PathLike):
        data = FileStore(source).load_state()
        where = f"file {os.fspath(source)}"
    elif callable(getattr(source, "get", None)) and callable(getattr(source, "set", None)):
        data = RedisStore(source, key).load_state()
        where = f"Redis key {key!r}"
    else:
        raise TypeError(f"cannot load a state from {type(source).__name__}")
    if data is None:
        raise SnapshotError(f"no state saved in {where}")
    return State(Pipeline.load(data))


def _events(source: Any) -> Iterable[Event]:
    if isinstance(source, str | os.PathLike):
        for line in iter_lines([source]):
            try:
                yield parse_event(line.raw)
            except InvalidEvent:
                # The run's own rejected.jsonl reports bad lines; analysis skips them.
                continue
        return
    for item in source:
        yield item if not isinstance(item, bytes | str | dict) else parse_event(item)


def build_state(events: Any, settings: PipelineSettings | None = None, batch: int = 1_000) -> State:
    """Run a fresh pipeline over events and look at the result.

    Parameters
    ----------
    events
        A JSONL file of events (``.jsonl`` or ``.jsonl.gz``; invalid lines are skipped), or
        an iterable of events, their JSON (bytes or str), or their dicts.
    settings
        Hyperparameters of the stages (e.g. ``PipelineSettings(cluster={...})`` to try
        other clustering settings); the defaults when None.
    batch
        Events handed to the pipeline at once, as ``problems run`` does.

    Examples
    --------
    >>> from problems.sample import generate_sample
    >>> events = generate_sample(seed=3, n_tickets=100).events
    >>> len(build_state(events).pipeline.tickets_)
    100
    """
    pipeline = Pipeline(settings)
    pending: list[Event] = []
    for event in _events(events):
        pending.append(event)
        if len(pending) >= batch:
            pipeline.apply_many(pending)
            pending.clear()
    pipeline.apply_many(pending)
    return State(pipeline)


@functools.lru_cache(maxsize=4)
def _sample_snapshot(seed: int, n_tickets: int) -> bytes:
    from problems.sample import generate_sample

    events = generate_sample(seed=seed, n_tickets=n_tickets).events
    return build_state(events).pipeline.save()


def sample_state(n_tickets: int = 300, seed: int = 3) -> State:
    """The state of a small generated sample: to try things without any data.

    The same ``seed`` and ``n_tickets`` give the same state; it is built once per process.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> len(state.tickets())
    120
    """
    return load_state(_sample_snapshot(seed, n_tickets))


def cached_state(events: str | os.PathLike[str], snapshot: str | os.PathLike[str]) -> State:
    """Load the snapshot if it is newer than the events and the code, else build and save it.

    Notebooks use it so that the pipeline runs over the sample once, not at every open. The
    snapshot is rebuilt when the events file or any module of `problems` changed after it
    was written (new code may cluster differently), or when it does not load.

    Parameters
    ----------
    events
        A JSONL file of events.
    snapshot
        Where the snapshot is kept (its folder is created).
    """
    events_path, snapshot_path = Path(events), Path(snapshot)
    sources = [events_path, *Path(__file__).parent.rglob("*.py")]
    newest_source = max(path.stat().st_mtime for path in sources)
    if snapshot_path.exists() and snapshot_path.stat().st_mtime >= newest_source:
        try:
            return load_state(snapshot_path)
        except SnapshotError:
            pass
    state = build_state(events_path)
    FileStore(snapshot_path).save_state(state.pipeline.save())
    return state


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The repository root above ``start`` (default: the current directory).

    Notebooks run from ``notebooks/``, from the root, or from a CI runner's directory;
    they find the bundled sample relative to this root.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        marker = folder / _MARKER
        if marker.is_file() and (folder / "problems").is_dir():
            return folder
    raise FileNotFoundError(f"no problems repository above {here}")


# -- the graph as tables ----------------------------------------------------------------


def graph_nodes(graph: nx.MultiDiGraph, kind: str | None = None) -> pd.DataFrame:
    """The nodes of a graph as a table: ``node``, ``kind``, then every attribute.

    Parameters
    ----------
    graph
        Typically `State.graph`.
    kind
        Keep only nodes of this kind (``problem``, ``defect``, ``release``, ...).

    Examples
    --------
    >>> graph = nx.MultiDiGraph()
    >>> graph.add_node("problem:P-1", kind="problem", n_tickets=3)
    >>> graph.add_node("customer:acme", kind="customer", tier="pro")
    >>> graph_nodes(graph, kind="problem").to_dict("records")
    [{'node': 'problem:P-1', 'kind': 'problem', 'n_tickets': 3}]
    """
    rows = [
        {"node": node, "kind": data.get("kind"), **data}
        for node, data in graph.nodes(data=True)
        if kind is None or data.get("kind") == kind
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return _frame([], GRAPH_NODE_COLUMNS)
    return frame.dropna(axis="columns", how="all")


def graph_edges(graph: nx.MultiDiGraph, kind: str | None = None) -> pd.DataFrame:
    """The edges of a graph as a table: ``source``, ``target``, ``kind``, then every attribute.

    Parameters
    ----------
    graph
        Typically `State.graph`; edges are keyed by their kind.
    kind
        Keep only edges of this kind (``reported-by``, ``linked-to``, ``fixed-in``, ...).

    Examples
    --------
    >>> graph = nx.MultiDiGraph()
    >>> _ = graph.add_edge("problem:P-1", "customer:acme", key="reported-by", n_tickets=2)
    >>> graph_edges(graph).to_dict("records")
    [{'source': 'problem:P-1', 'target': 'customer:acme', 'kind': 'reported-by', 'n_tickets': 2}]
    """
    rows = [
        {"source": source, "target": target, "kind": key, **data}
        for source, target, key, data in graph.edges(keys=True, data=True)
        if kind is None or key == kind
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return _frame([], GRAPH_EDGE_COLUMNS)
    return frame.dropna(axis="columns", how="all")


# -- one problem up close ---------------------------------------------------------------


def _member_ids(state: State, cluster_id: str) -> list[str]:
    members = [
        ticket_id
        for ticket_id, member_of in state._memberships().items()
        if member_of == cluster_id
    ]
    if not members and cluster_id not in state._summaries():
        raise KeyError(f"unknown cluster {cluster_id!r}")
    return members


def cluster_members(state: State, cluster_id: str) -> pd.DataFrame:
    """The tickets of one cluster, oldest first, masked (columns: `TICKET_COLUMNS`).

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> top = state.clusters().iloc[0]
    >>> bool(len(cluster_members(state, top["cluster_id"])) == top["size"])
    True
    """
    frame = state._ticket_frame(_member_ids(state, cluster_id))
    return frame.sort_values(["first_closed_at", "ticket_id"]).reset_index(drop=True)


def cluster_terms(state: State, cluster_id: str) -> pd.DataFrame:
    """The terms that set a cluster apart, most telling first (columns: `TERM_COLUMNS`).

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> terms = cluster_terms(state, state.clusters().iloc[0]["cluster_id"])
    >>> list(terms["rank"]) == list(range(1, len(terms) + 1))
    True
    """
    summary = state._summaries().get(cluster_id)
    if summary is None:
        raise KeyError(f"unknown cluster {cluster_id!r}")
    rows = [{"rank": rank, "term": term} for rank, term in enumerate(summary.terms, start=1)]
    return _frame(rows, TERM_COLUMNS)


def cluster_customers(state: State, cluster_id: str) -> pd.DataFrame:
    """The customers who reported a cluster's problem, most tickets first.

    Columns: `CUSTOMER_COLUMNS`; ``first_seen`` and ``last_seen`` are their first and last
    ticket's first close.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> top = state.clusters().iloc[0]
    >>> bool(cluster_customers(state, top["cluster_id"])["n_tickets"].sum() == top["size"])
    True
    """
    tickets = state.pipeline.tickets_
    by_customer: dict[str, list[TicketRecord]] = {}
    for ticket_id in _member_ids(state, cluster_id):
        record = tickets[ticket_id]
        by_customer.setdefault(record.customer_id, []).append(record)
    rows = []
    for customer_id, records in by_customer.items():
        latest = max(records, key=lambda record: record.first_closed_at)
        rows.append(
            {
                "customer_id": customer_id,
                "customer_name": latest.customer_name,
                "tier": latest.tier,
                "arr": latest.arr,
                "n_tickets": len(records),
                "first_seen": min(record.first_closed_at for record in records),
                "last_seen": latest.first_closed_at,
            }
        )
    frame = _frame(rows, CUSTOMER_COLUMNS)
    for column in ("first_seen", "last_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame = frame.sort_values(
        ["n_tickets", "arr", "customer_id"], ascending=[False, False, True], kind="stable"
    )
    return frame.reset_index(drop=True)


def explain_ticket(state: State, ticket_id: str) -> dict[str, Any]:
    """Why a ticket is in its cluster: the engine's explanation (similarity, shared fields).

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> ticket_id = state.memberships().iloc[0]["ticket_id"]
    >>> explain_ticket(state, ticket_id)["ticket_id"] == ticket_id
    True
    """
    if ticket_id not in state.pipeline.tickets_:
        raise KeyError(f"unknown ticket {ticket_id!r}")
    explanation = state.pipeline.engine_.explain_ticket(ticket_id)
    return dict(explanation) if isinstance(explanation, Mapping) else {"explanation": explanation}


def weekly_timeline(
    state: State,
    cluster_id: str,
    weeks: Sequence[str] | None = None,
    releases: Literal["project", "all"] = "project",
) -> pd.DataFrame:
    """A cluster's tickets per ISO week (by first close), with the releases of each week.

    Parameters
    ----------
    state
        The state to read.
    cluster_id
        The cluster to count.
    weeks
        The weeks to show; by default every week of the state (`State.weeks`), so that
        timelines of different clusters line up and the quiet after a fix shows.
    releases
        ``"project"``: only the releases of the Jira projects whose versions the
        cluster's tickets name (all of them when no ticket names a known version);
        ``"all"``: every release.

    Returns
    -------
    pandas.DataFrame
        Columns `TIMELINE_COLUMNS`, one row per week in order; ``releases`` names the
        releases with a release date in that week, comma-joined.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> top = state.clusters().iloc[0]
    >>> timeline = weekly_timeline(state, top["cluster_id"])
    >>> bool(timeline["n_tickets"].sum() == top["size"])
    True
    """
    tickets = state.pipeline.tickets_
    members = [tickets[ticket_id] for ticket_id in _member_ids(state, cluster_id)]
    counts: dict[str, int] = {}
    for record in members:
        week = week_of(record.first_closed_at)
        counts[week] = counts.get(week, 0) + 1
    shown = list(state.weeks() if weeks is None else weeks)
    if weeks is None and counts:
        # Members of a cluster all lie inside the state's weeks; this guards an odd clock.
        shown = sorted(set(shown) | set(counts), key=lambda week: week_bounds(week)[0])
    marks: dict[str, list[str]] = {}
    for release in _releases_of(state, members, releases):
        if release.release_date is not None:
            marks.setdefault(week_of(release.release_date), []).append(release.name)
    rows = [
        {
            "week": week,
            "week_start": week_bounds(week)[0],
            "n_tickets": counts.get(week, 0),
            "releases": _joined(marks.get(week)),
        }
        for week in shown
    ]
    frame = _frame(rows, TIMELINE_COLUMNS)
    frame["week_start"] = pd.to_datetime(frame["week_start"], utc=True)
    frame["n_tickets"] = frame["n_tickets"].astype(int)
    return frame


def _releases_of(
    state: State, members: Sequence[TicketRecord], which: Literal["project", "all"]
) -> list[ReleaseRecord]:
    every = sorted(state.pipeline.releases_.values(), key=lambda record: record.name)
    if which == "all":
        return every
    named = {canonical_version(record.version) for record in members if record.version}
    projects = {record.project_id for record in every if canonical_version(record.name) in named}
    # Release trains of other products would bury the ones that matter to this cluster.
    return [record for record in every if record.project_id in projects] if projects else every


def plot_timeline(timeline: pd.DataFrame, ax: Axes | None = None, title: str = "") -> Axes:
    """Draw a `weekly_timeline` as bars with a dashed line at each release.

    Parameters
    ----------
    timeline
        The output of `weekly_timeline`.
    ax
        Axes to draw on; a new figure when None.
    title
        Title of the axes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> state = sample_state(n_tickets=120)
    >>> ax = plot_timeline(weekly_timeline(state, state.clusters().iloc[0]["cluster_id"]))
    >>> ax.get_ylabel()
    'tickets'
    >>> import matplotlib.pyplot as plt
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3))
    positions = range(len(timeline))
    ax.bar(positions, timeline["n_tickets"], color="#4c72b0")
    top = max(int(timeline["n_tickets"].max()) if len(timeline) else 0, 1)
    for position, names in zip(positions, timeline["releases"], strict=True):
        if names:
            ax.axvline(position, color="#c44e52", linestyle="--", linewidth=1)
            ax.text(position, top, names, rotation=90, va="top", ha="right", fontsize=7)
    step = max(1, len(timeline) // 12)
    ax.set_xticks(list(positions)[::step])
    ax.set_xticklabels(list(timeline["week"])[::step], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("tickets")
    if title:
        ax.set_title(title)
    return ax


def duplicate_groups(state: State, semantic: bool = False) -> pd.DataFrame:
    """Tickets that report the same thing, grouped (`Pipeline.duplicates`).

    Narrower than a problem cluster, which gathers every ticket of one root cause. With
    ``semantic``, the tickets' sentence embeddings are evidence too (optional: needs the
    model, see `problems.cluster.semantic`; each ticket is encoded once, about 14 a second
    on two cores).

    Returns
    -------
    pandas.DataFrame
        Columns `DUPLICATE_COLUMNS`.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> groups = duplicate_groups(state)
    >>> list(groups.columns) == list(DUPLICATE_COLUMNS)
    True
    >>> bool((groups.groupby("group_id").size() >= 2).all())
    True
    """
    pipeline = state.pipeline
    state._use_semantic(semantic)
    grouper = pipeline.duplicates()
    group_of = grouper.groups()
    memberships = state._memberships()
    order = {group: n for n, group in enumerate(dict.fromkeys(group_of.values()))}
    rows: list[dict[str, Any]] = []
    for ticket_id, group_id in sorted(group_of.items(), key=lambda item: order[item[1]]):
        record = pipeline.tickets_[ticket_id]
        rows.append(
            {
                "group_id": group_id,
                "ticket_id": ticket_id,
                "linked_to": grouper.links_.get(ticket_id, ""),
                "cluster_id": memberships.get(ticket_id),
                "closed_at": record.first_closed_at,
                "subject": record.subject,
            }
        )
    return _frame(rows, DUPLICATE_COLUMNS)


def similar_tickets(state: State, query: str, k: int = 10, semantic: bool = False) -> pd.DataFrame:
    """The k past tickets most like a ticket (by id) or a free text.

    Parameters
    ----------
    state
        The state to search.
    query
        A ticket id of the state, or a text (masked before use, like any ticket text).
    k
        How many tickets to return; a ticket never matches itself.
    semantic
        Also weigh how close the tickets' sentence embeddings are (optional: needs the
        model, see `problems.cluster.semantic`).

    Returns
    -------
    pandas.DataFrame
        Columns `SIMILAR_COLUMNS`, most similar first.

    Examples
    --------
    >>> state = sample_state(n_tickets=120)
    >>> first = next(iter(state.pipeline.tickets_))
    >>> found = similar_tickets(state, first, k=5)
    >>> len(found) <= 5 and first not in set(found["ticket_id"])
    True
    """
    tickets = state.pipeline.tickets_
    record = tickets.get(query)
    if record is None:
        moment = datetime.now(UTC)
        record = TicketRecord(
            ticket_id="<query>",
            event_ids=(),
            opened_at=moment,
            first_closed_at=moment,
            closed_at=moment,
            subject=clean_ticket_text(query),
            text="",
            customer_id="<query>",
            product="",
        )
    memberships = state._memberships()
    rows: list[dict[str, Any]] = []
    state._use_semantic(semantic)
    for other_id, score in state.pipeline.similar(record, k=k):
        other = tickets[other_id]
        rows.append(
            {
                "rank": len(rows) + 1,
                "ticket_id": other_id,
                "score": float(score),
                "cluster_id": memberships.get(other_id),
                "subject": other.subject,
                "customer_id": other.customer_id,
            }
        )
    return _frame(rows, SIMILAR_COLUMNS)
