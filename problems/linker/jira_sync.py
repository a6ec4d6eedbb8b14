"""Pull defects and releases from Jira's REST API: the backend of ``problems jira sync``.

Webhooks bring Jira changes as they happen; this sync brings what was missed (a first
import, an outage, a project added later). It reads through the `jira` client library,
and turns each issue and version into the very records the webhook path makes
(`problems.records.defect_record`, `release_record`), so both paths agree.

* Paginated: issue search page by page until the total is read (``startAt`` on Jira
  Server and Data Center, ``nextPageToken`` on Jira Cloud). Pages overlap by a few issues
  so an issue updated during the sync, which moves to the end of the ordering, cannot make
  another slip between two pages unseen.
* Incremental: a sync returns the latest ``updated`` time it saw; pass it back as ``since``
  and the next sync adds ``AND updated >= "..."`` to the JQL. JQL reads that time in the
  searching user's time zone, so the zone is taken from ``/myself`` (else the server's
  offset) and the minute is rounded down: an issue may come twice, never zero times.
* Versions: the versions of every project whose issues were read (and of ``projects``).
* Errors: 401/403 raise `JiraAuthError` naming the variables to fix; a 429 is retried after
  the server's ``Retry-After`` by the client's session, and raises `JiraRateLimited` (a
  transient error) once the retries run out; other 5xx and connection errors raise
  `JiraUnavailable`. Messages never include request headers (they hold the credentials).

Credentials come from the environment (`JiraAuth.from_env`): ``JIRA_PAT`` (a personal access
token, sent as a bearer token) or ``JIRA_USER`` with ``JIRA_TOKEN`` (basic auth, as Jira
Cloud API tokens are used).

Examples
--------
>>> jql_since("project = CHK ORDER BY created DESC", None)
'project = CHK ORDER BY updated ASC, key ASC'
>>> from datetime import UTC, datetime
>>> jql_since("project = CHK", datetime(2026, 3, 2, 9, 30, 45, tzinfo=UTC))
'(project = CHK) AND updated >= "2026/03/02 09:30" ORDER BY updated ASC, key ASC'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from problems.events import JiraIssue, JiraIssueEvent, JiraVersion, JiraVersionEvent
from problems.linker.errors import JiraAuthError, JiraRateLimited, JiraSyncError, JiraUnavailable
from problems.records import DefectRecord, ReleaseRecord, defect_record, release_record

__all__ = [
    "FIELDS",
    "JiraAuth",
    "SyncResult",
    "jql_since",
    "sync",
]

FIELDS = (
    "summary",
    "description",
    "status",
    "issuetype",
    "priority",
    "resolution",
    "components",
    "versions",
    "fixVersions",
    "labels",
    "created",
    "updated",
    "resolutiondate",
    "project",
)
"""The issue fields requested: what `problems.events.JiraIssueFields` reads."""

PAGE_OVERLAP = 5
"""Issues re-read at the start of each page (see the module docstring)."""

_ORDER_BY = re.compile(r"\s+order\s+by\s+.*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class JiraAuth:
    """Credentials for Jira: a personal access token, or a user with an API token.

    ``repr`` never shows the secrets.
    """

    user: str | None = None
    token: str | None = field(default=None, repr=False)
    pat: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JiraAuth:
        """Read ``JIRA_PAT``, or ``JIRA_USER`` and ``JIRA_TOKEN``; empty means anonymous.

        Examples
        --------
        >>> JiraAuth.from_env({"JIRA_USER": "bot@example.com", "JIRA_TOKEN": "s3cret"})
        JiraAuth(user='bot@example.com')
        """
        env = os.environ if environ is None else environ
        pat = env.get("JIRA_PAT") or None
        user = env.get("JIRA_USER") or None
        token = env.get("JIRA_TOKEN") or None
        if pat is None and (user is None) != (token is None):
            raise JiraAuthError("set both JIRA_USER and JIRA_TOKEN (or JIRA_PAT)")
        return cls(user=user, token=token, pat=pat)

    @property
    def anonymous(self) -> bool:
        """Whether no credentials are set."""
        return self.pat is None and self.token is None


@dataclass
class SyncResult:
    """What one sync read.

    Attributes
    ----------
    defects : dict of key to DefectRecord
        Every issue read, latest version of each.
    releases : dict of version id to ReleaseRecord
        Every version of the projects read.
    max_updated : datetime or None
        The latest ``updated`` seen (or the ``since`` given, if nothing newer came): pass
        it as ``since`` to the next sync.
    jql : str
        The JQL actually run.
    n_pages : int
        Search requests made.
    rejected : list of (str, str)
        Issues or versions that did not validate, as (key or name, reason).
    issues, versions : list
        The validated Jira objects, for `events`.
    """

    defects: dict[str, DefectRecord] = field(default_factory=dict)
    releases: dict[str, ReleaseRecord] = field(default_factory=dict)
    max_updated: datetime | None = None
    jql: str = ""
    n_pages: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    issues: list[JiraIssue] = field(default_factory=list)
    versions: list[JiraVersion] = field(default_factory=list)

    def events(self) -> list[JiraVersionEvent | JiraIssueEvent]:
        """The sync as webhook events (versions first), to apply through the pipeline."""
        version_events: list[JiraVersionEvent | JiraIssueEvent] = [
            JiraVersionEvent(
                webhookEvent="jira:version_released"
                if version.released
                else "jira:version_updated",
                version=version,
            )
            for version in self.versions
        ]
        issue_events = [
            JiraIssueEvent(webhookEvent="jira:issue_updated", issue=issue) for issue in self.issues
        ]
        return version_events + issue_events


def _jql_time(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y/%m/%d %H:%M")


def jql_since(jql: str, since: datetime | None, zone: tzinfo = UTC) -> str:
    """The JQL of an incremental sync: the query, updated since ``since``, oldest first.

    Parameters
    ----------
    jql : str
        The user's query; its own ``ORDER BY`` is replaced.
    since : datetime or None
        Only issues updated at or after this minute; None reads everything.
    zone : tzinfo
        The zone JQL reads dates in (the searching user's).
    """
    base = _ORDER_BY.sub("", jql.strip()).strip()
    clauses = [f"({base})"] if base and since is not None else ([base] if base else [])
    if since is not None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        clauses.append(f'updated >= "{_jql_time(since, zone)}"')
    return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"


def _error(error: Exception, what: str) -> Exception:
    """Our exception for a `jira.JIRAError` (never its text: it prints request headers)."""
    status = getattr(error, "status_code", None)
    url = getattr(error, "url", None) or what
    if status in (401, 403):
        return JiraAuthError(
            f"Jira refused the credentials (HTTP {status}) at {url}: "
            "check JIRA_USER and JIRA_TOKEN, or JIRA_PAT"
        )
    if status == 429:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None) or {}
        retry_after = _seconds(headers.get("Retry-After"))
        return JiraRateLimited(
            f"Jira kept rate-limiting {url} (HTTP 429) after retrying", retry_after
        )
    if status is None or status >= 500:
        return JiraUnavailable(f"Jira did not answer {url} (HTTP {status}); retry later")
    return JiraSyncError(f"Jira rejected {what} (HTTP {status}) at {url}")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _client(url: str, auth: JiraAuth, max_retries: int, timeout: float) -> Any:
    from jira import JIRA
    from jira.exceptions import JIRAError
    from requests.exceptions import RequestException

    options: dict[str, Any] = {"check_update": False}
    try:
        if auth.pat is not None:
            return JIRA(
                url,
                options=options,
                token_auth=auth.pat,
                max_retries=max_retries,
                timeout=timeout,
            )
        basic = (auth.user, auth.token) if auth.user and auth.token else None
        return JIRA(
            url, options=options, basic_auth=basic, max_retries=max_retries, timeout=timeout
        )
    except JIRAError as error:
        raise _error(error, "server info") from None
    except RequestException as error:
        raise JiraUnavailable(f"cannot reach Jira at {url}: {type(error).__name__}") from None


def _zone(client: Any, auth: JiraAuth) -> tzinfo:
    """The zone JQL dates are read in: the user's, else the server's offset, else UTC."""
    from jira.exceptions import JIRAError

    if not auth.anonymous:
        try:
            name = client.myself().get("timeZone")
        except JIRAError as error:
            raise _error(error, "the current user") from None
        if isinstance(name, str):
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
    server_time = (client.server_info() or {}).get("serverTime")
    if isinstance(server_time, str) and re.search(r"[+-]\d{4}$", server_time):
        sign = 1 if server_time[-5] == "+" else -1
        hours, minutes = int(server_time[-4:-2]), int(server_time[-2:])
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return UTC


def _project_of(raw: Mapping[str, Any], issue: JiraIssue) -> str:
    project = issue.fields.project or {}
    key = project.get("key") if isinstance(project, dict) else None
    return key if isinstance(key, str) else issue.key.rsplit("-", 1)[0]


def sync(
    url: str,
    jql: str,
    auth: JiraAuth | None = None,
    since: datetime | None = None,
    *,
    projects: Sequence[str] = (),
    page_size: int = 100,
    include_versions: bool = True,
    max_retries: int = 3,
    timeout: float = 30.0,
) -> SyncResult:
    """Read the issues of a JQL query (updated since ``since``) and their projects' versions.

    Parameters
    ----------
    url : str
        Base URL of the Jira site, e.g. ``https://issues.example.com``.
    jql : str
        Which issues; its ``ORDER BY`` is replaced by ``updated ASC, key ASC``.
    auth : JiraAuth, optional
        Credentials; default `JiraAuth.from_env`.
    since : datetime, optional
        The ``max_updated`` of the previous sync.
    projects : sequence of str
        Projects whose versions are read even if none of their issues changed.
    page_size : int
        Issues per search request (the server may return fewer).
    include_versions : bool
        Whether to read project versions.
    max_retries, timeout
        Passed to the client: retries of 429/503 (honouring ``Retry-After``), seconds per
        request.

    Returns
    -------
    SyncResult

    Raises
    ------
    JiraAuthError
        Credentials refused.
    JiraRateLimited
        Still rate-limited after the retries.
    JiraUnavailable
        Server errors or no connection.
    JiraSyncError
        Any other refusal (e.g. invalid JQL).
    """
    from jira.exceptions import JIRAError

    if page_size < 2:
        raise JiraSyncError("page_size must be at least 2")
    auth = auth if auth is not None else JiraAuth.from_env()
    client = _client(url, auth, max_retries, timeout)
    try:
        zone = _zone(client, auth)
        query = jql_since(jql, since, zone)
        result = SyncResult(jql=query, max_updated=since)
        latest: dict[str, tuple[datetime, JiraIssue]] = {}
        seen_projects: set[str] = set(projects)
        for raw in _search(client, query, page_size, result):
            key = str(raw.get("key", "?"))
            try:
                issue = JiraIssue.model_validate(raw)
            except ValidationError as error:
                result.rejected.append((key, _reason(error)))
                continue
            updated = issue.fields.updated or issue.fields.created
            current = latest.get(issue.key)
            if current is None or updated >= current[0]:
                latest[issue.key] = (updated, issue)
            seen_projects.add(_project_of(raw, issue))
        for key in sorted(latest, key=lambda key: (latest[key][0], key)):
            updated, issue = latest[key]
            result.issues.append(issue)
            result.defects[key] = defect_record(issue)
            if result.max_updated is None or updated > result.max_updated:
                result.max_updated = updated
        if include_versions:
            for project in sorted(seen_projects):
                for version in client.project_versions(project):
                    _add_version(version.raw, result)
    except JIRAError as error:
        raise _error(error, "the search") from None
    finally:
        client.close()
    return result


def _add_version(raw: Mapping[str, Any], result: SyncResult) -> None:
    try:
        version = JiraVersion.model_validate(raw)
    except ValidationError as error:
        result.rejected.append((str(raw.get("name", "?")), _reason(error)))
        return
    record = release_record(version)
    result.versions.append(version)
    result.releases[record.id] = record


def _reason(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    )


def _search(client: Any, query: str, page_size: int, result: SyncResult) -> list[dict[str, Any]]:
    """Every issue of the query, page by page (pages may overlap)."""
    fields = list(FIELDS)
    found: list[dict[str, Any]] = []
    if client._is_cloud:
        token: str | None = None
        while True:
            page = client.enhanced_search_issues(
                query,
                nextPageToken=token,
                maxResults=page_size,
                fields=list(fields),
                json_result=True,
            )
            result.n_pages += 1
            found.extend(page.get("issues", []))
            token = page.get("nextPageToken")
            if page.get("isLast", token is None) or not token:
                return found
    start = 0
    while True:
        page = client.search_issues(
            query,
            startAt=start,
            maxResults=page_size,
            fields=list(fields),
            validate_query=True,
            json_result=True,
        )
        result.n_pages += 1
        issues = page.get("issues", [])
        found.extend(issues)
        total = int(page.get("total", 0))
        if not issues or start + len(issues) >= total:
            return found
        start += len(issues) - min(PAGE_OVERLAP, len(issues) // 2)
