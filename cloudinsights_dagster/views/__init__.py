"""Views over enriched flow records and the inventory: pure functions, no Dagster, no database.

* :mod:`.throughput`: inbound/outbound bytes, packets and flows per entity (ENI, instance,
  subnet, VPC, account) per five-minute window, accepted and rejected apart (entity_throughput);
* :mod:`.rejected`: rejected flows per window by source, destination, port and protocol, with
  the destination resource and its security groups, by impact (rejected_traffic);
* :mod:`.impact`: the traffic of the ENIs a config change touched (:mod:`.touched`) in the
  windows before and after it, and what each can explain of a shift (change_impact,
  rank_impacts);
* :mod:`.reasons` (rule model in :mod:`.rules`, evaluated by :mod:`.rule_evaluation`): why
  each rejected flow was rejected, against the security groups and network ACLs as they were at
  its time (reject_reasons);
* :mod:`.topology`: nodes and edges of a location's network (topology_nodes / topology_edges)
  and their SVG picture;
* :mod:`.vectorized`: what they share: windows, string columns as integer codes, exact keyed
  sums.

Windows are the records' own time (``start`` floored to five minutes), never a file's delivery
time, so a late file only adds to the windows its records fall in.
"""

from __future__ import annotations

from .impact import change_effect, change_impact, change_impacts, impact_windows, rank_impacts
from .reasons import REASONS_SCHEMA, InventoryHistory, explain_rejects
from .rejected import REJECTED_SCHEMA, aggregate_rejected, merge_rejected
from .throughput import THROUGHPUT_SCHEMA, aggregate_throughput, merge_throughput, windows_of
from .topology import build_topology, changed_node_ids, render_svg
from .touched import touched_interfaces
from .vectorized import WINDOW_SECONDS, window_start

__all__ = [
    "REASONS_SCHEMA",
    "REJECTED_SCHEMA",
    "InventoryHistory",
    "change_effect",
    "explain_rejects",
    "rank_impacts",
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
