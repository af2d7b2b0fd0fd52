"""Throughput per entity per five-minute window: windows by record time, entities, NODATA,
dictionary and plain strings, late data (union == merge of parts), exact sums."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from flowlog_samples import Eni, flow_log_gzip, sample_records

from cloudinsights_dagster.flowlogs import enrich as E
from cloudinsights_dagster.flowlogs.parse import read_flow_log
from cloudinsights_dagster.views import throughput as T
from cloudinsights_dagster.views import vectorized as V
from cloudinsights_dagster.views.throughput import (
    THROUGHPUT_SCHEMA,
    aggregate_throughput,
    merge_throughput,
    windows_of,
)
from cloudinsights_dagster.views.vectorized import window_start

T0 = int(datetime(2026, 1, 1, 9, 0, tzinfo=UTC).timestamp())
DICT = pa.dictionary(pa.int32(), pa.string())
STRING_COLUMNS = (
    "account_id",
    "interface_id",
    "action",
    "log_status",
    "flow_direction",
    "eni_instance_id",
    "eni_subnet_id",
    "eni_vpc_id",
    "eni_owner_account_id",
)


def rec(
    eni="eni-a",
    start=T0,
    direction="ingress",
    action="ACCEPT",
    bytes_=100,
    packets=2,
    status="OK",
    account="111111111111",
    instance="i-a",
    subnet="subnet-1",
    vpc="vpc-1",
    owner="111111111111",
) -> dict:
    no_data = status != "OK"
    return {
        "version": 5,
        "account_id": account,
        "interface_id": eni,
        "srcaddr": None if no_data else "203.0.113.9",
        "dstaddr": None if no_data else "10.0.0.10",
        "srcport": None if no_data else 50000,
        "dstport": None if no_data else 443,
        "protocol": None if no_data else 6,
        "packets": None if no_data else packets,
        "bytes": None if no_data else bytes_,
        "start": start,
        "end": start + 30,
        "action": None if no_data else action,
        "log_status": status,
        "flow_direction": None if no_data else direction,
        "traffic_path": None,
        "tcp_flags": None if no_data else 2,
        "eni_instance_id": instance,
        "eni_subnet_id": subnet,
        "eni_vpc_id": vpc,
        "eni_owner_account_id": owner,
    }


def table(rows: list[dict], dictionary: bool = True) -> pa.Table:
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in ("start", "end"):
            columns[name] = pa.array(values, pa.int64()).cast(V.TIMESTAMP)
        elif name in STRING_COLUMNS:
            columns[name] = pa.array(values, pa.string())
            if dictionary:
                columns[name] = columns[name].cast(DICT)
        elif name in ("srcaddr", "dstaddr"):
            columns[name] = pa.array(values, pa.string())
        elif name in ("packets", "bytes"):
            columns[name] = pa.array(values, pa.int64())
        else:
            columns[name] = pa.array(values, pa.int32())
    return pa.table(columns)


def rows_of(result: pa.Table) -> dict[tuple, tuple]:
    out = {}
    for r in result.to_pylist():
        key = (r["window_start"], r["entity_type"], r["entity_id"], r["direction"], r["action"])
        assert key not in out
        out[key] = (r["bytes"], r["packets"], r["flows"])
    return out


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 1, 1, hh, mm, ss, tzinfo=UTC)


def secs(hh: int, mm: int, ss: int = 0) -> int:
    return int(at(hh, mm, ss).timestamp())


def test_window_is_the_record_start_not_the_file_time():
    # A file delivered at 09:15 (its name says so) holding records of 09:04:59 and 09:05:00.
    late_file = table([rec(start=secs(9, 4, 59)), rec(start=secs(9, 5, 0), bytes_=7)])
    result = aggregate_throughput(late_file)
    assert result.schema == THROUGHPUT_SCHEMA
    got = rows_of(result.filter(pc.equal(result["entity_type"], "eni")))
    assert got == {
        (at(9, 0), "eni", "eni-a", "inbound", "ACCEPT"): (100, 2, 1),
        (at(9, 5), "eni", "eni-a", "inbound", "ACCEPT"): (7, 2, 1),
    }
    assert windows_of(late_file) == {at(9, 0), at(9, 5)}
    assert window_start(at(9, 4, 59)) == at(9, 0)
    assert window_start("2026-01-01T09:05:00Z") == at(9, 5)


def test_every_entity_direction_and_action_apart():
    rows = [
        rec(direction="ingress", action="ACCEPT", bytes_=100, packets=1),
        rec(direction="ingress", action="ACCEPT", bytes_=50, packets=1),
        rec(direction="egress", action="REJECT", bytes_=40, packets=3),
        # Another ENI of the same subnet, no instance (requester-managed).
        rec(eni="eni-b", instance=None, direction="egress", action="ACCEPT", bytes_=9, packets=1),
    ]
    got = rows_of(aggregate_throughput(table(rows)))
    w = at(9, 0)
    assert got == {
        (w, "account", "111111111111", "inbound", "ACCEPT"): (150, 2, 2),
        (w, "account", "111111111111", "outbound", "ACCEPT"): (9, 1, 1),
        (w, "account", "111111111111", "outbound", "REJECT"): (40, 3, 1),
        (w, "eni", "eni-a", "inbound", "ACCEPT"): (150, 2, 2),
        (w, "eni", "eni-a", "outbound", "REJECT"): (40, 3, 1),
        (w, "eni", "eni-b", "outbound", "ACCEPT"): (9, 1, 1),
        (w, "instance", "i-a", "inbound", "ACCEPT"): (150, 2, 2),
        (w, "instance", "i-a", "outbound", "REJECT"): (40, 3, 1),
        (w, "subnet", "subnet-1", "inbound", "ACCEPT"): (150, 2, 2),
        (w, "subnet", "subnet-1", "outbound", "ACCEPT"): (9, 1, 1),
        (w, "subnet", "subnet-1", "outbound", "REJECT"): (40, 3, 1),
        (w, "vpc", "vpc-1", "inbound", "ACCEPT"): (150, 2, 2),
        (w, "vpc", "vpc-1", "outbound", "ACCEPT"): (9, 1, 1),
        (w, "vpc", "vpc-1", "outbound", "REJECT"): (40, 3, 1),
    }


def test_account_is_the_eni_owner_else_the_record_account():
    rows = [
        # The inventory knows the ENI: its owner wins over the record's account-id.
        rec(eni="eni-a", account="unknown", owner="222222222222"),
        # Unknown ENI: the record's account-id.
        rec(eni="eni-x", account="333333333333", owner=None, instance=None, subnet=None, vpc=None),
        # Unknown ENI and `unknown` account: no account row at all.
        rec(eni="eni-y", account="unknown", owner=None, instance=None, subnet=None, vpc=None),
    ]
    result = aggregate_throughput(table(rows))
    accounts = result.filter(pc.equal(result["entity_type"], "account"))
    assert sorted(accounts["entity_id"].to_pylist()) == ["222222222222", "333333333333"]
    enis = result.filter(pc.equal(result["entity_type"], "eni"))
    assert sorted(enis["entity_id"].to_pylist()) == ["eni-a", "eni-x", "eni-y"]
    # Null entity ids are skipped, never an entity called None.
    assert result["entity_id"].null_count == 0
    subnets = result.filter(pc.equal(result["entity_type"], "subnet"))
    assert subnets["flows"].to_pylist() == [1]


def test_nodata_and_skipdata_count_nowhere():
    rows = [
        rec(bytes_=100),
        rec(status="NODATA"),
        rec(status="SKIPDATA", eni="eni-z"),
    ]
    result = aggregate_throughput(table(rows))
    assert set(result["entity_id"].to_pylist()) == {
        "111111111111",
        "eni-a",
        "i-a",
        "subnet-1",
        "vpc-1",
    }
    assert result["flows"].to_pylist() == [1] * 5
    assert aggregate_throughput(table([rec(status="NODATA")])).num_rows == 0
    # A NODATA-only file still touches its window (re-aggregating it is harmless).
    assert windows_of(table([rec(status="NODATA")])) == {at(9, 0)}


def test_dictionary_and_plain_strings_give_the_same_result():
    rng = random.Random(3)
    rows = [
        rec(
            eni=rng.choice(["eni-a", "eni-b", "eni-c"]),
            start=T0 + rng.randrange(0, 1800),
            direction=rng.choice(["ingress", "egress"]),
            action=rng.choice(["ACCEPT", "REJECT"]),
            bytes_=rng.randrange(0, 10_000),
            instance=rng.choice(["i-a", None]),
        )
        for _ in range(300)
    ]
    plain = aggregate_throughput(table(rows, dictionary=False))
    dictionary = aggregate_throughput(table(rows, dictionary=True))
    # Several files: chunks with different dictionaries (and value orders).
    chunked = pa.concat_tables(
        [table(rows[:100]), table(list(reversed(rows[100:250]))), table(rows[250:])]
    )
    assert chunked["interface_id"].num_chunks == 3
    assert plain.equals(dictionary)
    assert aggregate_throughput(chunked).equals(plain)
    assert plain.num_rows > 0


def reference(rows: list[dict]) -> dict[tuple, tuple]:
    """The aggregation written the obvious way."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        if r["log_status"] != "OK":
            continue
        w = datetime.fromtimestamp(r["start"] - r["start"] % 300, UTC)
        direction = {"ingress": "inbound", "egress": "outbound"}[r["flow_direction"]]
        account = r["eni_owner_account_id"] or (
            r["account_id"] if r["account_id"] != "unknown" else None
        )
        for entity_type, entity_id in (
            ("eni", r["interface_id"]),
            ("instance", r["eni_instance_id"]),
            ("subnet", r["eni_subnet_id"]),
            ("vpc", r["eni_vpc_id"]),
            ("account", account),
        ):
            if entity_id is None:
                continue
            s = sums[(w, entity_type, entity_id, direction, r["action"])]
            s[0] += r["bytes"]
            s[1] += r["packets"]
            s[2] += 1
    return {k: tuple(v) for k, v in sums.items()}


def random_rows(n: int, seed: int, big: bool = False) -> list[dict]:
    rng = random.Random(seed)
    enis = [f"eni-{i:04x}" for i in range(40)]
    rows = []
    for _ in range(n):
        i = rng.randrange(len(enis))
        known = i % 7 != 0
        rows.append(
            rec(
                eni=enis[i],
                start=T0 + rng.randrange(-600, 3600),
                direction=rng.choice(["ingress", "egress"]),
                action=rng.choice(["ACCEPT", "REJECT"]),
                bytes_=rng.randrange(0, 2**45 if big else 1_000_000),
                packets=rng.randrange(1, 1000),
                status="OK" if rng.random() > 0.05 else "NODATA",
                account=rng.choice(["111111111111", "unknown"]),
                instance=f"i-{i % 9}" if known and i % 3 else None,
                subnet=f"subnet-{i % 4}" if known else None,
                vpc=f"vpc-{i % 2}" if known else None,
                owner="111111111111" if known else None,
            )
        )
    return rows


@pytest.mark.parametrize("big", [False, True])
def test_sums_are_exact_against_a_reference(big):
    rows = random_rows(3000, seed=11, big=big)
    assert rows_of(aggregate_throughput(table(rows))) == reference(rows)


def test_sparse_key_space_takes_the_sorting_path(monkeypatch):
    rows = random_rows(2000, seed=5)
    dense = aggregate_throughput(table(rows))
    monkeypatch.setattr(V, "_BINCOUNT_MAX_KEYS", 0)
    monkeypatch.setattr(T, "group_sums", _sorting_only(V.group_sums))
    assert aggregate_throughput(table(rows)).equals(dense)


def _sorting_only(group_sums):
    def wrapper(keys, measures, key_space):
        # Pretend the key space is huge: forces the sort + reduceat path.
        n = sum(len(k) for k in keys)
        return group_sums(keys, measures, max(key_space, 4 * n + 1))

    return wrapper


def test_group_sums_paths_agree():
    rng = np.random.default_rng(0)
    keys = [rng.integers(0, 500, 4000), rng.integers(200, 900, 3000)]
    values = [rng.integers(0, 2**50, 4000), rng.integers(0, 2**50, 3000)]
    dense = V.group_sums(keys, [values, [None, None]], 900)
    sparse = V.group_sums(keys, [values, [None, None]], 10**12)
    for a, b in zip(dense, sparse, strict=True):
        if isinstance(a, list):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(a, b)
    all_keys = np.concatenate(keys)
    all_values = np.concatenate(values)
    expected = {int(k): int(all_values[all_keys == k].sum()) for k in np.unique(all_keys)}
    assert dict(zip(dense[0].tolist(), dense[1][0].tolist(), strict=True)) == expected


# -- late data -------------------------------------------------------------------------------

ENIS = [
    Eni("eni-0a", "10.0.0.1", "vpc-1", "subnet-1", "i-1"),
    Eni("eni-0b", "10.0.0.2", "vpc-1", "subnet-1", "i-2"),
    Eni("eni-0c", "10.0.1.3", "vpc-1", "subnet-2"),
]


def inventory() -> pa.Table:
    return pa.table(
        {
            "interface_id": ["eni-0a", "eni-0b", "eni-0c"],
            "instance_id": ["i-1", "i-2", None],
            "subnet_id": ["subnet-1", "subnet-1", "subnet-2"],
            "vpc_id": ["vpc-1"] * 3,
            "security_group_ids": [["sg-1"], ["sg-1", "sg-2"], []],
            "availability_zone": ["eu-west-1a"] * 3,
            "owner_account_id": ["111111111111"] * 3,
            "name": ["a", "b", None],
            "private_ips": [["10.0.0.1"], ["10.0.0.2"], ["10.0.1.3"]],
            "public_ips": [[], [], []],
        }
    )


def enriched_file(start: int, count: int, seed: int) -> pa.Table:
    """One flow-log object, parsed and enriched like the pipeline does."""
    parsed = read_flow_log(flow_log_gzip(sample_records("111111111111", ENIS, start, count, seed)))
    index = E.EniIndex(inventory(), {"111111111111"})
    return pa.Table.from_batches([E.enrich_batch(b, index).batch for b in parsed.to_batches()])


def test_union_equals_merge_of_parts_and_late_files_touch_only_their_windows():
    files = [
        enriched_file(T0, 300, seed=1),
        enriched_file(T0 + 300, 300, seed=2),
        enriched_file(T0 + 600, 300, seed=3),
        enriched_file(T0 + 60, 200, seed=4),  # late: records of 09:01..09:05, delivered last
    ]
    everything = pa.concat_tables(files)
    from_scratch = aggregate_throughput(everything)
    assert from_scratch.num_rows > 0
    assert merge_throughput([aggregate_throughput(f) for f in files]).equals(from_scratch)
    assert merge_throughput([from_scratch]).equals(from_scratch)
    assert merge_throughput([]).equals(T.empty_throughput())

    # Stored figures before the late file; the late file touches only some windows.
    stored = aggregate_throughput(pa.concat_tables(files[:3]))
    touched = windows_of(files[3])
    assert touched and touched < windows_of(everything)
    # (a) re-aggregate the touched windows from every record, keep the other windows as stored;
    kept = stored.filter(
        pc.invert(pc.is_in(stored["window_start"], pa.array(sorted(touched), V.TIMESTAMP)))
    )
    redone = aggregate_throughput(everything, windows=touched)
    assert set(redone["window_start"].to_pylist()) <= touched
    assert merge_throughput([kept, redone]).equals(from_scratch)
    # (b) or add the late file's partial aggregate to the stored one.
    assert merge_throughput([stored, aggregate_throughput(files[3])]).equals(from_scratch)


def test_merge_accepts_tables_read_back_from_a_warehouse():
    result = aggregate_throughput(table(random_rows(500, seed=2)))
    frame = result.to_pandas()  # e.g. rows read back through SQL
    frame["window_start"] = frame["window_start"].dt.tz_localize(None)  # naive = UTC
    again = pa.Table.from_pandas(frame, preserve_index=False)
    assert merge_throughput([again]).equals(result)


def test_output_is_sorted_and_empty_input_gives_empty_table():
    result = aggregate_throughput(table(random_rows(800, seed=9)))
    keys = list(zip(*(result[k].to_pylist() for k in T.THROUGHPUT_KEYS), strict=True))
    assert keys == sorted(keys)
    empty = aggregate_throughput(table([rec()]).slice(0, 0))
    assert empty.num_rows == 0 and empty.schema == THROUGHPUT_SCHEMA
