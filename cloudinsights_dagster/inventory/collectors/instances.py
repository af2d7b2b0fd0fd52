"""EC2 instances (ec2:DescribeInstances; the raw items are reservations)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import ResourceRecord
from ._common import fetch_all, keyed, records, s, sorted_ids, tags, ts


def get_instances(client: Any) -> list[dict]:
    """Reservations, each with its instances (the owner account lives on the reservation)."""
    return fetch_all(client, "describe_instances", "Reservations")


def _flatten(reservations: list[dict]) -> Iterator[dict]:
    for reservation in reservations:
        for instance in reservation.get("Instances") or ():
            yield {
                **instance,
                "_OwnerId": reservation.get("OwnerId"),
                "_ReservationId": reservation.get("ReservationId"),
            }


def _instance(i: dict) -> dict:
    t = tags(i.get("Tags"))
    placement = i.get("Placement") or {}
    enis = i.get("NetworkInterfaces") or ()
    metadata = i.get("MetadataOptions") or {}
    profile = i.get("IamInstanceProfile") or {}
    # Dropped as noise: State.Code (duplicates State.Name), StateReason/StateTransitionReason
    # (follow the state), ClientToken, AmiLaunchIndex, MetadataOptions.State, attach times.
    return {
        "instance_id": i["InstanceId"],
        "owner_id": i.get("_OwnerId"),
        "reservation_id": i.get("_ReservationId"),
        "name": t.get("Name"),
        "instance_type": i.get("InstanceType"),
        "image_id": i.get("ImageId"),
        "state": (i.get("State") or {}).get("Name"),
        "launch_time": ts(i.get("LaunchTime")),
        "platform": i.get("Platform") or i.get("PlatformDetails"),
        "architecture": i.get("Architecture"),
        "availability_zone": placement.get("AvailabilityZone"),
        "tenancy": placement.get("Tenancy"),
        "placement_group": s(placement.get("GroupName")),
        "vpc_id": s(i.get("VpcId")),
        "subnet_id": s(i.get("SubnetId")),
        "private_ip": s(i.get("PrivateIpAddress")),
        "private_dns_name": s(i.get("PrivateDnsName")),
        "public_ip": s(i.get("PublicIpAddress")),
        "public_dns_name": s(i.get("PublicDnsName")),
        "key_name": s(i.get("KeyName")),
        "iam_instance_profile_arn": profile.get("Arn"),
        "security_group_ids": sorted_ids(g.get("GroupId") for g in i.get("SecurityGroups") or ()),
        "network_interface_ids": sorted_ids(n.get("NetworkInterfaceId") for n in enis),
        "network_interfaces": keyed(
            {
                "key": n["NetworkInterfaceId"],
                "device_index": (n.get("Attachment") or {}).get("DeviceIndex"),
                "subnet_id": n.get("SubnetId"),
                "private_ip": s(n.get("PrivateIpAddress")),
            }
            for n in enis
            if n.get("NetworkInterfaceId")
        ),
        "block_devices": keyed(
            {
                "key": b["DeviceName"],
                "volume_id": (b.get("Ebs") or {}).get("VolumeId"),
                "delete_on_termination": (b.get("Ebs") or {}).get("DeleteOnTermination"),
            }
            for b in i.get("BlockDeviceMappings") or ()
            if b.get("DeviceName")
        ),
        "root_device_type": i.get("RootDeviceType"),
        "source_dest_check": i.get("SourceDestCheck"),
        "ebs_optimized": i.get("EbsOptimized"),
        "monitoring": (i.get("Monitoring") or {}).get("State"),
        "metadata_http_tokens": metadata.get("HttpTokens"),
        "metadata_http_endpoint": metadata.get("HttpEndpoint"),
        "tags": t,
    }


def transform_instances(reservations: list[dict]) -> list[ResourceRecord]:
    return records("instance", _flatten(reservations), lambda i: i.get("InstanceId"), _instance)
