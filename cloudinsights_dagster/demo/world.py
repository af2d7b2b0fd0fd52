"""A small but realistic AWS network, built through any boto3 session: the world that `make
demo` monitors on its fake AWS (see `estate.py`), and that the tests change between snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

import boto3

from cloudinsights_dagster import aws

FLOW_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} "
    "${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} "
    "${flow-direction} ${traffic-path}"
)


@dataclass
class World:
    account_id: str
    region: str
    vpc_id: str = ""
    peer_vpc_id: str = ""
    subnet_ids: list[str] = field(default_factory=list)
    security_group_id: str = ""
    instance_ids: list[str] = field(default_factory=list)
    eni_ids: list[str] = field(default_factory=list)
    route_table_id: str = ""
    flow_log_bucket: str = ""
    flow_log_id: str = ""
    load_balancer_arn: str = ""


def _tags(name: str, **extra: str) -> list[dict]:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]
    return tags


def build_world(
    session: boto3.Session,
    account_id: str,
    region: str,
    cidr_octet: int = 10,
    flow_log_bucket: str | None = None,
    flow_log_format: str | None = FLOW_LOG_FORMAT,
) -> World:
    """Create the network; `cidr_octet` keeps the address plans of several worlds apart.

    The flow log delivers to `flow_log_bucket` (created when this account can, else another
    account's, as a log archive holds it) in `flow_log_format`; None means AWS's default format,
    which lacks three of the fields the product needs."""
    ec2 = aws.client(session, "ec2", region)
    world = World(account_id, region)
    base = f"10.{cidr_octet}"

    def tagged(kind: str, name: str) -> list[dict]:
        return [{"ResourceType": kind, "Tags": _tags(name, env="demo")}]

    vpc = ec2.create_vpc(CidrBlock=f"{base}.0.0/16", TagSpecifications=tagged("vpc", "main"))["Vpc"]
    world.vpc_id = vpc["VpcId"]
    peer = ec2.create_vpc(
        CidrBlock=f"172.{cidr_octet}.0.0/16", TagSpecifications=tagged("vpc", "shared-services")
    )["Vpc"]
    world.peer_vpc_id = peer["VpcId"]
    for i, zone in enumerate(("a", "b")):
        subnet = ec2.create_subnet(
            VpcId=world.vpc_id,
            CidrBlock=f"{base}.{i}.0/24",
            AvailabilityZone=f"{region}{zone}",
            TagSpecifications=tagged("subnet", f"app-{zone}"),
        )["Subnet"]
        world.subnet_ids.append(subnet["SubnetId"])

    igw = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway", "igw"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=world.vpc_id)
    eip = ec2.allocate_address(Domain="vpc")
    nat = ec2.create_nat_gateway(SubnetId=world.subnet_ids[0], AllocationId=eip["AllocationId"])
    nat_id = nat["NatGateway"]["NatGatewayId"]

    rt = ec2.create_route_table(
        VpcId=world.vpc_id, TagSpecifications=tagged("route-table", "public")
    )
    world.route_table_id = rt["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=world.route_table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id
    )
    ec2.associate_route_table(RouteTableId=world.route_table_id, SubnetId=world.subnet_ids[0])
    private = ec2.create_route_table(
        VpcId=world.vpc_id, TagSpecifications=tagged("route-table", "private")
    )
    private_id = private["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_id, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    ec2.associate_route_table(RouteTableId=private_id, SubnetId=world.subnet_ids[1])

    sg = ec2.create_security_group(
        GroupName="web",
        Description="web tier",
        VpcId=world.vpc_id,
        TagSpecifications=tagged("security-group", "web"),
    )
    world.security_group_id = sg["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=world.security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": f"{base}.0.0/16"}],
            },
        ],
    )
    for i, subnet_id in enumerate(world.subnet_ids):
        reservation = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=subnet_id,
            SecurityGroupIds=[world.security_group_id],
            TagSpecifications=tagged("instance", f"web-{i}"),
        )
        instance = reservation["Instances"][0]
        world.instance_ids.append(instance["InstanceId"])
        world.eni_ids.append(instance["NetworkInterfaces"][0]["NetworkInterfaceId"])
    extra = ec2.create_network_interface(
        SubnetId=world.subnet_ids[1],
        Groups=[world.security_group_id],
        Description="database endpoint",
    )
    world.eni_ids.append(extra["NetworkInterface"]["NetworkInterfaceId"])

    ec2.create_vpc_peering_connection(VpcId=world.vpc_id, PeerVpcId=world.peer_vpc_id)
    ec2.create_vpc_endpoint(
        VpcId=world.vpc_id,
        ServiceName=f"com.amazonaws.{region}.s3",
        RouteTableIds=[private_id],
        VpcEndpointType="Gateway",
    )
    tgw = ec2.create_transit_gateway(Description="core")["TransitGateway"]
    ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw["TransitGatewayId"], VpcId=world.vpc_id, SubnetIds=world.subnet_ids[:1]
    )

    elb = aws.client(session, "elbv2", region)
    lb = elb.create_load_balancer(
        Name=f"web-{cidr_octet}",
        Subnets=world.subnet_ids,
        SecurityGroups=[world.security_group_id],
        Type="application",
    )
    world.load_balancer_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    elb.create_target_group(Name=f"web-{cidr_octet}", Protocol="HTTP", Port=80, VpcId=world.vpc_id)

    bucket = flow_log_bucket or f"flow-logs-{account_id}-{region}"
    s3 = aws.client(session, "s3", region)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass  # a second world of the account, or a log archive's bucket
    world.flow_log_bucket = bucket
    format_arg = {"LogFormat": flow_log_format} if flow_log_format else {}
    flow = ec2.create_flow_logs(
        ResourceIds=[world.vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
        MaxAggregationInterval=60,
        **format_arg,
    )
    world.flow_log_id = flow["FlowLogIds"][0]
    return world
