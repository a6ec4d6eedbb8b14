"""Cluster-to-defect links, each with its evidence and a confidence.

`propose_links` ties problem clusters to the Jira defects that explain them. For every
cluster it gathers candidates (the defects whose text is nearest to the cluster's, plus any
defect its tickets carry or mention), measures five kinds of evidence for each and combines
them into one confidence:

* **explicit**: the share of the cluster's tickets that carry the key in ``jira_keys`` or
  mention it in their subject or text;
* **textual**: TF-IDF cosine between the cluster's signature (its members' subjects and
  text) and the defect's summary and description, from one fit over both; how far that
  cosine leads the cluster's next best defect (``cosine_margin``, in [-1, 1]); how it
  compares with the defect's best cosine over all clusters (``defect_share``, 1 when this
  cluster is the defect's nearest); the cosine between the cluster's signature and the most
  similar other cluster already linked to the defect (``sibling_cosine``: the clustering
  may cut one root cause in several clusters, and a fragment is near-identical to the
  fragment that carries the link); and the rapidfuzz token-set ratio of the defect summary
  against the cluster's commonest subjects;
* **versions**: the share of the tickets naming a version that name one the defect affects;
* **time**: days from the defect's creation to the cluster's first ticket;
* **component**: the share of the tickets naming a component that name one of the defect's.

The confidence is a fixed logistic score (no training, so it is deterministic and the same
on every machine)::

    z = -6.5 + 8 cosine + 3 fuzzy + 3 cosine_margin + 3 defect_share
        + 8 max(0, sibling_cosine - 0.25) + 8 min(1, 4 explicit_share) + 1.5 [explicit_count > 0]
        + 1.5 version_share + 2 (component_share - 0.5) + 2 (time_score - 0.5)
    confidence = 1 / (1 + exp(-z))

with ``fuzzy`` the token-set ratio over 100 and ``time_score = exp(-|days| / 60)``. Evidence
that cannot be measured (a defect with no affected versions, tickets with no component)
adds nothing. Absolute cosines depend on how long the texts are, so the relative terms
(margin, defect share) carry as much weight: a link is strong when the defect stands out
for the cluster and the cluster stands out for the defect. One ticket in four quoting the
key is enough on its own; versions, component and time sharpen but never decide alone
(tickets often name versions the defect does not list, so missing versions cost nothing).
The weights were set by hand on the generated sample and checked on the Apache Hadoop
duplicates (see ``bench/linking.py``).

A person's decision (`LinkDecision`) persists and wins: a confirmed link stays, whatever
the scores say later; a rejected one is never proposed again (it is returned with status
``rejected`` so a reviewer sees it was considered).

Examples
--------
>>> from datetime import UTC, datetime
>>> at = datetime(2026, 3, 2, tzinfo=UTC)
>>> def ticket(i, subject):
...     return TicketRecord(ticket_id=f"T{i}", event_ids=(), opened_at=at, first_closed_at=at,
...         closed_at=at, subject=subject, text="", customer_id="c", product="shop")
>>> tickets = {t.ticket_id: t for t in [ticket(1, "Checkout fails with NullPointerException"),
...     ticket(2, "checkout NullPointerException on submit"), ticket(3, "How do I export?")]}
>>> defects = {"CHK-7": DefectRecord(key="CHK-7", project="CHK", created=at,
...     summary="NullPointerException in checkout submit handler")}
>>> links = propose_links(tickets, defects, {"T1": "P1", "T2": "P1", "T3": "P2"})
>>> [(link.cluster_id, link.defect_key, link.status) for link in links]
[('P1', 'CHK-7', 'proposed')]
>>> rejected = LinkDecision(cluster_id="P1", defect_key="CHK-7", decision="rejected", at=at)
>>> [link.status for link in propose_links(tickets, defects, {"T1": "P1", "T2": "P1"},
...     decisions=[rejected])]
['rejected']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from rapidfuzz import fuzz, utils
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from problems.linker.errors import LinkerError
from problems.linker.profiles import ClusterProfile, cluster_profiles
from problems.linker.versions import version_key
from problems.records import DefectRecord, TicketRecord
from problems.text import normalize

__all__ = [
    "DEFAULT_MIN_CONFIDENCE",
    "Evidence",
    "Link",
    "LinkDecision",
    "LinkStatus",
    "confidence",
    "latest_decisions",
    "problem_groups",
    "propose_links",
]

LinkStatus = Literal["proposed", "confirmed", "rejected"]

DEFAULT_MIN_CONFIDENCE = 0.5
"""Proposals below this confidence are not made."""

DEFECT_TEXT_CHARS = 2_000
"""How much of a defect's description enters its TF-IDF document."""

_CHUNK_ROWS = 512


class Evidence(BaseModel):
    """Why a cluster and a defect may belong together (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    explicit_share: float = 0.0
    explicit_count: int = 0
    cosine: float = 0.0
    cosine_margin: float = 0.0
    defect_share: float = 0.0
    sibling_cosine: float = 0.0
    fuzzy: float = 0.0
    version_share: float | None = None
    days_from_defect: float | None = None
    component_share: float | None = None

    @property
    def time_score(self) -> float | None:
        """``exp(-|days| / 60)``: 1 when the defect appeared with the cluster."""
        if self.days_from_defect is None:
            return None
        return math.exp(-abs(self.days_from_defect) / 60.0)


class Link(BaseModel):
    """A cluster tied to a defect."""

    model_config = ConfigDict(frozen=True)

    cluster_id: str
    defect_key: str
    confidence: float
    status: LinkStatus
    evidence: Evidence


class LinkDecision(BaseModel):
    """A person confirmed or rejected a link; persisted in state, it wins over scoring."""

    model_config = ConfigDict(frozen=True)

    cluster_id: str
    defect_key: str
    decision: Literal["confirmed", "rejected"]
    at: datetime


def confidence(evidence: Evidence) -> float:
    """Combine evidence into a confidence in [0, 1] (formula in the module docstring).

    Examples
    --------
    >>> round(confidence(Evidence(cosine=0.3, cosine_margin=0.8, defect_share=1.0,
    ...     fuzzy=60.0)), 3)
    0.957
    >>> confidence(Evidence(cosine=0.3, fuzzy=60.0, version_share=1.0)) > confidence(
    ...     Evidence(cosine=0.3, fuzzy=60.0, version_share=0.0))
    True
    """
    z = -6.5 + 8.0 * evidence.cosine + 3.0 * evidence.fuzzy / 100.0
    z += 3.0 * evidence.cosine_margin + 3.0 * evidence.defect_share
    z += 8.0 * max(0.0, evidence.sibling_cosine - 0.25)
    z += 8.0 * min(1.0, 4.0 * evidence.explicit_share)
    z += 1.5 if evidence.explicit_count > 0 else 0.0
    if evidence.version_share is not None:
        z += 1.5 * evidence.version_share
    if evidence.component_share is not None:
        z += 2.0 * (evidence.component_share - 0.5)
    time_score = evidence.time_score
    if time_score is not None:
        z += 2.0 * (time_score - 0.5)
    return 1.0 / (1.0 + math.exp(-z))


def latest_decisions(decisions: Iterable[LinkDecision]) -> dict[tuple[str, str], LinkDecision]:
    """The decision in force for each (cluster, defect): the latest; on a tie, the last given.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> first = LinkDecision(cluster_id="P1", defect_key="CHK-1", decision="rejected",
    ...     at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> later = first.model_copy(update={"decision": "confirmed",
    ...     "at": datetime(2026, 2, 1, tzinfo=UTC)})
    >>> latest_decisions([later, first])[("P1", "CHK-1")].decision
    'confirmed'
    """
    latest: dict[tuple[str, str], LinkDecision] = {}
    for decision in decisions:
        pair = (decision.cluster_id, decision.defect_key)
        current = latest.get(pair)
        if current is None or decision.at >= current.at:
            latest[pair] = decision
    return latest


def _defect_document(defect: DefectRecord) -> str:
    return normalize(f"{defect.summary}\n{defect.description[:DEFECT_TEXT_CHARS]}")


def _evidence(
    profile: ClusterProfile,
    defect: DefectRecord,
    cosine: float,
    defect_summary: str,
    *,
    margin: float,
    defect_share: float,
) -> Evidence:
    count = profile.mentions.get(defect.key, 0)
    fuzzy = max(
        (
            fuzz.token_set_ratio(subject, defect_summary, processor=utils.default_process)
            for subject in profile.subjects
        ),
        default=0.0,
    )
    version_share = None
    if defect.affected_versions and profile.n_versioned:
        affected = {version_key(name) for name in defect.affected_versions}
        inside = sum(n for name, n in profile.versions.items() if version_key(name) in affected)
        version_share = inside / profile.n_versioned
    component_share = None
    if defect.components and profile.n_with_component:
        wanted = {name.casefold() for name in defect.components}
        inside = sum(n for name, n in profile.components.items() if name in wanted)
        component_share = inside / profile.n_with_component
    days = None
    if profile.first_seen is not None:
        days = (profile.first_seen - defect.created).total_seconds() / 86_400
    return Evidence(
        explicit_share=count / profile.n_tickets if profile.n_tickets else 0.0,
        explicit_count=count,
        cosine=round(float(cosine), 6),
        cosine_margin=round(margin, 6),
        defect_share=round(defect_share, 6),
        fuzzy=round(float(fuzzy), 3),
        version_share=version_share,
        days_from_defect=round(days, 3) if days is not None else None,
        component_share=component_share,
    )


def _top_candidates(scores: np.ndarray, n_candidates: int) -> np.ndarray:
    """Column indices of the best ``n_candidates`` scores of each row, ties by index."""
    n_columns = scores.shape[1]
    if n_candidates >= n_columns:
        return np.tile(np.arange(n_columns), (scores.shape[0], 1))
    part = np.argpartition(-scores, n_candidates - 1, axis=1)[:, :n_candidates]
    return np.sort(part, axis=1)


def propose_links(
    tickets: Mapping[str, TicketRecord],
    defects: Mapping[str, DefectRecord],
    memberships: Mapping[str, str],
    *,
    cluster_titles: Mapping[str, str] | None = None,
    decisions: Iterable[LinkDecision] = (),
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_links_per_cluster: int = 1,
    n_candidates: int = 5,
    max_members: int = 40,
    n_neighbours: int = 10,
) -> list[Link]:
    """Link problem clusters to the defects that explain them.

    Parameters
    ----------
    tickets : mapping of ticket id to TicketRecord
    defects : mapping of Jira key to DefectRecord
        Every defect is a candidate.
    memberships : mapping of ticket id to cluster id
        The problem clusters; put only the clusters worth linking here (leave noise out).
    cluster_titles : mapping of cluster id to title, optional
        Added to each cluster's signature.
    decisions : iterable of LinkDecision
        People's decisions; the latest per (cluster, defect) is in force.
    min_confidence : float
        Proposals below this are not made.
    max_links_per_cluster : int
        Most proposed links per cluster (confirmed links take a slot each).
    n_candidates : int
        Defects nearest by TF-IDF cosine scored per cluster (plus those mentioned).
    max_members : int
        Members per cluster whose text builds its signature.
    n_neighbours : int
        Most similar clusters looked at for sibling evidence (0 to skip it).

    Returns
    -------
    list of Link
        Confirmed, proposed and rejected links of the clusters present, sorted by cluster id,
        then confidence (highest first), then defect key. Decisions about clusters or
        defects no longer present are left out.

    Notes
    -----
    Cost: one pass over the tickets, one TF-IDF fit over the defects and the cluster
    signatures, and a sparse product done in blocks of rows with only the top candidates
    kept, so memory grows with clusters times candidates, not clusters times defects.
    """
    if max_links_per_cluster < 0 or n_candidates < 1:
        raise LinkerError("max_links_per_cluster must be >= 0 and n_candidates >= 1")
    in_force = latest_decisions(decisions)
    defect_keys = sorted(defects)
    profiles = cluster_profiles(
        tickets, memberships, defect_keys, cluster_titles, max_members=max_members
    )
    cluster_ids = sorted(profiles)
    if not cluster_ids or not defect_keys:
        return []
    defect_documents = [_defect_document(defects[key]) for key in defect_keys]
    signatures = [normalize(profiles[cluster_id].signature) for cluster_id in cluster_ids]
    vectorizer = TfidfVectorizer(
        sublinear_tf=True,
        ngram_range=(1, 2),
        min_df=1,
        max_df=0.5 if len(defect_keys) + len(cluster_ids) >= 20 else 1.0,
        stop_words="english",
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform(defect_documents + signatures)
    except ValueError:
        # No usable term at all (every document empty or stop words): text says nothing.
        matrix = sparse.csr_matrix((len(defect_documents) + len(signatures), 1), dtype=np.float32)
    defect_matrix = matrix[: len(defect_keys)].T.tocsc()
    signature_matrix = matrix[len(defect_keys) :].tocsr()
    column = {key: position for position, key in enumerate(defect_keys)}
    summaries = {key: normalize(defects[key].summary) for key in defect_keys}
    decided_by_cluster: dict[str, list[LinkDecision]] = {}
    for (cluster_id, _), decision in sorted(in_force.items()):
        decided_by_cluster.setdefault(cluster_id, []).append(decision)
    decided_keys = {
        cluster_id: [decision.defect_key for decision in decisions_of]
        for cluster_id, decisions_of in decided_by_cluster.items()
    }

    # Pass 1, block by block: each cluster's candidates with their cosine, its runner-up
    # cosine, and each defect's best cosine over all clusters.
    defect_best = np.zeros(len(defect_keys), dtype=np.float32)
    pending: list[tuple[str, dict[str, float], str, float, float]] = []
    n_best = min(max(n_candidates, 2), len(defect_keys))
    for start in range(0, len(cluster_ids), _CHUNK_ROWS):
        block_ids = cluster_ids[start : start + _CHUNK_ROWS]
        scores = (signature_matrix[start : start + len(block_ids)] @ defect_matrix).toarray()
        np.maximum(defect_best, scores.max(axis=0), out=defect_best)
        best = _top_candidates(scores, n_best)
        for row, cluster_id in enumerate(block_ids):
            top = sorted(best[row], key=lambda position: (-scores[row, position], position))
            keys = {defect_keys[position] for position in top[:n_candidates]}
            keys.update(profiles[cluster_id].mentions)
            keys.update(key for key in decided_keys.get(cluster_id, ()) if key in column)
            cosines = {key: float(scores[row, column[key]]) for key in keys}
            first = float(scores[row, top[0]])
            second = float(scores[row, top[1]]) if len(top) > 1 else 0.0
            pending.append((cluster_id, cosines, defect_keys[top[0]], first, second))

    # Pass 2: evidence and a first confidence per candidate.
    first_pass: list[tuple[str, dict[str, LinkDecision], list[tuple[float, str, Evidence]]]] = []
    for cluster_id, cosines, leader, first, second in pending:
        profile = profiles[cluster_id]
        decided = {
            decision.defect_key: decision
            for decision in decided_by_cluster.get(cluster_id, [])
            if decision.defect_key in column
        }
        scored = []
        for key, cosine in cosines.items():
            # How far this defect leads the cluster's best other defect (negative: behind).
            rival = second if key == leader else first
            margin = (cosine - rival) / cosine if cosine > 0 else -1.0
            best_for_defect = float(defect_best[column[key]])
            evidence = _evidence(
                profile,
                defects[key],
                cosine,
                summaries[key],
                margin=max(-1.0, margin),
                defect_share=cosine / best_for_defect if best_for_defect > 0 else 0.0,
            )
            scored.append((confidence(evidence), key, evidence))
        first_pass.append((cluster_id, decided, scored))

    # Pass 3: siblings. A cluster split from another (the clustering may cut one root cause
    # in several) is near-identical to it; the defect its sibling is linked to gains.
    anchors: dict[str, str] = {}
    for cluster_id, decided, scored in first_pass:
        kept = [
            (score, key)
            for score, key, _ in scored
            if _decision(decided, key) == "confirmed"
            or (_decision(decided, key) is None and score >= min_confidence)
        ]
        if kept:
            anchors[cluster_id] = max(kept, key=lambda item: (item[0], item[1]))[1]
    neighbours = _nearest_clusters(signature_matrix, cluster_ids, n_neighbours)
    links: list[Link] = []
    for cluster_id, decided, scored in first_pass:
        sibling: dict[str, float] = {}
        for other, similarity in neighbours.get(cluster_id, []):
            anchor = anchors.get(other)
            if anchor is not None and similarity > sibling.get(anchor, 0.0):
                sibling[anchor] = similarity
        final = []
        for score, key, evidence in scored:
            if key in sibling:
                evidence = evidence.model_copy(update={"sibling_cosine": round(sibling[key], 6)})
                score = confidence(evidence)
            final.append((score, key, evidence))
        final.sort(key=lambda item: (-item[0], item[1]))
        n_confirmed = sum(1 for _, key, _ in final if _decision(decided, key) == "confirmed")
        slots = max_links_per_cluster - n_confirmed
        for score, key, evidence in final:
            status = _decision(decided, key)
            if status is None:
                if slots <= 0 or score < min_confidence:
                    continue
                slots -= 1
                status = "proposed"
            links.append(
                Link(
                    cluster_id=cluster_id,
                    defect_key=key,
                    confidence=round(score, 6),
                    status=status,
                    evidence=evidence,
                )
            )
    return links


def _nearest_clusters(
    signatures: sparse.csr_matrix, cluster_ids: list[str], n_neighbours: int
) -> dict[str, list[tuple[str, float]]]:
    """Each cluster's most similar other clusters by signature cosine, in blocks of rows."""
    found: dict[str, list[tuple[str, float]]] = {}
    n_clusters = len(cluster_ids)
    if n_clusters < 2 or n_neighbours < 1:
        return found
    transposed = signatures.T.tocsc()
    count = min(n_neighbours, n_clusters - 1)
    for start in range(0, n_clusters, _CHUNK_ROWS):
        block = (signatures[start : start + _CHUNK_ROWS] @ transposed).toarray()
        for row in range(block.shape[0]):
            block[row, start + row] = -1.0
        best = _top_candidates(block, count)
        for row in range(block.shape[0]):
            found[cluster_ids[start + row]] = [
                (cluster_ids[position], float(block[row, position]))
                for position in best[row]
                if block[row, position] > 0
            ]
    return found


def _decision(decided: Mapping[str, LinkDecision], key: str) -> LinkStatus | None:
    decision = decided.get(key)
    return decision.decision if decision is not None else None


def problem_groups(memberships: Mapping[str, str], links: Iterable[Link]) -> dict[str, str]:
    """Tickets by problem: clusters linked to the same defect pooled as ``defect:KEY``.

    The clustering may split one root cause into several clusters; once they are linked
    to one defect they are one problem for counting (spikes, impact). A cluster with no
    proposed or confirmed link stays on its own; one with several goes with its most
    confident link.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> link = Link(cluster_id="P1", defect_key="CHK-1", confidence=0.9, status="proposed",
    ...     evidence=Evidence())
    >>> problem_groups({"T1": "P1", "T2": "P2"}, [link])
    {'T1': 'defect:CHK-1', 'T2': 'P2'}
    """
    best: dict[str, Link] = {}
    for link in links:
        if link.status == "rejected":
            continue
        held = best.get(link.cluster_id)
        if held is None or (link.status == "confirmed", link.confidence, link.defect_key) > (
            held.status == "confirmed",
            held.confidence,
            held.defect_key,
        ):
            best[link.cluster_id] = link
    return {
        ticket_id: f"defect:{best[cluster_id].defect_key}" if cluster_id in best else cluster_id
        for ticket_id, cluster_id in memberships.items()
    }
