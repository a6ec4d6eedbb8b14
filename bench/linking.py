"""Linking benchmark: cluster-to-defect links, releases, regressions, spikes, and scale.

Three parts, each printed as a human summary; the last stdout line is one JSON object
with every figure.

(a) The generated sample (``samples/default`` if present, else `problems.sample.generate_sample`
    with ``--seed``/``--tickets``): precision and recall of cluster-to-defect links against
    the planted ``links`` (defects with no tickets excluded), whether the planted spike and
    regression are found and how many false alarms come with them. Clusters come from the
    clustering engine when `problems.cluster.engine.ClusterEngine` imports, and from the
    ground truth as well (both reported; ``clusters`` says which is which). Baselines in the
    same run: links from explicit keys only, and TF-IDF top-1 with no threshold.
(b) Apache Hadoop Jira (``--jira``, the README's linking protocol): in each duplicate group
    the member resolved Fixed (earliest if several) is the defect, the others are its
    tickets; every Fixed issue of the set is a candidate defect. Each ticket is its own
    cluster (and, when the engine imports, the engine's groups are scored too). Figures:
    share of tickets whose cluster links to the right defect, precision of all proposed
    links, with and without groups whose summaries are identical, and with issue keys
    stripped from ticket text (no explicit evidence); and the tickets created after their
    defect's fix release on versions at or past it (fix-did-not-work candidates), a few
    printed for a hand check.
(c) Scale: time and peak memory to refresh links and the graph for a synthetic state of
    ``--scale`` tickets (default 100,000; ``--full`` 1,000,000) and of a tenth of it, each
    in a fresh process, with the growth ratio.

Run: ``python bench/linking.py`` (``--full`` for the 1M-ticket state; ``--skip-hadoop``,
``--skip-scale`` to shorten).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.datasets import parse_time  # noqa: E402
from problems.book import RecordBook  # noqa: E402
from problems.events import (  # noqa: E402
    JiraIssue,
    JiraVersion,
    parse_event,
)
from problems.graph import build_graph, regressions  # noqa: E402
from problems.linker import (  # noqa: E402
    Link,
    ReleaseIndex,
    find_spikes,
    problem_groups,
    propose_links,
    version_key,
)
from problems.records import (  # noqa: E402
    DefectRecord,
    ReleaseRecord,
    TicketRecord,
    defect_record,
    release_record,
)
from problems.text import clean_ticket_text  # noqa: E402

DEFAULT_JIRA = ROOT.parent / "shared" / "data" / "apache-jira-hadoop" / "issues.jsonl.gz"


# ---------------------------------------------------------------------------- state


def state_from_events(
    events: Iterable[dict[str, Any]],
) -> tuple[dict[str, TicketRecord], dict[str, DefectRecord], dict[str, ReleaseRecord]]:
    """Records from raw events, exactly as the pipeline keeps them."""
    book = RecordBook.from_events(parse_event(raw) for raw in events)
    return book.tickets, book.defects, book.releases


def load_sample(
    seed: int | None, n_tickets: int
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """``samples/default`` unless a seed is given (or it is missing): then generate."""
    default = ROOT / "samples" / "default"
    if (
        seed is None
        and (default / "events.jsonl").exists()
        and (default / "ground_truth.json").exists()
    ):
        events = [
            json.loads(line)
            for line in (default / "events.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        truth = json.loads((default / "ground_truth.json").read_text(encoding="utf-8"))
        return events, truth, "samples/default"
    from problems.sample import generate_sample

    seed = 7 if seed is None else seed
    sample = generate_sample(seed=seed, n_tickets=n_tickets)
    return (
        sample.events,
        sample.ground_truth,
        f"generate_sample(seed={seed}, n_tickets={n_tickets})",
    )


def engine_clusters(
    tickets: Mapping[str, TicketRecord],
) -> tuple[dict[str, str], dict[str, str], dict[str, str]] | None:
    """(problem memberships, all groups incl. candidates, titles) from the engine, if any."""
    try:
        from problems.cluster.engine import ClusterEngine
    except ImportError:
        return None
    engine = ClusterEngine()
    ordered = sorted(
        tickets.values(), key=lambda ticket: (ticket.first_closed_at, ticket.ticket_id)
    )
    engine.learn_many(ordered)
    titles: dict[str, str] = {}
    try:
        titles = {summary.id: summary.title for summary in engine.clusters()}
    except Exception:
        titles = {}
    groups = engine.groups() if hasattr(engine, "groups") else engine.memberships()
    return engine.memberships(), groups, titles


# ---------------------------------------------------------------------------- (a) sample


def majority(labels: Iterable[str]) -> str:
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], label))


def score_links(
    links: Iterable[Link],
    memberships: Mapping[str, str],
    ticket_truth: Mapping[str, str],
    defect_of: Mapping[str, str],
) -> dict[str, Any]:
    """Precision and recall of cluster-to-defect links against the planted ones."""
    members: dict[str, list[str]] = defaultdict(list)
    for ticket_id, cluster_id in memberships.items():
        members[cluster_id].append(ticket_id)
    cause_of = {
        cluster_id: majority(ticket_truth[ticket_id] for ticket_id in ids)
        for cluster_id, ids in members.items()
    }
    proposed = [link for link in links if link.status != "rejected"]
    correct = [
        link
        for link in proposed
        if defect_of.get(cause_of.get(link.cluster_id, "")) == link.defect_key
    ]
    expected_clusters = {c for c, cause in cause_of.items() if cause in defect_of}
    found_clusters = {link.cluster_id for link in correct}
    expected_defects = {defect_of[cause] for cause in cause_of.values() if cause in defect_of}
    present_defects = {defect_of[c] for c in ticket_truth.values() if c in defect_of}
    linked_tickets = 0
    truth_tickets = 0
    linked_by_cluster = defaultdict(set)
    for link in proposed:
        linked_by_cluster[link.cluster_id].add(link.defect_key)
    for ticket_id, cause in ticket_truth.items():
        if cause not in defect_of:
            continue
        truth_tickets += 1
        held = memberships.get(ticket_id)
        if held is not None and defect_of[cause] in linked_by_cluster.get(held, ()):
            linked_tickets += 1
    return {
        "n_proposed": len(proposed),
        "precision": round(len(correct) / len(proposed), 4) if proposed else None,
        "recall_clusters": round(
            len(found_clusters & expected_clusters) / len(expected_clusters), 4
        )
        if expected_clusters
        else None,
        "recall_defects": round(
            len({link.defect_key for link in correct}) / len(present_defects), 4
        )
        if present_defects
        else None,
        "n_defects_with_tickets": len(present_defects),
        "n_defects_reachable": len(expected_defects),
        "ticket_share_linked_right": round(linked_tickets / truth_tickets, 4)
        if truth_tickets
        else None,
    }


def explicit_only(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    memberships: Mapping[str, str],
) -> list[Link]:
    """Baseline: a cluster links to the defect its tickets name most (jira_keys or text)."""
    links = propose_links(tickets, defects, memberships, min_confidence=0.0, n_candidates=1)
    return [
        link
        for link in _best_by(links, lambda link: link.evidence.explicit_count)
        if link.evidence.explicit_count > 0
    ]


def tfidf_top1(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    memberships: Mapping[str, str],
) -> list[Link]:
    """Baseline: every cluster links to its nearest defect by TF-IDF cosine, no threshold."""
    links = propose_links(
        tickets, defects, memberships, min_confidence=0.0, n_candidates=1, max_links_per_cluster=50
    )
    return _best_by(links, lambda link: link.evidence.cosine)


def _best_by(links: list[Link], score: Any) -> list[Link]:
    best: dict[str, Link] = {}
    for link in links:
        held = best.get(link.cluster_id)
        if held is None or (score(link), link.defect_key) > (score(held), held.defect_key):
            best[link.cluster_id] = link
    return list(best.values())


def part_sample(args: argparse.Namespace) -> dict[str, Any]:
    events, truth, source = load_sample(args.seed, args.tickets)
    tickets, defects, releases = state_from_events(events)
    ticket_truth: dict[str, str] = truth["tickets"]
    defect_of: dict[str, str] = truth["links"]
    results: dict[str, Any] = {
        "source": source,
        "n_tickets": len(tickets),
        "n_defects": len(defects),
    }
    variants: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("ground_truth", {t: c for t, c in ticket_truth.items() if c != "noise"}, {})
    ]
    engine = engine_clusters(tickets)
    if engine is None:
        results["clusters"] = (
            "ground truth only: problems.cluster.engine.ClusterEngine not importable"
        )
    else:
        results["clusters"] = "clustering engine (ClusterEngine defaults) and ground truth"
        variants.insert(0, ("engine", engine[0], engine[2]))
    for name, memberships, titles in variants:
        started = time.perf_counter()
        links = propose_links(tickets, defects, memberships, cluster_titles=titles)
        link_seconds = time.perf_counter() - started
        # Spikes are tested per problem: clusters linked to one defect pooled.
        grouped = problem_groups(memberships, links)
        spikes = find_spikes(tickets, grouped, releases)
        graph = build_graph(tickets, defects, releases, memberships, links, spikes=spikes)
        found_regressions = regressions(graph)
        cause_members: dict[str, list[str]] = defaultdict(list)
        for ticket_id, cluster_id in memberships.items():
            cause_members[cluster_id].append(ticket_truth[ticket_id])
        for ticket_id, group_id in grouped.items():
            if group_id.startswith("defect:"):
                cause_members[group_id].append(ticket_truth[ticket_id])
        cause_of = {cluster_id: majority(causes) for cluster_id, causes in cause_members.items()}
        introduced = {
            (cause["id"], version_key(cause["introduced_in"]))
            for cause in truth.get("root_causes", [])
            if cause.get("introduced_in")
        }
        planted_spike = truth["spike"]
        spike_hits = [
            s
            for s in spikes
            if cause_of.get(s.cluster_id) == planted_spike["root_cause"]
            and version_key(s.release) == version_key(planted_spike["release"])
        ]
        planted = truth["regression"]
        regression_hits = [
            r
            for r in found_regressions
            if cause_of.get(r.cluster_id) == planted["root_cause"]
            and r.defect_key == planted["defect_key"]
        ]
        entry = {
            "links": score_links(links, memberships, ticket_truth, defect_of),
            "link_seconds": round(link_seconds, 3),
            "n_clusters": len(set(memberships.values())),
            "spike_found": bool(spike_hits),
            "spike_false_alarms": len(spikes) - len(spike_hits),
            "spike_other_release_introduced": sum(
                1
                for s in spikes
                if s not in spike_hits
                and (cause_of.get(s.cluster_id), version_key(s.release)) in introduced
            ),
            "spikes": [
                {
                    "cluster": s.cluster_id,
                    "cause": cause_of.get(s.cluster_id),
                    "release": s.release,
                    "n_before": s.test.n_before,
                    "n_after": s.test.n_after,
                    "p": s.test.p_value,
                }
                for s in spikes
            ],
            "regression_found": bool(regression_hits),
            "regression_false_alarms": len(found_regressions) - len(regression_hits),
            "regressions": [
                {
                    "cluster": r.cluster_id,
                    "cause": cause_of.get(r.cluster_id),
                    "defect": r.defect_key,
                    "n_tickets": r.n_tickets,
                    "versions": list(r.versions),
                }
                for r in found_regressions
            ],
            "baseline_explicit_only": score_links(
                explicit_only(tickets, defects, memberships), memberships, ticket_truth, defect_of
            ),
            "baseline_tfidf_top1": score_links(
                tfidf_top1(tickets, defects, memberships), memberships, ticket_truth, defect_of
            ),
        }
        results[name] = entry
        wrong = [
            (
                link.cluster_id,
                cause_of.get(link.cluster_id),
                link.defect_key,
                round(link.confidence, 3),
            )
            for link in links
            if defect_of.get(cause_of.get(link.cluster_id, "")) != link.defect_key
        ]
        print(f"[sample/{name}] links {entry['links']}  wrong={wrong[:10]}")
        print(
            f"[sample/{name}] spike found={entry['spike_found']} "
            f"other={entry['spike_false_alarms']} (of which introduced by that release in the "
            f"ground truth: {entry['spike_other_release_introduced']}) "
            f"regression found={entry['regression_found']} "
            f"false={entry['regression_false_alarms']}"
        )
        print(
            f"[sample/{name}] baselines explicit={entry['baseline_explicit_only']} "
            f"tfidf1={entry['baseline_tfidf_top1']}"
        )
    return results


# ---------------------------------------------------------------------------- (b) hadoop


_KEY = re.compile(r"\b(?:HADOOP|HDFS|MAPREDUCE|YARN)-\d+\b")


def hadoop_ticket(raw: dict[str, Any], strip_keys: bool) -> TicketRecord:
    """A Jira issue read as a closed ticket: summary, description, newest affected version."""
    fields = raw["fields"]
    created = parse_time(fields["created"]) or datetime(2000, 1, 1, tzinfo=UTC)
    closed = (
        parse_time(fields.get("resolutiondate")) or parse_time(fields.get("updated")) or created
    )
    closed = max(closed, created)
    description = (fields.get("description") or "")[:8_000]
    summary = fields.get("summary") or ""
    if strip_keys:
        description = _KEY.sub(" ", description)
        summary = _KEY.sub(" ", summary)
    versions = [version["name"] for version in fields.get("versions") or []]
    components = [component["name"] for component in fields.get("components") or []]
    return TicketRecord(
        ticket_id=raw["key"],
        event_ids=(raw["key"],),
        opened_at=created,
        first_closed_at=closed,
        closed_at=closed,
        subject=clean_ticket_text(summary),
        text=clean_ticket_text(description)[:4_000],
        customer_id=raw["key"].rsplit("-", 1)[0],
        product=raw["key"].rsplit("-", 1)[0],
        component=components[0] if components else None,
        version=max(versions, key=version_key) if versions else None,
        severity="medium",
    )


def hadoop_state(
    path: Path,
) -> tuple[
    dict[str, Any],
    dict[str, DefectRecord],
    dict[str, ReleaseRecord],
    dict[str, str],
    set[str],
    dict[str, int],
]:
    """Issues by key, Fixed issues as defects, versions as releases, ticket -> defect truth."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        raws = [json.loads(line) for line in handle]
    by_key = {raw["key"]: raw for raw in raws}
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.get(key, key) != key:
            parent[key] = parent.get(parent[key], parent[key])
            key = parent[key]
        return key

    linked: set[str] = set()
    for raw in raws:
        for link in raw["fields"].get("issuelinks") or []:
            if link.get("type", {}).get("name") != "Duplicate":
                continue
            other = (link.get("inwardIssue") or link.get("outwardIssue") or {}).get("key")
            if isinstance(other, str) and other in by_key and other != raw["key"]:
                linked.update((raw["key"], other))
                a, b = find(raw["key"]), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = defaultdict(list)
    for key in sorted(linked):
        groups[find(key)].append(key)
    groups = {root: sorted(keys) for root, keys in groups.items() if len(keys) > 1}

    def resolution(key: str) -> str | None:
        value = by_key[key]["fields"].get("resolution")
        return value.get("name") if value else None

    defects: dict[str, DefectRecord] = {}
    releases: dict[str, ReleaseRecord] = {}
    n_rejected = 0
    for raw in raws:
        for field_name in ("versions", "fixVersions"):
            for version in raw["fields"].get(field_name) or []:
                record = release_record(JiraVersion.model_validate(version))
                releases.setdefault(record.id, record)
        if resolution(raw["key"]) == "Fixed":
            try:
                defects[raw["key"]] = defect_record(JiraIssue.model_validate(raw))
            except Exception:
                n_rejected += 1
    truth: dict[str, str] = {}
    identical: set[str] = set()
    n_groups_without_fixed = 0
    for keys in groups.values():
        fixed = [key for key in keys if key in defects]
        if not fixed:
            n_groups_without_fixed += 1
            continue
        defect = min(fixed, key=lambda key: (defects[key].created, key))
        summaries = {by_key[key]["fields"]["summary"].strip().lower() for key in keys}
        for key in keys:
            if key != defect:
                truth[key] = defect
                if len(summaries) == 1:
                    identical.add(key)
    counts = {
        "n_issues": len(raws),
        "n_groups": len(groups),
        "n_groups_without_fixed": n_groups_without_fixed,
        "n_candidate_defects": len(defects),
        "n_defects_not_parsed": n_rejected,
        "n_tickets": len(truth),
        "n_tickets_in_identical_groups": len(identical),
    }
    return by_key, defects, releases, truth, identical, counts


def part_hadoop(path: Path, with_engine: bool) -> dict[str, Any]:
    by_key, defects, releases, truth, identical, counts = hadoop_state(path)
    out: dict[str, Any] = dict(counts)
    for strip in (False, True):
        tickets = {key: hadoop_ticket(by_key[key], strip) for key in truth}
        variants = [("singletons", {key: key for key in tickets})]
        if with_engine and not strip:
            engine = engine_clusters(tickets)
            if engine is not None:
                variants.append(("engine_groups", engine[1]))
        for name, memberships in variants:
            label = f"{name}{'_keys_stripped' if strip else ''}"
            started = time.perf_counter()
            links = propose_links(tickets, defects, memberships)
            seconds = time.perf_counter() - started
            top1 = tfidf_top1(tickets, defects, memberships)
            entry: dict[str, Any] = {"seconds": round(seconds, 2)}
            for subset_name, excluded in (("all", set()), ("no_identical", identical)):
                subset = {key: value for key, value in truth.items() if key not in excluded}
                entry[subset_name] = hadoop_scores(links, memberships, subset)
                entry[f"{subset_name}_baseline_tfidf_top1"] = hadoop_scores(
                    top1, memberships, subset
                )
            out[label] = entry
            print(f"[hadoop/{label}] {json.dumps(entry)}")
    # Fix-did-not-work candidates: tickets after their defect's fix shipped, on a fixed version.
    index = ReleaseIndex.from_releases(releases)
    tickets = {key: hadoop_ticket(by_key[key], False) for key in truth}
    by_defect: dict[str, list[TicketRecord]] = defaultdict(list)
    for key, defect in truth.items():
        by_defect[defect].append(tickets[key])
    candidates = []
    for defect_key in sorted(by_defect):
        for ticket in index.tickets_after_fix(by_defect[defect_key], defects[defect_key]):
            candidates.append((ticket, defects[defect_key]))
    out["fix_did_not_work_candidates"] = len(candidates)
    out["defects_with_fix_date"] = sum(
        1 for key in by_defect if index.fix_date(defects[key]) is not None
    )
    rng = random.Random(0)
    shown = rng.sample(candidates, min(8, len(candidates)))
    out["fix_did_not_work_examples"] = []
    for ticket, fixed in sorted(shown, key=lambda item: item[0].ticket_id):
        example = {
            "ticket": ticket.ticket_id,
            "ticket_created": ticket.opened_at.date().isoformat(),
            "ticket_version": ticket.version,
            "defect": fixed.key,
            "fix_versions": list(fixed.fix_versions),
            "fix_date": str(index.fix_date(fixed)),
            "ticket_summary": ticket.subject[:90],
            "defect_summary": fixed.summary[:90],
        }
        out["fix_did_not_work_examples"].append(example)
        print(f"[hadoop/fix-did-not-work] {json.dumps(example)}")
    return out


def hadoop_scores(
    links: Iterable[Link], memberships: Mapping[str, str], truth: Mapping[str, str]
) -> dict[str, Any]:
    """Share of tickets whose cluster links to their defect; precision of proposed links."""
    linked: dict[str, set[str]] = defaultdict(set)
    proposed = [link for link in links if link.status != "rejected"]
    for link in proposed:
        linked[link.cluster_id].add(link.defect_key)
    members: dict[str, list[str]] = defaultdict(list)
    for key, cluster in memberships.items():
        if key in truth:
            members[cluster].append(key)
    right = sum(
        1 for key, defect in truth.items() if defect in linked.get(memberships.get(key, ""), ())
    )
    cluster_truth = {
        cluster: majority(truth[key] for key in keys) for cluster, keys in members.items()
    }
    scoped = [link for link in proposed if link.cluster_id in cluster_truth]
    correct = sum(1 for link in scoped if cluster_truth[link.cluster_id] == link.defect_key)
    return {
        "n_tickets": len(truth),
        "ticket_share_linked_right": round(right / len(truth), 4) if truth else None,
        "n_links": len(scoped),
        "precision": round(correct / len(scoped), 4) if scoped else None,
    }


# ---------------------------------------------------------------------------- (c) scale


def synthetic_state(
    n_tickets: int, seed: int = 0
) -> tuple[
    dict[str, TicketRecord], dict[str, DefectRecord], dict[str, ReleaseRecord], dict[str, str]
]:
    """A state of ``n_tickets`` tickets in ``n/250`` clusters with ``n/1000 + 50`` defects."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(20_000)]
    n_clusters = max(20, n_tickets // 250)
    n_defects = n_tickets // 1_000 + 50
    start = datetime(2026, 1, 1, tzinfo=UTC)
    release_names = [f"{major}.{minor}.0" for major in range(3, 6) for minor in range(12)]
    releases = {
        str(i): ReleaseRecord(
            id=str(i),
            name=name,
            release_date=(start + timedelta(days=14 * i - 300)).date(),
            released=True,
        )
        for i, name in enumerate(release_names)
    }
    topics = [rng.sample(vocabulary, 12) for _ in range(n_clusters)]
    defects: dict[str, DefectRecord] = {}
    for d in range(n_defects):
        words = topics[d % n_clusters] if d < n_clusters else rng.sample(vocabulary, 12)
        key = f"BUG-{d + 1}"
        defects[key] = DefectRecord(
            key=key,
            project="BUG",
            summary=" ".join(rng.sample(words, 6)),
            description=" ".join(rng.choices(words, k=30)),
            components=(f"c{d % 40}",),
            affected_versions=(rng.choice(release_names),),
            fix_versions=(rng.choice(release_names),),
            created=start + timedelta(days=rng.random() * 180),
        )
    tickets: dict[str, TicketRecord] = {}
    memberships: dict[str, str] = {}
    construct = TicketRecord.model_construct
    for t in range(n_tickets):
        cluster = (
            min(int(rng.paretovariate(1.2)) - 1, n_clusters - 1)
            if t % 3
            else rng.randrange(n_clusters)
        )
        words = topics[cluster]
        opened = start + timedelta(minutes=rng.random() * 260_000)
        ticket_id = f"T-{t}"
        tickets[ticket_id] = construct(
            ticket_id=ticket_id,
            event_ids=(ticket_id,),
            opened_at=opened,
            first_closed_at=opened,
            closed_at=opened,
            subject=" ".join(rng.choices(words, k=5)),
            text=" ".join(rng.choices(words, k=25) + rng.choices(vocabulary, k=15)),
            customer_id=f"cust-{rng.randrange(max(10, n_tickets // 20))}",
            customer_name=None,
            tier="pro",
            arr=1000.0,
            product="shop",
            component=f"c{cluster % 40}",
            version=rng.choice(release_names),
            severity="medium",
            channel="web",
            tags=(),
            jira_keys=(f"BUG-{cluster + 1}",)
            if rng.random() < 0.02 and cluster < n_defects
            else (),
            reopen_count=0,
            close_count=1,
            handle_time_minutes=0.0,
            sla_breached=False,
            csat=None,
        )
        memberships[ticket_id] = f"P-{cluster:06d}"
    return tickets, defects, releases, memberships


def _rss_mb() -> float:
    """Resident memory now (Linux ``/proc``), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return _peak_mb()
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    """This process's resident high-water mark (VmHWM: unlike ``ru_maxrss`` it does not
    inherit the parent's peak across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_worker(n_tickets: int) -> dict[str, Any]:
    base = _rss_mb()
    started = time.perf_counter()
    tickets, defects, releases, memberships = synthetic_state(n_tickets)
    state_seconds = time.perf_counter() - started
    state_rss = _rss_mb()
    state_peak = _peak_mb()
    started = time.perf_counter()
    links = propose_links(tickets, defects, memberships)
    link_seconds = time.perf_counter() - started
    links_rss = _rss_mb()
    started = time.perf_counter()
    graph = build_graph(tickets, defects, releases, memberships, links)
    graph_seconds = time.perf_counter() - started
    graph_rss = _rss_mb()
    return {
        "n_tickets": n_tickets,
        "n_clusters": len(set(memberships.values())),
        "n_defects": len(defects),
        "n_links": len(links),
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "state_build_seconds": round(state_seconds, 2),
        "links_seconds": round(link_seconds, 2),
        "graph_seconds": round(graph_seconds, 2),
        "refresh_seconds": round(link_seconds + graph_seconds, 2),
        "rss_start_mb": round(base, 1),
        "rss_state_mb": round(state_rss - base, 1),
        "rss_after_links_mb": round(links_rss - state_rss, 1),
        "rss_graph_mb": round(graph_rss - links_rss, 1),
        "rss_refresh_mb": round(graph_rss - state_rss, 1),
        "rss_peak_process_mb": round(_peak_mb(), 1),
        # The refresh's own high-water mark above the state it works on (0 when the
        # state build peaked higher, which hides it).
        "rss_refresh_peak_extra_mb": round(max(0.0, _peak_mb() - max(state_peak, state_rss)), 1)
        if _peak_mb() > state_peak
        else 0.0,
    }


def part_scale(n_tickets: int) -> dict[str, Any]:
    results = {}
    for size in (n_tickets // 10, n_tickets):
        output = subprocess.run(
            [sys.executable, __file__, "--scale-worker", str(size)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[str(size)] = json.loads(output.strip().splitlines()[-1])
        print(f"[scale/{size}] {json.dumps(results[str(size)])}")
    small, large = results[str(n_tickets // 10)], results[str(n_tickets)]
    results["growth_ratio_refresh_x10"] = round(
        large["refresh_seconds"] / max(small["refresh_seconds"], 1e-9), 2
    )
    results["growth_exponent_refresh"] = round(
        math.log10(large["refresh_seconds"] / max(small["refresh_seconds"], 1e-9)), 3
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed", type=int, default=None, help="generate a sample (default: samples/default)"
    )
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--jira", type=Path, default=DEFAULT_JIRA)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="scale to 1,000,000 tickets")
    parser.add_argument("--skip-hadoop", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--no-engine", action="store_true", help="ground-truth clusters only")
    parser.add_argument("--scale-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_worker:
        print(json.dumps(scale_worker(args.scale_worker)))
        return
    figures: dict[str, Any] = {"bench": "linking"}
    if args.no_engine:
        sys.modules["problems.cluster.engine"] = None  # type: ignore[assignment]
    figures["sample"] = part_sample(args)
    if not args.skip_hadoop:
        figures["hadoop"] = part_hadoop(args.jira, with_engine=not args.no_engine)
    if not args.skip_scale:
        figures["scale"] = part_scale(1_000_000 if args.full else args.scale)
    _ = median
    print(json.dumps(figures, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
