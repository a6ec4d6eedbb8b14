"""Shared fixtures: a real Redis (REDIS_URL, default db 15, flushed per test) and a way to
run worker processes against it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
REPO = Path(__file__).resolve().parent.parent
_CODE: list[Path] = []


def code_dir() -> Path:
    """A frozen copy of the code (package, worker, tests) for worker processes.

    Worker tests compare the state of processes started minutes apart with a reference
    run; a copy taken once keeps them on one version of the code even while the working
    tree is being edited.
    """
    if not _CODE:
        import atexit
        import shutil
        import tempfile

        target = Path(tempfile.mkdtemp(prefix="problems-code-"))
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in ("problems", "tests", "bench"):
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, target / name, ignore=ignore)
        shutil.copy2(REPO / "worker.py", target / "worker.py")
        atexit.register(shutil.rmtree, target, True)
        _CODE.append(target)
    return _CODE[0]


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of a real Redis database, flushed before and after the test.

    Skips when no Redis answers, except in CI (env ``CI`` set), where it fails.
    """
    url = _redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Redis answers at {url}: {error}")
        pytest.skip(f"no Redis at {url} ({error}); set REDIS_URL")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on the test database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    every: float = 0.1,
    workers: Sequence[WorkerProcess] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds,
    showing the end of the workers' logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(worker.tail() for worker in workers)
            raise AssertionError(f"condition not met within {timeout} s\n{logs}")
        time.sleep(every)


class WorkerProcess:
    """A ``python -m worker`` subprocess with its own HTTP port and consumer name."""

    def __init__(self, redis_url: str, log_path: Path, **settings: Any) -> None:
        self.port = free_port()
        self.consumer = settings.pop("consumer", f"test-{self.port}")
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": redis_url,
                "PROBLEMS_HTTP_HOST": "127.0.0.1",
                "PROBLEMS_HTTP_PORT": str(self.port),
                "PROBLEMS_CONSUMER": self.consumer,
                "PROBLEMS_PUBLISH_SCHEDULE": "false",
                "PYTHONPATH": str(code_dir()),
            }
        )
        env.update({f"PROBLEMS_{key.upper()}": str(value) for key, value in settings.items()})
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=code_dir(),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def http(self, path: str) -> tuple[int, str]:
        """GET a path of the worker's HTTP server; (0, "") when it does not answer."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def tail(self, lines: int = 30) -> str:
        """The end of this worker's log, without per-message lines."""
        text = self.log_path.read_text(errors="replace").splitlines()
        kept = [line for line in text if "callback for" not in line]
        return f"--- {self.consumer}\n" + "\n".join(line[:300] for line in kept[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9."""
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for a graceful exit."""
        if self.alive():
            self.process.terminate()
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code


@pytest.fixture
def spawn_worker(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes on the test database; all are killed after the test."""
    started: list[WorkerProcess] = []

    def spawn(**settings: Any) -> WorkerProcess:
        url = settings.pop("redis_url", redis_url)
        process = WorkerProcess(url, tmp_path / f"worker-{len(started)}.log", **settings)
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.alive():
            process.kill()
