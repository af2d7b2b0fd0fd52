"""Views over enriched flow records and the inventory: pure functions, no Dagster, no database.

* :mod:`.throughput`: inbound/outbound bytes, packets and flows per entity (ENI, instance,
  subnet, VPC, account) per five-minute window, accepted and rejected apart (entity_throughput);
* :mod:`.rejected`: rejected flows per window by source, destination, port and protocol, with
  the destination resource and its security groups, by impact (rejected_traffic);
* :mod:`.impact`: the ENIs a config change touched and their traffic in the windows before and
  after it (change_impact);
* :mod:`.topology`: nodes and edges of a location's network (topology_nodes / topology_edges)
  and their SVG picture.

Windows are the records' own time (``start`` floored to five minutes), never a file's delivery
time, so a late file only adds to the windows its records fall in.
"""

from __future__ import annotations

from .impact import change_impact, change_impacts, impact_windows, touched_interfaces
from .rejected import REJECTED_SCHEMA, aggregate_rejected, merge_rejected
from .throughput import (
    THROUGHPUT_SCHEMA,
    WINDOW_SECONDS,
    aggregate_throughput,
    merge_throughput,
    window_start,
    windows_of,
)
from .topology import build_topology, changed_node_ids, render_svg

__all__ = [
    "REJECTED_SCHEMA",
    "THROUGHPUT_SCHEMA",
    "WINDOW_SECONDS",
    "aggregate_rejected",
    "aggregate_throughput",
    "build_topology",
    "change_impact",
    "change_impacts",
    "changed_node_ids",
    "impact_windows",
    "merge_rejected",
    "merge_throughput",
    "render_svg",
    "touched_interfaces",
    "window_start",
    "windows_of",
]
