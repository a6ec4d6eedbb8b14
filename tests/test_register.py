"""Register: impact components and ordering, each status on a hand-made timeline, movers,
frozen weeks and configuration."""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from problems.errors import SnapshotError
from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register import (
    ClusterInfo,
    ImpactWeights,
    LinkInfo,
    StatusRules,
    build_register,
    compare,
    latest_week,
    load_status_rules,
    load_weights,
    register_from_json,
    render,
    to_json,
)
from problems.register.impact import ConfigError, customer_value
from problems.register.model import (
    Register,
    RegisterRow,
    parse_week,
    shift_week,
    week_bounds,
    week_of,
    weeks_between,
)

WEEK = "2026-W47"
MONDAY = datetime(2026, 11, 16, 12, tzinfo=UTC)  # a Monday noon inside WEEK


def ticket(
    ticket_id: str,
    weeks_ago: int = 0,
    *,
    customer: str = "acme",
    tier: str = "pro",
    arr: float = 0.0,
    severity: str = "medium",
    version: str | None = None,
    handle: float = 0.0,
    reopens: int = 0,
    sla: bool = False,
    csat: int | None = None,
    jira_keys: tuple[str, ...] = (),
    day: int = 0,
) -> TicketRecord:
    closed = MONDAY - timedelta(weeks=weeks_ago) + timedelta(days=day)
    return TicketRecord(
        ticket_id=ticket_id,
        event_ids=(f"e-{ticket_id}",),
        opened_at=closed - timedelta(hours=3),
        first_closed_at=closed,
        closed_at=closed,
        subject=f"subject of {ticket_id}",
        text="",
        customer_id=customer,
        tier=tier,
        arr=arr,
        product="billing",
        component="export",
        version=version,
        severity=severity,
        reopen_count=reopens,
        handle_time_minutes=handle,
        sla_breached=sla,
        csat=csat,
        jira_keys=jira_keys,
    )


def defect(
    key: str,
    *,
    created_weeks_ago: int = 20,
    done: bool = False,
    fix_versions: tuple[str, ...] = (),
    resolved_weeks_ago: int | None = None,
) -> DefectRecord:
    resolved = (
        MONDAY - timedelta(weeks=resolved_weeks_ago) if resolved_weeks_ago is not None else None
    )
    return DefectRecord(
        key=key,
        project=key.split("-")[0],
        summary=f"summary of {key}",
        status="Resolved" if done else "Open",
        status_category="done" if done else "new",
        resolution="Fixed" if done else None,
        fix_versions=fix_versions,
        created=MONDAY - timedelta(weeks=created_weeks_ago),
        resolved_at=resolved,
    )


def release(name: str, weeks_ago: int, *, released: bool = True) -> ReleaseRecord:
    day = (MONDAY - timedelta(weeks=weeks_ago)).date()
    return ReleaseRecord(id=f"r-{name}", name=name, release_date=day, released=released)


def build(
    groups: dict[str, list[TicketRecord]],
    *,
    defects: list[DefectRecord] = (),  # type: ignore[assignment]
    releases: list[ReleaseRecord] = (),  # type: ignore[assignment]
    links: dict[str, LinkInfo] | None = None,
    noise: set[str] = frozenset(),  # type: ignore[assignment]
    week: str = WEEK,
    **options: object,
) -> Register:
    tickets = {t.ticket_id: t for members in groups.values() for t in members}
    memberships = {t.ticket_id: cid for cid, members in groups.items() for t in members}
    clusters = {
        cid: ClusterInfo(
            cid, title=f"problem {cid}", terms=["export", "timeout"], is_noise=cid in noise
        )
        for cid in groups
    }
    return build_register(
        tickets,
        {d.key: d for d in defects},
        {r.id: r for r in releases},
        memberships,
        clusters,
        links or {},
        week,
        **options,  # type: ignore[arg-type]
    )


def row_of(register: Register, cluster_id: str) -> RegisterRow:
    return next(row for row in register.rows if row.cluster_id == cluster_id)


def steady(prefix: str, n_weeks: int, *, start: int = 1, **fields: object) -> list[TicketRecord]:
    return [ticket(f"{prefix}-{w}", w, **fields) for w in range(start, start + n_weeks)]  # type: ignore[arg-type]


# ---------------------------------------------------------------- weeks


def test_week_helpers_round_trip_and_reject_bad_weeks() -> None:
    start, end = week_bounds(WEEK)
    assert (start.weekday(), (end - start).days) == (0, 7)
    assert week_of(start) == WEEK and week_of(end - timedelta(microseconds=1)) == WEEK
    assert week_of(end) == shift_week(WEEK, 1) == "2026-W48"
    assert shift_week("2026-W01", -1) == "2025-W52"
    assert weeks_between("2025-W50", "2026-W02") == 4
    for bad in ("2026-47", "2026-W54", "26-W01", "2025-W53"):
        with pytest.raises(ValueError):
            parse_week(bad)


# ---------------------------------------------------------------- impact


def test_impact_components_add_up_and_say_why() -> None:
    weights = load_weights(None)
    register = build(
        {
            "ENT": [
                ticket("E1", 0, customer="big1", tier="enterprise", arr=400_000.0, severity="high"),
                ticket("E2", 1, customer="big2", tier="enterprise", arr=900_000.0),
                ticket(
                    "E3",
                    2,
                    customer="big1",
                    tier="enterprise",
                    arr=400_000.0,
                    handle=120.0,
                    reopens=2,
                    sla=True,
                    csat=1,
                ),
            ],
            "FREE": [ticket(f"F{i}", i % 3, customer="small", tier="free") for i in range(6)],
        },
        with_movers=False,
    )
    ent, free = row_of(register, "ENT"), row_of(register, "FREE")
    assert [row.cluster_id for row in register.rows] == ["ENT", "FREE"]
    expected_customers = customer_value("enterprise", 400_000.0, weights) + customer_value(
        "enterprise", 900_000.0, weights
    )
    assert ent.impact.points["customers"] == pytest.approx(expected_customers, abs=1e-3)
    assert ent.n_customers == 2 and ent.n_enterprise_customers == 2
    assert ent.arr_affected == 1_300_000.0
    assert ent.impact.points["volume"] == 3 and free.impact.points["volume"] == 6
    assert ent.impact.points["severity"] == 2.0 + 1.0 + 1.0
    assert ent.impact.points["effort"] == pytest.approx(2.0 + 2 * weights.reopen_hours)
    assert (ent.impact.points["sla"], ent.impact.points["csat"]) == (1.0, 1.0)
    assert (ent.n_high, ent.n_medium, ent.reopens, ent.sla_breaches, ent.poor_csat) == (
        1,
        2,
        2,
        1,
        1,
    )
    for row in (ent, free):
        for name, points in row.impact.points.items():
            assert row.impact.contributions[name] == pytest.approx(
                weights.components[name] * points, abs=1e-3
            )
        assert row.impact.score == pytest.approx(sum(row.impact.contributions.values()), abs=1e-3)
    assert ent.impact.contributions["customers"] > free.impact.score


def test_severity_mix_orders_otherwise_equal_problems() -> None:
    register = build(
        {
            "LOW": [ticket(f"L{i}", 1, customer=f"c{i}", severity="low") for i in range(4)],
            "CRIT": [ticket(f"C{i}", 1, customer=f"c{i}", severity="critical") for i in range(4)],
        },
        with_movers=False,
    )
    assert [row.cluster_id for row in register.rows] == ["CRIT", "LOW"]
    crit, low = row_of(register, "CRIT"), row_of(register, "LOW")
    assert crit.impact.points["severity"] == 16.0 and low.impact.points["severity"] == 2.0
    assert crit.n_critical == 4 and low.n_low == 4
    difference = crit.impact.score - low.impact.score
    assert difference == pytest.approx(
        crit.impact.contributions["severity"] - low.impact.contributions["severity"]
    )


def test_trend_and_recency_reward_a_growing_problem() -> None:
    growing = [ticket(f"G{i}", 0, customer=f"g{i}") for i in range(6)] + steady("G", 4)
    flat = [
        ticket(f"F{i}", w, customer=f"f{i}") for i, w in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    ]
    register = build({"GROW": growing, "FLAT": flat}, with_movers=False)
    grow, level = row_of(register, "GROW"), row_of(register, "FLAT")
    assert grow.tickets_this_week == 6 and grow.baseline_per_week == 1.0
    assert grow.impact.points["trend"] == 5.0 and grow.growth == pytest.approx(7 / 2)
    assert grow.impact.points["recency"] == 9.0
    assert level.impact.points["trend"] == 0.0 and level.impact.points["recency"] == 4.0
    assert grow.weekly_counts[-5:] == (1, 1, 1, 1, 6)
    assert len(grow.weekly_counts) == len(register.trend_weeks) == 12
    assert register.trend_weeks[-1] == WEEK


def test_impact_window_keeps_history_but_not_old_weight() -> None:
    weights = ImpactWeights(window_weeks=4)
    register = build(
        {"OLD": [ticket("O1", 30), ticket("O2", 10), ticket("O3", 1)]},
        weights=weights,
        with_movers=False,
    )
    row = row_of(register, "OLD")
    assert row.n_tickets == 1 and row.impact.points["volume"] == 1.0
    assert row.first_seen == (MONDAY - timedelta(weeks=30)).date().isoformat()


def test_later_tickets_do_not_count_in_an_earlier_week() -> None:
    register = build({"A": [ticket("A1", 1), ticket("A2", 0, day=6), ticket("A3", -1)]})
    assert row_of(register, "A").n_tickets == 2
    assert register.n_tickets == register.n_clustered_tickets == 2


def test_rows_are_ranked_by_impact_with_noise_last_and_ties_by_id() -> None:
    register = build(
        {
            "B": [ticket("B1", 1)],
            "A": [ticket("A1", 1)],
            "NOISE": [ticket(f"N{i}", 1, customer=f"n{i}", tier="enterprise") for i in range(20)],
            "BIG": [ticket(f"X{i}", 1, customer=f"x{i}") for i in range(5)],
        },
        noise={"NOISE"},
        with_movers=False,
    )
    assert [row.cluster_id for row in register.rows] == ["BIG", "A", "B", "NOISE"]
    assert [row.rank for row in register.rows] == [1, 2, 3, 4]
    assert (
        row_of(register, "NOISE").status == "noise" and row_of(register, "NOISE").action == "none"
    )
    assert [row.cluster_id for row in register.problems] == ["BIG", "A", "B"]


# ---------------------------------------------------------------- statuses


def test_status_new_rising_ongoing_without_a_defect() -> None:
    register = build(
        {
            "NEW": [ticket("N1", 0)],
            "RISE": steady("R", 4) + [ticket(f"R-now{i}", 0, customer=f"r{i}") for i in range(5)],
            "STEADY": steady("S", 8),
        }
    )
    assert row_of(register, "NEW").status == "new"
    assert row_of(register, "RISE").status == "rising"
    assert row_of(register, "STEADY").status == "ongoing"
    assert {row.action for row in register.rows} == {"file a defect"}


def test_rising_needs_enough_tickets_not_just_a_ratio() -> None:
    register = build({"TWO": [ticket("T1", 0), ticket("T2", 0), *steady("T", 6, start=5)]})
    assert row_of(register, "TWO").status == "ongoing"


def test_known_error_needs_a_trusted_link_to_an_open_defect() -> None:
    groups = {"KE": steady("K", 6), "WEAK": steady("W", 6), "REJ": steady("J", 6)}
    register = build(
        groups,
        defects=[defect("PAY-1"), defect("PAY-2"), defect("PAY-3")],
        links={
            "KE": LinkInfo("PAY-1", 0.9, "confirmed", "4 tickets carry the key"),
            "WEAK": LinkInfo("PAY-2", 0.2, "proposed", "textual 0.31"),
            "REJ": LinkInfo("PAY-3", 0.99, "rejected", ""),
        },
    )
    known = row_of(register, "KE")
    assert (known.status, known.action, known.defect_key) == ("known error", "watch", "PAY-1")
    assert known.link_evidence == "4 tickets carry the key"
    weak = row_of(register, "WEAK")
    assert (weak.status, weak.action, weak.suggested_defect) == ("ongoing", "link one", "PAY-2")
    rejected = row_of(register, "REJ")
    assert (rejected.status, rejected.defect_key, rejected.action) == (
        "ongoing",
        "",
        "file a defect",
    )


def test_rising_known_error_is_escalated() -> None:
    tickets = steady("K", 4) + [ticket(f"K-now{i}", 0, customer=f"k{i}") for i in range(6)]
    register = build(
        {"KE": tickets}, defects=[defect("PAY-1")], links={"KE": LinkInfo("PAY-1", 0.8)}
    )
    assert (row_of(register, "KE").status, row_of(register, "KE").action) == ("rising", "escalate")


def test_unlinked_problem_whose_tickets_name_a_defect_suggests_linking_it() -> None:
    tickets = [ticket("A1", 1, jira_keys=("PAY-9",)), ticket("A2", 2, jira_keys=("PAY-9",))]
    row = row_of(build({"A": tickets + steady("A", 3, start=3)}), "A")
    assert (row.action, row.suggested_defect) == ("link one", "PAY-9")


def fix_timeline(
    after_fix: list[TicketRecord], rules: StatusRules | None = None
) -> tuple[Register, RegisterRow]:
    """Tickets on 1.x for weeks 12..3 ago; the fix ships in 2.0, three weeks ago."""
    before_fix = [ticket(f"B{w}", w, version="1.9") for w in range(4, 13)]
    register = build(
        {"FIX": before_fix + after_fix},
        defects=[defect("PAY-5", done=True, fix_versions=("2.0",), resolved_weeks_ago=5)],
        releases=[release("1.9", 20), release("2.0", 3), release("2.1", 1), release("3.0", -4)],
        links={"FIX": LinkInfo("PAY-5", 0.95, "confirmed", "key in 3 tickets")},
        rules=rules,
    )
    return register, row_of(register, "FIX")


def test_fix_released_awaits_confirmation() -> None:
    # Tickets after the fix from customers still on the old version are not a regression.
    _register, row = fix_timeline(
        [ticket("OLD1", 1, version="1.9"), ticket("OLD2", 0, version="1.9")]
    )
    assert (row.status, row.action) == ("fix released", "confirm the fix")
    assert (row.fix_version, row.regression_tickets) == ("2.0", 0)
    assert row.fix_date == (MONDAY - timedelta(weeks=3)).date().isoformat()
    assert row.release_marks == ((8, "2.0"),)  # the fix; 1.9 shipped before the window


def test_regressed_when_tickets_come_back_on_the_fixed_version_or_later() -> None:
    _register, row = fix_timeline(
        [ticket("NEW1", 1, version="2.0"), ticket("NEW2", 0, version="2.1")]
    )
    assert (row.status, row.action, row.regression_tickets) == ("regressed", "escalate", 2)
    one = [ticket("NEW1", 1, version="2.1")]
    assert fix_timeline(one)[1].status == "regressed"
    stricter = StatusRules(regression_min_tickets=2)
    assert fix_timeline(one, stricter)[1].status == "fix released"


def test_resolved_when_quiet_for_n_weeks_after_the_fix() -> None:
    before_fix = [ticket(f"B{w}", w, version="1.9") for w in range(9, 15)]
    register = build(
        {"DONE": before_fix, "OTHER": steady("O", 3)},
        defects=[defect("PAY-6", done=True, fix_versions=("2.0",), resolved_weeks_ago=9)],
        releases=[release("2.0", 8)],
        links={"DONE": LinkInfo("PAY-6", 0.9, "confirmed")},
    )
    row = row_of(register, "DONE")
    assert (row.status, row.action) == ("resolved", "none")
    rules = StatusRules(quiet_weeks=10)
    longer = build(
        {"DONE": before_fix},
        defects=[defect("PAY-6", done=True, fix_versions=("2.0",), resolved_weeks_ago=9)],
        releases=[release("2.0", 8)],
        links={"DONE": LinkInfo("PAY-6", 0.9, "confirmed")},
        rules=rules,
    )
    assert row_of(longer, "DONE").status == "fix released"


def test_status_is_judged_as_of_the_week() -> None:
    """A defect created, and a fix shipped, after the week do not change that week."""
    groups = {"P": steady("P", 6, start=0)}
    links = {"P": LinkInfo("PAY-7", 0.9, "confirmed")}
    later_defect = build(groups, defects=[defect("PAY-7", created_weeks_ago=-1)], links=links)
    assert (row_of(later_defect, "P").status, row_of(later_defect, "P").defect_key) == (
        "ongoing",
        "",
    )
    future_fix = build(
        groups,
        defects=[defect("PAY-7", fix_versions=("9.0",))],
        releases=[release("9.0", -2)],
        links=links,
    )
    assert row_of(future_fix, "P").status == "known error"
    resolved_later = build(
        groups,
        defects=[defect("PAY-7", done=True, resolved_weeks_ago=-3)],
        links=links,
    )
    assert row_of(resolved_later, "P").status == "known error"
    assert row_of(resolved_later, "P").defect_status == "open"


# ---------------------------------------------------------------- movers and frozen weeks


def test_compare_reports_new_entries_movers_regressions_resolved_and_gone() -> None:
    fixed = [ticket(f"F{w}", w, version="1.0") for w in range(9, 14)]
    regress = [ticket(f"G{w}", w, version="1.0") for w in range(4, 10)]
    groups = {
        "GROW": steady("GR", 6) + [ticket(f"GR-now{i}", 0, customer=f"g{i}") for i in range(8)],
        "SAME": steady("S", 6),
        "FIXED": fixed,
        "REG": [
            *regress,
            ticket("G-after", 1, version="2.0", day=1),
            ticket("G-now", 0, version="2.1"),
        ],
        "FRESH": [ticket("FR1", 0)],
    }
    register = build(
        groups,
        defects=[
            defect("PAY-1", done=True, fix_versions=("1.5",), resolved_weeks_ago=9),
            defect("PAY-2", done=True, fix_versions=("2.0",), resolved_weeks_ago=9),
        ],
        releases=[release("1.0", 30), release("1.5", 4), release("2.0", 5), release("2.1", 2)],
        links={
            "FIXED": LinkInfo("PAY-1", 0.9, "confirmed"),
            "REG": LinkInfo("PAY-2", 0.9, "confirmed"),
        },
        rules=StatusRules(quiet_weeks=4, regression_min_tickets=2),
    )
    movers = register.movers
    assert movers is not None and (movers.week, movers.previous_week) == (WEEK, "2026-W46")
    assert [m.cluster_id for m in movers.new_entries] == ["FRESH"]
    assert movers.new_entries[0].rank_before is None
    assert movers.biggest_movers[0].cluster_id == "GROW"
    assert movers.biggest_movers[0].impact_change > 0
    assert [m.cluster_id for m in movers.regressions] == ["REG"]
    assert movers.regressions[0].status_before == "fix released"
    assert [m.cluster_id for m in movers.resolved] == ["FIXED"]
    assert movers.resolved[0].status_before == "fix released"
    previous = build(groups, week=shift_week(WEEK, -1), with_movers=False)
    without = build({k: v for k, v in groups.items() if k != "SAME"}, with_movers=False)
    assert [m.cluster_id for m in compare(without, previous).gone] == ["SAME"]


def test_frozen_week_is_byte_identical_whatever_came_later(tmp_path: Path) -> None:
    groups = {
        "A": steady("A", 6, start=0, customer="a", tier="enterprise", arr=12345.67, handle=33.3),
        "B": steady("B", 3, start=1, customer="b", severity="high", csat=2),
        "N": [ticket("N1", 2)],
    }
    common = {
        "defects": [defect("PAY-1", fix_versions=("2.0",))],
        "releases": [release("1.0", 10), release("2.0", 2)],
        "links": {"B": LinkInfo("PAY-1", 0.7, "proposed", "text <b>0.7</b>")},
        "noise": {"N"},
    }
    first = build(groups, **common)  # type: ignore[arg-type]
    later = {name: list(members) for name, members in groups.items()}
    later["A"] += [ticket("A-later", -1), ticket("A-later2", -2, version="2.0")]
    later["C"] = [ticket("C-later", -1)]
    shuffled = {}
    for name in random.Random(7).sample(sorted(later), len(later)):
        members = list(later[name])
        random.Random(name).shuffle(members)
        shuffled[name] = members
    again = build(shuffled, **{**common, "releases": [*common["releases"], release("3.0", -3)]})  # type: ignore[arg-type,list-item]
    assert to_json(first) == to_json(again)
    for fmt in ("md", "csv", "parquet", "html", "json"):
        one = render(first, fmt, tmp_path / f"one.{fmt}")  # type: ignore[arg-type]
        two = render(again, fmt, tmp_path / f"two.{fmt}")  # type: ignore[arg-type]
        assert one.read_bytes() == two.read_bytes(), fmt


def test_inputs_are_not_mutated() -> None:
    tickets = {t.ticket_id: t for t in steady("A", 4)}
    memberships = {tid: "A" for tid in tickets}
    clusters = {"A": ClusterInfo("A", terms=["x"])}
    snapshot = (dict(tickets), dict(memberships), dict(clusters))
    build_register(tickets, {}, {}, memberships, clusters, {}, WEEK)
    assert (tickets, memberships, clusters) == snapshot


def test_json_round_trip_and_schema_check() -> None:
    register = build(
        {"A": steady("A", 5, start=0), "B": [ticket("B1", 0, version="2.0")]},
        defects=[defect("PAY-1", fix_versions=("2.0",))],
        releases=[release("2.0", 2)],
        links={"A": LinkInfo("PAY-1", 0.9, "confirmed", "evidence")},
    )
    assert register_from_json(to_json(register)) == register
    data = to_json(register).replace('"schema_version": 1', '"schema_version": 99')
    with pytest.raises(SnapshotError, match="schema_version"):
        register_from_json(data)
    with pytest.raises(SnapshotError):
        register_from_json("[1, 2]")


def test_unknown_clusters_and_tickets_are_tolerated() -> None:
    tickets = {t.ticket_id: t for t in steady("A", 3)}
    memberships = {**{tid: "C-9" for tid in tickets}, "T-missing": "C-9"}
    register = build_register(
        tickets, {}, {}, memberships, {}, {"C-9": LinkInfo("NOPE-1", 0.9)}, WEEK
    )
    row = register.rows[0]
    assert (row.title, row.n_tickets, row.defect_key, row.defect_status) == (
        "C-9",
        3,
        "NOPE-1",
        "unknown",
    )


# ---------------------------------------------------------------- configuration


def test_shipped_weights_file_equals_the_built_in_defaults() -> None:
    shipped = Path(__file__).resolve().parents[1] / "problems" / "defaults" / "impact.toml"
    assert load_weights(shipped) == ImpactWeights() == load_weights(None)
    assert load_status_rules(shipped) == StatusRules() == load_status_rules(None)
    data = tomllib.loads(shipped.read_text())
    assert set(data["impact"]) == set(ImpactWeights().components)


def test_weights_file_overrides_and_rejects_typos(tmp_path: Path) -> None:
    path = tmp_path / "weights.toml"
    path.write_text(
        "[impact]\nvolume = 2.0\n[window]\ntrend_weeks = 6\n[status]\nquiet_weeks = 8\n"
    )
    weights = load_weights(path)
    assert weights.components["volume"] == 2.0 and weights.components["customers"] == 1.0
    assert weights.trend_weeks == 6 and isinstance(weights.trend_weeks, int)
    assert load_status_rules(path).quiet_weeks == 8
    register = build({"A": steady("A", 3)}, weights=weights, with_movers=False)
    assert len(register.rows[0].weekly_counts) == 6 and register.weights["volume"] == 2.0
    for bad in (
        "[impact]\nvolum = 1\n",
        "[impakt]\nvolume = 1\n",
        "[impact]\nvolume = 'x'\n",
        "[status]\nquiet = 3\n",
        "[impact\n",
        "[scales]\narr_scale = 0\n",
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            load_weights(path)
            load_status_rules(path)
    with pytest.raises(ConfigError, match="not found"):
        load_weights(tmp_path / "missing.toml")


def test_customer_value_grows_with_tier_and_slowly_with_arr() -> None:
    weights = ImpactWeights()
    assert customer_value("enterprise", 0.0, weights) == 4.0
    assert customer_value("free", 0.0, weights) == 0.25
    assert customer_value("unknown-tier", 0.0, weights) == 1.0
    big, huge = customer_value("pro", 1e6, weights), customer_value("pro", 1e7, weights)
    assert big < huge < 2 * big
    assert math.isclose(customer_value("pro", 50_000.0, weights), 1 + math.log(2))


def test_register_dataclasses_are_plain_values() -> None:
    register = build({"A": steady("A", 2)})
    data = asdict(register)
    assert data["rows"][0]["cluster_id"] == "A"
    assert isinstance(register.rows[0].weekly_counts, tuple)
    assert date.fromisoformat(register.week_start).isoweekday() == 1


def test_latest_week_is_the_week_of_the_last_close() -> None:
    tickets = {t.ticket_id: t for t in [ticket("A", 3), ticket("B", 0, day=6), ticket("C", 1)]}
    assert latest_week(tickets) == WEEK
