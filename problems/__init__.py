"""problems: find recurring problems in closed support tickets and rank them by impact."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
