"""Link problem clusters to Jira defects and releases, with evidence; sync Jira."""

from __future__ import annotations

from problems.linker.errors import (
    JiraAuthError,
    JiraRateLimited,
    JiraSyncError,
    JiraUnavailable,
    LinkerError,
)
from problems.linker.links import (
    Evidence,
    Link,
    LinkDecision,
    confidence,
    latest_decisions,
    problem_groups,
    propose_links,
)
from problems.linker.profiles import ClusterProfile, cluster_profiles
from problems.linker.releases import ReleaseIndex
from problems.linker.spikes import Spike, SpikeTest, find_spikes, spike_test
from problems.linker.versions import (
    Version,
    parse_version,
    same_version,
    version_family,
    version_key,
)

__all__ = [
    "ClusterProfile",
    "Evidence",
    "JiraAuthError",
    "JiraRateLimited",
    "JiraSyncError",
    "JiraUnavailable",
    "Link",
    "LinkDecision",
    "LinkerError",
    "ReleaseIndex",
    "Spike",
    "SpikeTest",
    "Version",
    "cluster_profiles",
    "confidence",
    "find_spikes",
    "latest_decisions",
    "parse_version",
    "problem_groups",
    "propose_links",
    "same_version",
    "spike_test",
    "version_family",
    "version_key",
]
