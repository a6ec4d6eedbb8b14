"""Micro-benchmark of the worker's per-event ingest cost, without Redis or clustering.

Stages, over the bundled sample (``samples/default/events.jsonl``), each timed in CPU
seconds (``time.process_time``, the machine is shared) and reported as the median of
``--repeat`` runs:

* ``parse``: ``parse_event(raw_bytes, expect=kind)``, as the worker calls it (the kind
  is the one its stream carries);
* ``mask_record``: the record of each parsed event (`ticket_record`, `defect_record`,
  `release_record`): quoted-reply stripping, masking, capping, the pydantic record;
* ``book_apply``: `RecordBook.apply` of every parsed event on a fresh book (it builds
  the records, so it includes ``mask_record``);
* ``total``: parse and apply, line by line, on a fresh book.

Cleaned short texts (customer names, subjects) are remembered by `problems.text`; every
stage of every round starts with that memory empty, as a single pass over the stream would
(the sample repeats 315 customer names and 517 subjects over 3,147 tickets).

Prints one line per stage, then ONE JSON line last: events per CPU second per stage.

Run: ``python bench/ingest.py`` (``--repeat``, ``--events``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import problems
from problems.book import RecordBook
from problems.events import (
    Event,
    JiraIssueEvent,
    JiraVersionEvent,
    TicketClosed,
    event_kind,
    parse_event,
)
from problems.records import defect_record, release_record, ticket_record

try:
    from problems.text import forget_short_texts
except ImportError:  # an older tree (the before figure): it remembers nothing

    def forget_short_texts() -> None:
        pass


SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "default" / "events.jsonl"


def _record(event: Event) -> object:
    if isinstance(event, TicketClosed):
        return ticket_record(event)
    if isinstance(event, JiraIssueEvent):
        return defect_record(event.issue)
    assert isinstance(event, JiraVersionEvent)
    return release_record(event.version)


def _cpu_seconds(stages: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median CPU seconds of each stage over ``repeat`` rounds, after one warm-up round.

    The stages take turns within each round, so a burst of load from other work on the
    machine falls on all of them alike rather than on whichever ran at the time.
    """
    for run in stages.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeat):
        for name, run in stages.items():
            # Every stage sees each short text (name, subject) as new at first, as one
            # pass of a stream would, not as remembered from the stage before.
            forget_short_texts()
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--events", type=Path, default=SAMPLE)
    args = parser.parse_args()

    lines = [line for line in args.events.read_bytes().splitlines() if line.strip()]
    events = [parse_event(line) for line in lines]
    kinds = [event_kind(event) for event in events]
    pairs = list(zip(lines, kinds, strict=True))

    def parse() -> None:
        for line, kind in pairs:
            parse_event(line, expect=kind)

    def mask_record() -> None:
        for event in events:
            _record(event)

    def book_apply() -> None:
        book = RecordBook()
        for event in events:
            book.apply(event)

    def total() -> None:
        book = RecordBook()
        for line, kind in pairs:
            book.apply(parse_event(line, expect=kind))

    stages: dict[str, Callable[[], object]] = {
        "parse": parse,
        "mask_record": mask_record,
        "book_apply": book_apply,
        "total": total,
    }
    rates: dict[str, float] = {}
    for name, seconds in _cpu_seconds(stages, args.repeat).items():
        rates[name] = round(len(lines) / seconds)
        per_event = seconds * 1e6 / len(lines)
        print(f"{name:12s} {per_event:8.1f} us/event  {rates[name]:>9,} events/CPU s")
    # Which code ran: the before figure is this script run on an older tree's package
    # (PYTHONPATH, see bench/README.md).
    code = str(Path(problems.__file__).resolve().parent)
    summary = {"events": len(lines), "repeat": args.repeat, "code": code}
    print(json.dumps({**summary, "per_cpu_second": rates}))


if __name__ == "__main__":
    main()
