"""Throughput of `TicketFeaturizer.transform` in batches, beside a plain hashing baseline.

    python bench/features_speed.py --jira ../shared/data/apache-jira-hadoop/issues.jsonl.gz

Tickets are the Jira reports as ticket records (summary, first 4,000 characters of the
description, component, version). Each batch size is timed over ``--repeats`` passes and
the median is kept; wall-clock and CPU time are both given (CPU time is steadier on a
shared machine). The baseline is scikit-learn's `HashingVectorizer` (word 1-2 grams,
English stop words) over summary + text: one block, no signatures, no metadata. The last
line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import load_jira

__all__ = ["main"]


def _rate(
    work: Callable[[Sequence[Any]], object], items: Sequence[Any], batch: int, repeats: int
) -> dict[str, float]:
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(items), batch):
            work(items[start : start + batch])
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "wall_per_s": round(len(items) / statistics.median(walls), 1),
        "cpu_per_s": round(len(items) / statistics.median(cpus), 1),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Time the featurizer and the baseline; print the figures (JSON last)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from problems.cluster.features import TicketFeaturizer

    parser = argparse.ArgumentParser(description="featurizer throughput")
    parser.add_argument("--jira", type=Path, required=True)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1_000, 100, 1])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    records = load_jira(args.jira).records[: args.tickets]
    featurizer = TicketFeaturizer()
    baseline = HashingVectorizer(ngram_range=(1, 2), stop_words="english", alternate_sign=False)
    report: dict[str, Any] = {"tickets": len(records), "ours": {}, "hashing_baseline": {}}
    for batch in args.batch:
        # Single tickets are slow to time over everything; a tenth is enough.
        items = records if batch >= 100 else records[: max(1, len(records) // 10)]
        ours = _rate(featurizer.transform, items, batch, args.repeats)
        plain = _rate(
            lambda chunk: baseline.transform([r.subject + " " + r.text for r in chunk]),
            items,
            batch,
            args.repeats,
        )
        report["ours"][str(batch)] = ours
        report["hashing_baseline"][str(batch)] = plain
        print(f"batch {batch:5d}: ours {ours}  hashing baseline {plain}")
    print(json.dumps(report, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
