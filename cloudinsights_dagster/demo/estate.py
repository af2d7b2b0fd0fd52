"""The demo's estate on a fake AWS (moto on 127.0.0.1): two account groups, three accounts, two
regions, IAM enforced, and the changes the demo makes to it.

moto draws every resource id from one random generator that `/moto-api/seed` seeds, so the same
calls in the same order give the same ids: `make ui` rebuilds, in a fresh fake AWS, the world the
demo left (the warehouse still names its VPCs, ENIs and rules). Each change re-seeds first, so
the calls the collector makes in between (AssumeRole draws keys) do not shift the ids.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
import requests

from cloudinsights_dagster import catalog
from cloudinsights_dagster.demo.traffic import (
    CUSTOM_FIELDS,
    DEFAULT_FIELDS,
    Eni,
    enis_of,
    flow_log_gzip,
    object_key,
    window_records,
)
from cloudinsights_dagster.demo.world import FLOW_LOG_FORMAT, World, build_world
from cloudinsights_dagster.policies import (
    flowlogs_permission_policy,
    inventory_permission_policy,
    trust_policy,
)

SEED = 2026
# moto's default account: the collector, the log archive and the SQS queue live here, because
# moto delivers SNS -> SQS only within one account.
COLLECTOR_ACCOUNT = "123456789012"
UNMONITORED_ACCOUNT = "444444444444"  # sends flow logs to the archive; no integration covers it
QUEUE_REGION = "us-east-1"
QUEUE_NAME = "cloudinsights-demo"
COLLECTOR_USER = "cloudinsights-collector"
ADMIN = "estate-admin"  # the estate's own people: they build, change and deliver, not the product
INVENTORY_ROLE = "cloudinsights-inventory"
FLOWLOGS_ROLE = "cloudinsights-flow-logs"
# What a partly permitted role lacks (the product reports these APIs as denied).
PARTIAL_DENIED = ("TransitGateway", "Vpn")
MOTO_SERVICES = ("ec2", "elbv2", "iam", "s3", "sns", "sqs", "sts")


@dataclass(frozen=True)
class AccountPlan:
    group: str
    integration: str  # the inventory integration's name
    account_id: str
    regions: tuple[str, ...]
    partial: bool = False  # the role lacks the transit gateway and VPN actions
    flow_log_format: str | None = FLOW_LOG_FORMAT  # None: AWS's default (lacks 3 fields)
    flow_logs: bool = True  # False: the VPCs have no flow log at all
    log_archive: bool = False  # its buckets receive every retail account's flow logs


PLAN: tuple[AccountPlan, ...] = (
    AccountPlan("retail", "retail-shared", COLLECTOR_ACCOUNT, ("us-east-1", "eu-west-1"),
                log_archive=True),
    AccountPlan("retail", "retail-payments", "111111111111", ("us-east-1",), partial=True,
                flow_log_format=None),
    AccountPlan("media", "media-web", "222222222222", ("us-east-1",), flow_logs=False),
)  # fmt: skip
FLOWLOGS_GROUP = "retail"
FLOWLOGS_INTEGRATION = "retail-flow-logs"
GROUPS = tuple(sorted({p.group for p in PLAN}))


def archive_bucket(region: str) -> str:
    return f"flow-logs-{COLLECTOR_ACCOUNT}-{region}"


def topic_arn(region: str) -> str:
    return f"arn:aws:sns:{region}:{COLLECTOR_ACCOUNT}:flow-logs-{region}"


def role_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def collector_principal() -> str:
    return f"arn:aws:iam::{COLLECTOR_ACCOUNT}:user/{COLLECTOR_USER}"


class FakeAws:
    """A moto server on 127.0.0.1 (a free port unless given), in this process; every AWS client
    of this process points at it (AWS_ENDPOINT_URL), nothing reaches real AWS."""

    def __init__(self, port: int = 0):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        host, bound = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{bound}"
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID="none",  # until the collector's own keys exist
            AWS_SECRET_ACCESS_KEY="none",
            AWS_DEFAULT_REGION=QUEUE_REGION,
        )

    def seed(self, value: int) -> None:
        requests.post(f"{self.endpoint}/moto-api/seed", params={"a": value}, timeout=10)

    def enforce_iam(self, on: bool = True) -> None:
        """IAM checks every call from now on (moto: process-wide); off while building."""
        body = b"0" if on else b"inf"
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=body, timeout=10)

    @contextmanager
    def frozen_clock(self, at: datetime) -> Iterator[None]:
        """moto stamps resources with its clock (launch and creation times): build the estate at
        a recorded time, so a rebuilt estate is the same to the field, not "modified"."""
        import moto.core.utils as moto_utils

        for service in MOTO_SERVICES:  # loaded lazily: load them now, so all get the patch
            importlib.import_module(f"moto.{service}.models")
        original = moto_utils.utcnow
        naive = at.astimezone(UTC).replace(tzinfo=None)
        patched = [
            module
            for name, module in list(sys.modules.items())
            if name.startswith("moto") and getattr(module, "utcnow", None) is original
        ]
        for module in patched:
            module.utcnow = lambda: naive
        try:
            yield
        finally:
            for module in patched:
                module.utcnow = original

    def stop(self) -> None:
        self._server.stop()


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never show the secret
        return f"Keys(access_key_id={self.access_key_id!r})"


@dataclass
class Estate:
    endpoint: str
    collector: Keys
    admin: Keys
    worlds: dict[tuple[str, str], World] = field(default_factory=dict)  # (account, region)
    _clients: dict = field(default_factory=dict, repr=False)
    _enis: dict = field(default_factory=dict, repr=False)

    def admin_client(self, account_id: str, region: str, service: str):
        """A client of the estate's administrator, made once (sessions cost ~0.1 s each)."""
        key = (account_id, region, service)
        if key not in self._clients:
            session = self.admin_session(account_id, region)
            self._clients[key] = session.client(service, endpoint_url=self.endpoint)
        return self._clients[key]

    def enis(self, account_id: str, region: str) -> list[Eni]:
        key = (account_id, region)
        if key not in self._enis:
            ec2 = self.admin_client(account_id, region, "ec2")
            self._enis[key] = enis_of(ec2, self.worlds[key].eni_ids)
        return self._enis[key]

    def admin_session(self, account_id: str, region: str) -> boto3.Session:
        """The estate's administrator in an account (the archive account's user, else its
        `estate-admin` role)."""
        base = boto3.Session(
            aws_access_key_id=self.admin.access_key_id,
            aws_secret_access_key=self.admin.secret_access_key,
            region_name=region,
        )
        if account_id == COLLECTOR_ACCOUNT:
            return base
        creds = base.client("sts", endpoint_url=self.endpoint).assume_role(
            RoleArn=role_arn(account_id, ADMIN), RoleSessionName=ADMIN
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )

    def collector_environment(self) -> dict[str, str]:
        """The collector's own identity, as the product reads it (the standard chain)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.collector.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.collector.secret_access_key,
            "AWS_DEFAULT_REGION": QUEUE_REGION,
        }


ADMIN_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{COLLECTOR_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _policy(actions: list[str] | str) -> str:
    statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _bootstrap_session(endpoint: str, account_id: str, region: str) -> boto3.Session:
    """With IAM not yet enforced, moto lets anyone assume any role: how the builder reaches
    the other accounts before their admin roles exist."""
    base = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name=region)
    if account_id == COLLECTOR_ACCOUNT:
        return base
    creds = base.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=role_arn(account_id, ADMIN), RoleSessionName="bootstrap"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def build_estate(fake: FakeAws, external_ids: dict[str, str], built_at: datetime) -> Estate:
    with fake.frozen_clock(built_at):
        return _build_estate(fake, external_ids)


def _build_estate(fake: FakeAws, external_ids: dict[str, str]) -> Estate:
    """Users, roles, networks, buckets, topics and notifications, seeded; IAM enforced after.

    `external_ids` maps each account group to its ExternalId (the registry's), which goes into
    the roles' trust policies exactly as a user pastes it."""
    fake.enforce_iam(False)
    fake.seed(SEED)
    endpoint = fake.endpoint
    home = _bootstrap_session(endpoint, COLLECTOR_ACCOUNT, QUEUE_REGION)
    iam = home.client("iam", endpoint_url=endpoint)
    keys = {}
    for user, actions in (
        (ADMIN, "*"),
        # moto does not model SNS topic policies: the subscribe right goes on the user instead.
        (COLLECTOR_USER, ["sts:AssumeRole", "sqs:*", "sns:Subscribe", "sns:GetTopicAttributes",
                          "sns:ListSubscriptionsByTopic", "sns:GetSubscriptionAttributes"]),
    ):  # fmt: skip
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="access", PolicyDocument=_policy(actions))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = Keys(key["AccessKeyId"], key["SecretAccessKey"])
    estate = Estate(endpoint, collector=keys[COLLECTOR_USER], admin=keys[ADMIN])

    octet = 20
    for plan in PLAN:
        session = _bootstrap_session(endpoint, plan.account_id, plan.regions[0])
        account_iam = session.client("iam", endpoint_url=endpoint)
        if plan.account_id != COLLECTOR_ACCOUNT:
            account_iam.create_role(RoleName=ADMIN, AssumeRolePolicyDocument=ADMIN_TRUST)
            account_iam.put_role_policy(
                RoleName=ADMIN, PolicyName="access", PolicyDocument=_policy("*")
            )
        actions = catalog.inventory_actions()
        if plan.partial:
            actions = [a for a in actions if not any(word in a for word in PARTIAL_DENIED)]
        account_iam.create_role(
            RoleName=INVENTORY_ROLE,
            AssumeRolePolicyDocument=json.dumps(
                trust_policy(collector_principal(), external_ids[plan.group])
            ),
        )
        policy = inventory_permission_policy()
        policy["Statement"][0]["Action"] = actions
        account_iam.put_role_policy(
            RoleName=INVENTORY_ROLE, PolicyName="read", PolicyDocument=json.dumps(policy)
        )
        for region in plan.regions:
            regional = _bootstrap_session(endpoint, plan.account_id, region)
            bucket = archive_bucket(region if plan.log_archive else QUEUE_REGION)
            world = build_world(
                regional,
                plan.account_id,
                region,
                cidr_octet=octet,
                flow_log_bucket=bucket if plan.group == FLOWLOGS_GROUP else None,
                flow_log_format=plan.flow_log_format,
            )
            if not plan.flow_logs:
                ec2 = regional.client("ec2", endpoint_url=endpoint)
                ec2.delete_flow_logs(FlowLogIds=[world.flow_log_id])
                world.flow_log_id = ""
            estate.worlds[(plan.account_id, region)] = world
            octet += 1

    # The log archive: its flow-logs role, and each region's bucket -> SNS topic.
    iam.create_role(
        RoleName=FLOWLOGS_ROLE,
        AssumeRolePolicyDocument=json.dumps(
            trust_policy(collector_principal(), external_ids[FLOWLOGS_GROUP])
        ),
    )
    archive = next(p for p in PLAN if p.log_archive)
    iam.put_role_policy(
        RoleName=FLOWLOGS_ROLE,
        PolicyName="read",
        PolicyDocument=json.dumps(
            flowlogs_permission_policy([archive_bucket(r) for r in archive.regions])
        ),
    )
    for region in archive.regions:
        regional = _bootstrap_session(endpoint, COLLECTOR_ACCOUNT, region)
        topic = regional.client("sns", endpoint_url=endpoint).create_topic(
            Name=f"flow-logs-{region}"
        )["TopicArn"]
        regional.client("s3", endpoint_url=endpoint).put_bucket_notification_configuration(
            Bucket=archive_bucket(region),
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
    fake.enforce_iam(True)
    return estate


# ---------------------------------------------------------------- the demo's changes

WATCHED = (COLLECTOR_ACCOUNT, "us-east-1")  # the world the changes happen in


def _open_reporting_port(estate: Estate) -> None:
    """Noise: a new rule for a reporting network and an instance renamed."""
    world = estate.worlds[WATCHED]
    ec2 = estate.admin_client(*WATCHED, "ec2")
    ec2.authorize_security_group_ingress(
        GroupId=world.security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.99.0.0/16", "Description": "reporting"}],
            }
        ],
    )
    ec2.create_tags(Resources=[world.instance_ids[0]], Tags=[{"Key": "Name", "Value": "api"}])


def _remove_https_rule(estate: Estate) -> None:
    """The cause: someone removes the web tier's HTTPS rule; inbound 443 is rejected after."""
    world = estate.worlds[WATCHED]
    ec2 = estate.admin_client(*WATCHED, "ec2")
    ec2.revoke_security_group_ingress(
        GroupId=world.security_group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )


@dataclass(frozen=True)
class Change:
    name: str
    description: str
    apply: Callable[[Estate], None]


CHANGES: tuple[Change, ...] = (
    Change("reporting-port", "a Postgres rule for 10.99.0.0/16 and web-0 renamed api",
           _open_reporting_port),
    Change("https-removed", "the web security group's HTTPS rule (443 from 0.0.0.0/0) removed",
           _remove_https_rule),
)  # fmt: skip


def apply_change(fake: FakeAws, estate: Estate, index: int, at: datetime) -> Change:
    change = CHANGES[index]
    fake.seed(SEED + 100 + index)
    with fake.frozen_clock(at):
        change.apply(estate)
    return change


def https_open(changes_applied: int) -> bool:
    """Whether inbound HTTPS from the internet is allowed after that many changes."""
    names = [c.name for c in CHANGES[:changes_applied]]
    return "https-removed" not in names


# ---------------------------------------------------------------- flow-log delivery

UNMONITORED_ENIS = (
    Eni("eni-0a4444444444444a1", "10.44.0.10", "vpc-0a44444444444444a", "subnet-0a444444444444a", "-"),
    Eni("eni-0a4444444444444a2", "10.44.0.11", "vpc-0a44444444444444a", "subnet-0a444444444444a", "-"),
)  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    bucket: str
    key: str
    records: int
    note: str  # what the product should make of it


def _deliveries_of_window(estate: Estate) -> list[tuple[str, str, str, tuple[str, ...], int, str]]:
    """(account, region, bucket, fields, records, note) per flow log, per window."""
    out = []
    for plan in PLAN:
        if not plan.flow_logs or plan.group != FLOWLOGS_GROUP:
            continue
        for region in plan.regions:
            bucket = archive_bucket(region if plan.log_archive else QUEUE_REGION)
            if plan.flow_log_format:
                out.append((plan.account_id, region, bucket, CUSTOM_FIELDS, 1200, "loads"))
            else:
                out.append((plan.account_id, region, bucket, DEFAULT_FIELDS, 200,
                            "fails: AWS's default format lacks mandatory fields"))  # fmt: skip
    out.append((UNMONITORED_ACCOUNT, QUEUE_REGION, archive_bucket(QUEUE_REGION), CUSTOM_FIELDS,
                200, "filtered: no inventory integration monitors that account"))  # fmt: skip
    return out


def deliver_window(estate: Estate, window_start: int, changes_applied: int) -> list[Delivery]:
    """Upload the files of the five minutes after `window_start` (epoch seconds), delivered ten
    minutes later as AWS does, into the archive buckets (S3 -> SNS -> the collector's queue)."""
    delivered = []
    for n, (account, region, bucket, fields, count, note) in enumerate(
        _deliveries_of_window(estate)
    ):
        world = estate.worlds.get((account, region))
        if world is None:
            enis, flow_log_id = list(UNMONITORED_ENIS), "fl-0a4444444444444a"
        else:
            enis, flow_log_id = estate.enis(account, region), world.flow_log_id
        watched = (account, region) == WATCHED
        rows = window_records(
            account,
            enis,
            window_start,
            count,
            seed=window_start + n,
            https_open=https_open(changes_applied) or not watched,
        )
        key = object_key(account, region, flow_log_id, window_start + 600, f"w{n}")
        s3 = estate.admin_client(COLLECTOR_ACCOUNT, region, "s3")
        s3.put_object(Bucket=bucket, Key=key, Body=flow_log_gzip(rows, fields))
        delivered.append(Delivery(bucket, key, len(rows), note))
    return delivered
