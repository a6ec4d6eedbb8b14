"""A small Jira REST v2 server on 127.0.0.1 for testing the sync against real HTTP.

It answers what the `jira` client asks during a sync, with the JSON shapes Jira Server and
Jira Cloud use: ``serverInfo``, ``field``, ``myself``, ``search`` (``startAt`` pages, with
a server-side cap on ``maxResults`` as real Jira has), ``search/jql`` (Cloud's
``nextPageToken`` pages), ``issue/KEY`` and ``project/KEY/versions``. It checks basic and
bearer credentials (401 otherwise), can answer 429 with ``Retry-After`` a given number of
times, and understands the JQL the sync writes: ``project = X`` / ``project in (X, Y)`` and
``updated >= "yyyy/MM/dd HH:mm"`` read in the user's time zone. Every request is logged.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

__all__ = ["FakeJira", "jira_issue", "jira_server", "jira_time", "jira_version"]

API = "/rest/api/2/"
_PROJECT_EQ = re.compile(r"\bproject\s*=\s*\"?([A-Z][A-Z0-9_]*)\"?", re.IGNORECASE)
_PROJECT_IN = re.compile(r"\bproject\s+in\s*\(([^)]*)\)", re.IGNORECASE)
_UPDATED = re.compile(r"\bupdated\s*>=\s*\"(\d{4}/\d{2}/\d{2} \d{2}:\d{2})\"", re.IGNORECASE)
_KNOWN = re.compile(
    r"^\s*(\(|\)|and\b|project\b|in\b|updated\b|order\s+by\b|asc\b|desc\b|key\b|,|=|>=|"
    r"\"[^\"]*\"|[A-Z][A-Z0-9_]*\b)",
    re.IGNORECASE,
)


def jira_time(moment: datetime) -> str:
    """Jira's timestamp format: ``2026-03-02T09:30:00.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def jira_version(
    version_id: str, name: str, project_id: int, release_date: str | None, released: bool
) -> dict[str, Any]:
    """A project version as ``/project/KEY/versions`` returns it."""
    version: dict[str, Any] = {
        "self": f"http://jira/rest/api/2/version/{version_id}",
        "id": version_id,
        "name": name,
        "archived": False,
        "released": released,
        "projectId": project_id,
    }
    if release_date is not None:
        version["releaseDate"] = release_date
    return version


def jira_issue(
    key: str,
    summary: str,
    *,
    created: datetime,
    updated: datetime,
    description: str | None = "",
    components: tuple[str, ...] = (),
    versions: tuple[dict[str, Any], ...] = (),
    fix_versions: tuple[dict[str, Any], ...] = (),
    status: str = "Open",
    resolution: str | None = None,
) -> dict[str, Any]:
    """A REST v2 issue with the fields the sync reads, plus some it ignores."""
    project = key.rsplit("-", 1)[0]
    return {
        "expand": "renderedFields,names,schema",
        "id": str(10_000 + int(key.rsplit("-", 1)[1])),
        "self": f"http://jira/rest/api/2/issue/{key}",
        "key": key,
        "fields": {
            "summary": summary,
            "description": description,
            "issuetype": {"id": "1", "name": "Bug", "subtask": False},
            "status": {
                "name": status,
                "id": "1",
                "statusCategory": {"key": "done" if resolution else "new", "id": 3},
            },
            "priority": {"name": "Major", "id": "3"},
            "resolution": {"name": resolution, "id": "1"} if resolution else None,
            "components": [{"id": str(i), "name": name} for i, name in enumerate(components)],
            "versions": list(versions),
            "fixVersions": list(fix_versions),
            "labels": [],
            "created": jira_time(created),
            "updated": jira_time(updated),
            "resolutiondate": jira_time(updated) if resolution else None,
            "project": {"id": "100", "key": project, "name": project.title()},
            "customfield_10010": None,
            "watches": {"watchCount": 1},
        },
    }


@dataclass
class FakeJira:
    """The server's data and behaviour; change it between syncs."""

    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    basic: tuple[str, str] | None = ("bot@example.com", "api-token")
    pat: str | None = None
    time_zone: str = "Europe/Berlin"
    deployment: str = "Server"
    page_cap: int = 3
    rate_limited: int = 0
    retry_after: int = 1
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, issue: dict[str, Any]) -> None:
        """Add or replace an issue."""
        self.issues[issue["key"]] = issue

    def authorized(self, header: str | None) -> bool:
        if self.basic is None and self.pat is None:
            return True
        if header is None:
            return False
        if header.startswith("Bearer ") and self.pat is not None:
            return header[len("Bearer ") :] == self.pat
        if header.startswith("Basic ") and self.basic is not None:
            decoded = base64.b64decode(header[len("Basic ") :]).decode()
            return tuple(decoded.split(":", 1)) == self.basic
        return False

    def matching(self, jql: str) -> list[dict[str, Any]]:
        """The issues a JQL query selects, in its order (raises ValueError on bad JQL)."""
        rest = jql
        while rest.strip():
            match = _KNOWN.match(rest)
            if match is None:
                raise ValueError(f"Error in the JQL Query: unexpected {rest.strip()[:20]!r}")
            rest = rest[match.end() :]
        selected = list(self.issues.values())
        projects: set[str] = set()
        if (equal := _PROJECT_EQ.search(jql)) is not None:
            projects.add(equal.group(1).upper())
        if (among := _PROJECT_IN.search(jql)) is not None:
            projects.update(part.strip(' "').upper() for part in among.group(1).split(","))
        if projects:
            selected = [issue for issue in selected if issue["key"].rsplit("-", 1)[0] in projects]
        if (since := _UPDATED.search(jql)) is not None:
            local = datetime.strptime(since.group(1), "%Y/%m/%d %H:%M")
            floor = local.replace(tzinfo=ZoneInfo(self.time_zone))
            selected = [issue for issue in selected if _updated(issue) >= floor]
        if re.search(r"order\s+by\s+updated", jql, re.IGNORECASE):
            selected.sort(key=lambda issue: (_updated(issue), issue["key"]))
        else:
            selected.sort(key=lambda issue: issue["key"])
        return selected


def _updated(issue: dict[str, Any]) -> datetime:
    text = issue["fields"]["updated"]
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _trim(issue: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields or "*all" in fields:
        return issue
    kept = {name: value for name, value in issue["fields"].items() if name in fields}
    return {**issue, "fields": kept}


class _Handler(BaseHTTPRequestHandler):
    jira: FakeJira

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._send(405, {"errorMessages": ["use GET"]})

    def do_GET(self) -> None:
        jira = self.jira
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        with jira.lock:
            jira.requests.append(("GET", path, query))
            limited = jira.rate_limited > 0 and path.startswith(API + "search")
            if limited:
                jira.rate_limited -= 1
        if not path.startswith(API):
            self._send(404, {"errorMessages": ["not found"]})
            return
        resource = path[len(API) :]
        if resource == "serverInfo":
            offset = datetime.now(ZoneInfo(jira.time_zone)).strftime("%z")
            self._send(
                200,
                {
                    "baseUrl": f"http://{self.headers.get('Host')}",
                    "version": "9.12.2",
                    "versionNumbers": [9, 12, 2],
                    "deploymentType": jira.deployment,
                    "buildNumber": 9120002,
                    "serverTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000") + offset,
                    "serverTitle": "Test Jira",
                },
            )
            return
        if not jira.authorized(self.headers.get("Authorization")):
            self._send(
                401,
                {"errorMessages": ["You are not authenticated."], "errors": {}},
                {"WWW-Authenticate": 'Basic realm="protected-area"'},
            )
            return
        if limited:
            self._send(
                429,
                {"errorMessages": ["Rate limit exceeded."]},
                {"Retry-After": str(jira.retry_after)},
            )
            return
        if resource == "field":
            self._send(200, [_field(name) for name in _FIELD_NAMES])
        elif resource == "myself":
            self._send(200, {"name": "bot", "timeZone": jira.time_zone, "active": True})
        elif resource == "search" and jira.deployment == "Server":
            self._search(query)
        elif resource == "search/jql" and jira.deployment == "Cloud":
            self._search_cloud(query)
        elif resource.startswith("issue/"):
            issue = jira.issues.get(resource[len("issue/") :])
            if issue is None:
                self._send(404, {"errorMessages": ["Issue Does Not Exist"], "errors": {}})
            else:
                self._send(200, issue)
        elif (versions := re.fullmatch(r"project/([^/]+)/versions", resource)) is not None:
            project = versions.group(1)
            if project not in jira.versions:
                missing = f"No project could be found with key '{project}'."
                self._send(404, {"errorMessages": [missing]})
            else:
                self._send(200, jira.versions[project])
        else:
            self._send(404, {"errorMessages": [f"no resource {resource}"]})

    def _fields(self, query: dict[str, list[str]]) -> list[str]:
        return [name for value in query.get("fields", []) for name in value.split(",") if name]

    def _search(self, query: dict[str, list[str]]) -> None:
        try:
            selected = self.jira.matching(query.get("jql", [""])[0])
        except ValueError as error:
            self._send(400, {"errorMessages": [str(error)], "errors": {}})
            return
        start = int(query.get("startAt", ["0"])[0])
        asked = int(query.get("maxResults", ["50"])[0])
        size = min(asked, self.jira.page_cap)
        fields = self._fields(query)
        page = [_trim(issue, fields) for issue in selected[start : start + size]]
        self._send(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(selected),
                "issues": page,
            },
        )

    def _search_cloud(self, query: dict[str, list[str]]) -> None:
        try:
            selected = self.jira.matching(query.get("jql", [""])[0])
        except ValueError as error:
            self._send(400, {"errorMessages": [str(error)], "errors": {}})
            return
        start = int(query.get("nextPageToken", ["0"])[0])
        size = min(int(query.get("maxResults", ["50"])[0]), self.jira.page_cap)
        fields = self._fields(query)
        page = [_trim(issue, fields) for issue in selected[start : start + size]]
        body: dict[str, Any] = {"issues": page, "isLast": start + size >= len(selected)}
        if not body["isLast"]:
            body["nextPageToken"] = str(start + size)
        self._send(200, body)


_FIELD_NAMES = (
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


def _field(name: str) -> dict[str, Any]:
    return {
        "id": name,
        "key": name,
        "name": name[:1].upper() + name[1:],
        "custom": False,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [name],
        "schema": {"type": "string", "system": name},
    }


@contextmanager
def jira_server(jira: FakeJira) -> Iterator[str]:
    """Serve ``jira`` on a free port of 127.0.0.1 in a thread; yields the base URL."""
    handler = type("Handler", (_Handler,), {"jira": jira})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def days_ago(days: float) -> datetime:
    """A UTC moment some days before now."""
    return datetime.now(UTC) - timedelta(days=days)
