"""The demo estate's flow-log files, as AWS would deliver them: one gzip file per flow log per
five minutes, seeded so a window's file is the same every time.

The traffic follows the estate's rules: inbound HTTPS from the internet is accepted while the web
tier's rule allows it and rejected once it is removed (the reject spike), SSH from the internet is
always rejected, one pair of hosts talks far more than the rest (top talkers), and every fiftieth
record is a NODATA one.
"""

from __future__ import annotations

import gzip
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cloudinsights_dagster.demo.world import FLOW_LOG_FORMAT
from cloudinsights_dagster.flowlogs.fields import DEFAULT_FORMAT

CUSTOM_FIELDS: tuple[str, ...] = tuple(
    token.strip("${}") for token in FLOW_LOG_FORMAT.split()
)  # the product's mandatory custom format
DEFAULT_FIELDS = (
    DEFAULT_FORMAT  # AWS's default format: no flow-direction, tcp-flags or traffic-path
)
INTERNET = ("203.0.113.10", "198.51.100.7", "192.0.2.44")


@dataclass(frozen=True)
class Eni:
    interface_id: str
    private_ip: str
    vpc_id: str
    subnet_id: str
    instance_id: str  # "-" for an ENI without an instance


def enis_of(ec2, eni_ids: Sequence[str]) -> list[Eni]:
    """A world's ENIs as DescribeNetworkInterfaces reports them, in the given order."""
    found = {
        e["NetworkInterfaceId"]: e
        for e in ec2.describe_network_interfaces(NetworkInterfaceIds=list(eni_ids))[
            "NetworkInterfaces"
        ]
    }
    return [
        Eni(
            i,
            found[i]["PrivateIpAddress"],
            found[i]["VpcId"],
            found[i]["SubnetId"],
            (found[i].get("Attachment") or {}).get("InstanceId", "-"),
        )
        for i in eni_ids
    ]


def window_records(
    account_id: str,
    enis: Sequence[Eni],
    start: int,
    count: int,
    seed: int,
    https_open: bool = True,
) -> list[dict[str, str]]:
    """`count` records of the five minutes after `start` (epoch seconds). `enis[0]` and
    `enis[1]` are the web instances, the last ENI the database endpoint."""
    rng = random.Random(seed)
    web, database = list(enis[:2]), enis[-1]
    rows: list[dict[str, str]] = []
    for n in range(count):
        t0 = start + rng.randrange(0, 240)
        end = t0 + rng.randrange(1, 60)
        if n % 50 == 49:
            eni = enis[n % len(enis)]
            rows.append(_nodata(account_id, eni, t0, t0 + 60))
            continue
        kind = rng.random()
        if kind < 0.45:  # customers on HTTPS
            eni = rng.choice(web)
            rows.append(
                _record(account_id, eni, rng.choice(INTERNET), "443", True, https_open, t0, end,
                        rng, size=(5, 120))
            )  # fmt: skip
        elif kind < 0.50:  # scanners on SSH: never allowed from the internet
            eni = rng.choice(web)
            rows.append(
                _record(account_id, eni, rng.choice(INTERNET), "22", True, False, t0, end, rng,
                        size=(1, 3))
            )  # fmt: skip
        elif kind < 0.80:  # the app tier's database traffic: the top talkers
            eni = web[0] if rng.random() < 0.8 else web[-1]
            rows.append(
                _record(account_id, eni, database.private_ip, "5432", False, True, t0, end, rng,
                        size=(200, 2000))
            )  # fmt: skip
        else:  # updates from the internet, out through the gateway
            eni = rng.choice(list(enis))
            rows.append(
                _record(account_id, eni, rng.choice(INTERNET), "443", False, True, t0, end, rng,
                        size=(10, 300))
            )  # fmt: skip
    return rows


def _nodata(account_id: str, eni: Eni, start: int, end: int) -> dict[str, str]:
    return {
        "version": "5",
        "account-id": account_id,
        "interface-id": eni.interface_id,
        "start": str(start),
        "end": str(end),
        "log-status": "NODATA",
    }


def _record(
    account_id: str,
    eni: Eni,
    peer: str,
    service_port: str,
    inbound: bool,
    accepted: bool,
    start: int,
    end: int,
    rng: random.Random,
    size: tuple[int, int],
) -> dict[str, str]:
    ephemeral = str(rng.randrange(32768, 60999))
    src, dst = (peer, eni.private_ip) if inbound else (eni.private_ip, peer)
    packets = rng.randrange(*size)
    return {
        "version": "5",
        "account-id": account_id,
        "interface-id": eni.interface_id,
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": ephemeral,
        "dstport": service_port,
        "protocol": "6",
        "packets": str(packets),
        "bytes": str(packets * rng.randrange(60, 1500)),
        "start": str(start),
        "end": str(end),
        "action": "ACCEPT" if accepted else "REJECT",
        "log-status": "OK",
        "vpc-id": eni.vpc_id,
        "subnet-id": eni.subnet_id,
        "instance-id": eni.instance_id,
        "tcp-flags": "19" if accepted else "2",
        "type": "IPv4",
        "pkt-srcaddr": src,
        "pkt-dstaddr": dst,
        "flow-direction": "ingress" if inbound else "egress",
        "traffic-path": "-" if inbound else ("1" if peer.startswith("10.") else "8"),
    }


def flow_log_gzip(rows: Sequence[dict[str, str]], fields: Sequence[str] = CUSTOM_FIELDS) -> bytes:
    """A delivered file: the header line of field names, then one line per record."""
    lines = [" ".join(fields)] + [" ".join(row.get(f, "-") for f in fields) for row in rows]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def object_key(account_id: str, region: str, flow_log_id: str, delivered: int, tag: str) -> str:
    """The key AWS gives a file delivered at `delivered` (epoch seconds)."""
    t = time.gmtime(delivered)
    return (
        f"AWSLogs/{account_id}/vpcflowlogs/{region}/{time.strftime('%Y/%m/%d', t)}/"
        f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_{time.strftime('%Y%m%dT%H%MZ', t)}_"
        f"{tag}.log.gz"
    )
