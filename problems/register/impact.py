"""The impact score of a problem, built from measures a triage meeting can check by hand.

A problem's impact is a weighted sum. Each component has *points* (a measure on a plain
scale: customer value, tickets, hours, breaches) and a *weight* from a TOML file; the row
keeps both and their product, so the meeting sees why a problem ranks where it does:

* ``customers``: distinct customers, each worth ``tier weight x (1 + ln(1 + ARR / scale))``;
* ``volume``: tickets; ``severity``: tickets weighted by severity (the mix);
* ``recency``: tickets in the last few weeks; ``trend``: tickets this week above the mean
  of the weeks before (growth);
* ``effort``: handle hours plus an allowance per reopen; ``sla``: SLA breaches;
  ``csat``: poor satisfaction scores.

Examples
--------
>>> weights = load_weights(None)
>>> one_ticket = ProblemStats(weights, n_tickets=1, n_customers=1,
...     customer_points=customer_value("enterprise", 50_000.0, weights), severity_points=2.0,
...     weekly_counts=[1, 0, 0, 0, 0], recent_tickets=1, handle_minutes=90.0, reopens=1,
...     sla_breaches=1, poor_csat=1)
>>> impact = impact_score(one_ticket, weights)
>>> impact.points["customers"], impact.points["effort"], impact.score
(6.7726, 2.5, 10.1476)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from problems.register.errors import ConfigError
from problems.register.model import Impact

__all__ = [
    "COMPONENTS",
    "DEFAULT_CONFIG_RESOURCE",
    "ConfigError",
    "ImpactWeights",
    "ProblemStats",
    "customer_value",
    "impact_score",
    "load_weights",
    "read_config",
]

COMPONENTS = ("customers", "volume", "severity", "recency", "trend", "effort", "sla", "csat")
"""The impact components, in the order rows and pages show them."""

DEFAULT_CONFIG_RESOURCE = "defaults/impact.toml"
"""Where the shipped defaults live inside the ``problems`` package."""

_SECTIONS = {"impact", "tiers", "severity", "scales", "window", "status"}


def _default_components() -> dict[str, float]:
    return {
        "customers": 1.0,
        "volume": 0.25,
        "severity": 0.25,
        "recency": 0.5,
        "trend": 1.0,
        "effort": 0.05,
        "sla": 0.5,
        "csat": 0.5,
    }


def _default_tiers() -> dict[str, float]:
    return {"enterprise": 4.0, "business": 2.0, "pro": 1.0, "free": 0.25}


def _default_severities() -> dict[str, float]:
    return {"critical": 4.0, "high": 2.0, "medium": 1.0, "low": 0.5}


@dataclass(frozen=True)
class ImpactWeights:
    """Weights and scales of the impact score; `load_weights` reads them from TOML.

    The defaults here equal ``problems/defaults/impact.toml`` (a test checks it), so the
    register works even where package data was not installed.
    """

    components: dict[str, float] = field(default_factory=_default_components)
    tiers: dict[str, float] = field(default_factory=_default_tiers)
    severities: dict[str, float] = field(default_factory=_default_severities)
    arr_scale: float = 50_000.0
    reopen_hours: float = 1.0
    poor_csat_max: int = 2
    window_weeks: int = 52
    recent_weeks: int = 4
    baseline_weeks: int = 4
    trend_weeks: int = 12

    def tier_weight(self, tier: str) -> float:
        """Weight of a customer tier; an unknown tier counts as ``pro``."""
        return self.tiers.get(tier, self.tiers.get("pro", 1.0))

    def severity_weight(self, severity: str) -> float:
        """Weight of a severity; an unknown one counts as ``medium``."""
        return self.severities.get(severity, self.severities.get("medium", 1.0))


def read_config(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """The sections of a weights file (the shipped defaults when ``path`` is None).

    Raises
    ------
    ConfigError
        When the file is not TOML or has a section this module does not know.
    """
    try:
        if path is None:
            text = resources.files("problems").joinpath(DEFAULT_CONFIG_RESOURCE).read_text()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if path is not None:
            raise ConfigError(f"weights file not found: {path}") from None
        return {}  # package data not installed: the built-in defaults are the same values
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"weights file {path or DEFAULT_CONFIG_RESOURCE}: {error}") from None
    unknown = sorted(set(data) - _SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; expected some of {sorted(_SECTIONS)}")
    for name, section in data.items():
        if not isinstance(section, dict):
            raise ConfigError(f"[{name}] must be a table")
    return data


def _numbers(section: Mapping[str, Any], name: str, known: set[str] | None) -> dict[str, float]:
    result: dict[str, float] = {}
    for key, value in section.items():
        if known is not None and key not in known:
            raise ConfigError(f"unknown key {key!r} in [{name}]; expected some of {sorted(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"[{name}] {key} must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"[{name}] {key} must not be negative")
        result[key] = float(value)
    return result


def load_weights(path: str | Path | None = None) -> ImpactWeights:
    """Impact weights from a TOML file; keys left out keep their defaults.

    Parameters
    ----------
    path
        A weights file shaped like ``problems/defaults/impact.toml``; None for the defaults.

    Examples
    --------
    >>> load_weights(None).components["customers"]
    1.0
    """
    data = read_config(path)
    defaults = ImpactWeights()
    components = {
        **defaults.components,
        **_numbers(data.get("impact", {}), "impact", set(COMPONENTS)),
    }
    tiers = {**defaults.tiers, **_numbers(data.get("tiers", {}), "tiers", None)}
    severities = {**defaults.severities, **_numbers(data.get("severity", {}), "severity", None)}
    scales = _numbers(
        data.get("scales", {}), "scales", {"arr_scale", "reopen_hours", "poor_csat_max"}
    )
    window = _numbers(
        data.get("window", {}),
        "window",
        {"window_weeks", "recent_weeks", "baseline_weeks", "trend_weeks"},
    )
    integer_keys = {f.name for f in fields(ImpactWeights) if f.type in ("int", int)}
    overrides: dict[str, Any] = {
        key: int(value) if key in integer_keys else value
        for key, value in {**scales, **window}.items()
    }
    weights = replace(
        defaults, components=components, tiers=tiers, severities=severities, **overrides
    )
    if weights.arr_scale <= 0:
        raise ConfigError("[scales] arr_scale must be positive")
    if min(weights.recent_weeks, weights.baseline_weeks, weights.trend_weeks) < 1:
        raise ConfigError("[window] recent_weeks, baseline_weeks and trend_weeks must be >= 1")
    return weights


def customer_value(tier: str, arr: float, weights: ImpactWeights) -> float:
    """What one affected customer adds to the ``customers`` points.

    The logarithm keeps one huge account from outweighing many mid-sized ones.

    >>> round(customer_value("enterprise", 50_000.0, ImpactWeights()), 4)
    6.7726
    """
    return weights.tier_weight(tier) * (1.0 + math.log1p(max(arr, 0.0) / weights.arr_scale))


@dataclass
class ProblemStats:
    """One problem's measures for one week (`problems.register.columns` computes them).

    Counts cover the tickets first closed before the week's end and within the impact
    window, except ``n_all_tickets``, ``first_closed`` and ``last_closed`` (epoch seconds),
    which cover all history up to the week's end. ``weekly_counts[0]`` is the register's
    week, ``[1]`` the week before, and so on.
    """

    weights: ImpactWeights
    n_all_tickets: int = 0
    n_tickets: int = 0
    first_closed: float = math.inf
    last_closed: float = -math.inf
    n_customers: int = 0
    n_enterprise_customers: int = 0
    arr_affected: float = 0.0
    customer_points: float = 0.0
    severity_counts: dict[str, int] = field(default_factory=dict)
    severity_points: float = 0.0
    weekly_counts: list[int] = field(default_factory=list)
    recent_tickets: int = 0
    baseline_total: int = 0
    handle_minutes: float = 0.0
    reopens: int = 0
    sla_breaches: int = 0
    poor_csat: int = 0
    n_csat: int = 0
    products: dict[str, int] = field(default_factory=dict)
    components: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    jira_keys: dict[str, int] = field(default_factory=dict)
    sample_ticket_ids: tuple[str, ...] = ()

    @property
    def tickets_this_week(self) -> int:
        """Tickets first closed in the register's week."""
        return self.weekly_counts[0] if self.weekly_counts else 0

    @property
    def baseline_per_week(self) -> float:
        """Mean weekly tickets over the baseline weeks before the register's week."""
        return self.baseline_total / self.weights.baseline_weeks

    @property
    def growth(self) -> float:
        """This week against the baseline, smoothed by one so quiet weeks don't explode."""
        return (self.tickets_this_week + 1.0) / (self.baseline_per_week + 1.0)

    @property
    def handle_hours(self) -> float:
        """Handle time of the window's tickets, in hours."""
        return self.handle_minutes / 60.0


def impact_score(stats: ProblemStats, weights: ImpactWeights) -> Impact:
    """The impact of a problem: weighted points per component, rounded to 4 places.

    Rounding each figure keeps reports byte-identical however the tickets were summed.
    """
    points = {
        "customers": stats.customer_points,
        "volume": float(stats.n_tickets),
        "severity": stats.severity_points,
        "recency": float(stats.recent_tickets),
        "trend": max(0.0, stats.tickets_this_week - stats.baseline_per_week),
        "effort": stats.handle_hours + weights.reopen_hours * stats.reopens,
        "sla": float(stats.sla_breaches),
        "csat": float(stats.poor_csat),
    }
    points = {name: round(value, 4) for name, value in points.items()}
    contributions = {
        name: round(weights.components.get(name, 0.0) * points[name], 4) for name in COMPONENTS
    }
    return Impact(
        score=round(sum(contributions.values()), 4),
        points=points,
        contributions=contributions,
    )
