"""Exceptions of the linker; each says what the caller should do."""

from __future__ import annotations

from problems.errors import PermanentError, ProblemsError, TransientError

__all__ = [
    "JiraAuthError",
    "JiraRateLimited",
    "JiraSyncError",
    "JiraUnavailable",
    "LinkerError",
]


class LinkerError(ProblemsError):
    """Base of the linker's errors (also raised for invalid arguments)."""


class JiraSyncError(LinkerError, PermanentError):
    """Jira answered with an error that retrying will not fix (bad JQL, unknown project)."""


class JiraAuthError(JiraSyncError):
    """Jira refused the credentials (HTTP 401/403): fix JIRA_USER/JIRA_TOKEN or JIRA_PAT."""


class JiraRateLimited(LinkerError, TransientError):
    """Jira kept answering 429 after the retries: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JiraUnavailable(LinkerError, TransientError):
    """Jira did not answer (server error, no connection): retry later."""
