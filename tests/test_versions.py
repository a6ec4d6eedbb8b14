"""Version names, release lookups and the post-release spike test."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from problems.linker.releases import ReleaseIndex
from problems.linker.spikes import find_spikes, spike_test
from problems.linker.versions import (
    canonical_version,
    parse_version,
    same_version,
    version_family,
    version_key,
)
from problems.records import DefectRecord, ReleaseRecord, TicketRecord

START = datetime(2026, 1, 5, tzinfo=UTC)


def ticket(
    ticket_id: str, opened: datetime, version: str | None = None, **fields: object
) -> TicketRecord:
    values: dict[str, object] = {
        "ticket_id": ticket_id,
        "event_ids": (f"e-{ticket_id}",),
        "opened_at": opened,
        "first_closed_at": opened,
        "closed_at": opened,
        "subject": "Checkout fails",
        "text": "",
        "customer_id": "acme",
        "product": "shop",
        "version": version,
    }
    values.update(fields)
    return TicketRecord(**values)  # type: ignore[arg-type]


def release(release_id: str, name: str, day: date | None, project: str = "10") -> ReleaseRecord:
    return ReleaseRecord(
        id=release_id, name=name, project_id=project, release_date=day, released=day is not None
    )


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("3.3.1", "3.10.0"),
        ("2.10.0-alpha", "2.10.0"),
        ("2.10.0-alpha1", "2.10.0-alpha2"),
        ("2.10.0-alpha2", "2.10.0-beta1"),
        ("2.10.0-beta1", "2.10.0-rc1"),
        ("4.2", "4.2-hotfix1"),
        ("4.2-hotfix1", "4.2-hotfix2"),
        ("4.2-hotfix2", "4.2.1"),
        ("Release 7.1", "v7.2"),
        ("1.0.0-SNAPSHOT", "1.0.0"),
        ("0.20.205.0", "0.21.0"),
        ("9.9.9", "Backlog"),
        ("3.0.0", "HDFS-7285"),
    ],
)
def test_versions_order_as_people_read_them(lower: str, higher: str) -> None:
    assert version_key(lower) < version_key(higher)


@pytest.mark.parametrize(
    ("left", "right"),
    [("4.2", "4.2.0"), ("Release 7.1", "7.1.0"), ("v2.4", "2.4"), ("2.0.0-ALPHA", "2.0.0-alpha")],
)
def test_spellings_of_one_version_are_equal(left: str, right: str) -> None:
    assert same_version(left, right)
    assert canonical_version(left) == canonical_version(right)


def test_family_and_parts() -> None:
    assert version_family("3.10.2") == "3.10"
    assert version_family("Release 7") == "7.0"
    assert version_family("trunk-win") is None
    parsed = parse_version("4.2-hotfix1")
    assert (parsed.numbers, parsed.stage, parsed.stage_number) == ((4, 2), "hotfix", 1)
    assert not parse_version("HDFS-7285").numbered


@given(st.lists(st.text(max_size=20), max_size=20))
def test_any_names_sort_without_error(names: list[str]) -> None:
    ordered = sorted(names, key=version_key)
    keys = [version_key(name) for name in ordered]
    assert keys == sorted(keys)


@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=4),
    st.sampled_from(["", "-alpha", "-beta2", "-rc1", "-hotfix1", " (final)"]),
    st.sampled_from(["", "v", "Release ", "version "]),
)
def test_canonical_spelling_is_the_same_version(
    numbers: list[int], suffix: str, prefix: str
) -> None:
    name = prefix + ".".join(str(number) for number in numbers) + suffix
    canonical = canonical_version(name)
    assert same_version(name, canonical)
    assert canonical_version(canonical) == canonical


def test_release_index_finds_any_spelling_and_prefers_first_shipped() -> None:
    index = ReleaseIndex.from_releases(
        {
            "1": release("1", "Release 3.4", date(2026, 2, 1), "10"),
            "2": release("2", "3.4.0", date(2026, 1, 20), "20"),
            "3": release("3", "3.5", None),
        }
    )
    found = index.find("v3.4")
    assert found is not None and found.id == "2"
    assert index.find("3.6") is None
    assert index.release_date("3.5") is None
    assert index.ticket_release(ticket("T", START, "3.4.0")) == found


def test_fix_coverage_follows_release_lines() -> None:
    index = ReleaseIndex.from_releases(
        {
            "a": release("a", "2.7.4", date(2017, 8, 4)),
            "b": release("b", "2.8.0", date(2017, 3, 22)),
            "c": release("c", "2.9.0", date(2017, 12, 17)),
        }
    )
    fixes = ["2.7.4"]
    assert index.includes_fix("2.7.5", fixes)
    assert not index.includes_fix("2.7.3", fixes)
    assert not index.includes_fix("2.8.0", fixes)  # shipped before the backport
    assert index.includes_fix("2.9.0", fixes)
    assert not index.includes_fix(None, fixes)
    assert not index.includes_fix("trunk", fixes)


def test_defect_fix_releases_and_tickets_after_fix() -> None:
    index = ReleaseIndex.from_releases(
        {"1": release("1", "3.3.0", date(2026, 2, 1)), "2": release("2", "3.4.0", date(2026, 3, 1))}
    )
    defect = DefectRecord(
        key="CHK-1", project="CHK", summary="x", created=START, fix_versions=("3.4.0", "3.9.0")
    )
    assert [item.name for item in index.fix_releases(defect)] == ["3.4.0", "3.9.0"]
    assert index.fix_date(defect) == date(2026, 3, 1)
    tickets = [
        ticket("old-version", START + timedelta(days=70), "3.3.0"),
        ticket("before-fix", START + timedelta(days=20), "3.4.0"),
        ticket("after-fix", START + timedelta(days=70), "3.4.0"),
        ticket("later", START + timedelta(days=80), "3.5.0"),
    ]
    found = index.tickets_after_fix(tickets, defect)
    assert [item.ticket_id for item in found] == ["after-fix", "later"]
    unfixed = defect.model_copy(update={"fix_versions": ("9.0",)})
    assert index.tickets_after_fix(tickets, unfixed) == []


def test_first_seen_release_ignores_stray_versions() -> None:
    index = ReleaseIndex.from_releases(
        {
            name: release(name, name, date(2026, month, 1))
            for name, month in [("3.1", 1), ("3.2", 2), ("3.3", 3)]
        }
    )
    tickets = [ticket("stray", datetime(2026, 2, 10, tzinfo=UTC), "3.1")]
    tickets += [ticket(f"T{i}", datetime(2026, 2, 11, tzinfo=UTC), "3.2") for i in range(30)]
    tickets += [ticket(f"U{i}", datetime(2026, 3, 11, tzinfo=UTC), "3.3") for i in range(30)]
    first = index.first_seen_release(tickets)
    assert first is not None and first.name == "3.2"
    assert index.first_seen_release([]) is None
    assert index.first_seen_release([ticket("x", START, None)]) is None


def test_spike_test_counts_windows_and_shrinks_at_the_edges() -> None:
    day = date(2026, 3, 1)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    times = [at - timedelta(days=20), at - timedelta(days=2), at + timedelta(days=1)]
    times += [at + timedelta(days=3, hours=i) for i in range(9)]
    test = spike_test(times, day, window_days=14)
    assert (test.n_before, test.n_after) == (1, 10)
    assert test.ratio == pytest.approx(10.5 / 1.5)
    assert test.p_value == pytest.approx((11 + 1) / 2**11)  # P(X >= 10), X ~ B(11, 1/2)
    edge = spike_test(times, day, window_days=14, end=at + timedelta(days=2))
    assert edge.window_days == pytest.approx(2) and (edge.n_before, edge.n_after) == (1, 1)
    start = spike_test(times, day, window_days=14, begin=at - timedelta(days=3))
    assert start.window_days == pytest.approx(3)
    assert spike_test([], day).p_value == 1.0


def test_find_spikes_finds_the_bad_release_only() -> None:
    rng = random.Random(4)
    releases = {
        str(i): release(str(i), f"7.{i}.0", (START + timedelta(days=21 * i)).date())
        for i in range(1, 8)
    }
    other_line = {"99": release("99", "3.2.0", (START + timedelta(days=63)).date(), "20")}
    bad = START + timedelta(days=63)  # release 7.3.0
    tickets: dict[str, TicketRecord] = {}
    memberships: dict[str, str] = {}
    for i in range(400):
        opened = START + timedelta(days=rng.uniform(0, 150))
        name = f"7.{min(7, max(1, int((opened - START).days / 21)))}.0"
        tickets[f"S{i}"] = ticket(f"S{i}", opened, name)
        memberships[f"S{i}"] = "steady"
    for i in range(60):
        opened = bad + timedelta(days=rng.uniform(0.1, 40))
        tickets[f"B{i}"] = ticket(f"B{i}", opened, "7.3.0")
        memberships[f"B{i}"] = "bad"
    spikes = find_spikes(tickets, memberships, {**releases, **other_line})
    assert [(spike.cluster_id, spike.release) for spike in spikes] == [("bad", "7.3.0")]
    assert spikes[0].test.n_before == 0 and spikes[0].share_on_release == 1.0
