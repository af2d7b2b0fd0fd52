"""Benchmark: reject reasons for rejected flows (views/reasons.py).

Builds (deterministically) an inventory history of a few thousand ENIs in one VPC, a few hundred
security groups (CIDR, IPv6 and group-referencing rules) and one network ACL per subnet, with a
second snapshot in which a tenth of the groups lost a rule and a few ACLs gained a deny entry;
then one million rejected flow records across both snapshots: internet scanners (random sources
and ports), internal peers (their ENIs resolved, so group references apply) and responses to
ephemeral ports. Measures explain_rejects end to end (best of --repeat), prints a table, then the
JSON report last.

Usage: python bench/bench_reasons.py [--records 1000000] [--enis 3000] [--groups 400]
       [--repeat 3] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cloudinsights_dagster.views.reasons import InventoryHistory, Version, explain_rejects  # noqa: E402

T0 = 1_775_000_000 - 1_775_000_000 % 300
T1 = T0 + 1800
PORTS = [22, 80, 443, 3306, 5432, 6379, 8080, 8443, 9200, 27017]


def build_history(rng: np.random.Generator, n_enis: int, n_groups: int, n_subnets: int):
    versions: list[Version] = []
    groups = [f"sg-{i:06d}" for i in range(n_groups)]
    for i, gid in enumerate(groups):
        rules = []
        for k in range(int(rng.integers(5, 20))):
            port = int(rng.choice(PORTS))
            kind = rng.random()
            if kind < 0.6:
                peer, ptype = f"10.{int(rng.integers(0, 4))}.0.0/16", "cidr_ipv4"
            elif kind < 0.75:
                peer, ptype = "0.0.0.0/0", "cidr_ipv4"
            elif kind < 0.85:
                peer, ptype = "2001:db8::/32", "cidr_ipv6"
            else:
                peer, ptype = str(rng.choice(groups)), "security_group"
            proto = "tcp" if rng.random() < 0.9 else "udp"
            rules.append(
                {
                    "key": f"{proto}/{port}/{peer}#{k}",
                    "protocol": proto,
                    "from_port": port,
                    "to_port": port,
                    "peer_type": ptype,
                    "peer": peer,
                }
            )
        egress = [{"key": "all/*/0.0.0.0/0", "protocol": "all", "peer": "0.0.0.0/0"}]
        data = {"group_id": gid, "ip_permissions": rules, "ip_permissions_egress": egress}
        if i % 10 == 0:  # loses its first rule at T1
            versions.append(Version("security_group", gid, T0, T1, data))
            versions.append(
                Version("security_group", gid, T1, None, {**data, "ip_permissions": rules[1:]})
            )
        else:
            versions.append(Version("security_group", gid, T0, None, data))
    for j in range(n_subnets):
        entries = [
            {
                "key": "ingress/100",
                "direction": "ingress",
                "rule_number": 100,
                "rule_action": "allow",
                "protocol": "all",
                "cidr_block": "0.0.0.0/0",
            },
            {
                "key": "egress/100",
                "direction": "egress",
                "rule_number": 100,
                "rule_action": "allow",
                "protocol": "all",
                "cidr_block": "0.0.0.0/0",
            },
            {
                "key": "ingress/32767",
                "direction": "ingress",
                "rule_number": 32767,
                "rule_action": "deny",
                "protocol": "all",
                "cidr_block": "0.0.0.0/0",
            },
        ]
        data = {
            "network_acl_id": f"acl-{j:04d}",
            "vpc_id": "vpc-1",
            "subnet_ids": [f"subnet-{j:04d}"],
            "entries": entries,
        }
        if j % 8 == 0:  # gains a deny of a scanner range at T1
            deny = {
                "key": "ingress/50",
                "direction": "ingress",
                "rule_number": 50,
                "rule_action": "deny",
                "protocol": "tcp",
                "from_port": 0,
                "to_port": 65535,
                "cidr_block": "198.51.100.0/24",
            }
            versions.append(Version("network_acl", data["network_acl_id"], T0, T1, data))
            versions.append(
                Version(
                    "network_acl",
                    data["network_acl_id"],
                    T1,
                    None,
                    {**data, "entries": [deny, *entries]},
                )
            )
        else:
            versions.append(Version("network_acl", data["network_acl_id"], T0, None, data))
    enis, addresses = [], []
    for e in range(n_enis):
        eid = f"eni-{e:08d}"
        ip = f"10.{e % 4}.{(e // 250) % 250}.{e % 250 + 1}"
        gs = sorted({str(g) for g in rng.choice(groups, int(rng.integers(1, 4)))})
        versions.append(
            Version(
                "network_interface",
                eid,
                T0,
                None,
                {
                    "interface_id": eid,
                    "vpc_id": "vpc-1",
                    "subnet_id": f"subnet-{e % n_subnets:04d}",
                    "security_group_ids": gs,
                    "private_ips": [ip],
                },
            )
        )
        enis.append(eid)
        addresses.append(ip)
    return InventoryHistory(versions), enis, addresses


def build_records(rng: np.random.Generator, n: int, enis: list[str], addresses: list[str]):
    who = rng.integers(0, len(enis), n)
    kind = rng.random(n)
    scanner = kind < 0.6
    internal = (kind >= 0.6) & (kind < 0.9)
    peer_idx = rng.integers(0, len(enis), n)
    ext = [f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(1, 255, (20000, 4))]
    ext += [f"198.51.100.{i}" for i in range(1, 255)]
    src_ext = np.asarray(ext, object)[rng.integers(0, len(ext), n)]
    addr = np.asarray(addresses, object)
    eni_arr = np.asarray(enis, object)
    src = np.where(internal, addr[peer_idx], src_ext)
    dstport = np.where(
        scanner, rng.integers(1, 65536, n), np.asarray(PORTS)[rng.integers(0, len(PORTS), n)]
    )
    srcport = rng.integers(1024, 65536, n)
    response = kind >= 0.9  # from a service port to an ephemeral one
    srcport = np.where(response, 443, srcport)
    dstport = np.where(response, rng.integers(32768, 61000, n), dstport)
    start = np.where(
        rng.random(n) < 0.5, T0 + rng.integers(0, 1800, n), T1 + rng.integers(0, 1800, n)
    )
    return pa.table(
        {
            "interface_id": pa.array(eni_arr[who]).dictionary_encode(),
            "flow_direction": pa.array(np.full(n, "ingress", object)).dictionary_encode(),
            "srcaddr": pa.array(src, pa.string()),
            "dstaddr": pa.array(addr[who], pa.string()),
            "srcport": pa.array(srcport, pa.int32()),
            "dstport": pa.array(dstport, pa.int32()),
            "protocol": pa.array(np.where(rng.random(n) < 0.95, 6, 17), pa.int32()),
            "tcp_flags": pa.array(np.where(response, 18, 2), pa.int32()),
            "start": pa.array(start, pa.int64()),
            "action": pa.array(np.full(n, "REJECT", object)).dictionary_encode(),
            "log_status": pa.array(np.full(n, "OK", object)).dictionary_encode(),
            "packets": pa.array(np.ones(n, np.int64)),
            "bytes": pa.array(np.full(n, 44, np.int64)),
            "peer_interface_id": pa.array(
                np.where(internal, eni_arr[peer_idx], None), pa.string()
            ).dictionary_encode(),
        }
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--enis", type=int, default=3000)
    ap.add_argument("--groups", type=int, default=400)
    ap.add_argument("--subnets", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(12)
    t = time.perf_counter()
    history, enis, addresses = build_history(rng, args.enis, args.groups, args.subnets)
    records = build_records(rng, args.records, enis, addresses)
    print(f"built world in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        out = explain_rejects(records, history)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    flows = pc.sum(out["flows"]).as_py()
    by_reason = {
        r["reason"]: r["flows_sum"]
        for r in out.group_by("reason").aggregate([("flows", "sum")]).to_pylist()
    }
    report = {
        "benchmark": "reject_reasons",
        "records": args.records,
        "enis": args.enis,
        "security_groups": args.groups,
        "network_acls": args.subnets,
        "seconds": round(best, 3),
        "cpu_seconds": round(best_cpu, 3),
        "load_average": round(os.getloadavg()[0], 2),
        "records_per_second": int(args.records / best),
        "output_rows": out.num_rows,
        "flows_explained": flows,
        "flows_by_reason": dict(sorted(by_reason.items())),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    assert flows == args.records, "every rejected record is explained exactly once"
    print(f"{'variant':<16}{'records':>10}{'seconds':>10}{'CPU-s':>8}{'records/s':>12}{'rows':>10}")
    print(
        f"{'explain_rejects':<16}{args.records:>10}{best:>10.2f}{best_cpu:>8.2f}"
        f"{report['records_per_second']:>12}{out.num_rows:>10}"
    )
    for reason, n in report["flows_by_reason"].items():
        print(f"  {reason:<16}{n:>10}")
    text = json.dumps(report, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
