"""Benchmark of the worker: throughput from stream to durable state, latency, memory.

Prints human lines, then ONE JSON line last. Uses a Redis database it flushes
(REDIS_URL, default redis://127.0.0.1:6379/14).

* ``raw_loop``: a bare redis-py loop over the same entries (XREADGROUP of 1,000,
  json.loads each, XACK), the ceiling for any consumer in Python.
* ``worker_null``: the real worker process (``python -m worker``) with a state that does
  nothing (`NullPipeline`): parsing, validation, checkpoints and acks, no clustering.
* ``worker_pipeline``: the real worker with the real `problems.pipeline.Pipeline`, two
  figures: ingest-to-durable (every entry's masked records and the cursor in a checkpoint,
  all acked) and ingest-to-clustered (that, and every new ticket clustered).
* Every throughput comes with the CPU seconds its process used (``/proc``): the machine
  is shared, and events per CPU second do not depend on what else runs.
* ``latency``: a steady producer at ``--rate`` events/s for ``--seconds``; p50/p99 of
  XADD-to-durable, read from the worker's own summary metric.
* ``memory``: RSS of the worker after the throughput run (``--full``: 1M events with the
  null state, and the soak: the real pipeline on a 1M backlog until every entry is
  durable and clustered, with RSS and ``/health`` latency sampled every second).

Run: ``python bench/worker.py`` (``--events``, ``--rate``, ``--seconds``, ``--full``);
``python bench/worker.py --soak 1000000`` runs the soak alone (time budget
``--full-seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from problems import streams  # noqa: E402
from problems.events import event_kind, parse_event  # noqa: E402

__all__ = ["NullPipeline", "main"]


class NullPipeline:
    """A state that only counts: isolates the worker's own cost from clustering."""

    def __init__(self) -> None:
        self.cursor_: dict[str, str] = {}
        self.n_applied_ = 0

    def apply_many(self, events: Any) -> int:
        count = sum(1 for _ in events)
        self.n_applied_ += count
        return count

    def save(self) -> bytes:
        return json.dumps({"cursor": self.cursor_, "n_applied": self.n_applied_}).encode()

    @classmethod
    def load(cls, data: bytes) -> NullPipeline:
        document = json.loads(data)
        pipeline = cls()
        pipeline.cursor_ = dict(document["cursor"])
        pipeline.n_applied_ = int(document["n_applied"])
        return pipeline

    def stats(self) -> dict[str, int]:
        return {"events_applied": self.n_applied_}


Payload = tuple[str, bytes]
"""An entry to send: its stream and the event JSON."""


def _events(n_events: int) -> list[Payload]:
    """Sample events (repeated with fresh ids past the sample's size), with their stream."""
    from problems.sample import generate_sample

    sample = generate_sample(seed=7, n_tickets=max(10, min(int(n_events * 0.93), 50_000)))
    out: list[Payload] = []
    round_ = 0
    while len(out) < n_events:
        for event in sample.events:
            if len(out) >= n_events:
                break
            stream = streams.STREAM_OF_KIND[event_kind(parse_event(event))]
            if round_ and stream == streams.TICKETS_STREAM:
                event = dict(
                    event,
                    event_id=f"{event['event_id']}-r{round_}",
                    ticket_id=f"{event['ticket_id']}-r{round_}",
                )
            out.append((stream, json.dumps(event).encode()))
        round_ += 1
    return out


def _push(client: redis.Redis, payloads: list[Payload]) -> float:
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for index, (stream, payload) in enumerate(payloads, start=1):
        pipe.xadd(stream, {streams.PAYLOAD_FIELD: payload})
        if index % 1_000 == 0:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def raw_loop(client: redis.Redis, payloads: list[Payload]) -> tuple[float, float]:
    """Events/s of XREADGROUP(1,000) + json.loads + XACK over one stream, and events per
    CPU second of this process."""
    client.flushdb()
    pipe = client.pipeline(transaction=False)
    for index, (_, payload) in enumerate(payloads, start=1):
        pipe.xadd("bench.raw", {"data": payload})
        if index % 1_000 == 0:
            pipe.execute()
    pipe.execute()
    client.xgroup_create("bench.raw", "g", id="0")
    started = time.perf_counter()
    cpu = time.process_time()
    done = 0
    while done < len(payloads):
        reply = client.xreadgroup("g", "c", {"bench.raw": ">"}, count=1_000)
        if not reply:
            break
        entries = reply[0][1]
        for _, fields in entries:
            json.loads(fields[b"data"])
        client.xack("bench.raw", "g", *[entry_id for entry_id, _ in entries])
        done += len(entries)
    return done / (time.perf_counter() - started), done / (time.process_time() - cpu)


class _Worker:
    def __init__(self, url: str, pipeline: str, **settings: Any) -> None:
        self.port = _free_port()
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": url,
                "PROBLEMS_PIPELINE": pipeline,
                "PROBLEMS_HTTP_HOST": "127.0.0.1",
                "PROBLEMS_HTTP_PORT": str(self.port),
                "PROBLEMS_PUBLISH_SCHEDULE": "false",
                "PROBLEMS_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(REPO),
            }
        )
        env.update({f"PROBLEMS_{k.upper()}": str(v) for k, v in settings.items()})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=REPO, env=env, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while self.get("/health")[0] != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("worker did not become healthy")
            time.sleep(0.1)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _durable_all(client: redis.Redis) -> bool:
    for stream in streams.INPUT_STREAMS:
        info = client.xinfo_groups(stream) if client.exists(stream) else []
        for group in info:
            if group["name"] == streams.GROUP.encode() and (group["pending"] or group["lag"]):
                return False
    return True


def _clustered(worker: _Worker) -> bool:
    return worker.metric("problems_unclustered") == 0  # None: no answer, not "zero"


def worker_throughput(
    client: redis.Redis, url: str, payloads: list[Payload], pipeline: str
) -> dict[str, float]:
    """From XADD of a backlog: events/s to all entries durable and acked, events/s to all
    new tickets clustered too, CPU seconds of the worker for each, and RSS."""
    client.flushdb()
    worker = _Worker(url, pipeline, checkpoint_seconds=1.0)
    try:
        cpu = worker.cpu_seconds()
        started = time.perf_counter()
        _push(client, payloads)
        time.sleep(0.2)
        while not _durable_all(client):
            time.sleep(0.05)
        durable = time.perf_counter() - started
        durable_cpu = worker.cpu_seconds() - cpu
        while not _clustered(worker):
            time.sleep(0.05)
        clustered = time.perf_counter() - started
        clustered_cpu = worker.cpu_seconds() - cpu
        return {
            "durable_events_per_s": len(payloads) / durable,
            "durable_events_per_cpu_s": len(payloads) / durable_cpu,
            "clustered_events_per_s": len(payloads) / clustered,
            "clustered_events_per_cpu_s": len(payloads) / clustered_cpu,
            "rss_mb": worker.rss_mb(),
            "checkpoint_bytes": worker.metric("problems_checkpoint_bytes") or 0.0,
        }
    finally:
        worker.stop()


def _redis_used_mb(client: redis.Redis) -> float:
    return float(client.info("memory")["used_memory"]) / 2**20


def soak(
    client: redis.Redis, url: str, payloads: list[Payload], pipeline: str, seconds: float
) -> dict[str, float | None]:
    """Push a backlog and run the worker until every entry is durable and every new
    ticket clustered (or ``seconds`` passed), sampling ``/health`` latency and RSS every
    second: memory after N events, and whether the loop stays responsive meanwhile.
    Progress lines every 30 s."""
    client.flushdb()
    worker = _Worker(url, pipeline, checkpoint_seconds=1.0)
    try:
        cpu = worker.cpu_seconds()
        started = time.perf_counter()
        push_s = _push(client, payloads)
        worst, rss_max, samples = 0.0, 0.0, 0
        durable_at: float | None = None
        durable_rss: float | None = None
        clustered_at: float | None = None
        while time.perf_counter() - started < seconds:
            tick = time.perf_counter()
            status, _ = worker.get("/health")
            answered = time.perf_counter() - tick
            worst = max(worst, answered if status == 200 else 99.0)
            samples += 1
            rss_max = max(rss_max, worker.rss_mb())
            elapsed = time.perf_counter() - started
            if samples % 30 == 0:
                progress = {
                    "t": round(elapsed),
                    "acked": worker.metric("problems_entries_acked_total"),
                    "clustered": worker.metric("problems_clustered_total"),
                    "bases": worker.metric("problems_base_checkpoints_total"),
                    "rss_mb": round(worker.rss_mb()),
                    "health_worst_s": round(worst, 3),
                }
                print(json.dumps(progress), flush=True)
            if durable_at is None and _durable_all(client):
                durable_at, durable_rss = elapsed, worker.rss_mb()
            if durable_at is not None and _clustered(worker):
                clustered_at = elapsed
                break
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        # The figures are read when every entry is durable and clustered; the idle
        # worker then folds the deltas into a base with the engine (idle compaction).
        bases = worker.metric("problems_base_checkpoints_total") or 0.0
        deadline = time.perf_counter() + 600
        while clustered_at is not None and time.perf_counter() < deadline:
            time.sleep(1.0)
            now = worker.metric("problems_base_checkpoints_total") or 0.0
            if now > bases and worker.metric("problems_pending") == 0:
                break
        return {
            "events": len(payloads),
            "push_seconds": push_s,
            "seconds": time.perf_counter() - started,
            "cpu_seconds": worker.cpu_seconds() - cpu,
            "durable_all_at_s": durable_at,
            "clustered_all_at_s": clustered_at,
            "durable_events_per_s": len(payloads) / durable_at if durable_at else None,
            "clustered_events_per_s": len(payloads) / clustered_at if clustered_at else None,
            "entries_durable": worker.metric("problems_entries_acked_total"),
            "tickets_clustered": worker.metric("problems_clustered_total"),
            "rss_mb_at_durable": durable_rss,
            "rss_mb_after": worker.rss_mb(),
            "rss_mb_max_sampled": rss_max,
            "redis_used_mb": _redis_used_mb(client),
            "health_samples": samples,
            "health_worst_s": worst,
            "base_checkpoints": worker.metric("problems_base_checkpoints_total"),
            "last_base_bytes": worker.metric('problems_checkpoint_bytes{kind="base"}'),
            "last_base_seconds": worker.metric('problems_checkpoint_seconds{kind="base"}'),
        }
    finally:
        worker.stop()


def latency(
    client: redis.Redis,
    url: str,
    payloads: list[Payload],
    rate: float,
    seconds: float,
    pipeline: str,
) -> dict[str, float | None]:
    """p50/p99 XADD-to-durable at a steady rate (the worker's own measurement)."""
    client.flushdb()
    worker = _Worker(url, pipeline, checkpoint_seconds=0.2, poll_ms=50)
    try:
        tick = 0.01
        per_tick = rate * tick
        sent = 0
        owed = 0.0
        started = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        while time.perf_counter() - started < seconds and sent < len(payloads):
            owed += per_tick
            while owed >= 1 and sent < len(payloads):
                stream, payload = payloads[sent]
                pipe.xadd(stream, {streams.PAYLOAD_FIELD: payload})
                sent += 1
                owed -= 1
            pipe.execute()
            next_tick = started + tick * (1 + int((time.perf_counter() - started) / tick))
            time.sleep(max(0.0, next_tick - time.perf_counter()))
        achieved = sent / (time.perf_counter() - started)
        deadline = time.monotonic() + 120
        while not _durable_all(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        while not _clustered(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        p50 = worker.metric('problems_processing_latency_recent_seconds{quantile="0.5"}')
        p99 = worker.metric('problems_processing_latency_recent_seconds{quantile="0.99"}')
        c50 = worker.metric('problems_clustered_latency_recent_seconds{quantile="0.5"}')
        c99 = worker.metric('problems_clustered_latency_recent_seconds{quantile="0.99"}')
        return {
            "rate": achieved,
            "sent": sent,
            "p50_s": p50,
            "p99_s": p99,
            "clustered_p50_s": c50,
            "clustered_p99_s": c99,
        }
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 100k: with 20k, the ramp while the backlog is being pushed and the last checkpoint
    # are a third of the run, and the figure says more about them than about the worker.
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="memory after 1M events")
    parser.add_argument("--full-seconds", type=float, default=3600.0, help="time budget of a soak")
    parser.add_argument(
        "--soak",
        type=int,
        metavar="N",
        help="only the soak: N events with the real pipeline, memory after them",
    )
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")
    client = redis.Redis.from_url(url)
    if args.soak:
        result = soak(
            client, url, _events(args.soak), "problems.pipeline:Pipeline", args.full_seconds
        )
        client.flushdb()
        print(json.dumps({"soak": result}))
        return
    payloads = _events(args.events)
    figures: dict[str, Any] = {"events": len(payloads)}

    raw = [raw_loop(client, payloads) for _ in range(args.repeat)]
    figures["raw_loop_events_per_s"] = statistics.median(rate for rate, _ in raw)
    figures["raw_loop_events_per_cpu_s"] = statistics.median(cpu for _, cpu in raw)
    print(
        f"raw loop: {figures['raw_loop_events_per_s']:,.0f} events/s, "
        f"{figures['raw_loop_events_per_cpu_s']:,.0f} per CPU s (median of {len(raw)})"
    )

    null = [
        worker_throughput(client, url, payloads, "bench.worker:NullPipeline")
        for _ in range(args.repeat)
    ]
    for key in ("durable_events_per_s", "durable_events_per_cpu_s"):
        figures[f"worker_null_{key}"] = statistics.median(run[key] for run in null)
    print(
        f"worker, null state: {figures['worker_null_durable_events_per_s']:,.0f} events/s, "
        f"{figures['worker_null_durable_events_per_cpu_s']:,.0f} per worker CPU s"
    )

    # The run with the median durable rate, so its figures come from one run.
    reals = sorted(
        (
            worker_throughput(client, url, payloads, "problems.pipeline:Pipeline")
            for _ in range(args.repeat)
        ),
        key=lambda run: float(run["durable_events_per_s"]),
    )
    real = reals[len(reals) // 2]
    figures["worker_pipeline"] = real
    figures["worker_pipeline_durable_events_per_s_runs"] = [
        run["durable_events_per_s"] for run in reals
    ]
    print(
        f"worker, real pipeline: ingest-to-durable {real['durable_events_per_s']:,.0f} events/s "
        f"({real['durable_events_per_cpu_s']:,.0f} per CPU s); ingest-to-clustered "
        f"{real['clustered_events_per_s']:,.0f} events/s "
        f"({real['clustered_events_per_cpu_s']:,.0f} per CPU s); RSS {real['rss_mb']:,.0f} MB"
    )
    figures["ratio_null_to_raw"] = (
        figures["worker_null_durable_events_per_s"] / figures["raw_loop_events_per_s"]
    )
    figures["ratio_pipeline_durable_to_raw"] = (
        real["durable_events_per_s"] / figures["raw_loop_events_per_s"]
    )

    budget = _events(int(args.rate * args.seconds) + 10)
    for name, pipeline in (
        ("null", "bench.worker:NullPipeline"),
        ("pipeline", "problems.pipeline:Pipeline"),
    ):
        result = latency(client, url, budget, args.rate, args.seconds, pipeline)
        figures[f"latency_{name}"] = result
        print(
            f"latency at {result['rate']:.0f}/s ({name}): durable p50 {result['p50_s']} s, "
            f"p99 {result['p99_s']} s; clustered p50 {result['clustered_p50_s']} s, "
            f"p99 {result['clustered_p99_s']} s"
        )

    if args.full:
        big = _events(1_000_000)
        null_1m = worker_throughput(client, url, big, "bench.worker:NullPipeline")
        figures["worker_null_1m"] = null_1m
        print(f"1M events, null state: {null_1m}")
        real_1m = soak(client, url, big, "problems.pipeline:Pipeline", args.full_seconds)
        figures["worker_pipeline_1m_soak"] = real_1m
        print(f"1M backlog, real pipeline: {real_1m}")
    client.flushdb()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
