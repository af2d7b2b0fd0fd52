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

from cloudinsights_dagster.lazy_exports import lazy_exports

# Imported lazily: the topology (an inventory run's) needs neither pyarrow nor numpy, which the
# flow views import.
_EXPORTS = {
    "change_effect": "impact",
    "change_impact": "impact",
    "change_impacts": "impact",
    "impact_windows": "impact",
    "rank_impacts": "impact",
    "REASONS_SCHEMA": "reasons",
    "InventoryHistory": "reasons",
    "explain_rejects": "reasons",
    "REJECTED_SCHEMA": "rejected",
    "aggregate_rejected": "rejected",
    "merge_rejected": "rejected",
    "THROUGHPUT_SCHEMA": "throughput",
    "aggregate_throughput": "throughput",
    "merge_throughput": "throughput",
    "windows_of": "throughput",
    "build_topology": "topology",
    "changed_node_ids": "topology",
    "render_svg": "topology",
    "touched_interfaces": "touched",
    "WINDOW_SECONDS": "vectorized",
    "window_start": "vectorized",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
