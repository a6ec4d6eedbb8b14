"""Throughput, memory and growth of the incremental clustering engine, beside Drain3.

Tickets come from the sample generator (`problems.sample.generate_sample`): each size
runs in a fresh process so that its peak memory (``ru_maxrss``) is its own. For each size
it measures, on one core:

* ``learn_many`` end to end (features + assignment + similar-tickets index), the median
  of ``--repeat`` runs, in wall and CPU time (the machines are shared: CPU time is the
  steadier figure);
* the assignment alone (rows featurized beforehand), which is the engine's own cost;
* the featurizer alone;
* ``learn_one`` in a loop on the first 2,000 tickets;
* Drain3 (default settings) on the same subjects, the baseline;
* the one-off cost of the compiled (numba) loops: the first ``learn_many`` of a fresh
  process less the same call on a second engine, with the machine code loaded from its
  cache (``first_call_extra_cpu_s``, every process pays it) and compiled from scratch
  into an empty cache (``compile_extra_cpu_s``, the first run on a machine pays it).

The growth exponent is the slope of log(time) against log(n) over the sizes run (1 means
linear). The last line of stdout is one JSON object with every figure.

Usage::

    python bench/clustering.py            # 10k and 100k tickets
    python bench/clustering.py --full     # also 1M tickets (long)
    python bench/clustering.py --sizes 2000 5000
    python bench/clustering.py --sizes 10000 100000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LEARN_ONE_TICKETS = 2_000
FIRST_CALL_TICKETS = 600


def _records(n_tickets: int, seed: int) -> list[Any]:
    from problems.events import TicketClosed, parse_event
    from problems.records import ticket_record
    from problems.sample import generate_sample

    weeks = max(26, math.ceil(n_tickets / 4_000))
    sample = generate_sample(seed=seed, n_tickets=n_tickets, weeks=weeks)
    records: dict[str, Any] = {}
    for event in sample.events:
        if event.get("event_type") == "ticket.closed" and event["ticket_id"] not in records:
            parsed = parse_event(event)
            assert isinstance(parsed, TicketClosed)
            records[event["ticket_id"]] = ticket_record(parsed)
    return list(records.values())


def _drain3_rate(subjects: list[str]) -> float:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    start = time.perf_counter()
    for subject in subjects:
        miner.add_log_message(subject)
    return len(subjects) / (time.perf_counter() - start)


def _timed(action: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``action()`` (CPU time: this process only, so other work
    on a shared machine inflates it far less than wall time)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def _first_call(seed: int, params: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of importing the engine, of its first ``learn_many`` in this process
    and of the same call on a second engine (the difference is the one-off cost)."""
    records = _records(FIRST_CALL_TICKETS, seed)
    start = time.process_time()
    from problems.cluster import ClusterEngine

    import_s = time.process_time() - start
    cpus = []
    for _ in range(2):
        engine = ClusterEngine(seed=seed, **params)
        cpus.append(_timed(lambda engine=engine: engine.learn_many(records))[1])
    return {
        "import_cpu_s": round(import_s, 3),
        "first_call_cpu_s": round(cpus[0], 3),
        "first_call_extra_cpu_s": round(cpus[0] - cpus[1], 3),
    }


def _measure(n_tickets: int, seed: int, params: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Run in a child process: every figure for one size (medians over ``repeat`` runs of
    ``learn_many``, each on a fresh engine)."""
    first_call = _first_call(seed, params)
    from problems.cluster import ClusterEngine

    records = _records(n_tickets, seed)
    n = len(records)

    walls, cpus = [], []
    for _ in range(repeat):
        engine = ClusterEngine(seed=seed, **params)
        wall, cpu = _timed(lambda engine=engine: engine.learn_many(records))
        walls.append(wall)
        cpus.append(cpu)
    learn_many_s, learn_many_cpu_s = statistics.median(walls), statistics.median(cpus)
    n_clusters = sum(1 for cluster in engine.clusters() if not cluster.is_noise)
    state_bytes = len(json.dumps(engine.to_state()))

    bare = ClusterEngine(seed=seed, **params)
    bare._ensure()
    bare.similar_index_ = None
    featurized: list[Any] = []
    featurize_s, featurize_cpu_s = _timed(lambda: featurized.append(bare._featurize(records)))
    assign_s, assign_cpu_s = _timed(lambda: bare._learn_rows(records, featurized[0]))

    one = ClusterEngine(seed=seed, **params)
    subset = records[:LEARN_ONE_TICKETS]

    def learn_one_loop() -> None:
        for record in subset:
            one.learn_one(record)

    learn_one_s, learn_one_cpu_s = _timed(learn_one_loop)

    drain3 = _drain3_rate([record.subject for record in records])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n_tickets": n,
        "learn_many_per_s": round(n / learn_many_s),
        "learn_many_per_cpu_s": round(n / learn_many_cpu_s),
        "assign_per_s": round(n / assign_s),
        "assign_per_cpu_s": round(n / assign_cpu_s),
        "featurize_per_s": round(n / featurize_s),
        "featurize_per_cpu_s": round(n / featurize_cpu_s),
        "learn_one_per_s": round(len(subset) / learn_one_s),
        "learn_one_per_cpu_s": round(len(subset) / learn_one_cpu_s),
        "drain3_per_s": round(drain3),
        "learn_many_s": round(learn_many_s, 2),
        "learn_many_cpu_s": round(learn_many_cpu_s, 2),
        "learn_many_runs_cpu_s": [round(cpu, 2) for cpu in cpus],
        "assign_s": round(assign_s, 2),
        "assign_cpu_s": round(assign_cpu_s, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "state_json_mb": round(state_bytes / 1e6, 2),
        "clusters": n_clusters,
        "groups_live": int(engine.base_gids_.size),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        **first_call,
    }


def _child(queue: Any, n_tickets: int, seed: int, params: dict[str, Any], repeat: int) -> None:
    queue.put(_measure(n_tickets, seed, params, repeat))


def _compile_child(queue: Any, seed: int, params: dict[str, Any]) -> None:
    queue.put(_first_call(seed, params))


def _spawned(target: Any, *args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(queue, *args))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    return result


def _run_isolated(n_tickets: int, seed: int, params: dict[str, Any], repeat: int) -> dict[str, Any]:
    return _spawned(_child, n_tickets, seed, params, repeat)


def _compile_cost(seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """`_first_call` in a fresh process whose numba cache is empty: what the first run
    on a machine (or after the compiled code changed) pays once."""
    previous = os.environ.get("NUMBA_CACHE_DIR")
    with tempfile.TemporaryDirectory() as empty_cache:
        os.environ["NUMBA_CACHE_DIR"] = empty_cache
        try:
            result = _spawned(_compile_child, seed, params)
        finally:
            if previous is None:
                del os.environ["NUMBA_CACHE_DIR"]
            else:
                os.environ["NUMBA_CACHE_DIR"] = previous
    return {
        "compile_first_call_cpu_s": result["first_call_cpu_s"],
        "compile_extra_cpu_s": result["first_call_extra_cpu_s"],
        "compile_import_cpu_s": result["import_cpu_s"],
    }


def _slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    den = sum((x - mx) ** 2 for x in lx)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / den


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--full", action="store_true", help="also run 1,000,000 tickets")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of learn_many per size (median reported)"
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="ClusterEngine hyperparameters as JSON, e.g. '{\"rebuild_every\": 2048}'",
    )
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes + ([1_000_000] if args.full else [])))
    compile_cost = _compile_cost(args.seed, args.params)
    print(json.dumps(compile_cost), flush=True)
    runs = []
    for size in sizes:
        result = _run_isolated(size, args.seed, args.params, args.repeat)
        print(json.dumps(result), flush=True)
        runs.append(result)
    ns = [float(run["n_tickets"]) for run in runs]
    exponent_many = _slope(ns, [run["learn_many_s"] for run in runs])
    exponent_many_cpu = _slope(ns, [run["learn_many_cpu_s"] for run in runs])
    exponent_assign = _slope(ns, [run["assign_s"] for run in runs])
    largest = runs[-1]
    summary = {
        "bench": "clustering",
        "sizes": [run["n_tickets"] for run in runs],
        "learn_many_per_s": largest["learn_many_per_s"],
        "learn_many_per_cpu_s": largest["learn_many_per_cpu_s"],
        "assign_per_s": largest["assign_per_s"],
        "featurize_per_s": largest["featurize_per_s"],
        "learn_one_per_s": largest["learn_one_per_s"],
        "drain3_per_s": largest["drain3_per_s"],
        "learn_many_vs_drain3": round(largest["learn_many_per_s"] / largest["drain3_per_s"], 2),
        "peak_rss_mb": largest["peak_rss_mb"],
        "growth_exponent_learn_many": None if exponent_many is None else round(exponent_many, 3),
        "growth_exponent_learn_many_cpu": (
            None if exponent_many_cpu is None else round(exponent_many_cpu, 3)
        ),
        "growth_exponent_assign": None if exponent_assign is None else round(exponent_assign, 3),
        "first_call_extra_cpu_s": largest["first_call_extra_cpu_s"],
        **compile_cost,
        "runs": runs,
        "params": args.params,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
