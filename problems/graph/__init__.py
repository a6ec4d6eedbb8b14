"""The problem graph: clusters, defects, releases, customers; queries and exports."""

from __future__ import annotations

from problems.graph.errors import GraphError
from problems.graph.export import masked_copy, to_graphml, to_node_link_json
from problems.graph.model import (
    GRAPH_SCHEMA_VERSION,
    build_graph,
    component_node,
    customer_node,
    defect_node,
    problem_node,
    product_node,
    release_node,
    ticket_node,
    update_graph,
)
from problems.graph.queries import (
    Regression,
    clusters_with_release,
    clusters_without_defect,
    linked_defects,
    regressions,
    top_customers_for_defect,
)

__all__ = [
    "GRAPH_SCHEMA_VERSION",
    "GraphError",
    "Regression",
    "build_graph",
    "clusters_with_release",
    "clusters_without_defect",
    "component_node",
    "customer_node",
    "defect_node",
    "linked_defects",
    "masked_copy",
    "problem_node",
    "product_node",
    "regressions",
    "release_node",
    "ticket_node",
    "to_graphml",
    "to_node_link_json",
    "top_customers_for_defect",
    "update_graph",
]
