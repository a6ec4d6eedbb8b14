"""Benchmark of the problem register: ranking quality on the generated sample, and the cost
of building a week's register from a large state.

Quality (on `problems.sample.generate_sample`, whose ground truth holds each root cause's
true impact, the planted spike and the planted regression):

* ``top10_hits``: how many of the 10 root causes with the highest true impact are among the
  root causes of the register's top 10 problems (a problem stands for the root cause most of
  its tickets have); target >= 8;
* ``spearman``: Spearman correlation between true impact and register impact over all root
  causes (a root cause's register impact is that of its highest-ranked problem, 0 if none);
  target >= 0.8;
* the regression: the first week the planted regression's problem shows as ``regressed``,
  against the week its tickets came back; the spike: the weeks its problem shows as
  ``rising`` after the bad release;
* a baseline in the same run: the same figures when problems are ranked by ticket count.

Clusters come from `problems.cluster.engine.ClusterEngine` when it imports and learns, else
from the ground truth; links from `problems.linker.propose_links` when it imports, else from
the ground truth. The output says which was used.

Scale: synthetic states of 10k and 100k tickets (``--full``: also 1M) with thousands of
clusters, defects and releases; the median time of `build_register` (the week and the week
before, for the movers), the time to render every format, peak traced memory, and the growth
exponent of time against tickets. Baseline: one plain pass grouping tickets by cluster.

The last line of stdout is one JSON object with every figure.

Usage::

    python bench/register.py            # sample of 3000 tickets + 10k/100k scale
    python bench/register.py --full     # ... + a 1M-ticket state
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.stats import spearmanr

from problems.book import RecordBook
from problems.events import parse_event
from problems.records import (
    DefectRecord,
    ReleaseRecord,
    TicketRecord,
)
from problems.register import (
    ClusterInfo,
    LinkInfo,
    Register,
    build_register,
    load_status_rules,
    load_weights,
    render,
    shift_week,
    week_of,
)
from problems.register.model import weeks_between
from problems.sample import generate_sample


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- state from events


def records_from(
    events: Iterable[dict[str, Any]],
) -> tuple[dict[str, TicketRecord], dict[str, DefectRecord], dict[str, ReleaseRecord]]:
    """Records from raw events, exactly as the pipeline keeps them."""
    book = RecordBook.from_events(parse_event(raw) for raw in events)
    return book.tickets, book.defects, book.releases


def engine_clusters(
    tickets: Mapping[str, TicketRecord], seed: int
) -> tuple[dict[str, str], dict[str, ClusterInfo]]:
    from problems.cluster.engine import ClusterEngine

    engine = ClusterEngine(seed=seed)
    ordered = sorted(tickets.values(), key=lambda t: (t.first_closed_at, t.ticket_id))
    engine.learn_many(ordered)
    memberships = engine.memberships()
    clusters = {
        summary.id: ClusterInfo(
            summary.id,
            title=summary.title,
            terms=list(summary.terms),
            representative_subject=summary.representative_subject,
            is_noise=summary.is_noise,
            components=list(summary.components),
            versions=list(summary.versions),
        )
        for summary in engine.clusters()
    }
    if not memberships:
        raise RuntimeError("the engine put no ticket in a problem cluster")
    return memberships, clusters


def truth_clusters(truth: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, ClusterInfo]]:
    memberships = dict(truth["tickets"])
    titles = {cause["id"]: cause["title"] for cause in truth["root_causes"]}
    clusters = {
        cid: ClusterInfo(cid, title=titles.get(cid, cid), is_noise=cid == "noise")
        for cid in set(memberships.values())
    }
    return memberships, clusters


def majority_causes(
    memberships: Mapping[str, str], truth_tickets: Mapping[str, str]
) -> dict[str, tuple[str, float]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for ticket_id, cluster_id in memberships.items():
        counts[cluster_id][truth_tickets.get(ticket_id, "noise")] += 1
    result = {}
    for cluster_id, counter in counts.items():
        cause, n = min(counter.items(), key=lambda item: (-item[1], item[0]))
        result[cluster_id] = (cause, n / sum(counter.values()))
    return result


def linker_links(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    memberships: Mapping[str, str],
    clusters: Mapping[str, ClusterInfo],
) -> dict[str, LinkInfo]:
    from problems.linker import propose_links

    problem_members = {tid: cid for tid, cid in memberships.items() if not clusters[cid].is_noise}
    titles = {cid: info.title for cid, info in clusters.items()}
    best: dict[str, LinkInfo] = {}
    for link in propose_links(tickets, defects, problem_members, cluster_titles=titles):
        if link.status == "rejected" or link.cluster_id in best:
            continue
        evidence = link.evidence
        best[link.cluster_id] = LinkInfo(
            link.defect_key,
            link.confidence,
            link.status,
            f"{evidence.explicit_count} tickets name it; text cosine {evidence.cosine:.2f}",
        )
    return best


def truth_links(
    truth: Mapping[str, Any], majority: Mapping[str, tuple[str, float]]
) -> dict[str, LinkInfo]:
    keys = truth["links"]
    return {
        cid: LinkInfo(keys[cause], 1.0, "confirmed", "ground truth")
        for cid, (cause, _) in majority.items()
        if cause in keys
    }


# ---------------------------------------------------------------- quality


def ranking_figures(
    ranked_clusters: list[tuple[str, float]],
    majority: Mapping[str, tuple[str, float]],
    truth: Mapping[str, Any],
) -> dict[str, Any]:
    """Top-10 hits and Spearman for clusters ranked best first with a score each."""
    true_impact = {cause["id"]: cause["true_impact"] for cause in truth["root_causes"]}
    score_of: dict[str, float] = {}
    top_causes: list[str] = []
    for cluster_id, score in ranked_clusters:
        cause = majority[cluster_id][0]
        if cause == "noise":
            continue
        if len(top_causes) < 10:
            top_causes.append(cause)
        score_of.setdefault(cause, score)
    true_top = sorted(true_impact, key=lambda c: (-true_impact[c], c))[:10]
    causes = sorted(true_impact)
    rho = spearmanr(
        [true_impact[c] for c in causes], [score_of.get(c, 0.0) for c in causes]
    ).statistic
    return {
        "top10_hits": len(set(true_top) & set(top_causes)),
        "spearman": round(float(rho), 4),
        "n_root_causes": len(causes),
        "n_root_causes_ranked": sum(1 for c in causes if c in score_of),
    }


def status_timeline(
    build: Callable[[str], Register], cluster_ids: set[str], weeks: list[str]
) -> dict[str, str]:
    """The status of the highest-ranked of ``cluster_ids`` in each week (``-`` if absent)."""
    timeline = {}
    for week in weeks:
        register = build(week)
        rows = [row for row in register.rows if row.cluster_id in cluster_ids]
        timeline[week] = rows[0].status if rows else "-"
    return timeline


def quality(
    seed: int, n_tickets: int, clusters_from: str, links_from: str, weights_path: str | None
) -> dict[str, Any]:
    started = time.perf_counter()
    sample = generate_sample(seed=seed, n_tickets=n_tickets)
    truth = sample.ground_truth
    tickets, defects, releases = records_from(sample.events)
    log(f"sample: {len(tickets)} tickets, {len(defects)} defects, {len(releases)} releases")

    source = "ground truth"
    if clusters_from in ("auto", "engine"):
        try:
            memberships, clusters = engine_clusters(tickets, seed)
            source = "problems.cluster.engine.ClusterEngine"
        except Exception as error:  # the engine is written concurrently; say why it was not used
            if clusters_from == "engine":
                raise
            log(f"engine unavailable ({type(error).__name__}: {error}); using ground truth")
            memberships, clusters = truth_clusters(truth)
    else:
        memberships, clusters = truth_clusters(truth)
    majority = majority_causes(memberships, truth["tickets"])

    link_source = "ground truth"
    if links_from in ("auto", "linker"):
        try:
            links = linker_links(tickets, defects, memberships, clusters)
            link_source = "problems.linker.propose_links"
        except Exception as error:
            if links_from == "linker":
                raise
            log(f"linker unavailable ({type(error).__name__}: {error}); using ground truth")
            links = truth_links(truth, majority)
    else:
        links = truth_links(truth, majority)

    weights, rules = load_weights(weights_path), load_status_rules(weights_path)

    def build(week: str, with_movers: bool = False) -> Register:
        return build_register(
            tickets,
            defects,
            releases,
            memberships,
            clusters,
            links,
            week,
            weights=weights,
            rules=rules,
            with_movers=with_movers,
        )

    last_week = week_of(max(t.first_closed_at for t in tickets.values()))
    built = time.perf_counter()
    register = build(last_week, with_movers=True)
    build_seconds = time.perf_counter() - built
    ranked = [(row.cluster_id, row.impact.score) for row in register.problems]
    figures = ranking_figures(ranked, majority, truth)
    by_count = sorted(
        ((row.cluster_id, float(row.n_tickets)) for row in register.problems),
        key=lambda item: (-item[1], item[0]),
    )
    baseline = ranking_figures(by_count, majority, truth)

    def clusters_of(cause: str) -> set[str]:
        return {cid for cid, (c, _) in majority.items() if c == cause}

    regression = truth["regression"]
    fix_week = week_of(date.fromisoformat(regression["fix_date"]))
    weeks = [shift_week(fix_week, n) for n in range(-1, weeks_between(fix_week, last_week) + 1)]
    regression_timeline = status_timeline(build, clusters_of(regression["root_cause"]), weeks)
    first_regressed = next((w for w, s in regression_timeline.items() if s == "regressed"), None)
    returned_week = regression["returned_week"]

    spike = truth["spike"]
    spike_week = week_of(date.fromisoformat(spike["release_date"]))
    spike_weeks = [shift_week(spike_week, n) for n in range(-1, 4)]
    spike_timeline = status_timeline(build, clusters_of(spike["root_cause"]), spike_weeks)
    rising = [w for w, s in spike_timeline.items() if s == "rising"]

    # False alarms: other problems shown as regressed at any week of the sample.
    first_week = week_of(min(t.first_closed_at for t in tickets.values()))
    all_weeks = [shift_week(first_week, n) for n in range(weeks_between(first_week, last_week) + 1)]
    regression_clusters = clusters_of(regression["root_cause"])
    false_regressed = set()
    for week in all_weeks:
        for row in build(week).problems:
            if row.status == "regressed" and row.cluster_id not in regression_clusters:
                false_regressed.add(row.cluster_id)

    with tempfile.TemporaryDirectory() as folder:
        sizes = {
            fmt: render(register, fmt, Path(folder) / f"register.{fmt}").stat().st_size
            for fmt in ("md", "csv", "parquet", "html", "json")
        }
    statuses = Counter(row.status for row in register.rows)
    return {
        "seed": seed,
        "n_tickets": len(tickets),
        "clusters_from": source,
        "links_from": link_source,
        "n_clusters": len(set(memberships.values())),
        "n_links": len(links),
        "week": last_week,
        "build_seconds": round(build_seconds, 3),
        **figures,
        "baseline_ticket_count": baseline,
        "status_counts": dict(sorted(statuses.items())),
        "regression": {
            "root_cause": regression["root_cause"],
            "fix_version": regression["fix_version"],
            "fix_week": fix_week,
            "returned_week": returned_week,
            "first_regressed_week": first_regressed,
            "right_week": first_regressed == returned_week,
            "timeline": regression_timeline,
            "other_problems_ever_regressed": len(false_regressed),
        },
        "spike": {
            "root_cause": spike["root_cause"],
            "release": spike["release"],
            "release_week": spike_week,
            "rising_weeks": rising,
            "shows_rising": any(0 <= weeks_between(spike_week, w) <= 2 for w in rising),
            "timeline": spike_timeline,
        },
        "output_bytes": sizes,
        "seconds": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------- scale


def synthetic_state(
    n_tickets: int, seed: int
) -> tuple[
    dict[str, TicketRecord],
    dict[str, DefectRecord],
    dict[str, ReleaseRecord],
    dict[str, str],
    dict[str, ClusterInfo],
    dict[str, LinkInfo],
    str,
]:
    """A state shaped like production: Zipf-sized clusters over 26 weeks, tiers, releases."""
    rng = random.Random(seed)
    n_clusters = max(20, n_tickets // 250)
    n_customers = max(50, n_tickets // 8)
    start = datetime(2026, 5, 4, tzinfo=UTC)
    weeks = 26
    releases = {
        f"r{i}": ReleaseRecord(
            id=f"r{i}",
            name=f"{4 + i // 10}.{i % 10}.0",
            release_date=(start + timedelta(weeks=i)).date(),
            released=True,
        )
        for i in range(weeks)
    }
    tiers = ("enterprise", "business", "pro", "free")
    customers = [
        (f"acct-{i}", rng.choices(tiers, (1, 3, 8, 6))[0], round(rng.paretovariate(1.2) * 5000, 2))
        for i in range(n_customers)
    ]
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(n_clusters)]
    cluster_ids = [f"P-{i:06d}" for i in range(n_clusters)]
    severities = ("critical", "high", "medium", "low")
    construct = TicketRecord.model_construct
    tickets: dict[str, TicketRecord] = {}
    memberships: dict[str, str] = {}
    choices = rng.choices(range(n_clusters), weights, k=n_tickets)
    for i, cluster in enumerate(choices):
        closed = start + timedelta(seconds=rng.randrange(weeks * 7 * 86400))
        customer, tier, arr = customers[rng.randrange(n_customers)]
        ticket_id = f"T-{i:07d}"
        tickets[ticket_id] = construct(
            ticket_id=ticket_id,
            event_ids=(f"e{i}",),
            opened_at=closed - timedelta(hours=4),
            first_closed_at=closed,
            closed_at=closed,
            subject="masked subject",
            text="",
            customer_id=customer,
            customer_name=None,
            tier=tier,
            arr=arr,
            product="billing",
            component="export",
            version=releases[f"r{min(weeks - 1, (closed - start).days // 7)}"].name,
            severity=rng.choices(severities, (1, 3, 10, 4))[0],
            channel="web",
            tags=(),
            jira_keys=(),
            reopen_count=rng.choices((0, 1, 2), (8, 2, 1))[0],
            close_count=1,
            handle_time_minutes=round(rng.expovariate(1 / 40), 1),
            sla_breached=rng.random() < 0.05,
            csat=rng.choice((None, 1, 2, 3, 4, 5)),
        )
        memberships[ticket_id] = cluster_ids[cluster]
    clusters = {
        cid: ClusterInfo(cid, title=f"problem {cid}", terms=["export", "timeout"], is_noise=i == 0)
        for i, cid in enumerate(cluster_ids)
    }
    defects = {}
    links = {}
    for i, cid in enumerate(cluster_ids[1::2]):
        key = f"PAY-{i + 1}"
        fixed = rng.random() < 0.4
        defects[key] = DefectRecord(
            key=key,
            project="PAY",
            summary=f"defect {key}",
            status="Resolved" if fixed else "Open",
            status_category="done" if fixed else "new",
            resolution="Fixed" if fixed else None,
            fix_versions=(releases[f"r{rng.randrange(weeks)}"].name,) if fixed else (),
            created=start,
            resolved_at=start + timedelta(weeks=20) if fixed else None,
        )
        links[cid] = LinkInfo(key, 0.9, "confirmed", "synthetic")
    week = week_of(start + timedelta(weeks=weeks - 1))
    return tickets, defects, releases, memberships, clusters, links, week


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(n_tickets: int, seed: int, repeats: int) -> dict[str, Any]:
    made = time.perf_counter()
    state = synthetic_state(n_tickets, seed)
    tickets, defects, releases, memberships, clusters, links, week = state
    log(
        f"scale {n_tickets}: state built in {time.perf_counter() - made:.1f}s, "
        f"rss {rss_mib():.0f} MiB"
    )

    def one_pass() -> int:
        counts: dict[str, int] = defaultdict(int)
        for ticket_id, cluster_id in memberships.items():
            if tickets[ticket_id].first_closed_at is not None:
                counts[cluster_id] += 1
        return len(counts)

    def build() -> Register:
        return build_register(tickets, defects, releases, memberships, clusters, links, week)

    baseline_times, build_times, baseline_cpu, build_cpu = [], [], [], []
    register = None
    for _ in range(repeats):
        gc.collect()
        began, began_cpu = time.perf_counter(), time.process_time()
        one_pass()
        baseline_times.append(time.perf_counter() - began)
        baseline_cpu.append(time.process_time() - began_cpu)
        gc.collect()
        began, began_cpu = time.perf_counter(), time.process_time()
        register = build()
        build_times.append(time.perf_counter() - began)
        build_cpu.append(time.process_time() - began_cpu)
    assert register is not None
    render_seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("md", "csv", "parquet", "html", "json"):
            began = time.perf_counter()
            render(register, fmt, Path(folder) / f"register.{fmt}")  # type: ignore[arg-type]
            render_seconds[fmt] = round(time.perf_counter() - began, 3)
    gc.collect()
    tracemalloc.start()
    build()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    build_median = statistics.median(build_times)
    baseline_median = statistics.median(baseline_times)
    return {
        "n_tickets": n_tickets,
        "n_clusters": len(clusters),
        "n_rows": len(register.rows),
        "build_seconds_median": round(build_median, 3),
        "build_seconds_all": [round(t, 3) for t in build_times],
        "baseline_one_pass_seconds_median": round(baseline_median, 3),
        "build_over_one_pass": round(build_median / baseline_median, 1),
        # CPU time of this process: less sensitive to other jobs sharing the machine.
        "build_cpu_seconds_median": round(statistics.median(build_cpu), 3),
        "baseline_one_pass_cpu_seconds_median": round(statistics.median(baseline_cpu), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "render_seconds": render_seconds,
        "build_peak_traced_mib": round(peak / 2**20, 1),
        "process_max_rss_mib": round(rss_mib(), 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=3000, help="tickets of the sample")
    parser.add_argument("--clusters", choices=("auto", "engine", "truth"), default="auto")
    parser.add_argument("--links", choices=("auto", "linker", "truth"), default="auto")
    parser.add_argument("--full", action="store_true", help="also a 1M-ticket state")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--weights", help="weights file (default: problems/defaults/impact.toml)")
    args = parser.parse_args()

    result: dict[str, Any] = {
        "bench": "register",
        "python": platform.python_version(),
        "command": " ".join(["python", *sys.argv]),
    }
    result["quality"] = quality(args.seed, args.tickets, args.clusters, args.links, args.weights)
    log(json.dumps(result["quality"], indent=1))
    if result["quality"]["clusters_from"] != "ground truth" or (
        result["quality"]["links_from"] != "ground truth"
    ):
        # The register's own ranking, apart from how well the upstream stages did.
        result["quality_ground_truth"] = quality(
            args.seed, args.tickets, "truth", "truth", args.weights
        )
        log(json.dumps(result["quality_ground_truth"], indent=1))
    if not args.no_scale:
        sizes = [10_000, 100_000] + ([1_000_000] if args.full else [])
        runs = []
        for n in sizes:
            runs.append(scale(n, args.seed, args.repeats if n < 1_000_000 else 1))
            log(json.dumps(runs[-1]))
            gc.collect()
        small, big = runs[-2], runs[-1]
        ratio = math.log(big["n_tickets"] / small["n_tickets"])
        result["scale"] = runs
        result["growth_exponent"] = round(
            math.log(big["build_seconds_median"] / small["build_seconds_median"]) / ratio, 3
        )
        result["growth_exponent_cpu"] = round(
            math.log(big["build_cpu_seconds_median"] / small["build_cpu_seconds_median"]) / ratio,
            3,
        )
    print(json.dumps(result, sort_keys=False))


if __name__ == "__main__":
    main()
