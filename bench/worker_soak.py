"""Soak of the worker with the real pipeline on a large backlog: memory after N events.

Pushes N sample events onto the input streams of a fresh Redis database, runs one worker
process (real pipeline, checkpoints every second) and samples its /health latency and RSS
every second until every entry is durable and clustered, or the time budget runs out.
Progress lines every 30 s; the last line of stdout is one JSON object with the figures.
The database named by REDIS_URL is flushed before and after: give it one of its own.

Usage::

    REDIS_URL=redis://127.0.0.1:6379/12 python bench/worker_soak.py 1000000 1500
"""

import json
import os
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.worker import _clustered, _durable_all, _events, _push, _Worker

n, budget = int(sys.argv[1]), float(sys.argv[2])
url = os.environ["REDIS_URL"]
client = redis.Redis.from_url(url)
client.flushdb()
payloads = _events(n)
w = _Worker(url, "problems.pipeline:Pipeline", checkpoint_seconds=1.0)
try:
    cpu0 = w.cpu_seconds()
    t0 = time.perf_counter()
    push_s = _push(client, payloads)
    worst, rss_max, samples = 0.0, 0.0, 0
    durable_at = None
    while time.perf_counter() - t0 < budget:
        t = time.perf_counter()
        status, _ = w.get("/health")
        lat = time.perf_counter() - t
        worst = max(worst, lat if status == 200 else 99.0)
        samples += 1
        rss_max = max(rss_max, w.rss_mb())
        el = time.perf_counter() - t0
        if samples % 30 == 0:
            print(
                json.dumps(
                    {
                        "t": round(el),
                        "acked": w.metric("problems_entries_acked_total"),
                        "bases": w.metric("problems_base_checkpoints_total"),
                        "unclustered": w.metric("problems_unclustered"),
                        "rss_mb": round(w.rss_mb()),
                        "health_worst_s": round(worst, 3),
                    }
                ),
                flush=True,
            )
        if durable_at is None and _durable_all(client):
            durable_at = el
            print(
                json.dumps({"durable_all_at_s": round(el), "rss_mb": round(w.rss_mb())}), flush=True
            )
            if _clustered(w):
                break
        elif durable_at is not None and _clustered(w):
            break
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
    print(
        json.dumps(
            {
                "events": n,
                "push_s": round(push_s),
                "seconds": round(time.perf_counter() - t0),
                "cpu_s": round(w.cpu_seconds() - cpu0),
                "durable_all_at_s": durable_at,
                "acked": w.metric("problems_entries_acked_total"),
                "clustered": w.metric("problems_clustered_total"),
                "bases": w.metric("problems_base_checkpoints_total"),
                "base_bytes": w.metric('problems_checkpoint_bytes{kind="base"}'),
                "base_seconds": w.metric('problems_checkpoint_seconds{kind="base"}'),
                "rss_mb_end": round(w.rss_mb()),
                "rss_mb_max_sampled": round(rss_max),
                "health_samples": samples,
                "health_worst_s": round(worst, 3),
            }
        ),
        flush=True,
    )
finally:
    w.stop()
    client.flushdb()
