"""Realistic flow-log files for a known network, for the tests and the benchmarks (on their path
through pytest's `pythonpath` and the benches' own sys.path line): they check ingestion against
what was sent. Deterministic for a seed."""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass

from cloudinsights_dagster.flowlogs.fields import MANDATORY_FIELDS

CUSTOM_FORMAT: tuple[str, ...] = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "flow-direction",
    "traffic-path",
)
DEFAULT_LIKE_FORMAT: tuple[str, ...] = tuple(
    f for f in MANDATORY_FIELDS if f not in ("flow-direction", "tcp-flags", "traffic-path")
)  # like AWS's default format: lacks flow-direction, tcp-flags, traffic-path


@dataclass(frozen=True)
class Eni:
    interface_id: str
    private_ip: str
    vpc_id: str = "-"
    subnet_id: str = "-"
    instance_id: str = "-"


def enis_from_ec2(ec2, eni_ids: Sequence[str]) -> list[Eni]:
    """The ENIs of a built world, as DescribeNetworkInterfaces reports them (an EC2 client)."""
    found = ec2.describe_network_interfaces(NetworkInterfaceIds=list(eni_ids))
    return [
        Eni(
            e["NetworkInterfaceId"],
            e["PrivateIpAddress"],
            e["VpcId"],
            e["SubnetId"],
            (e.get("Attachment") or {}).get("InstanceId", "-"),
        )
        for e in found["NetworkInterfaces"]
    ]


def sample_records(
    account_id: str,
    enis: Sequence[Eni],
    start: int,
    count: int,
    seed: int = 7,
    external_peers: Sequence[str] = ("203.0.113.10", "198.51.100.7"),
    reject_share: float = 0.2,
) -> list[dict[str, str]]:
    """`count` records over the five minutes after `start` (epoch seconds)."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        eni = enis[n % len(enis)]
        t0 = start + rng.randrange(0, 240)
        if n % 50 == 49:  # a quiet interface
            rows.append(
                {
                    "version": "5",
                    "account-id": account_id,
                    "interface-id": eni.interface_id,
                    "start": str(t0),
                    "end": str(t0 + 60),
                    "log-status": "NODATA",
                }
            )
            continue
        inbound = rng.random() < 0.5
        peer = (
            rng.choice([e.private_ip for e in enis])
            if rng.random() < 0.5
            else rng.choice(list(external_peers))
        )
        rejected = rng.random() < reject_share
        service_port = rng.choice(["443", "22", "5432", "80"])
        ephemeral = str(rng.randrange(32768, 60999))
        src, dst = (peer, eni.private_ip) if inbound else (eni.private_ip, peer)
        sport, dport = ephemeral, service_port  # clients call the service port both ways
        packets = rng.randrange(1, 200)
        rows.append(
            {
                "version": "5",
                "account-id": account_id,
                "interface-id": eni.interface_id,
                "srcaddr": src,
                "dstaddr": dst,
                "srcport": sport,
                "dstport": dport,
                "protocol": "6",
                "packets": str(packets),
                "bytes": str(packets * rng.randrange(60, 1500)),
                "start": str(t0),
                "end": str(t0 + rng.randrange(1, 60)),
                "action": "REJECT" if rejected else "ACCEPT",
                "log-status": "OK",
                "vpc-id": eni.vpc_id,
                "subnet-id": eni.subnet_id,
                "instance-id": eni.instance_id,
                "tcp-flags": "2" if rejected else "19",
                "type": "IPv4",
                "pkt-srcaddr": src,
                "pkt-dstaddr": dst,
                "flow-direction": "ingress" if inbound else "egress",
                "traffic-path": "-" if inbound else rng.choice(["1", "2", "8"]),
            }
        )
    return rows


def flow_log_text(rows: Sequence[dict[str, str]], fields: Sequence[str] = CUSTOM_FORMAT) -> bytes:
    lines = [" ".join(fields)]
    lines += [" ".join(row.get(f, "-") for f in fields) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def flow_log_gzip(rows: Sequence[dict[str, str]], fields: Sequence[str] = CUSTOM_FORMAT) -> bytes:
    return gzip.compress(flow_log_text(rows, fields), mtime=0)


def object_key(
    account_id: str,
    region: str,
    flow_log_id: str,
    start: int,
    prefix: str = "",
    suffix: str = "a1b2",
) -> str:
    """The S3 key AWS gives a file delivered at `start` (epoch seconds)."""
    import time

    t = time.gmtime(start)
    stamp = time.strftime("%Y%m%dT%H%MZ", t)
    folder = time.strftime("%Y/%m/%d", t)
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return (
        f"{head}AWSLogs/{account_id}/vpcflowlogs/{region}/{folder}/"
        f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_{stamp}_{suffix}.log.gz"
    )
