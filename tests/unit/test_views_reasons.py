"""Reject reasons: the rule model on API-shaped security groups and network ACLs (through the
project's own transforms), stateful responses, ACL order and default deny, IPv6, group
references, and the history of a removed rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from cloudinsights_dagster.inventory.collectors.network_interfaces import (
    transform_network_interfaces,
)
from cloudinsights_dagster.inventory.collectors.security import (
    transform_network_acls,
    transform_security_groups,
)
from cloudinsights_dagster.views import rule_evaluation as E
from cloudinsights_dagster.views import rules as R
from cloudinsights_dagster.views.reasons import (
    REASONS_SCHEMA,
    InventoryHistory,
    Version,
    explain_rejects,
)

T0 = int(datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp())
T1 = T0 + 600  # the snapshot that sees the change


def sg_api(group_id, ingress=(), egress=None):
    return {
        "GroupId": group_id,
        "GroupName": group_id,
        "VpcId": "vpc-1",
        "IpPermissions": list(ingress),
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        if egress is None
        else list(egress),
    }


def perm(proto, lo, hi, cidr=None, group=None, cidr6=None):
    p = {"IpProtocol": proto, "FromPort": lo, "ToPort": hi}
    if cidr:
        p["IpRanges"] = [{"CidrIp": cidr}]
    if cidr6:
        p["Ipv6Ranges"] = [{"CidrIpv6": cidr6}]
    if group:
        p["UserIdGroupPairs"] = [{"GroupId": group, "UserId": "111122223333"}]
    return p


def acl_entry(number, action, egress=False, proto="-1", cidr="0.0.0.0/0", ports=None):
    e = {
        "RuleNumber": number,
        "RuleAction": action,
        "Egress": egress,
        "Protocol": proto,
        "CidrBlock": cidr,
    }
    if ports:
        e["PortRange"] = {"From": ports[0], "To": ports[1]}
    return e


ALLOW_ALL_ACL = [
    acl_entry(100, "allow"),
    acl_entry(100, "allow", egress=True),
    acl_entry(32767, "deny"),
    acl_entry(32767, "deny", egress=True),
]


def acl_api(entries=ALLOW_ALL_ACL, subnets=("subnet-1",)):
    return {
        "NetworkAclId": "acl-1",
        "VpcId": "vpc-1",
        "IsDefault": False,
        "Entries": list(entries),
        "Associations": [
            {"NetworkAclAssociationId": f"aclassoc-{s}", "SubnetId": s} for s in subnets
        ],
    }


def eni_api(eni, ip, groups):
    return {
        "NetworkInterfaceId": eni,
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "PrivateIpAddress": ip,
        "PrivateIpAddresses": [{"PrivateIpAddress": ip, "Primary": True}],
        "Groups": [{"GroupId": g} for g in groups],
        "Status": "in-use",
    }


def versions(t_from, t_to, sgs=(), acls=(), enis=()):
    out = []
    for rec in (
        transform_security_groups(list(sgs))
        + transform_network_acls(list(acls))
        + transform_network_interfaces(list(enis))
    ):
        out.append(Version(rec.resource_type, rec.resource_id, t_from, t_to, rec.data))
    return out


def flows(*rows):
    """rows: (eni, direction, src, dst, srcport, dstport, protocol[, start, tcp_flags])."""
    cols = {
        k: []
        for k in (
            "interface_id",
            "flow_direction",
            "srcaddr",
            "dstaddr",
            "srcport",
            "dstport",
            "protocol",
            "start",
            "tcp_flags",
        )
    }
    for r in rows:
        r = (*r, T1 + 60, None)[:9] if len(r) == 7 else (*r, None) if len(r) == 8 else r
        for k, v in zip(cols, r, strict=True):
            cols[k].append(v)
    n = len(rows)
    return pa.table(
        {
            **{k: pa.array(v) for k, v in cols.items() if k not in ("start", "tcp_flags")},
            "start": pa.array(cols["start"], pa.int64()),
            "tcp_flags": pa.array(cols["tcp_flags"], pa.int64()),
            "action": pa.array(["REJECT"] * n),
            "log_status": pa.array(["OK"] * n),
            "packets": pa.array([1] * n, pa.int64()),
            "bytes": pa.array([40] * n, pa.int64()),
            "peer_interface_id": pa.array([None] * n, pa.string()),
        }
    )


def one(table):
    assert table.num_rows == 1, table.to_pylist()
    return table.to_pylist()[0]


WEB = eni_api("eni-web", "10.0.1.10", ["sg-web"])
HTTPS = perm("tcp", 443, 443, cidr="0.0.0.0/0")


def test_a_removed_rule_is_named_with_the_change_that_removed_it():
    history = InventoryHistory(
        versions(T0, T1, sgs=[sg_api("sg-web", [HTTPS])], acls=[acl_api()], enis=[WEB])
        + versions(T1, None, sgs=[sg_api("sg-web", [])], acls=[acl_api()], enis=[WEB])
    )
    row = one(
        explain_rejects(
            flows(("eni-web", "ingress", "198.51.100.7", "10.0.1.10", 50123, 443, 6)), history
        )
    )
    assert row["reason"] == "no_rule_allows"
    assert row["previous_rule_id"] == "sg-web:ingress:tcp/443/0.0.0.0/0"
    assert row["change_resource_type"] == "security_group"
    assert row["change_resource_id"] == "sg-web"
    assert row["change_time"] == datetime.fromtimestamp(T1, UTC)
    assert row["flows"] == 1 and row["dstport"] == 443 and row["protocol"] == 6


def test_a_rule_that_never_existed_has_no_previous_rule():
    history = InventoryHistory(
        versions(T0, None, sgs=[sg_api("sg-web", [HTTPS])], acls=[acl_api()], enis=[WEB])
    )
    row = one(
        explain_rejects(
            flows(("eni-web", "ingress", "198.51.100.7", "10.0.1.10", 40000, 22, 6)), history
        )
    )
    assert row["reason"] == "no_rule_allows"
    assert row["previous_rule_id"] is None and row["change_time"] is None


def test_a_nacl_deny_entry_is_named_before_the_security_groups():
    entries = [acl_entry(90, "deny", cidr="198.51.100.0/24"), *ALLOW_ALL_ACL]
    history = InventoryHistory(
        versions(T0, None, sgs=[sg_api("sg-web", [HTTPS])], acls=[acl_api(entries)], enis=[WEB])
    )
    out = explain_rejects(
        flows(
            ("eni-web", "ingress", "198.51.100.7", "10.0.1.10", 40000, 443, 6),
            ("eni-web", "ingress", "203.0.113.5", "10.0.1.10", 40000, 443, 6),
        ),
        history,
    ).to_pylist()
    by_peer = {r["peer_address"]: r for r in out}
    assert by_peer["198.51.100.7"]["reason"] == "nacl_deny"
    assert by_peer["198.51.100.7"]["rule_id"] == "acl-1:ingress/90"
    assert by_peer["203.0.113.5"]["reason"] == "allowed"
    assert by_peer["203.0.113.5"]["rule_id"] == "sg-web:ingress:tcp/443/0.0.0.0/0"


def test_nacl_rule_order_and_the_default_deny():
    entries = [
        acl_entry(100, "allow", proto="6", ports=(443, 443)),
        acl_entry(200, "deny", proto="6", ports=(0, 65535)),
        acl_entry(300, "allow"),
        acl_entry(32767, "deny"),
        acl_entry(100, "allow", egress=True, proto="6", ports=(443, 443)),
        acl_entry(32767, "deny", egress=True),
    ]
    history = InventoryHistory(
        versions(
            T0,
            None,
            sgs=[sg_api("sg-web", [HTTPS, perm("-1", None, None, cidr="10.0.0.0/8")])],
            acls=[acl_api(entries)],
            enis=[WEB],
        )
    )
    out = explain_rejects(
        flows(
            ("eni-web", "ingress", "10.0.2.2", "10.0.1.10", 40000, 8080, 6),  # deny 200
            ("eni-web", "ingress", "10.0.2.2", "10.0.1.10", 40000, 53, 17),  # allow 300
            ("eni-web", "egress", "10.0.1.10", "10.0.2.2", 40000, 5432, 6),  # default deny
        ),
        history,
    ).to_pylist()
    got = {(r["direction"], r["dstport"]): (r["reason"], r["rule_id"]) for r in out}
    assert got[("ingress", 8080)] == ("nacl_deny", "acl-1:ingress/200")
    assert got[("ingress", 53)] == ("allowed", "sg-web:ingress:all/*/10.0.0.0/8")
    assert got[("egress", 5432)] == ("nacl_deny", "acl-1:egress/32767")


def test_stateful_response_is_allowed_by_groups_but_the_acl_must_open_ephemeral_ports():
    # The ENI called out to 203.0.113.5:443; the response comes back to port 50000.
    no_ephemeral = [
        acl_entry(100, "allow", proto="6", ports=(443, 443)),
        acl_entry(100, "allow", egress=True),
        acl_entry(32767, "deny"),
        acl_entry(32767, "deny", egress=True),
    ]
    egress_443 = [perm("tcp", 443, 443, cidr="0.0.0.0/0")]
    sg = sg_api("sg-web", [], egress=egress_443)
    response = ("eni-web", "ingress", "203.0.113.5", "10.0.1.10", 443, 50000, 6, T1 + 60, 18)
    ok = InventoryHistory(versions(T0, None, sgs=[sg], acls=[acl_api()], enis=[WEB]))
    row = one(explain_rejects(flows(response), ok))
    assert row["reason"] == "allowed"
    assert row["detail"] == "allowed as the response of an allowed request"
    blocked = InventoryHistory(
        versions(T0, None, sgs=[sg], acls=[acl_api(no_ephemeral)], enis=[WEB])
    )
    row = one(explain_rejects(flows(response), blocked))
    assert (row["reason"], row["rule_id"]) == ("nacl_deny", "acl-1:ingress/32767")
    # A SYN from port 443 to a high port is a request, not a response: no rule allows it.
    syn = ("eni-web", "ingress", "203.0.113.5", "10.0.1.10", 443, 50000, 6, T1 + 60, 2)
    assert one(explain_rejects(flows(syn), ok))["reason"] == "no_rule_allows"


def test_group_references_resolve_through_the_peer_enis_groups():
    app = eni_api("eni-app", "10.0.1.20", ["sg-app"])
    other = eni_api("eni-other", "10.0.1.30", ["sg-other"])
    db = eni_api("eni-db", "10.0.1.40", ["sg-db"])
    sgs = [
        sg_api("sg-db", [perm("tcp", 5432, 5432, group="sg-app")]),
        sg_api("sg-app"),
        sg_api("sg-other"),
    ]
    history = InventoryHistory(versions(T0, None, sgs=sgs, acls=[acl_api()], enis=[app, other, db]))
    table = flows(
        ("eni-db", "ingress", "10.0.1.20", "10.0.1.40", 40000, 5432, 6),
        ("eni-db", "ingress", "10.0.1.30", "10.0.1.40", 40000, 5432, 6),
    )
    table = table.set_column(
        table.schema.get_field_index("peer_interface_id"),
        "peer_interface_id",
        pa.array(["eni-app", "eni-other"]),
    )
    got = {
        r["peer_interface_id"]: (r["reason"], r["rule_id"])
        for r in explain_rejects(table, history).to_pylist()
    }
    assert got["eni-app"] == ("allowed", "sg-db:ingress:tcp/5432/sg-app")
    assert got["eni-other"] == ("no_rule_allows", None)


def test_ipv6_rules_match_ipv6_peers_only():
    sg = sg_api("sg-web", [perm("tcp", 443, 443, cidr6="2001:db8::/32")])
    acl = acl_api(
        [
            *ALLOW_ALL_ACL,
            {
                "RuleNumber": 101,
                "RuleAction": "allow",
                "Egress": False,
                "Protocol": "-1",
                "Ipv6CidrBlock": "::/0",
            },
        ]
    )
    history = InventoryHistory(versions(T0, None, sgs=[sg], acls=[acl], enis=[WEB]))
    out = explain_rejects(
        flows(
            ("eni-web", "ingress", "2001:db8::5", "2a05::1", 40000, 443, 6),
            ("eni-web", "ingress", "2001:db9::5", "2a05::1", 40000, 443, 6),
            ("eni-web", "ingress", "10.9.9.9", "10.0.1.10", 40000, 443, 6),
        ),
        history,
    ).to_pylist()
    got = {r["peer_address"]: r["reason"] for r in out}
    assert got == {
        "2001:db8::5": "allowed",
        "2001:db9::5": "no_rule_allows",
        "10.9.9.9": "no_rule_allows",
    }


def test_no_inventory_for_the_eni_is_unknown():
    history = InventoryHistory(
        versions(T0, None, sgs=[sg_api("sg-web", [HTTPS])], acls=[acl_api()], enis=[WEB])
    )
    out = explain_rejects(
        flows(
            ("eni-ghost", "ingress", "198.51.100.7", "10.0.1.99", 40000, 443, 6),
            ("eni-web", "ingress", "198.51.100.7", "10.0.1.10", 40000, 22, 6, T0 - 60, None),
        ),
        history,
    ).to_pylist()
    got = {r["interface_id"]: (r["reason"], r["detail"]) for r in out}
    assert got["eni-ghost"] == ("unknown", "no inventory of eni-ghost at that time")
    assert got["eni-web"] == ("unknown", "no inventory of eni-web at that time")


def test_flows_are_summed_per_key_and_accepted_records_ignored():
    history = InventoryHistory(
        versions(T0, None, sgs=[sg_api("sg-web", [])], acls=[acl_api()], enis=[WEB])
    )
    table = flows(
        *[("eni-web", "ingress", "198.51.100.7", "10.0.1.10", 40000 + i, 22, 6) for i in range(5)]
    )
    action = pa.array(["REJECT"] * 4 + ["ACCEPT"])
    table = table.set_column(table.schema.get_field_index("action"), "action", action)
    row = one(explain_rejects(table, history))
    assert (row["flows"], row["packets"], row["bytes"]) == (4, 4, 160)
    assert explain_rejects(table, history).schema == REASONS_SCHEMA


def test_rule_model_errors_name_the_rule():
    with pytest.raises(R.RuleError, match="sg-x rule 'tcp/1/bogus'"):
        R.security_group_rules(
            {
                "group_id": "sg-x",
                "ip_permissions": [
                    {
                        "key": "tcp/1/bogus",
                        "protocol": "tcp",
                        "from_port": 1,
                        "to_port": 1,
                        "peer": "bogus",
                    }
                ],
            }
        )
    with pytest.raises(R.RuleError, match="protocol 'xyz'"):
        R.protocol_number("xyz")


def test_first_match_over_many_probes_equals_a_python_loop():
    import random

    rng = random.Random(7)
    sets = []
    for _ in range(20):
        rules = tuple(
            R.SgRule(
                "sg",
                f"k{i}",
                False,
                rng.choice([-1, 6, 17]),
                lo,
                lo + rng.randint(0, 2000),
                f"10.{rng.randint(0, 3)}.0.0/16",
                False,
            )
            for i, lo in enumerate(rng.randint(0, 60000) for _ in range(rng.randint(0, 8)))
        )
        sets.append(R.RuleSet(rules, None))
    compiled = E.compile_rule_sets(sets)
    n = 3000
    rs = [rng.randrange(20) for _ in range(n)]
    proto = [rng.choice([6, 17, 1]) for _ in range(n)]
    port = [rng.randint(0, 65535) for _ in range(n)]
    addr = [f"10.{rng.randint(0, 4)}.1.1" for _ in range(n)]
    got = E.first_match(compiled, "sg", E.probes(rs, [0] * n, proto, port, addr))
    import ipaddress

    for i in range(n):
        expected = -1
        for row in range(compiled.sg.start[rs[i] * 2], compiled.sg.end[rs[i] * 2]):
            r = compiled.sg.labels[row]
            if (
                (r.protocol in (-1, proto[i]))
                and (r.protocol not in (6, 17) or r.from_port <= port[i] <= r.to_port)
                and ipaddress.ip_address(addr[i]) in ipaddress.ip_network(r.peer)
            ):
                expected = row
                break
        assert got[i] == expected
