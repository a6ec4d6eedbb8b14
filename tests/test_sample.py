"""The sample stream generator: deterministic, valid events, consistent ground truth."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from problems.events import JiraIssueEvent, JiraVersionEvent, TicketClosed, parse_event
from problems.sample import Sample, generate_sample, true_impact, write_sample
from problems.text import mask_pii

N_TICKETS = 1200


@pytest.fixture(scope="module")
def sample() -> Sample:
    return generate_sample(seed=11, n_tickets=N_TICKETS)


@pytest.fixture(scope="module")
def tickets(sample: Sample) -> list[dict[str, Any]]:
    return [event for event in sample.events if event.get("event_type") == "ticket.closed"]


@pytest.fixture(scope="module")
def first_close(tickets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first close event of each ticket (a reopened ticket has two)."""
    first: dict[str, dict[str, Any]] = {}
    for event in tickets:
        first.setdefault(event["ticket_id"], event)
    return first


def _release_index(sample: Sample, product: str) -> dict[str, int]:
    return {
        release["name"]: index
        for index, release in enumerate(sample.ground_truth["releases"][product])
    }


def _opened(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["opened_at"])


def _cause(sample: Sample, cause_id: str) -> dict[str, Any]:
    return next(rc for rc in sample.ground_truth["root_causes"] if rc["id"] == cause_id)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = write_sample(tmp_path / "a", seed=5, n_tickets=300)
    second = write_sample(tmp_path / "b", seed=5, n_tickets=300)
    assert first.read_bytes() == second.read_bytes()
    truth = "ground_truth.json"
    assert (tmp_path / "a" / truth).read_bytes() == (tmp_path / "b" / truth).read_bytes()
    lines = first.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line) for line in lines)
    assert lines[0] == json.dumps(
        json.loads(lines[0]), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_output_does_not_depend_on_string_hashing(tmp_path: Path) -> None:
    here = write_sample(tmp_path / "here", seed=5, n_tickets=150, weeks=16)
    code = (
        "import sys; from pathlib import Path; from problems.sample import write_sample; "
        "write_sample(Path(sys.argv[1]), seed=5, n_tickets=150, weeks=16)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)
    assert (tmp_path / "there" / "events.jsonl").read_bytes() == here.read_bytes()


def test_different_seed_differs() -> None:
    one = generate_sample(seed=1, n_tickets=150, weeks=16)
    two = generate_sample(seed=2, n_tickets=150, weeks=16)
    assert one.events != two.events
    assert one.ground_truth["tickets"] != two.ground_truth["tickets"] or (
        one.ground_truth["root_causes"] != two.ground_truth["root_causes"]
    )


def test_rejects_too_small_arguments() -> None:
    with pytest.raises(ValueError, match="n_tickets"):
        generate_sample(n_tickets=10)
    with pytest.raises(ValueError, match="weeks"):
        generate_sample(n_tickets=200, weeks=4)


def test_every_event_parses_and_events_are_time_ordered(sample: Sample) -> None:
    kinds: Counter[str] = Counter()
    times = []
    for raw in sample.events:
        event = parse_event(json.dumps(raw))
        kinds[type(event).__name__] += 1
        if isinstance(event, TicketClosed):
            times.append(event.closed_at)
        else:
            times.append(datetime.fromtimestamp(raw["timestamp"] / 1000, tz=event_tz()))
    assert kinds["TicketClosed"] >= N_TICKETS
    assert kinds["JiraIssueEvent"] > 20
    assert kinds["JiraVersionEvent"] > 40
    assert times == sorted(times)


def event_tz() -> Any:
    from datetime import UTC

    return UTC


def test_ticket_ids_and_counts_match_ground_truth(
    sample: Sample, first_close: dict[str, dict[str, Any]]
) -> None:
    truth = sample.ground_truth
    assert set(first_close) == set(truth["tickets"])
    assert truth["n_tickets"] == N_TICKETS == len(first_close)
    per_cause = Counter(truth["tickets"].values())
    assert 0.15 * N_TICKETS <= per_cause["noise"] <= 0.25 * N_TICKETS
    assert truth["n_noise"] == per_cause["noise"]
    causes = truth["root_causes"]
    assert 25 <= len(causes) <= 35
    for cause in causes:
        assert cause["n_tickets"] == per_cause[cause["id"]] > 0
        accounts = {
            first_close[t]["customer"]["account_id"]
            for t, c in truth["tickets"].items()
            if c == cause["id"]
        }
        assert cause["n_customers"] == len(accounts)
    sizes = sorted((c["n_tickets"] for c in causes), reverse=True)
    assert sizes[0] > 5 * sizes[-1], "root cause sizes should be long-tailed"
    n_linked = sum(1 for c in causes if c["defect_key"])
    assert len(causes) / 2 <= n_linked <= len(causes) * 0.8
    assert truth["links"] == {c["id"]: c["defect_key"] for c in causes if c["defect_key"]}


def test_true_impact_recomputes_from_events(
    sample: Sample, first_close: dict[str, dict[str, Any]]
) -> None:
    truth = sample.ground_truth
    by_cause: dict[str, list[tuple[str, str, float, str]]] = defaultdict(list)
    for ticket_id, cause in truth["tickets"].items():
        event = first_close[ticket_id]
        customer = event["customer"]
        by_cause[cause].append(
            (customer["account_id"], customer["tier"], customer["arr"], event["severity"])
        )
    impacts = [c["true_impact"] for c in truth["root_causes"]]
    for cause in truth["root_causes"]:
        assert cause["true_impact"] == true_impact(by_cause[cause["id"]])
    assert impacts == sorted(impacts, reverse=True)
    assert impacts[0] > 3 * impacts[-1], "true impacts should differ clearly"
    assert "log10" in truth["impact_formula"]


def test_spike_starts_after_its_release_and_rises(
    sample: Sample, first_close: dict[str, dict[str, Any]]
) -> None:
    truth = sample.ground_truth
    spike = truth["spike"]
    released = date.fromisoformat(spike["release_date"])
    index = _release_index(sample, "checkout")
    events = [first_close[t] for t, c in truth["tickets"].items() if c == spike["root_cause"]]
    assert events
    assert all(_opened(e).date() > released for e in events)
    assert all(index[e["version"]] >= index[spike["release"]] for e in events)
    assert _cause(sample, spike["root_cause"])["introduced_in"] == spike["release"]
    first_two_weeks = sum(_opened(e).date() <= released + timedelta(days=14) for e in events)
    assert first_two_weeks >= 0.05 * len(events)
    others = [
        c
        for c in truth["root_causes"]
        if c["introduced_in"] == spike["release"] and c["product"] == "checkout"
    ]
    assert [c["id"] for c in others] == [spike["root_cause"]]


def test_fixed_causes_stop_a_week_after_their_fix(
    sample: Sample, first_close: dict[str, dict[str, Any]]
) -> None:
    truth = sample.ground_truth
    fixed_causes = [c for c in truth["root_causes"] if c["fixed_in"]]
    assert truth["fixed"]["root_cause"] in {c["id"] for c in fixed_causes}
    releases = {p: {r["name"]: r for r in rs} for p, rs in truth["releases"].items()}
    for cause in fixed_causes:
        index = _release_index(sample, cause["product"])
        fix = releases[cause["product"]][cause["fixed_in"]]
        fix_date = date.fromisoformat(fix["release_date"])
        events = [first_close[t] for t, c in truth["tickets"].items() if c == cause["id"]]
        if cause["id"] == truth["regression"]["root_cause"]:
            returned = truth["regression"]["returned_in"]
            back = date.fromisoformat(releases[cause["product"]][returned]["release_date"])
            late = [e for e in events if _opened(e).date() >= fix_date + timedelta(days=8)]
            assert late, "the regression must come back"
            assert all(_opened(e).date() > back for e in late)
            assert all(index[e["version"]] >= index[cause["fixed_in"]] for e in late)
            first_back = min(_opened(e) for e in late)
            year, week, _ = first_back.isocalendar()
            assert truth["regression"]["returned_week"] == f"{year}-W{week:02d}"
            assert (back - fix_date).days >= 21
            early = [e for e in events if e not in late]
        else:
            assert all(_opened(e).date() < fix_date + timedelta(days=8) for e in events)
            early = events
        assert early
        assert all(index[e["version"]] < index[cause["fixed_in"]] for e in early)


def test_jira_defects_and_links(sample: Sample, tickets: list[dict[str, Any]]) -> None:
    truth = sample.ground_truth
    issues: dict[str, list[JiraIssueEvent]] = defaultdict(list)
    for raw in sample.events:
        event = parse_event(raw)
        if isinstance(event, JiraIssueEvent):
            issues[event.issue.key].append(event)
    assert set(truth["links"].values()) | set(truth["distractor_defects"]) == set(issues)
    assert truth["distractor_defects"]
    fixed = truth["fixed"]
    final = issues[fixed["defect_key"]][-1].issue.fields
    assert final.status is not None and final.status.name == "Done"
    assert [v.name for v in final.fixVersions] == [fixed["fix_version"]]
    assert final.fixVersions[0].released and final.resolutiondate is not None
    assert any(
        not isinstance(r["issue"]["fields"]["description"], str)
        for r in sample.events
        if "issue" in r
    ), "some descriptions should be Atlassian Document Format"
    cause_of = truth["tickets"]
    mentioned: Counter[str] = Counter()
    for ticket in tickets:
        text = " ".join(
            [ticket["description"], ticket["resolution_notes"] or "", *ticket["public_comments"]]
        )
        for key in truth["links"].values():
            if key in ticket["jira_keys"] or re.search(rf"\b{re.escape(key)}\b", text):
                assert truth["links"][cause_of[ticket["ticket_id"]]] == key
                mentioned[key] += 1
    linked_causes = [c for c in truth["root_causes"] if c["defect_key"]]
    total = sum(c["n_tickets"] for c in linked_causes)
    share = sum(mentioned.values()) / total
    assert 0.02 <= share <= 0.15, share
    assert not any(k in e["jira_keys"] for e in tickets for k in truth["distractor_defects"])


def test_defect_text_is_not_copied_from_tickets(sample: Sample, tickets: list[dict]) -> None:
    summaries = {raw["issue"]["fields"]["summary"] for raw in sample.events if "issue" in raw}
    subjects = {event["subject"] for event in tickets}
    assert not summaries & subjects


def test_versions_are_created_before_released(sample: Sample) -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for raw in sample.events:
        event = parse_event(raw)
        if isinstance(event, JiraVersionEvent):
            seen[event.version.id].append(raw["webhookEvent"])
    assert seen and all(
        hooks == ["jira:version_created", "jira:version_released"] for hooks in seen.values()
    )
    names = [r["name"] for rs in sample.ground_truth["releases"].values() for r in rs]
    assert any("hotfix" in name for name in names)


def test_personal_data_is_present_and_masking_removes_it(tickets: list[dict[str, Any]]) -> None:
    text = "\n".join(event["description"] for event in tickets)
    patterns = {
        "email": r"[\w.]+@[\w-]+\.[a-z.]{2,}",
        "phone": r"\+\d{1,2} [\d( )-]{8,}",
        "ipv4": r"\b\d{1,3}(?:\.\d{1,3}){3}\b",
        "ipv6": r"2001:db8:",
        "secret": r"sk_live_|Bearer eyJ|api_key=|password=",
        "order": r"ORD-\d{6}",
        "quoted": r"(?m)^On .+ wrote:$",
    }
    for name, pattern in patterns.items():
        assert re.search(pattern, text), name
    changed = sum(mask_pii(e["description"]) != e["description"] for e in tickets)
    assert changed > 0.2 * len(tickets)
    masked = mask_pii(text)
    assert not re.search(r"[\w.]+@[\w-]+\.[a-z]{2,}", masked)
    assert "sk_live_" not in masked and "password=" + "Summit" not in masked


def test_reopened_tickets_share_their_id(tickets: list[dict[str, Any]]) -> None:
    by_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in tickets:
        by_ticket[event["ticket_id"]].append(event)
    reopened = {t: es for t, es in by_ticket.items() if len(es) > 1}
    assert 0.02 * N_TICKETS <= len(reopened) <= 0.09 * N_TICKETS
    for events in reopened.values():
        assert len(events) == 2
        first, again = events
        assert first["event_id"] != again["event_id"]
        assert (first["reopen_count"], again["reopen_count"]) == (0, 1)
        assert again["closed_at"] > first["closed_at"]
        assert again["opened_at"] == first["opened_at"]
    assert len({event["event_id"] for event in tickets}) == len(tickets)


def test_unknown_fields_are_kept(tickets: list[dict[str, Any]]) -> None:
    extra = [event for event in tickets if any(key.startswith("x_") for key in event)]
    assert extra
    parsed = parse_event(extra[0])
    assert parsed.model_extra and any(key.startswith("x_") for key in parsed.model_extra)


def test_customers_have_tiers_and_a_long_tail_of_arr(first_close: dict[str, dict]) -> None:
    customers = {e["customer"]["account_id"]: e["customer"] for e in first_close.values()}
    tiers = Counter(c["tier"] for c in customers.values())
    assert set(tiers) == {"enterprise", "business", "pro", "free"}
    arr = sorted((c["arr"] for c in customers.values()), reverse=True)
    assert sum(arr[: len(arr) // 10]) > 0.4 * sum(arr), "ARR should have a long tail"
    assert arr[0] > 10 * arr[len(arr) // 2]
    per_customer = Counter(e["customer"]["account_id"] for e in first_close.values())
    enterprise = [n for a, n in per_customer.items() if customers[a]["tier"] == "enterprise"]
    free = [n for a, n in per_customer.items() if customers[a]["tier"] == "free"]
    assert sum(enterprise) / len(enterprise) > sum(free) / len(free)


def test_bundled_sample_matches_the_generator() -> None:
    bundled = Path(__file__).resolve().parent.parent / "samples" / "default"
    if not (bundled / "ground_truth.json").exists():
        pytest.skip("no bundled sample")
    truth = json.loads((bundled / "ground_truth.json").read_text(encoding="utf-8"))
    arguments = truth["arguments"]
    sample = generate_sample(
        seed=arguments["seed"],
        n_tickets=arguments["n_tickets"],
        start=date.fromisoformat(arguments["start"]),
        weeks=arguments["weeks"],
        n_customers=arguments["n_customers"],
    )
    first_line = (bundled / "events.jsonl").read_text(encoding="utf-8").split("\n", 1)[0]
    assert json.loads(first_line) == sample.events[0]
    assert sample.ground_truth["tickets"] == truth["tickets"]
