"""Benchmark: diff two inventory snapshots of 100,000 resources with 1% changed.

    python bench/bench_inventory_diff.py [--resources 100000] [--changed 0.01] [--repeat 3]

Generates raw, API-shaped answers deterministically (ENIs, instances, security groups with rules,
subnets, route tables), one resource type at a time as ``collect_location`` does, and normalizes
them with the real transforms. The previous snapshot is stored as JSON texts in a SQLite file and streamed
back through ``load_snapshot`` (as the warehouse hands it over: no object shared with the current
one).
The current snapshot has 1% changed (rules added, retags, public IPs moved, routes retargeted,
subnet settings, deletions, creations) plus noise that must not count (list orders shuffled,
subnet free-address counts moved). Times ``diff_snapshots`` (normalization happens in the
transforms, before it, and is reported separately), its traced peak, and the process's peak RSS
for the whole tick. Prints one JSON object. Target (issue): diff < 2 s and < 1 GiB peak, 2 cores.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudinsights_dagster.inventory.collectors import COLLECTORS  # noqa: E402
from cloudinsights_dagster.inventory.diff import diff_snapshots  # noqa: E402
from cloudinsights_dagster.inventory.model import (  # noqa: E402
    canonical_json,
    content_hash,
    load_snapshot,
)

ACCOUNT = "111122223333"
MIX = {  # share of the resources per type
    "network_interface": 0.50,
    "instance": 0.20,
    "security_group": 0.15,
    "subnet": 0.10,
    "route_table": 0.05,
}


def _hex(rng: random.Random, n: int = 17) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def _tags(rng: random.Random, name: str) -> list[dict]:
    tags = [{"Key": "Name", "Value": name}, {"Key": "env", "Value": rng.choice(["prod", "dev"])}]
    tags += [{"Key": f"k{j}", "Value": _hex(rng, 6)} for j in range(rng.randint(0, 4))]
    return tags


def _sg_rules(rng: random.Random, n: int, sg_ids: list[str]) -> list[dict]:
    perms = []
    for j in range(n):
        port = rng.choice([22, 80, 443, 5432, 6379, 8080, 9000 + j])
        perm = {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [
                {"CidrIp": f"10.{rng.randint(0, 255)}.0.0/16", "Description": f"rule {j}"}
            ],
            "Ipv6Ranges": [],
            "PrefixListIds": [],
            "UserIdGroupPairs": [],
        }
        if sg_ids and rng.random() < 0.3:
            perm["UserIdGroupPairs"].append({"GroupId": rng.choice(sg_ids), "UserId": ACCOUNT})
        perms.append(perm)
    return perms


def universe(n: int, seed: int = 42) -> dict:
    """Ids shared between resource types (VPCs, subnets, security groups) and per-type counts."""
    rng = random.Random(seed)
    counts = {t: int(n * share) for t, share in MIX.items()}
    counts["network_interface"] += n - sum(counts.values())
    vpcs = [f"vpc-{_hex(rng)}" for _ in range(max(1, n // 2000))]
    subnets = [
        (f"subnet-{_hex(rng)}", rng.choice(vpcs), f"eu-west-1{rng.choice('abc')}")
        for _ in range(counts["subnet"])
    ]
    sg_ids = [f"sg-{_hex(rng)}" for _ in range(counts["security_group"])]
    return {"counts": counts, "vpcs": vpcs, "subnets": subnets, "sg_ids": sg_ids}


def generate(resource_type: str, u: dict, seed: int = 42) -> list[dict]:
    """The raw API answer items of one resource type (the same for the same seed)."""
    rng = random.Random(f"{seed}-{resource_type}")
    vpcs, subnets, sg_ids = u["vpcs"], u["subnets"], u["sg_ids"]
    items: list[dict] = []
    count = u["counts"][resource_type]
    if resource_type == "subnet":
        for i, (sid, vpc, az) in enumerate(subnets):
            items.append(
                {
                    "SubnetId": sid,
                    "VpcId": vpc,
                    "AvailabilityZone": az,
                    "OwnerId": ACCOUNT,
                    "CidrBlock": f"10.{i >> 8 & 255}.{i & 255}.0/24",
                    "State": "available",
                    "AvailableIpAddressCount": rng.randint(1, 250),
                    "MapPublicIpOnLaunch": False,
                    "Tags": _tags(rng, f"subnet-{i}"),
                }
            )
    elif resource_type == "security_group":
        for i, gid in enumerate(sg_ids):
            items.append(
                {
                    "GroupId": gid,
                    "GroupName": f"sg-{i}",
                    "Description": "generated",
                    "OwnerId": ACCOUNT,
                    "VpcId": rng.choice(vpcs),
                    "Tags": _tags(rng, f"sg-{i}"),
                    "IpPermissions": _sg_rules(rng, rng.randint(2, 12), sg_ids[:i]),
                    "IpPermissionsEgress": [
                        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                    ],
                }
            )
    elif resource_type == "route_table":
        for i in range(count):
            routes = [
                {
                    "DestinationCidrBlock": "10.0.0.0/8",
                    "GatewayId": "local",
                    "Origin": "CreateRouteTable",
                    "State": "active",
                },
                {
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "NatGatewayId": f"nat-{_hex(rng)}",
                    "Origin": "CreateRoute",
                    "State": "active",
                },
            ]
            routes += [
                {
                    "DestinationCidrBlock": f"172.{16 + j}.0.0/16",
                    "TransitGatewayId": f"tgw-{_hex(rng)}",
                    "Origin": "CreateRoute",
                    "State": "active",
                }
                for j in range(rng.randint(1, 6))
            ]
            items.append(
                {
                    "RouteTableId": f"rtb-{_hex(rng)}",
                    "VpcId": rng.choice(vpcs),
                    "OwnerId": ACCOUNT,
                    "Routes": routes,
                    "Tags": _tags(rng, f"rt-{i}"),
                    "Associations": [
                        {
                            "RouteTableAssociationId": f"rtbassoc-{_hex(rng)}",
                            "SubnetId": rng.choice(subnets)[0],
                            "Main": False,
                            "AssociationState": {"State": "associated"},
                        }
                    ],
                }
            )
    elif resource_type == "instance":
        instances = []
        for i in range(count):
            sid, vpc, az = rng.choice(subnets)
            instances.append(
                {
                    "InstanceId": f"i-{_hex(rng)}",
                    "InstanceType": rng.choice(["t3.micro", "m5.large"]),
                    "ImageId": f"ami-{_hex(rng)}",
                    "State": {"Code": 16, "Name": "running"},
                    "LaunchTime": "2026-01-12T08:30:00+00:00",
                    "SubnetId": sid,
                    "VpcId": vpc,
                    "Placement": {"AvailabilityZone": az, "Tenancy": "default"},
                    "PrivateIpAddress": _ip(i),
                    "PrivateDnsName": f"ip-{i}.internal",
                    "SecurityGroups": [{"GroupId": g} for g in rng.sample(sg_ids, 2)],
                    "NetworkInterfaces": [
                        {
                            "NetworkInterfaceId": f"eni-{_hex(rng)}",
                            "SubnetId": sid,
                            "PrivateIpAddress": _ip(i),
                            "Attachment": {"DeviceIndex": 0},
                        }
                    ],
                    "BlockDeviceMappings": [
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {"VolumeId": f"vol-{_hex(rng)}", "DeleteOnTermination": True},
                        }
                    ],
                    "Tags": _tags(rng, f"instance-{i}"),
                }
            )
        items = [
            {
                "ReservationId": f"r-{_hex(rng)}",
                "OwnerId": ACCOUNT,
                "Instances": instances[k : k + 4],
            }
            for k in range(0, len(instances), 4)
        ]
    elif resource_type == "network_interface":
        for i in range(count):
            sid, vpc, az = rng.choice(subnets)
            base = 1_000_000 + i * 4
            ips = [
                {"PrivateIpAddress": _ip(base + j), "Primary": j == 0}
                for j in range(rng.randint(1, 3))
            ]
            if rng.random() < 0.2:
                ips[0]["Association"] = {
                    "PublicIp": f"52.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                    "IpOwnerId": "amazon",
                }
            managed = rng.random() < 0.15
            items.append(
                {
                    "NetworkInterfaceId": f"eni-{_hex(rng)}",
                    "SubnetId": sid,
                    "VpcId": vpc,
                    "AvailabilityZone": az,
                    "OwnerId": ACCOUNT,
                    "Status": "in-use",
                    "InterfaceType": "interface",
                    "RequesterManaged": managed,
                    "Description": "ELB app/x/1" if managed else "Primary network interface",
                    "PrivateIpAddress": ips[0]["PrivateIpAddress"],
                    "PrivateIpAddresses": ips,
                    "Groups": [{"GroupId": g} for g in rng.sample(sg_ids, rng.randint(1, 3))],
                    "Attachment": {}
                    if managed
                    else {
                        "InstanceId": f"i-{_hex(rng)}",
                        "DeviceIndex": 0,
                        "InstanceOwnerId": ACCOUNT,
                        "Status": "attached",
                    },
                    "MacAddress": "06:00:00:00:00:00",
                    "SourceDestCheck": True,
                    "TagSet": _tags(rng, f"eni-{i}") if rng.random() < 0.5 else [],
                }
            )
    return items


def mutate(resource_type: str, items: list[dict], share: float, seed: int = 7) -> dict[str, int]:
    """Change ``share`` of one type's resources in place (and reorder some lists, which must not
    count as a change); returns what was done."""
    rng = random.Random(f"{seed}-{resource_type}")
    done: dict[str, int] = {}
    if resource_type == "security_group":
        for sg in rng.sample(items, int(len(items) * share)):
            sg["IpPermissions"].append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8443,
                    "ToPort": 8443,
                    "IpRanges": [{"CidrIp": "192.168.0.0/16"}],
                }
            )
        done["sg_rule_added"] = int(len(items) * share)
        for sg in items[::10]:
            sg["IpPermissions"].reverse()
            sg["Tags"].reverse()
    elif resource_type == "instance":
        instances = [i for r in items for i in r["Instances"]]
        for inst in rng.sample(instances, int(len(instances) * share)):
            inst["Tags"] = [t for t in inst["Tags"] if t["Key"] != "env"] + [
                {"Key": "env", "Value": "staging"}
            ]
        done["retagged"] = int(len(instances) * share)
    elif resource_type == "route_table":
        for rt in rng.sample(items, int(len(items) * share)):
            rt["Routes"][1] = {**rt["Routes"][1], "NatGatewayId": "nat-0new"}
        done["route_retargeted"] = int(len(items) * share)
        for rt in items[::10]:
            rt["Routes"].reverse()
    elif resource_type == "network_interface":
        n = int(len(items) * share / 3)
        for eni in rng.sample(items, n):
            eni["PrivateIpAddresses"][0]["Association"] = {
                "PublicIp": "203.0.113.9",
                "IpOwnerId": ACCOUNT,
            }
        for idx in sorted(rng.sample(range(len(items)), n), reverse=True):
            items.pop(idx)
        for j in range(n):
            clone = json.loads(json.dumps(items[j]))
            clone["NetworkInterfaceId"] = f"eni-new{j:012d}"
            items.append(clone)
        done.update(public_ip_moved=n, deleted=n, created=n)
    elif resource_type == "subnet":
        for subnet in items:  # the free-address count moves all the time: never a change
            subnet["AvailableIpAddressCount"] -= 1
        n = int(len(items) * share)
        for subnet in rng.sample(items, n):
            subnet["MapPublicIpOnLaunch"] = True
        done["subnet_public_ip_on_launch"] = n
    return done


def collect(u: dict, share: float | None) -> dict[tuple[str, str], dict]:
    """Like collect_location: one type's raw answer at a time, normalized, then dropped."""
    snapshot: dict[tuple[str, str], dict] = {}
    for resource_type in MIX:
        items = generate(resource_type, u)
        if share is not None:
            MUTATIONS.update(mutate(resource_type, items, share))
        t0 = time.perf_counter()
        for record in COLLECTORS[resource_type].transform(items):
            # collect_location adds the location to every record's data.
            snapshot[record.key] = {**record.data, "account_id": ACCOUNT, "region": "eu-west-1"}
        TIMINGS["normalize"] = TIMINGS.get("normalize", 0.0) + time.perf_counter() - t0
        del items
    return snapshot


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


MUTATIONS: dict[str, int] = {}
TIMINGS: dict[str, float] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    u = universe(args.resources)

    # The previous snapshot, as the warehouse stores it: one JSON text per resource.
    # The previous snapshot lives in the warehouse (here a SQLite file), one JSON text per row.
    tmp = tempfile.TemporaryDirectory(prefix="bench-inventory-")
    db = sqlite3.connect(Path(tmp.name) / "warehouse.db")
    db.execute("CREATE TABLE snapshot (resource_type TEXT, resource_id TEXT, data TEXT)")
    db.executemany(
        "INSERT INTO snapshot VALUES (?, ?, ?)",
        ((k[0], k[1], canonical_json(v)) for k, v in collect(u, None).items()),
    )
    db.commit()
    gc.collect()
    phases = {"previous_stored": _rss_mib()}

    # This tick: collect (normalize) the current snapshot, load the previous one back.
    TIMINGS.clear()
    current = collect(u, args.changed)
    normalize_s = TIMINGS["normalize"]
    phases["current_collected"] = _rss_mib()
    t0 = time.perf_counter()
    previous = load_snapshot(db.execute("SELECT resource_type, resource_id, data FROM snapshot"))
    load_s = time.perf_counter() - t0
    phases["previous_loaded"] = _rss_mib()
    db.close()
    tmp.cleanup()
    gc.collect()

    diff_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        changes = diff_snapshots(previous, current)
        diff_times.append(time.perf_counter() - t0)

    phases["diffed"] = _rss_mib()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    diff_snapshots(previous, current)
    diff_peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()

    t0 = time.perf_counter()
    diff_snapshots(previous, current, unknown_types={"network_interface"})
    unknown_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for data in current.values():
        content_hash(data)
    hash_s = time.perf_counter() - t0

    kinds: dict[str, int] = {}
    for c in changes:
        kinds[c.change_type] = kinds.get(c.change_type, 0) + 1
    maxrss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    diff_s = statistics.median(diff_times)
    result = {
        "resources_previous": len(previous),
        "resources_current": len(current),
        "changed_share": args.changed,
        "mutations": MUTATIONS,
        "changes": kinds,
        "diff_seconds_median": round(diff_s, 3),
        "diff_seconds_all": [round(t, 3) for t in diff_times],
        "diff_with_unknown_type_seconds": round(unknown_s, 3),
        "diff_peak_traced_bytes": diff_peak,
        "normalize_current_seconds": round(normalize_s, 3),
        "normalize_plus_diff_seconds": round(normalize_s + diff_s, 3),
        "load_previous_seconds": round(load_s, 3),
        "content_hash_all_current_seconds": round(hash_s, 3),
        "process_peak_rss_bytes": maxrss_bytes,
        "process_peak_rss_mib": round(maxrss_bytes / 2**20, 1),
        "process_peak_rss_mib_after_phase": phases,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "target": {"diff_seconds": 2.0, "peak_bytes": 1 << 30},
        "meets_target": diff_s < 2.0 and maxrss_bytes < (1 << 30),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
