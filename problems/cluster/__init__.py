"""Root-cause clustering: tickets in, stable, explainable, correctable problem clusters out."""

from problems.cluster.engine import SCHEMA_VERSION, ClusterEngine
from problems.cluster.errors import (
    ClusterError,
    ClusterSnapshotError,
    InvalidCorrection,
    UnknownCluster,
    UnknownTicket,
)
from problems.cluster.features import TicketFeaturizer, extract_signatures
from problems.cluster.model import Assignment, ClusterSummary, Correction, LineageEntry
from problems.cluster.similar import SimilarTickets

__all__ = [
    "SCHEMA_VERSION",
    "Assignment",
    "ClusterEngine",
    "ClusterError",
    "ClusterSnapshotError",
    "ClusterSummary",
    "Correction",
    "InvalidCorrection",
    "LineageEntry",
    "SimilarTickets",
    "TicketFeaturizer",
    "UnknownCluster",
    "UnknownTicket",
    "extract_signatures",
]
