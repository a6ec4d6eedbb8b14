"""Version names parsed and ordered the way people read them.

Release names come from Jira projects and from tickets, written by people: ``3.10.0``,
``Release 7.1``, ``v2.4``, ``2.10.0-alpha``, ``4.2-hotfix1``, ``0.20.205.0``. Ordering them
as text gets ``3.10.0`` before ``3.3.1``; this module orders them by their numbers, then by
their stage: pre-releases (dev, snapshot, alpha, beta, rc) come before the release and
post-releases (hotfix, patch, sp, update) after it. Trailing zeros do not matter, so
``4.2`` and ``4.2.0`` are the same version. A name with no version number in it (``Backlog``,
``HDFS-7285``, ``trunk-win``) is kept, and sorts after every numbered version.

Examples
--------
>>> sorted(["3.10.0", "2.10.0", "3.3.1", "2.10.0-alpha", "v2.4", "Release 3.3"], key=version_key)
['v2.4', '2.10.0-alpha', '2.10.0', 'Release 3.3', '3.3.1', '3.10.0']
>>> version_key("4.2-hotfix1") > version_key("4.2") > version_key("4.2-rc2")
True
>>> version_family("Release 7.1.3"), same_version("v7.1", "7.1.0")
('7.1', True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Version",
    "canonical_version",
    "parse_version",
    "same_version",
    "version_family",
    "version_key",
]

# Words people put before a version number; any other leading word makes the name a label
# (``HDFS-7285`` is a branch, not version 7285).
_VERSION = re.compile(
    r"^\s*(?:(?:release|version|rel|ver|r|v)[\s._-]*)?(\d+(?:\.\d+)*)(.*)$", re.IGNORECASE
)
_STAGE = re.compile(r"^[\s._()-]*([a-z]+)[\s._-]*(\d*)(.*)$", re.IGNORECASE)

# Rank of each stage word relative to the final release (0); an unknown word is taken as
# a build of the release (a local tag such as ``-cdh``), after it and before hotfixes.
_STAGE_RANK: dict[str, int] = {
    "dev": -5,
    "snapshot": -5,
    "nightly": -5,
    "m": -4,
    "milestone": -4,
    "a": -3,
    "alpha": -3,
    "b": -2,
    "beta": -2,
    "pre": -1,
    "preview": -1,
    "rc": -1,
    "cr": -1,
    "ga": 0,
    "final": 0,
    "release": 0,
    "hotfix": 2,
    "hf": 2,
    "fix": 2,
    "patch": 2,
    "p": 2,
    "sp": 2,
    "update": 2,
    "u": 2,
    "post": 2,
}
_UNKNOWN_STAGE_RANK = 1


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version name.

    Attributes
    ----------
    name : str
        The name as written.
    numbers : tuple of int
        The release numbers with trailing zeros dropped (``4.2.0`` -> ``(4, 2)``); empty
        for a name with no version number.
    stage : str
        The stage word in lower case (``alpha``, ``hotfix``, ...), empty for a release.
    stage_number : int
        The number after the stage word (``rc2`` -> 2), 0 if none.
    label : str
        Whatever follows, lower case; for a name with no number, the whole name.
    """

    name: str
    numbers: tuple[int, ...]
    stage: str
    stage_number: int
    label: str

    @property
    def numbered(self) -> bool:
        """Whether the name holds a version number at all."""
        return bool(self.numbers)

    @property
    def key(self) -> tuple[int, tuple[int, ...], int, int, str]:
        """A sort key: numbered versions first, by numbers, stage, stage number, label."""
        if not self.numbered:
            return (1, (), 0, 0, self.label)
        rank = _STAGE_RANK.get(self.stage, _UNKNOWN_STAGE_RANK) if self.stage else 0
        return (0, self.numbers, rank, self.stage_number, self.label)


@lru_cache(maxsize=65_536)
def parse_version(name: str) -> Version:
    """Parse a version name.

    Parameters
    ----------
    name : str
        A release or version name as Jira or a ticket writes it.

    Returns
    -------
    Version

    Examples
    --------
    >>> v = parse_version("Release 2.10.0-alpha1")
    >>> v.numbers, v.stage, v.stage_number
    ((2, 10), 'alpha', 1)
    >>> parse_version("HDFS-7285").numbered
    False
    """
    match = _VERSION.match(name)
    if match is None:
        return Version(name, (), "", 0, name.strip().lower())
    parts = [int(part) for part in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    rest = match.group(2).strip()
    stage, stage_number, label = "", 0, ""
    if rest:
        stage_match = _STAGE.match(rest)
        if stage_match is not None:
            stage = stage_match.group(1).lower()
            stage_number = int(stage_match.group(2) or 0)
            label = stage_match.group(3).strip(" ._-()").lower()
        else:
            label = rest.strip(" ._-()").lower()
    return Version(name, tuple(parts), stage, stage_number, label)


def version_key(name: str) -> tuple[int, tuple[int, ...], int, int, str]:
    """Sort key of a version name (see `Version.key`).

    Examples
    --------
    >>> version_key("3.3.1") < version_key("3.10.0")
    True
    >>> version_key("2.10.0-alpha") < version_key("2.10.0") < version_key("2.10.0-hotfix1")
    True
    """
    return parse_version(name).key


def version_family(name: str) -> str | None:
    """The release line of a version, ``major.minor``; None for a name with no number.

    Examples
    --------
    >>> version_family("3.10.2-rc1"), version_family("v7"), version_family("Backlog")
    ('3.10', '7.0', None)
    """
    version = parse_version(name)
    if not version.numbers:
        return None
    major = version.numbers[0]
    minor = version.numbers[1] if len(version.numbers) > 1 else 0
    return f"{major}.{minor}"


def same_version(left: str, right: str) -> bool:
    """Whether two names denote the same version (``Release 7.1`` and ``7.1.0``).

    Examples
    --------
    >>> same_version("Release 7.1", "v7.1.0"), same_version("7.1", "7.1-rc1")
    (True, False)
    """
    return version_key(left) == version_key(right)


def canonical_version(name: str) -> str:
    """One spelling per version, for ids: ``Release 3.4``, ``v3.4.0`` -> ``3.4``.

    At least ``major.minor`` is kept; a name with no number is lower-cased.

    Examples
    --------
    >>> canonical_version("Release 3.4.0"), canonical_version("2.10.0-Alpha1")
    ('3.4', '2.10-alpha1')
    >>> canonical_version("4.2-hotfix1"), canonical_version("v7"), canonical_version("Backlog")
    ('4.2-hotfix1', '7.0', 'backlog')
    """
    version = parse_version(name)
    if not version.numbered:
        return version.label
    numbers = version.numbers if len(version.numbers) > 1 else (*version.numbers, 0)
    text = ".".join(str(number) for number in numbers)
    if version.stage:
        text += f"-{version.stage}{version.stage_number or ''}"
    if version.label:
        text += f"-{version.label}"
    return text
