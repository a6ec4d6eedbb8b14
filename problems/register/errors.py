"""Exceptions of the register; each says what the caller should do."""

from __future__ import annotations

from problems.errors import PermanentError, ProblemsError

__all__ = ["ConfigError", "RegisterError"]


class RegisterError(ProblemsError):
    """Base of the register's errors."""


class ConfigError(RegisterError, PermanentError):
    """A weights file is malformed or names an unknown key: fix the file, do not retry."""
