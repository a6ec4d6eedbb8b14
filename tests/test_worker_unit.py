"""Fast tests of the worker's pieces that need no Redis."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from problems import streams


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker

    monkeypatch.setenv("REDIS_URL", "rediss://:s3cret@redis.example:6380/2")
    monkeypatch.setenv("PROBLEMS_BATCH_SIZE", "250")
    monkeypatch.setenv("PROBLEMS_TICKETS_STREAM", "tickets.closed.billing")
    settings = worker.WorkerSettings()
    assert settings.redis_url == "rediss://:s3cret@redis.example:6380/2"
    assert settings.batch_size == 250
    assert settings.input_streams[0] == "tickets.closed.billing"
    assert settings.stream_of_kind("ticket") == "tickets.closed.billing"
    with pytest.raises(ValueError):
        settings.batch_size = 1  # type: ignore[misc]  # frozen


def test_consumer_names_are_unique_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import worker

    monkeypatch.delenv("PROBLEMS_CONSUMER", raising=False)
    name = worker.WorkerSettings().consumer
    assert name.endswith(f"-{os.getpid()}")


def test_json_logs_carry_ids_not_text() -> None:
    import worker

    record = logging.makeLogRecord(
        {
            "name": "problems.worker",
            "levelname": "WARNING",
            "msg": "dead-lettered",
            "stream": "tickets.closed",
            "entry_id": "1-0",
            "payload_bytes": "12",
        }
    )
    line = json.loads(worker.JsonFormatter().format(record))
    assert line["msg"] == "dead-lettered"
    assert line["stream"] == "tickets.closed" and line["entry_id"] == "1-0"
    assert "payload" not in line


@given(st.binary(max_size=300))
def test_dead_letters_keep_any_payload_bytes(payload: bytes) -> None:
    fields = streams.dead_letter_fields("reason", payload, "tickets.closed", "1-0", 1)
    if fields["payload_encoding"] == "base64":
        assert base64.b64decode(fields["payload"]) == payload
    else:
        assert fields["payload"].encode() == payload


@given(st.lists(st.tuples(st.integers(0, 2**48), st.integers(0, 2**20)), min_size=2))
def test_entry_ids_order_like_redis(ids: list[tuple[int, int]]) -> None:
    texts = [f"{ms}-{seq}" for ms, seq in ids]
    assert sorted(texts, key=streams.entry_id_key) == [f"{a}-{b}" for a, b in sorted(ids)]


async def test_metrics_are_prometheus_text_without_redis() -> None:
    import worker

    settings = worker.WorkerSettings(redis_url="redis://127.0.0.1:1/0")
    instance = worker.Worker(settings)
    instance.latency.observe_many([0.02, 0.3, 4.0])
    text = await instance.metrics_text(3, 3)
    await instance.redis.aclose()
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("problems_")
    assert 'problems_processing_latency_seconds_bucket{le="+Inf"} 3' in text
    assert instance.healthy() == (False, "not leading")


def test_asyncapi_document_lists_the_streams(tmp_path: Path) -> None:
    from tests.conftest import REPO

    out = tmp_path / "asyncapi.json"
    subprocess.run(
        [sys.executable, "-m", "faststream", "docs", "gen", "worker:app", "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    channels = set(json.loads(out.read_text())["channels"])
    assert {"tickets", "jira_issues", "jira_versions", "control", "register"} <= channels
    assert "dead_letters" in channels


def test_settings_take_the_redis_url_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker

    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = worker.WorkerSettings(redis_url="redis://127.0.0.1:6390/7")
    assert settings.redis_url == "redis://127.0.0.1:6390/7"
