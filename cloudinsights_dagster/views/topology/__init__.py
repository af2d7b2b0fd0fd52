"""A location's network topology: the graph built from its inventory (:mod:`.graph`), its
picture (:mod:`.svg`) and the stored versions behind the `topology` asset (:mod:`.store`)."""

from .graph import EDGE_TYPES, NODE_TYPES, build_topology, changed_node_ids
from .svg import render_svg

__all__ = ["EDGE_TYPES", "NODE_TYPES", "build_topology", "changed_node_ids", "render_svg"]
