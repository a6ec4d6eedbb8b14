"""Register outputs: CSV and Parquet round trips, escaping in HTML and Markdown, JSON and the
stream entry."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register import (
    ClusterInfo,
    LinkInfo,
    Register,
    build_register,
    render,
    to_html,
    to_json,
    to_markdown,
    to_stream_payload,
)
from problems.register.render import register_records, to_csv

WEEK = "2026-W47"
MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"


def _ticket(
    ticket_id: str, weeks_ago: int, customer: str, version: str | None = None
) -> TicketRecord:
    closed = MONDAY - timedelta(weeks=weeks_ago)
    return TicketRecord(
        ticket_id=ticket_id,
        event_ids=(f"e-{ticket_id}",),
        opened_at=closed - timedelta(hours=1),
        first_closed_at=closed,
        closed_at=closed,
        subject=f"{SCRIPT} subject",
        text="",
        customer_id=customer,
        tier="enterprise" if customer.startswith("e") else "pro",
        arr=25_000.0,
        product="billing",
        component="export",
        version=version,
        severity="high",
        handle_time_minutes=45.0,
        csat=2,
    )


@pytest.fixture(scope="module")
def register() -> Register:
    groups = {
        "C-XSS": [_ticket(f"X{i}", i % 5, f"e{i % 3}", "2.0") for i in range(9)],
        "C-2": [_ticket(f"Y{i}", i % 3, f"p{i}") for i in range(4)],
        "C-3": [_ticket(f"Z{i}", 2 + i, "solo", "1.0") for i in range(3)],
        "C-noise": [_ticket(f"N{i}", 1, f"n{i}") for i in range(2)],
    }
    tickets = {t.ticket_id: t for members in groups.values() for t in members}
    memberships = {t.ticket_id: cid for cid, members in groups.items() for t in members}
    clusters = {
        "C-XSS": ClusterInfo(
            "C-XSS",
            title=SCRIPT + ' & "quotes" | *bold* [link](http://x)',
            terms=["<img src=x onerror=alert(2)>", "export"],
            representative_subject=SCRIPT,
            components=["export"],
        ),
        "C-2": ClusterInfo("C-2", title="Login loop", terms=["login"]),
        "C-3": ClusterInfo("C-3", title="Old problem", terms=["old"]),
        "C-noise": ClusterInfo("C-noise", title="misc", is_noise=True),
    }
    defects = {
        "PAY-1": DefectRecord(
            key="PAY-1",
            project="PAY",
            summary=f"defect {SCRIPT}",
            status="Open",
            status_category="indeterminate",
            fix_versions=("2.1",),
            created=MONDAY - timedelta(weeks=30),
        )
    }
    releases = {
        "r1": ReleaseRecord(id="r1", name="2.0", release_date=date(2026, 10, 1), released=True),
        "r2": ReleaseRecord(id="r2", name="2.1", release_date=date(2026, 12, 1), released=False),
    }
    links = {"C-XSS": LinkInfo("PAY-1", 0.8, "confirmed", f"evidence {SCRIPT}")}
    return build_register(tickets, defects, releases, memberships, clusters, links, WEEK)


def test_csv_round_trip_with_pandas(register: Register, tmp_path: Path) -> None:
    path = render(register, "csv", tmp_path / "register.csv")
    frame = pd.read_csv(path, keep_default_na=False)
    records = register_records(register)
    assert len(frame) == len(register.rows) == 4
    assert list(frame.columns) == list(records[0])
    for expected, (_, actual) in zip(records, frame.iterrows(), strict=True):
        for column, value in expected.items():
            got = actual[column]
            if isinstance(value, float):
                assert float(got) == pytest.approx(value), column
            elif isinstance(value, bool):
                assert str(got) == str(value), column
            else:
                assert str(got) == str(value), column
    weekly = json.loads(frame.loc[0, "weekly_counts"])
    assert tuple(weekly) == register.rows[0].weekly_counts
    assert frame.loc[0, "title"] == register.rows[0].title  # text kept verbatim, quoted by CSV


def test_parquet_round_trip_with_pandas(register: Register, tmp_path: Path) -> None:
    path = render(register, "parquet", tmp_path / "register.parquet")
    frame = pd.read_parquet(path)
    records = register_records(register)
    assert list(frame.columns) == list(records[0])
    assert frame.to_dict(orient="records") == records
    assert frame["rank"].dtype == "int64" and frame["impact_score"].dtype == "float64"
    assert frame["is_noise"].dtype == bool


def test_every_impact_component_is_a_column(register: Register) -> None:
    header = to_csv(register).splitlines()[0].split(",")
    for component in (
        "customers",
        "volume",
        "severity",
        "recency",
        "trend",
        "effort",
        "sla",
        "csat",
    ):
        assert f"points_{component}" in header and f"impact_{component}" in header


def test_empty_register_still_has_every_column(register: Register, tmp_path: Path) -> None:
    empty = Register(**{**register.__dict__, "rows": ()})
    frame = pd.read_parquet(render(empty, "parquet", tmp_path / "empty.parquet"))
    assert len(frame) == 0 and list(frame.columns) == list(register_records(register)[0])
    assert to_csv(empty).splitlines()[0] == to_csv(register).splitlines()[0]


def test_html_escapes_all_text_and_fetches_nothing(register: Register) -> None:
    page = to_html(register)
    assert SCRIPT not in page and "<img" not in page
    assert html.escape(SCRIPT) in page
    assert page.count("<script>") == 1  # only the page's own sorter
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert re.search(r"default-src 'none'; script-src 'sha256-[^']+'", html.unescape(page))
    assert " style=" not in page  # inline style attributes would break the CSP
    assert page.count("<tr data-rank=") == len(register.rows)
    assert page.count('class="spark"') == len(register.rows)
    assert "release 2.0" in page  # the release marker on the sparkline


def test_markdown_agenda_has_actions_evidence_and_movers(register: Register) -> None:
    text = to_markdown(register, top_n=2)
    assert SCRIPT not in text and "<img" not in text
    assert "&lt;script&gt;" in text or "\\<script\\>" in text
    assert text.count("\n### ") == 2
    for label in (
        "**Summary:**",
        "**Evidence:**",
        "**Impact:**",
        "**Linked defect:**",
        "**Action:**",
    ):
        assert text.count(label) == 2
    assert "PAY-1" in text and "## What moved since 2026-W46" in text
    assert "misc" not in text.split("## What moved")[0]  # noise is not on the agenda


def test_json_and_stream_payload(register: Register) -> None:
    data = json.loads(to_json(register))
    assert data["schema_version"] == 1 and data["week"] == WEEK
    payload = to_stream_payload(register)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items())
    assert payload["week"] == WEEK and payload["n_problems"] == "3" and payload["n_noise"] == "1"
    top = json.loads(payload["top"])
    assert [entry["cluster_id"] for entry in top] == [row.cluster_id for row in register.problems]
    assert payload == to_stream_payload(register)


def test_render_rejects_unknown_formats(register: Register, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown register format"):
        render(register, "xlsx", tmp_path / "r.xlsx")  # type: ignore[arg-type]
