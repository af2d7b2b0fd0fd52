"""Registry rules on SQLite and PostgreSQL; every failed request leaves nothing behind."""

import pytest
import sqlalchemy as sa

from cloudinsights_dagster.registry import NotFound, Registry, RegistryError
from cloudinsights_dagster.warehouse import schema as s
from cloudinsights_dagster.warehouse.db import get_engine

ROLE = "arn:aws:iam::111122223333:role/ci-inventory"
ROLE2 = "arn:aws:iam::111122223333:role/ci-other"
TOPIC_E1 = "arn:aws:sns:us-east-1:111122223333:flow-logs"
TOPIC_W2 = "arn:aws:sns:us-west-2:111122223333:flow-logs"
FOREIGN_TOPIC = "arn:aws:sns:us-east-1:999988887777:flow-logs"


@pytest.fixture
def registry(database_url):
    return Registry(database_url)


def _counts(url):
    with get_engine(url).connect() as conn:
        return {
            model.__tablename__: conn.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (
                s.Integration,
                s.IntegrationTopic,
                s.IntegrationRegion,
                s.IntegrationStatus,
            )
        }


def test_add_and_list(registry):
    inv = registry.add_inventory("g1", "prod", ROLE, ["us-east-1", "eu-west-1"])
    fl = registry.add_flowlogs("g1", "prod-flows", ROLE, [TOPIC_E1, TOPIC_W2])
    assert inv.regions == ("eu-west-1", "us-east-1")
    assert fl.topic_arns == (TOPIC_E1, TOPIC_W2)
    assert [i.name for i in registry.list_integrations("g1")] == ["prod", "prod-flows"]
    assert registry.get("g1", "prod").account_id == "111122223333"


def test_new_integrations_are_pending(registry):
    inv = registry.add_inventory("g1", "prod", ROLE)
    with get_engine(registry.database_url).connect() as conn:
        status = conn.execute(sa.select(s.IntegrationStatus)).one()
    assert (status.integration_id, status.status) == (inv.id, "pending")


def test_duplicate_name_in_group_refused_but_fine_in_another_group(registry):
    registry.add_inventory("g1", "prod", ROLE)
    before = _counts(registry.database_url)
    with pytest.raises(RegistryError, match="named 'prod' already exists in account group 'g1'"):
        registry.add_flowlogs("g1", "prod", ROLE2, [TOPIC_E1])
    assert _counts(registry.database_url) == before
    registry.add_inventory("g2", "prod", ROLE)  # groups are separate tenants


def test_role_used_once_per_type_but_shared_across_types(registry):
    registry.add_inventory("g1", "inv", ROLE)
    with pytest.raises(
        RegistryError, match="already used by inventory monitoring integration 'inv'"
    ):
        registry.add_inventory("g1", "inv2", ROLE)
    registry.add_flowlogs("g1", "flows", ROLE, [TOPIC_E1])
    with pytest.raises(RegistryError, match="already used by flow logs monitoring"):
        registry.add_flowlogs("g1", "flows2", ROLE, [TOPIC_W2])


def test_topic_of_another_account_refused_naming_it(registry):
    with pytest.raises(RegistryError, match="999988887777:flow-logs belong to a different account"):
        registry.add_flowlogs("g1", "flows", ROLE, [TOPIC_E1, FOREIGN_TOPIC])
    assert _counts(registry.database_url)["integrations"] == 0


def test_topic_in_another_integration_refused_naming_it(registry):
    registry.add_flowlogs("g1", "flows", ROLE, [TOPIC_E1])
    before = _counts(registry.database_url)
    with pytest.raises(RegistryError) as err:
        registry.add_flowlogs("g2", "flows", ROLE, [TOPIC_W2, TOPIC_E1])
    assert TOPIC_E1 in str(err.value) and "'flows'" in str(err.value)
    assert _counts(registry.database_url) == before


def test_malformed_identifiers_and_empty_topics(registry):
    with pytest.raises(RegistryError, match="invalid IAM role ARN"):
        registry.add_inventory("g1", "x", "arn:aws:iam::1:role/x")
    with pytest.raises(RegistryError, match="invalid AWS region"):
        registry.add_inventory("g1", "x", ROLE, ["useast1"])
    with pytest.raises(RegistryError, match="at least one SNS topic"):
        registry.add_flowlogs("g1", "x", ROLE, [])
    with pytest.raises(RegistryError, match="invalid SNS topic ARN"):
        registry.add_flowlogs("g1", "x", ROLE, ["arn:aws:sns:us-east-1:111122223333"])
    assert _counts(registry.database_url)["integrations"] == 0


def test_external_id_random_and_stable(registry):
    first = registry.external_id("g1")
    assert first == registry.external_id("g1")
    assert first != registry.external_id("g2")
    assert len(first) >= 32


def test_remove(registry):
    registry.add_flowlogs("g1", "flows", ROLE, [TOPIC_E1])
    registry.remove("g1", "flows")
    assert registry.list_integrations("g1") == []
    registry.add_flowlogs("g1", "flows", ROLE, [TOPIC_E1])  # topic is free again
    with pytest.raises(NotFound):
        registry.remove("g1", "nope")


def test_settings_and_locations(registry):
    registry.add_inventory("g1", "a", ROLE, ["us-east-1", "eu-west-1"])
    registry.add_inventory("g2", "b", "arn:aws:iam::444455556666:role/r", ["us-east-1"])
    registry.add_inventory("g2", "c", "arn:aws:iam::777788889999:role/r")  # regions unknown yet
    with pytest.raises(RegistryError, match="cannot be disabled"):
        registry.set_enabled("g1", False, resource_group="ec2")
    with pytest.raises(RegistryError, match="unknown resource group 'lambda'"):
        registry.set_enabled("g1", False, resource_group="lambda")
    registry.set_enabled("g1", False, region="eu-west-1")
    registry.set_enabled("g1", False, resource_group="vpn")
    keys = [loc.key for loc in registry.locations()]
    assert keys == ["111122223333-us-east-1", "444455556666-us-east-1"]
    (loc_a,) = [loc for loc in registry.locations() if loc.account_group == "g1"]
    assert loc_a.disabled_resource_groups == frozenset({"vpn"})
    registry.set_enabled("g1", True, region="eu-west-1")
    assert len(registry.locations()) == 3
    assert registry.disabled("g1").regions == frozenset()
