"""The register's HTML page in headless Chromium: it renders with no console error, fetches
nothing, sorting by a header click works, and a ticket text holding ``<script>`` shows as
text instead of running.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: file
descriptors 3 and 4, NUL-separated JSON), which needs no websocket package and no port.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import signal
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from problems.records import DefectRecord, ReleaseRecord, TicketRecord
from problems.register import ClusterInfo, LinkInfo, Register, build_register, render

CHROMIUM = "/usr/bin/chromium"
SCRIPT = "<script>alert(1)</script>"
MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)
TIMEOUT_SECONDS = 30.0

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"{CHROMIUM} is missing (Debian package 'chromium'; .ci/run installs it)",
    ),
]


class DevTools:
    """A minimal DevTools-protocol client for one headless Chromium on a pipe."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # Park the child's ends above 3 and 4 first, so the dup2s below cannot clobber them.
        child_in = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)
        self.log = log.open("wb")
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.pid = os.posix_spawn(
            CHROMIUM,
            args,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, self.log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, self.log.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, child_in, 3),
                (os.POSIX_SPAWN_DUP2, child_out, 4),
            ],
        )
        os.close(child_in)
        os.close(child_out)
        self.writer = to_browser_write
        self.reader = from_browser_read
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.reader], [], [], remaining)
            if ready:
                chunk = os.read(self.reader, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def _on_event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":
            # A dialog would block the page; dismiss it so the test can report it.
            self.send("Page.handleJavaScriptDialog", {"accept": True}, wait=False)

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, wait: bool = True
    ) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        wanted = self.next_id
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == wanted:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            if "method" in answer:
                self._on_event(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            message = self._read_message(deadline)
            if "method" in message:
                self._on_event(message)
                if message["method"] == method:
                    return message

    def open_page(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.evaluate("new Promise(r => setTimeout(r, 200))")  # let late errors arrive

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element (not a synthetic .click())."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params: dict[str, Any] = {"type": kind, "x": x, "y": y}
            if kind != "mouseMoved":
                params.update(button="left", clickCount=1)
            self.send("Input.dispatchMouseEvent", params)

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(f"log: {params['entry'].get('text')}")
        return found

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("Browser.close", wait=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self.reader, self.writer):
            os.close(fd)
        self.log.close()


def _register() -> Register:
    def ticket(ticket_id: str, weeks_ago: int, customer: str, version: str) -> TicketRecord:
        closed = MONDAY - timedelta(weeks=weeks_ago, hours=weeks_ago)
        return TicketRecord(
            ticket_id=ticket_id,
            event_ids=(f"e-{ticket_id}",),
            opened_at=closed - timedelta(hours=2),
            first_closed_at=closed,
            closed_at=closed,
            subject=SCRIPT,
            text="",
            customer_id=customer,
            tier="enterprise" if customer.startswith("e") else "pro",
            arr=10_000.0,
            product="billing",
            version=version,
            severity="high",
        )

    sizes = {"C-XSS": 7, "C-B": 12, "C-C": 3, "C-D": 5, "C-noise": 4}
    groups = {
        cid: [
            ticket(f"{cid}-{i}", i % 9, f"{'e' if i % 2 else 'p'}{i % 4}", "2.0") for i in range(n)
        ]
        for cid, n in sizes.items()
    }
    tickets = {t.ticket_id: t for members in groups.values() for t in members}
    memberships = {t.ticket_id: cid for cid, members in groups.items() for t in members}
    titles = {"C-XSS": SCRIPT, "C-B": "beta export", "C-C": "Alpha login", "C-D": "delta sync"}
    clusters = {
        cid: ClusterInfo(
            cid,
            title=titles.get(cid, "misc"),
            terms=[SCRIPT, "<img src=x onerror=alert(2)>"],
            representative_subject=SCRIPT,
            is_noise=cid == "C-noise",
        )
        for cid in groups
    }
    defects = {
        "PAY-1": DefectRecord(
            key="PAY-1",
            project="PAY",
            summary=SCRIPT,
            status="Open",
            created=MONDAY - timedelta(weeks=20),
        )
    }
    releases = {
        "r": ReleaseRecord(id="r", name="2.0", release_date=date(2026, 10, 7), released=True)
    }
    links = {"C-XSS": LinkInfo("PAY-1", 0.9, "confirmed", SCRIPT)}
    return build_register(tickets, defects, releases, memberships, clusters, links, "2026-W47")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevTools, Register]]:
    folder = tmp_path_factory.mktemp("register-browser")
    register = _register()
    path = render(register, "html", folder / "register.html")
    browser = DevTools(folder / "profile", folder / "chromium.log")
    try:
        browser.open_page(path.resolve().as_uri())
        yield browser, register
    finally:
        browser.close()


def _column(browser: DevTools, index: int) -> list[str]:
    values: list[str] = browser.evaluate(
        "Array.from(document.querySelectorAll('#register > tbody > tr'))"
        f".map(r => r.cells[{index}].getAttribute('data-value'))"
    )
    return values


def test_page_renders_without_console_errors_or_fetches(page: tuple[DevTools, Register]) -> None:
    browser, register = page
    assert browser.errors() == []
    rows = browser.evaluate("document.querySelectorAll('#register > tbody > tr').length")
    assert rows == len(register.rows)
    sparklines = browser.evaluate("document.querySelectorAll('svg.spark polyline').length")
    assert sparklines == len(register.rows)
    requested = [
        event["params"]["request"]["url"]
        for event in browser.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert all(url.startswith(("file:", "data:")) for url in requested), requested


def test_script_in_ticket_text_shows_as_text(page: tuple[DevTools, Register]) -> None:
    browser, _ = page
    dialogs = [e for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]
    assert dialogs == []
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate("document.images.length") == 0
    title = browser.evaluate(
        "document.querySelector('tr[data-cluster=\"C-XSS\"] strong.title').textContent"
    )
    assert title == SCRIPT
    assert SCRIPT in browser.evaluate("document.body.innerText")
    assert browser.evaluate("document.querySelectorAll('img, iframe, object').length") == 0


def test_clicking_headers_sorts_the_table(page: tuple[DevTools, Register]) -> None:
    browser, register = page
    headers = browser.evaluate(
        "Array.from(document.querySelectorAll('#register > thead > tr > th'))"
        ".map(th => th.textContent)"
    )
    impact, problem, rank = headers.index("Impact"), headers.index("Problem"), headers.index("#")
    original = [str(row.rank) for row in register.rows]
    assert _column(browser, rank) == original

    selector = f"#register > thead > tr > th:nth-child({impact + 1}) button"
    browser.click(selector)
    ascending = [float(v) for v in _column(browser, impact)]
    assert ascending == sorted(row.impact.score for row in register.rows)
    aria = f"document.querySelector('#register > thead > tr > th:nth-child({impact + 1})')"
    assert browser.evaluate(f"{aria}.getAttribute('aria-sort')") == "ascending"
    browser.click(selector)
    descending = [float(v) for v in _column(browser, impact)]
    assert descending == sorted(ascending, reverse=True)
    assert browser.evaluate(f"{aria}.getAttribute('aria-sort')") == "descending"

    browser.click(f"#register > thead > tr > th:nth-child({problem + 1}) button")
    titles = _column(browser, problem)
    assert titles == sorted((row.title for row in register.rows), key=str.lower)
    assert browser.errors() == []


def test_screenshot_is_an_image(page: tuple[DevTools, Register], tmp_path: Path) -> None:
    browser, _ = page
    shot = browser.send("Page.captureScreenshot", {"format": "png"})
    data = base64.b64decode(shot["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    (tmp_path / "register.png").write_bytes(data)
