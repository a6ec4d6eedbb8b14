"""The recurring-problem register: impact, status, weekly frozen snapshots and their outputs."""

from __future__ import annotations

from problems.register.errors import ConfigError, RegisterError
from problems.register.impact import ImpactWeights, load_weights
from problems.register.model import (
    ClusterInfo,
    Impact,
    LinkInfo,
    Mover,
    Movers,
    Register,
    RegisterRow,
    shift_week,
    week_bounds,
    week_of,
)
from problems.register.render import (
    render,
    to_csv,
    to_html,
    to_json,
    to_markdown,
    to_parquet,
    to_stream_payload,
)
from problems.register.snapshot import (
    build_register,
    compare,
    latest_week,
    register_from_dict,
    register_from_json,
    register_to_dict,
)
from problems.register.status import StatusRules, load_status_rules

__all__ = [
    "ClusterInfo",
    "ConfigError",
    "Impact",
    "ImpactWeights",
    "LinkInfo",
    "Mover",
    "Movers",
    "Register",
    "RegisterError",
    "RegisterRow",
    "StatusRules",
    "build_register",
    "compare",
    "latest_week",
    "load_status_rules",
    "load_weights",
    "register_from_dict",
    "register_from_json",
    "register_to_dict",
    "render",
    "shift_week",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
    "to_parquet",
    "to_stream_payload",
    "week_bounds",
    "week_of",
]
