"""The Jira sync against a real local HTTP server speaking Jira REST v2 JSON."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from problems.events import JiraIssue, JiraVersion, parse_event
from problems.linker.errors import JiraAuthError, JiraRateLimited, JiraSyncError
from problems.linker.jira_sync import JiraAuth, jql_since, sync
from problems.records import defect_record, release_record
from tests.jira_server import FakeJira, jira_issue, jira_server, jira_version

AUTH = JiraAuth(user="bot@example.com", token="api-token")
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _versions() -> dict[str, list[dict[str, Any]]]:
    return {
        "CHK": [
            jira_version("11", "3.3.1", 100, "2026-01-12", True),
            jira_version("12", "Release 3.4", 100, "2026-02-20", True),
            jira_version("13", "3.5.0-rc1", 100, None, False),
        ],
        "PAY": [jira_version("21", "v2.4", 200, "2026-02-01", True)],
    }


def _jira(n_issues: int = 8, **options: Any) -> FakeJira:
    jira = FakeJira(versions=_versions(), **options)
    for i in range(1, n_issues + 1):
        project = "CHK" if i % 4 else "PAY"
        jira.add(
            jira_issue(
                f"{project}-{i}",
                f"Checkout fails with error {i}",
                created=BASE + timedelta(hours=i),
                updated=BASE + timedelta(hours=i, minutes=30),
                description=f"Stack trace {i}: NullPointerException at Cart.submit",
                components=("checkout",),
                versions=(_versions()["CHK"][0],),
                fix_versions=(_versions()["CHK"][1],) if i % 2 else (),
                resolution="Fixed" if i % 2 else None,
            )
        )
    return jira


def test_full_sync_reads_every_page_and_gives_webhook_records() -> None:
    jira = _jira(8)
    with jira_server(jira) as url:
        result = sync(url, "project in (CHK, PAY) ORDER BY created DESC", AUTH, page_size=50)
    assert sorted(result.defects) == sorted(jira.issues)
    # The server caps pages at 3 issues, so several pages were needed.
    search_calls = [q for _, path, q in jira.requests if path.endswith("/search")]
    assert len(search_calls) == result.n_pages >= 3
    assert "ORDER BY updated ASC, key ASC" in result.jql
    for key, raw in jira.issues.items():
        assert result.defects[key] == defect_record(JiraIssue.model_validate(raw))
    expected_releases = {
        version["id"]: release_record(JiraVersion.model_validate(version))
        for versions in _versions().values()
        for version in versions
    }
    assert result.releases == expected_releases
    updated = [JiraIssue.model_validate(raw).fields.updated for raw in jira.issues.values()]
    assert result.max_updated == max(moment for moment in updated if moment is not None)
    assert result.rejected == []


def test_events_apply_like_webhooks() -> None:
    jira = _jira(3)
    with jira_server(jira) as url:
        result = sync(url, "project = CHK", AUTH)
    for event in result.events():
        reparsed = parse_event(event.model_dump(mode="json"))
        assert reparsed == event
    kinds = [event.webhookEvent for event in result.events()]
    assert kinds.count("jira:issue_updated") == len(result.defects)
    assert "jira:version_released" in kinds and "jira:version_updated" in kinds


def test_incremental_sync_only_reads_issues_updated_since() -> None:
    jira = _jira(6)
    with jira_server(jira) as url:
        first = sync(url, "project = CHK", AUTH)
        assert first.max_updated is not None
        changed = jira.issues["CHK-2"]
        changed["fields"]["updated"] = "2026-03-05T12:00:00.000+0000"
        changed["fields"]["summary"] = "Checkout fails with error 2 (reopened)"
        jira.add(
            jira_issue(
                "CHK-9",
                "Card declined twice",
                created=BASE + timedelta(days=4),
                updated=BASE + timedelta(days=4),
            )
        )
        second = sync(url, "project = CHK", AUTH, since=first.max_updated)
    # The JQL carries the watermark in the user's zone (Berlin, UTC+1 in March).
    local = first.max_updated.astimezone(UTC) + timedelta(hours=1)
    assert f'updated >= "{local:%Y/%m/%d %H:%M}"' in second.jql
    # The newest issue of the first sync comes again (same minute), never an older one.
    assert set(second.defects) == {"CHK-2", "CHK-9", max(first.defects, key=_updated_of(first))}
    assert second.defects["CHK-2"].summary.endswith("(reopened)")
    assert second.max_updated == BASE + timedelta(days=4)


def _updated_of(result: Any) -> Any:
    return lambda key: result.defects[key].updated


def test_no_new_issue_keeps_the_watermark() -> None:
    jira = _jira(2)
    later = datetime(2027, 1, 1, tzinfo=UTC)
    with jira_server(jira) as url:
        result = sync(url, "project = CHK", AUTH, since=later)
    assert result.defects == {}
    assert result.max_updated == later


def test_wrong_credentials_raise_a_clear_auth_error() -> None:
    jira = _jira(2)
    with jira_server(jira) as url, pytest.raises(JiraAuthError) as caught:
        sync(url, "project = CHK", JiraAuth(user="bot@example.com", token="wrong"))
    message = str(caught.value)
    assert "401" in message and "JIRA_TOKEN" in message
    assert "wrong" not in message and "Authorization" not in message


def test_personal_access_token_is_sent_as_bearer() -> None:
    jira = _jira(2, basic=None, pat="pat-123")
    with jira_server(jira) as url:
        assert len(sync(url, "project = CHK", JiraAuth(pat="pat-123")).defects) == 2
        with pytest.raises(JiraAuthError):
            sync(url, "project = CHK", JiraAuth(pat="other"))


def test_rate_limit_is_retried_after_the_servers_delay() -> None:
    jira = _jira(2, rate_limited=1, retry_after=1)
    with jira_server(jira) as url:
        started = time.monotonic()
        result = sync(url, "project = CHK", AUTH)
        elapsed = time.monotonic() - started
    assert len(result.defects) == 2
    assert elapsed >= 1.0
    search_calls = [path for _, path, _ in jira.requests if path.endswith("/search")]
    assert len(search_calls) == result.n_pages + 1


def test_rate_limit_that_persists_is_a_transient_error() -> None:
    jira = _jira(2, rate_limited=10, retry_after=1)
    with jira_server(jira) as url, pytest.raises(JiraRateLimited) as caught:
        sync(url, "project = CHK", AUTH, max_retries=1)
    assert caught.value.retry_after == 1.0


def test_invalid_jql_is_a_permanent_error() -> None:
    with jira_server(_jira(1)) as url, pytest.raises(JiraSyncError) as caught:
        sync(url, "project = CHK AND summary ~~ x", AUTH)
    assert "400" in str(caught.value)


def test_cloud_pages_with_next_page_token() -> None:
    jira = _jira(7, deployment="Cloud")
    with jira_server(jira) as url:
        result = sync(url, "project = CHK", AUTH)
    assert sorted(result.defects) == sorted(k for k in jira.issues if k.startswith("CHK"))
    assert result.n_pages >= 2
    assert any(path.endswith("/search/jql") for _, path, _ in jira.requests)


def test_invalid_issue_is_rejected_not_fatal() -> None:
    jira = _jira(2)
    jira.issues["CHK-1"]["fields"]["summary"] = "x" * 3_000
    with jira_server(jira) as url:
        result = sync(url, "project = CHK", AUTH)
    assert list(result.defects) == ["CHK-2"]
    assert [key for key, _ in result.rejected] == ["CHK-1"]


def test_auth_from_environment() -> None:
    assert JiraAuth.from_env({"JIRA_PAT": "p"}).pat == "p"
    assert JiraAuth.from_env({}).anonymous
    with pytest.raises(JiraAuthError):
        JiraAuth.from_env({"JIRA_USER": "bot"})
    assert "s3cret" not in repr(JiraAuth.from_env({"JIRA_USER": "u", "JIRA_TOKEN": "s3cret"}))


def test_jql_since_keeps_the_users_filter() -> None:
    since = datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)
    jql = jql_since("project = CHK order by key", since)
    assert jql.startswith('(project = CHK) AND updated >= "2026/03/02 23:59"')
    assert jql.count("ORDER BY") == 1
