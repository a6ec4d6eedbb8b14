"""Speed of duplicate grouping (`problems.cluster.duplicates.learn_from_index`).

    python bench/grouping_speed.py --jira ../shared/data/apache-jira-hadoop/issues.jsonl.gz

Groups the first ``--tickets`` reports of the largest scope of a labeled set, the way
`Pipeline.duplicates` does (an index of those tickets, each ticket against its 10 nearest
earlier ones, the shipped ``duplicate`` model), in two ways in the same run:

* ``per_ticket``: ``chunk_size=1``, each ticket's candidates scored for their neighbour
  ranks in a product of their own (how the code worked before the ranks were batched);
* ``batched``: the default ``chunk_size``, each distinct candidate of a chunk of tickets
  scored once, in products of 256 rows.

Both give the same groups (checked here). Reported: milliseconds per ticket (wall, median
of ``--repeat`` runs) and their ratio, one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import load_gitbugs, load_jira
from problems.cluster.duplicates import DuplicateGrouper, learn_from_index
from problems.cluster.rerank import Reranker
from problems.cluster.similar import SimilarTickets


def _group(records: Sequence[Any], chunk_size: int | None) -> tuple[float, dict[str, str]]:
    index = SimilarTickets()
    index.learn_many(records)
    grouper = DuplicateGrouper()
    started = time.perf_counter()
    if chunk_size is None:
        learn_from_index(grouper, index, records, Reranker())
    else:
        learn_from_index(grouper, index, records, Reranker(), chunk_size=chunk_size)
    return time.perf_counter() - started, grouper.groups()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--jira", type=Path)
    parser.add_argument("--reports", type=Path)
    parser.add_argument("--duplicates", type=Path)
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.jira:
        labeled = load_jira(args.jira)
    elif args.reports and args.duplicates:
        labeled = load_gitbugs(args.reports, args.duplicates)
    else:
        parser.error("give --jira, or --reports and --duplicates")
    scopes: dict[str, list[Any]] = {}
    for record in labeled.records:
        scopes.setdefault(labeled.scope[record.ticket_id], []).append(record)
    scope, records = max(scopes.items(), key=lambda item: len(item[1]))
    records = records[: args.tickets]
    seconds: dict[str, list[float]] = {"per_ticket": [], "batched": []}
    groups: dict[str, dict[str, str]] = {}
    for _ in range(args.repeat):
        for name, chunk_size in (("per_ticket", 1), ("batched", None)):
            elapsed, groups[name] = _group(records, chunk_size)
            seconds[name].append(elapsed)
            print(f"{name}: {1000 * elapsed / len(records):.2f} ms per ticket", file=sys.stderr)
    if groups["per_ticket"] != groups["batched"]:
        raise SystemExit("the two ways gave different groups")
    per_ticket = {name: 1000 * statistics.median(s) / len(records) for name, s in seconds.items()}
    figures = {
        "dataset": labeled.name,
        "scope": scope,
        "tickets": len(records),
        "repeat": args.repeat,
        "per_ticket_ms": round(per_ticket["per_ticket"], 3),
        "batched_ms": round(per_ticket["batched"], 3),
        "speedup": round(per_ticket["per_ticket"] / per_ticket["batched"], 2),
        "same_groups": True,
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
