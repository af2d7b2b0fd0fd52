"""Onboarding an AWS Organization: discover its member accounts and register one inventory
integration per ACTIVE account, idempotently.

Re-running adds only new accounts; accounts that are suspended, closing or gone from the
organization have their integrations *disabled* (kept, not monitored), never deleted; an account
that comes back is enabled again. Dagster-free: the CLI and tests call it directly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cloudinsights_dagster import aws, registry_bulk
from cloudinsights_dagster.arns import parse_role_arn, validate_region
from cloudinsights_dagster.registry import IntegrationInfo, Registry, RegistryError
from cloudinsights_dagster.registry_bulk import InventoryAccount, NewInventory

AccountStatus = Literal["ACTIVE", "SUSPENDED", "PENDING_CLOSURE"]
ROLE_ARN_TEMPLATE = "arn:aws:iam::{account_id}:role/{role_name}"
DEFAULT_NAME_TEMPLATE = "{account_name}"
_OU_ID = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OrganizationError(Exception):
    """Organizations could not be read, or an onboarding input is invalid."""


@dataclass(frozen=True)
class OrgAccount:
    id: str
    name: str
    email: str
    status: str  # ACTIVE | SUSPENDED | PENDING_CLOSURE
    ou_path: str = ""  # e.g. "Root/Workloads/Prod"; empty when not looked up

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "status": self.status,
            "ou_path": self.ou_path,
        }


@dataclass(frozen=True)
class Organization:
    id: str
    management_account_id: str
    accounts: tuple[OrgAccount, ...]  # every account, any status
    in_scope: frozenset[str]  # account ids under the requested OUs (all when no OU given)


# ---------------------------------------------------------------- discovery


def organizations_client(management_role_arn: str | None = None, external_id: str | None = None):
    """The collector's own credentials, or an assumed role in the management (or delegated
    administrator) account. Organizations is a global service answered in us-east-1."""
    source = aws.base_session("us-east-1")
    if management_role_arn:
        target = aws.RoleTarget(
            parse_role_arn(management_role_arn).arn, external_id or "", "cloudinsights-org"
        )
        if external_id is None:
            # A management-account role need not use an ExternalId; AssumeRole without one.
            creds = aws.client(source, "sts").assume_role(
                RoleArn=target.role_arn, RoleSessionName=target.session_name
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name="us-east-1",
            )
        else:
            session = aws.assumed_role_session(target, "us-east-1", source)
        return aws.client(session, "organizations")
    return aws.client(source, "organizations")


def _pages(client, operation: str, key: str, **kwargs) -> Iterable[dict]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def validate_ou_ids(ou_ids: Iterable[str]) -> list[str]:
    ids = [o.strip() for o in ou_ids]
    bad = [o for o in ids if not _OU_ID.match(o)]
    if bad:
        raise OrganizationError(
            f"invalid OU id(s) {', '.join(repr(b) for b in bad)}: expected ou-xxxx-xxxxxxxx "
            "(or a root id r-xxxx), as `aws organizations list-organizational-units-for-parent` "
            "shows"
        )
    return ids


def discover_organization(client, ou_ids: Iterable[str] = ()) -> Organization:
    """Every account of the organization (ListAccounts, paginated) and, with `ou_ids`, which
    of them sit under those OUs (ListAccountsForParent, recursively over child OUs)."""
    ou_ids = validate_ou_ids(ou_ids)
    try:
        org = client.describe_organization()["Organization"]
        listed = list(_pages(client, "list_accounts", "Accounts"))
        paths: dict[str, str] = {}
        in_scope: set[str] = set()
        if ou_ids:
            names = _ou_names(client, ou_ids)
            for ou_id in ou_ids:
                for account_id, path in _walk(client, ou_id, names[ou_id]):
                    in_scope.add(account_id)
                    paths.setdefault(account_id, path)
    except (ClientError, BotoCoreError) as exc:
        raise OrganizationError(
            f"could not read AWS Organizations ({aws.error_message(exc)}): run from the "
            "management account or a delegated administrator, or pass --management-role-arn "
            "(needs organizations:DescribeOrganization, ListAccounts, ListAccountsForParent, "
            "ListOrganizationalUnitsForParent, DescribeOrganizationalUnit)"
        ) from None
    accounts = tuple(
        sorted(
            (
                OrgAccount(
                    id=a["Id"],
                    name=a.get("Name") or a["Id"],
                    email=a.get("Email", ""),
                    # `State` is the newer field (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED).
                    status=a.get("State") or a.get("Status") or "ACTIVE",
                    ou_path=paths.get(a["Id"], ""),
                )
                for a in listed
            ),
            key=lambda a: a.id,
        )
    )
    scope = frozenset(in_scope) if ou_ids else frozenset(a.id for a in accounts)
    return Organization(org["Id"], org.get("MasterAccountId", ""), accounts, scope)


def _ou_names(client, ou_ids: list[str]) -> dict[str, str]:
    names = {}
    for ou_id in ou_ids:
        if ou_id.startswith("r-"):
            names[ou_id] = "Root"
        else:
            unit = client.describe_organizational_unit(OrganizationalUnitId=ou_id)
            names[ou_id] = unit["OrganizationalUnit"]["Name"]
    return names


def _walk(client, parent_id: str, path: str) -> Iterable[tuple[str, str]]:
    # Iterative, so deep OU trees cannot hit the recursion limit.
    stack = [(parent_id, path)]
    while stack:
        parent, where = stack.pop()
        for account in _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent):
            yield account["Id"], where
        for child in _pages(
            client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
        ):
            stack.append((child["Id"], f"{where}/{child['Name']}"))


# ---------------------------------------------------------------- plan and apply


@dataclass(frozen=True)
class PlannedAccount:
    account_id: str
    name: str
    role_arn: str
    status: str
    integration_id: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class OnboardingPlan:
    account_group: str
    organization_id: str
    regions: tuple[str, ...]
    add: list[PlannedAccount] = field(default_factory=list)
    keep: list[PlannedAccount] = field(default_factory=list)
    disable: list[PlannedAccount] = field(default_factory=list)
    enable: list[PlannedAccount] = field(default_factory=list)
    skipped: list[PlannedAccount] = field(default_factory=list)  # not ACTIVE, never registered

    def as_dict(self) -> dict:
        return {
            "account_group": self.account_group,
            "organization_id": self.organization_id,
            "regions": list(self.regions) or "discovered per account",
            **{
                key: [p.as_dict() for p in getattr(self, key)]
                for key in ("add", "keep", "disable", "enable", "skipped")
            },
        }

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("add", "keep", "disable", "enable", "skipped")}


def role_arn_for(account_id: str, role_name: str) -> str:
    if not _ROLE_NAME.match(role_name or ""):
        raise OrganizationError(
            f"invalid role name {role_name!r}: an IAM role name (optionally with a path), "
            "e.g. cloudinsights-inventory"
        )
    return ROLE_ARN_TEMPLATE.format(account_id=account_id, role_name=role_name.strip("/"))


def integration_name(template: str, account: OrgAccount) -> str:
    """The template with {account_id} / {account_name} filled in, made safe: letters, digits,
    `.`, `_` and `-` only (an account name can hold spaces and anything else)."""
    try:
        raw = template.format(account_id=account.id, account_name=account.name)
    except (KeyError, IndexError, ValueError) as exc:
        raise OrganizationError(
            f"invalid name template {template!r} ({exc}): use {{account_id}} and {{account_name}}"
        ) from None
    return _UNSAFE.sub("-", raw).strip("-._")[:200] or account.id


def plan_onboarding(
    registry: Registry,
    account_group: str,
    organization: Organization,
    role_name: str,
    name_template: str = DEFAULT_NAME_TEMPLATE,
    regions: Iterable[str] = (),
) -> OnboardingPlan:
    """What `apply_onboarding` would do; reads the registry in two queries, writes nothing."""
    regions = tuple(sorted({validate_region(r) for r in regions}))
    plan = OnboardingPlan(account_group, organization.id, regions)
    existing = registry_bulk.inventory_accounts(registry, account_group)
    by_account: dict[str, list[InventoryAccount]] = {}
    for integration in existing:
        by_account.setdefault(integration.account_id, []).append(integration)
    accounts = {a.id: a for a in organization.accounts}
    taken_names = registry_bulk.integration_names(registry, account_group)
    org_names = [integration_name(name_template, a) for a in organization.accounts]
    clashing = {n for n in org_names if org_names.count(n) > 1}

    for account in organization.accounts:
        if account.id not in organization.in_scope:
            continue
        arn = role_arn_for(account.id, role_name)
        current = by_account.get(account.id, [])
        if account.status != "ACTIVE":
            reason = f"account {account.id} is {account.status} in organization {organization.id}"
            for integration in current:
                item = PlannedAccount(
                    account.id,
                    integration.name,
                    integration.role_arn,
                    account.status,
                    integration.id,
                    reason,
                )
                (plan.keep if integration.disabled_at else plan.disable).append(item)
            if not current:
                plan.skipped.append(
                    PlannedAccount(account.id, account.name, arn, account.status, reason=reason)
                )
            continue
        if current:
            for integration in current:
                item = PlannedAccount(
                    account.id, integration.name, integration.role_arn, "ACTIVE", integration.id
                )
                if integration.disabled_at:
                    plan.enable.append(
                        PlannedAccount(
                            **{**item.__dict__, "reason": f"account {account.id} is ACTIVE again"}
                        )
                    )
                else:
                    plan.keep.append(item)
            continue
        name = integration_name(name_template, account)
        if name in clashing or name in taken_names:
            name = f"{name}-{account.id}" if account.id not in name else f"{name}-org"
        taken_names.add(name)
        plan.add.append(PlannedAccount(account.id, name, arn, "ACTIVE"))

    # Integrations this organization onboarded whose account is no longer in it.
    for integration in existing:
        if integration.account_id in accounts or integration.organization_id != organization.id:
            continue
        reason = f"account {integration.account_id} is no longer in organization {organization.id}"
        item = PlannedAccount(
            integration.account_id,
            integration.name,
            integration.role_arn,
            "GONE",
            integration.id,
            reason,
        )
        (plan.keep if integration.disabled_at else plan.disable).append(item)
    return plan


@dataclass
class OnboardingResult:
    plan: OnboardingPlan
    added: list[IntegrationInfo]
    region_failures: dict[str, str] = field(default_factory=dict)  # account id -> error

    def as_dict(self) -> dict:
        return {**self.plan.as_dict(), "region_discovery_failures": self.region_failures}


def apply_onboarding(
    registry: Registry, plan: OnboardingPlan, discover_regions: bool = True, max_workers: int = 16
) -> OnboardingResult:
    """Carry out a plan in one registry transaction; then, when no regions were given, look up
    each new account's enabled regions concurrently (failures are reported, not fatal: the
    location sync sensor retries them)."""
    added = registry_bulk.apply_inventory_changes(
        registry,
        plan.account_group,
        [NewInventory(p.name, p.role_arn, plan.regions, plan.organization_id) for p in plan.add],
        disable={p.integration_id: p.reason or "disabled" for p in plan.disable},  # type: ignore[misc]
        enable=[p.integration_id for p in plan.enable if p.integration_id is not None],
    )
    result = OnboardingResult(plan, added)
    if discover_regions and not plan.regions and added:
        found, result.region_failures = discover_regions_concurrently(
            [(i.id, i.account_id, i.role_arn) for i in added],
            registry.external_id(plan.account_group),
            max_workers,
        )
        registry_bulk.set_regions_bulk(registry, found, source="discovered")
    return result


def discover_regions_concurrently(
    targets: list[tuple[int, str, str]], external_id: str, max_workers: int = 16
) -> tuple[dict[int, list[str]], dict[str, str]]:
    """DescribeRegions through each account's role, `max_workers` at a time.

    One shared boto3 session builds every client (its loaded service models are reused;
    a session per account would cost ~0.1-0.2 CPU-s each), creation under a lock because
    sessions are not thread-safe while clients are.
    """
    shared = aws.base_session()
    lock = threading.Lock()
    with lock:
        sts = aws.client(shared, "sts")

    def one(target: tuple[int, str, str]) -> tuple[int, str, list[str] | None, str | None]:
        integration_id, account_id, role_arn = target
        try:
            creds = sts.assume_role(
                RoleArn=role_arn, RoleSessionName="cloudinsights-onboard", ExternalId=external_id
            )["Credentials"]
            with lock:
                ec2 = shared.client(
                    "ec2",
                    endpoint_url=aws.endpoint_url(),
                    config=aws.RETRY_CONFIG,
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                )
            answer = ec2.describe_regions(AllRegions=False)
        except (ClientError, BotoCoreError) as exc:
            return integration_id, account_id, None, aws.error_message(exc)
        regions = sorted(
            r["RegionName"]
            for r in answer["Regions"]
            if r.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
        )
        return integration_id, account_id, regions, None

    found: dict[int, list[str]] = {}
    failures: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for integration_id, account_id, regions, error in pool.map(one, targets):
            if regions is None:
                failures[account_id] = error or "unknown error"
            else:
                found[integration_id] = regions
    return found, failures


__all__ = [
    "OnboardingPlan",
    "OnboardingResult",
    "OrgAccount",
    "Organization",
    "OrganizationError",
    "RegistryError",
    "apply_onboarding",
    "discover_organization",
    "organizations_client",
    "plan_onboarding",
]
