"""Benchmark: VPC flow-log parse + mandatory-field check + enrichment + Parquet write.

Generates (deterministically, once, cached under bench-out/) one gzip flow-log file with a custom
format and a realistic value mix, plus an inventory of ENIs, then measures in separate
subprocesses (so peak-memory figures do not pollute each other):

  end_to_end    cloudinsights' process_object: parse + check + enrich + Parquet write
  end_to_end_arrow  the same with the parser's C fast path off (an install without a compiler)
  naive         (a) pandas.read_csv(sep=" ") + DataFrame.to_parquet
  bare_parse    (b) a bare typed pyarrow.csv.read_csv alone (no checks, no enrichment, no write)
  parse_write   (c) that bare parse followed by a plain pyarrow.parquet.write_table
  stream_parse  (for reference) our streaming parse alone
  stream_parse_arrow  (for reference) the same with the C fast path off
  cli_parse     `cloudinsights flowlogs parse FILE --out OUT` as a whole process, imports
                included (`python -m cloudinsights_dagster.flowlogs.cli` until the main CLI
                mounts the group)

The variants run round robin, --repeat times, and the best time of each is kept (a burst of load
from elsewhere then hits all alike). Prints the JSON report, then a table, on stdout; progress on
stderr. The gzip inflater is ISA-L when the `isal` package is installed (else Arrow's zlib;
CLOUDINSIGHTS_GZIP=zlib forces it), and the report says which.

Usage: python bench/bench_flowlogs.py [--records 2000000] [--enis 5000] [--repeat 3]
       [--out-dir bench-out] [--variants end_to_end,naive,...] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
# The helpers the tests and benches share (flowlog_samples) are not in the package.
sys.path.insert(0, str(ROOT / "tests" / "support"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A realistic custom format, deliberately not in AWS's documented order.
BENCH_FORMAT = [
    "version",
    "account-id",
    "interface-id",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "flow-direction",
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
    "tcp-flags",
    "traffic-path",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "az-id",
]

MONITORED_ACCOUNTS = [f"{100000000000 + 7919 * i:012d}" for i in range(10)]
UNMONITORED_ACCOUNTS = [f"{900000000000 + 104729 * i:012d}" for i in range(3)]
BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


def _hex_ids(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    digits = rng.integers(0, 16, size=(n, 17))
    chars = np.array(list("0123456789abcdef"))[digits]
    return np.array([prefix + "".join(row) for row in chars], dtype=object)


def make_inventory(n_enis: int = 5000, seed: int = 7) -> pa.Table:
    """An ENI inventory in the shape enrichment expects (one version per ENI)."""
    rng = np.random.default_rng(seed)
    n_vpcs = max(1, n_enis // 100)
    n_subnets = max(1, n_enis // 25)
    vpcs = _hex_ids(rng, "vpc-", n_vpcs)
    subnets = _hex_ids(rng, "subnet-", n_subnets)
    subnet_vpc = np.arange(n_subnets) % n_vpcs
    enis = _hex_ids(rng, "eni-", n_enis)
    instances = _hex_ids(rng, "i-", n_enis)
    eni_subnet = rng.integers(0, n_subnets, n_enis)
    eni_vpc = subnet_vpc[eni_subnet]
    requester_managed = rng.random(n_enis) < 0.05
    azs = np.array(["us-east-1a", "us-east-1b", "us-east-1c"], dtype=object)
    sgs = _hex_ids(rng, "sg-", 200)
    private_ips = [f"10.{v % 256}.{(i // 250) % 256}.{i % 250 + 2}" for i, v in enumerate(eni_vpc)]
    has_public = rng.random(n_enis) < 0.3
    public_ips = [
        [f"54.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"] if has_public[i] else []
        for i in range(n_enis)
    ]
    return pa.table(
        {
            "interface_id": pa.array(enis, pa.string()),
            "instance_id": pa.array(
                np.where(requester_managed, None, instances).tolist(), pa.string()
            ),
            "subnet_id": pa.array(subnets[eni_subnet], pa.string()),
            "vpc_id": pa.array(vpcs[eni_vpc], pa.string()),
            "security_group_ids": pa.array(
                [[sgs[i % 200], sgs[(i * 7) % 200]] for i in range(n_enis)],
                pa.list_(pa.string()),
            ),
            "availability_zone": pa.array(azs[eni_subnet % 3], pa.string()),
            "owner_account_id": pa.array(
                [MONITORED_ACCOUNTS[i % len(MONITORED_ACCOUNTS)] for i in range(n_enis)],
                pa.string(),
            ),
            "name": pa.array([f"web-{i}" if i % 3 else None for i in range(n_enis)], pa.string()),
            "private_ips": pa.array([[ip] for ip in private_ips], pa.list_(pa.string())),
            "public_ips": pa.array(public_ips, pa.list_(pa.string())),
        }
    )


def _s(arr) -> pa.Array:
    """Any array to strings, nulls as '-'."""
    arr = arr if isinstance(arr, pa.Array) else pa.array(arr)
    return pc.fill_null(pc.cast(arr, pa.string()), "-")


def _ipv4(a, b, c, d) -> pa.Array:
    return pc.binary_join_element_wise(_s(a), _s(b), _s(c), _s(d), ".")


def generate_records(inventory: pa.Table, n: int, seed: int = 11) -> pa.Array:
    """n flow-log text lines (with the trailing newline) for BENCH_FORMAT, as one string array."""
    rng = np.random.default_rng(seed)
    n_inv = inventory.num_rows
    # 4% of records come from accounts without an inventory integration (their ENIs are not in
    # the inventory), 2% from monitored-account ENIs missing from the inventory.
    foreign = rng.random(n) < 0.04
    stray = (~foreign) & (rng.random(n) < 0.02)
    # Zipf-like popularity of ENIs.
    eni_idx = np.minimum((rng.pareto(1.2, n) * n_inv / 20).astype(np.int64), n_inv - 1)
    status_r = rng.random(n)
    status = np.where(status_r < 0.007, "NODATA", np.where(status_r < 0.010, "SKIPDATA", "OK"))
    nodata = status != "OK"

    inv_eni = inventory["interface_id"].combine_chunks()
    inv_vpc = inventory["vpc_id"].combine_chunks()
    inv_subnet = inventory["subnet_id"].combine_chunks()
    inv_inst = inventory["instance_id"].combine_chunks()
    inv_acct = inventory["owner_account_id"].combine_chunks()
    inv_ip = pc.list_element(inventory["private_ips"].combine_chunks(), 0)
    inv_az = pc.replace_substring(
        inventory["availability_zone"].combine_chunks(), "us-east-1", "use1-az"
    )

    idx = pa.array(eni_idx)
    eni = pc.take(inv_eni, idx)
    fake_eni = pc.binary_join_element_wise(
        "eni-0f", _s(pa.array(rng.integers(10**14, 10**15, n))), ""
    )
    eni = pc.if_else(pa.array(foreign | stray), fake_eni, eni)
    acct = pc.take(inv_acct, idx)
    acct = pc.if_else(
        pa.array(foreign),
        pa.array(np.array(UNMONITORED_ACCOUNTS, dtype=object)[rng.integers(0, 3, n)], pa.string()),
        acct,
    )
    acct = pc.if_else(pa.array(rng.random(n) < 0.01), "unknown", acct)

    ipv6 = rng.random(n) < 0.05
    own_ip4 = pc.take(inv_ip, idx)
    own_ip6 = pc.binary_join_element_wise(
        "2600:1f18:4a3:6d00", _s(pa.array(rng.integers(0, 0xFFFF, n))), "e0c:91f2", ":"
    )
    own = pc.if_else(pa.array(ipv6), own_ip6, own_ip4)
    peer_kind = rng.random(n)
    peer_internal = pc.take(inv_ip, pa.array(rng.integers(0, n_inv, n)))
    peer_public = _ipv4(
        rng.integers(1, 224, n),
        rng.integers(0, 256, n),
        rng.integers(0, 256, n),
        rng.integers(1, 255, n),
    )
    peer4 = pc.if_else(pa.array(peer_kind < 0.4), peer_internal, peer_public)
    peer6 = pc.binary_join_element_wise(
        "2a05:d018", _s(pa.array(rng.integers(0, 0xFFFF, n))), "8c1:200", ":"
    )
    peer = pc.if_else(pa.array(ipv6), peer6, peer4)

    egress = rng.random(n) < 0.5
    src = pc.if_else(pa.array(egress), own, peer)
    dst = pc.if_else(pa.array(egress), peer, own)
    server_ports = np.array([443, 80, 22, 5432, 3306, 53, 6379, 8080, 123, 9092])
    server = server_ports[rng.integers(0, len(server_ports), n)]
    ephemeral = rng.integers(32768, 65536, n)
    to_server = rng.random(n) < 0.5
    srcport = np.where(to_server, ephemeral, server)
    dstport = np.where(to_server, server, ephemeral)
    proto_r = rng.random(n)
    protocol = np.where(proto_r < 0.85, 6, np.where(proto_r < 0.98, 17, 1))
    icmp = protocol == 1
    packets = (rng.lognormal(2.0, 1.6, n) + 1).astype(np.int64)
    size = rng.integers(40, 1500, n)
    bytes_ = packets * size
    start = BASE_TIME + rng.integers(0, 600, n)
    end = start + rng.integers(0, 60, n)
    action = np.where(rng.random(n) < 0.08, "REJECT", "ACCEPT")
    flags_choices = np.array([2, 18, 3, 19, 1, 4, 0, 27, 16])
    tcp_flags = np.where(protocol == 6, flags_choices[rng.integers(0, 9, n)], 0)
    path_choices = np.array([1, 1, 1, 2, 2, 2, 3, 4, 5, 7, 8])
    traffic_path = path_choices[rng.integers(0, len(path_choices), n)]

    no = pa.array(nodata)
    dash = pa.scalar("-")

    def measure(values) -> pa.Array:
        return pc.if_else(no, dash, _s(values))

    def ports(values) -> pa.Array:
        return pc.if_else(pa.array(nodata | icmp), dash, _s(values))

    vpc = pc.if_else(pa.array(foreign | stray), "vpc-0ffffffffffffffff", pc.take(inv_vpc, idx))
    subnet = pc.if_else(
        pa.array(foreign | stray), "subnet-0ffffffffffffffff", pc.take(inv_subnet, idx)
    )
    columns = {
        "version": pa.array(np.full(n, "5", dtype=object), pa.string()),
        "account-id": acct,
        "interface-id": eni,
        "vpc-id": measure(vpc),
        "subnet-id": measure(subnet),
        "instance-id": measure(pc.if_else(pa.array(foreign | stray), None, pc.take(inv_inst, idx))),
        "flow-direction": measure(np.where(egress, "egress", "ingress")),
        "srcaddr": measure(src),
        "dstaddr": measure(dst),
        "srcport": ports(srcport),
        "dstport": ports(dstport),
        "protocol": measure(protocol),
        "packets": measure(packets),
        "bytes": measure(bytes_),
        "start": _s(start),
        "end": _s(end),
        "action": measure(action),
        "log-status": pa.array(status, pa.string()),
        "tcp-flags": measure(tcp_flags),
        "traffic-path": pc.if_else(pa.array(nodata | ~egress), dash, _s(traffic_path)),
        "type": measure(np.where(ipv6, "IPv6", "IPv4")),
        "pkt-srcaddr": measure(src),
        "pkt-dstaddr": measure(dst),
        "az-id": measure(pc.take(inv_az, idx)),
    }
    assert list(columns) == BENCH_FORMAT
    line = pc.binary_join_element_wise(*columns.values(), " ")
    return pc.binary_join_element_wise(line, "", "\n")


def write_gzip_lines(path: Path, header: str, lines: pa.Array, chunk_rows: int = 200_000) -> None:
    """Write header + lines as one gzip member (level 6, like gzip's default)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    with open(tmp, "wb") as out:
        out.write(comp.compress((header + "\n").encode()))
        for offset in range(0, len(lines), chunk_rows):
            chunk = lines.slice(offset, chunk_rows)
            offsets = chunk.buffers()[1]
            first, last = np.frombuffer(
                offsets, np.int32, count=len(chunk) + 1, offset=chunk.offset * 4
            )[[0, -1]]
            data = chunk.buffers()[2]
            out.write(comp.compress(memoryview(data)[first:last]))
        out.write(comp.flush())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Variants (each runs in its own subprocess)


def _types(fields: list[str], plain: bool) -> dict:
    """Column types for a bare pyarrow.csv parse: the registry's, strings plain, epochs int64."""
    from cloudinsights_dagster.flowlogs import fields as F

    out = {}
    for name in fields:
        t = F.arrow_type_for(name)
        if pa.types.is_timestamp(t):
            t = pa.int64()
        if plain and pa.types.is_dictionary(t):
            t = pa.string()
        out[name] = t
    return out


def _bare_read(path: str):
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:  # the header, for the column types
        import gzip

        header = gzip.GzipFile(fileobj=fh).readline().decode().split()
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=" "),
        convert_options=pacsv.ConvertOptions(
            column_types=_types(header, plain=True), null_values=["-"], strings_can_be_null=True
        ),
    )


def variant_end_to_end(path: str, out: str, inventory: str) -> dict:
    import pyarrow.parquet as pq

    from cloudinsights_dagster.flowlogs.enrich import EniIndex
    from cloudinsights_dagster.flowlogs.writer import process_object

    table = pq.read_table(inventory)
    started = time.perf_counter()
    index = EniIndex(table, MONITORED_ACCOUNTS)
    result = process_object(path, out, index, MONITORED_ACCOUNTS)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "records": result.records_read,
        "records_loaded": result.records_loaded,
        "records_filtered": result.records_filtered,
        "records_external_peer": result.records_external_peer,
        "records_without_inventory": result.records_without_inventory,
        "output_bytes": result.bytes_written,
    }


def variant_naive(path: str, out: str, inventory: str) -> dict:
    import pandas as pd

    started = time.perf_counter()
    df = pd.read_csv(path, sep=" ")
    read = time.perf_counter() - started
    df.to_parquet(out)
    return {"seconds": time.perf_counter() - started, "records": len(df), "read_seconds": read}


def variant_bare_parse(path: str, out: str, inventory: str) -> dict:
    started = time.perf_counter()
    table = _bare_read(path)
    return {"seconds": time.perf_counter() - started, "records": table.num_rows}


def variant_parse_write(path: str, out: str, inventory: str) -> dict:
    import pyarrow.parquet as pq

    started = time.perf_counter()
    table = _bare_read(path)
    pq.write_table(table, out)
    return {"seconds": time.perf_counter() - started, "records": table.num_rows}


def variant_stream_parse(path: str, out: str, inventory: str) -> dict:
    from cloudinsights_dagster.flowlogs.parse import open_flow_log

    started = time.perf_counter()
    n = 0
    with open_flow_log(path) as reader:
        for batch in reader:
            n += batch.num_rows
    return {"seconds": time.perf_counter() - started, "records": n}


def _without_fast_path(variant):
    """The variant with the parser's C fast path off: what an install without a compiler gets
    (each variant runs in its own process, so the switch touches nothing else)."""

    def run(path: str, out: str, inventory: str) -> dict:
        os.environ["CLOUDINSIGHTS_FASTPARSE"] = "0"
        return variant(path, out, inventory)

    return run


def _with_v0_encoding(variant):
    """The variant as the pipeline was before the flow-record table (issue 11): one unsorted
    row group per parse batch, addresses and integers uncompressed (see encoding.ENCODING), on
    pyarrow's default memory pool (mimalloc; the table's pipeline takes jemalloc, see
    arrow_memory)."""

    def run(path: str, out: str, inventory: str) -> dict:
        from cloudinsights_dagster.flowlogs import encoding
        from cloudinsights_dagster.settings import ARROW_POOL_ENV

        encoding.ENCODING = "v0"
        os.environ.setdefault(ARROW_POOL_ENV, "mimalloc")
        return variant(path, out, inventory)

    return run


VARIANTS = {
    "end_to_end": variant_end_to_end,
    "end_to_end_v0": _with_v0_encoding(variant_end_to_end),
    "end_to_end_arrow": _without_fast_path(variant_end_to_end),
    "naive": variant_naive,
    "bare_parse": variant_bare_parse,
    "parse_write": variant_parse_write,
    "stream_parse": variant_stream_parse,
    "stream_parse_arrow": _without_fast_path(variant_stream_parse),
}
LABELS = {
    "end_to_end": "end to end: parse + check + enrich + Parquet (process_object)",
    "end_to_end_v0": "    the same, writing the encoding before the table (issue 11)",
    "end_to_end_arrow": "    the same without the C fast path (Arrow's CSV reader only)",
    "naive": "(a) pandas.read_csv(sep=' ') + to_parquet",
    "bare_parse": "(b) bare typed pyarrow.csv.read_csv",
    "parse_write": "(c) bare parse + pyarrow.parquet.write_table",
    "stream_parse": "    our streaming parse alone (open_flow_log)",
    "stream_parse_arrow": "    the same without the C fast path",
    "cli_parse": "cloudinsights flowlogs parse FILE --out OUT (whole process)",
}


def _peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM belongs to the current program image; ru_maxrss would
    also count the (larger) benchmark process this one was forked from."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# Runs a command from a small Python process (so the child's ru_maxrss is its own) and reports
# its wall time from spawn to exit and its peak RSS.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - started
err = proc.stderr.read().decode()
print(json.dumps({"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024,
                  "exit": os.waitstatus_to_exitcode(status), "stderr": err[-2000:]}))
"""


def _run_child(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return proc.stdout.decode()


def _cli_argv(path: str, out: str) -> list[str]:
    """`cloudinsights flowlogs parse` when the main CLI mounts the group, else the module."""
    script = Path(sys.executable).with_name("cloudinsights")
    try:
        from cloudinsights_dagster.cli import main as cli_main

        mounted = "flowlogs" in getattr(cli_main, "commands", {})
    except Exception:  # noqa: BLE001 - any failure: fall back to the module
        mounted = False
    if mounted and script.exists():
        return [str(script), "flowlogs", "parse", path, "--out", out]
    return [sys.executable, "-m", "cloudinsights_dagster.flowlogs.cli", "parse", path, "--out", out]


def _run_cli(path: str, out: str) -> dict:
    argv = _cli_argv(path, out)
    figures = json.loads(_run_child([sys.executable, "-c", _LAUNCHER, *argv]).splitlines()[-1])
    if figures["exit"] != 0:
        raise RuntimeError(f"{argv} failed: {figures['stderr']}")
    return {
        "seconds": figures["seconds"],
        "peak_rss_bytes": figures["peak_rss_bytes"],
        "command": " ".join(argv),
    }


def _child(variant: str, path: str, out: str, inventory: str) -> None:
    cpu = time.process_time()
    figures = VARIANTS[variant](path, out, inventory)
    figures["cpu_seconds"] = time.process_time() - cpu  # every thread, imports excluded
    figures["peak_rss_bytes"] = _peak_rss_bytes()
    print(json.dumps(figures))


def prepare(out_dir: Path, records: int, enis: int) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    inventory_path = out_dir / f"inventory-{enis}.parquet"
    flows_path = out_dir / f"flows-{records}-{enis}.log.gz"
    import pyarrow.parquet as pq

    inventory = make_inventory(enis)
    if not inventory_path.exists():
        pq.write_table(inventory, inventory_path)
    if not flows_path.exists():
        print(f"generating {records:,} records into {flows_path} ...", file=sys.stderr)
        lines = generate_records(inventory, records)
        write_gzip_lines(flows_path, " ".join(BENCH_FORMAT), lines)
    return flows_path, inventory_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--enis", type=int, default=5000)
    parser.add_argument("--out-dir", default=str(ROOT / "bench-out"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; best is kept")
    parser.add_argument("--variants", default=",".join([*VARIANTS, "cli_parse"]))
    parser.add_argument("--json-out", default=None, help="also write the JSON report here")
    parser.add_argument(
        "--child", nargs=4, metavar=("VARIANT", "FILE", "OUT", "INVENTORY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0

    out_dir = Path(args.out_dir)
    flows_path, inventory_path = prepare(out_dir, args.records, args.enis)
    wanted = [v for v in args.variants.split(",") if v]
    runs: dict[str, list[dict]] = {v: [] for v in wanted}
    # Round robin (a, b, c, ..., a, b, c, ...): a burst of load from elsewhere on the machine
    # then hits every variant alike, and the best of the runs is kept for each.
    for i in range(args.repeat):
        for variant in wanted:
            out = str(out_dir / f"out-{variant}.parquet")
            if variant == "cli_parse":
                figures = _run_cli(str(flows_path), out)
            else:
                argv_child = [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    str(flows_path),
                    out,
                    str(inventory_path),
                ]
                figures = json.loads(_run_child(argv_child).strip().splitlines()[-1])
            runs[variant].append(figures)
            print(f"  run {i + 1} {variant}: {figures['seconds']:.2f} s", file=sys.stderr)
    results: dict[str, dict] = {}
    for variant, variant_runs in runs.items():
        best = dict(min(variant_runs, key=lambda r: r["seconds"]))
        best["records_per_s"] = args.records / best["seconds"]
        best["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in variant_runs)
        best["runs_seconds"] = [round(r["seconds"], 3) for r in variant_runs]
        cpu = sorted(r["cpu_seconds"] for r in variant_runs if r.get("cpu_seconds") is not None)
        if cpu:  # CPU time varies less with the machine's load than wall time: the median
            best["cpu_seconds"] = cpu[len(cpu) // 2]
            best["runs_cpu_seconds"] = [round(c, 3) for c in cpu]
        results[variant] = best

    report = _report(results, args, flows_path)
    report["demo_files"] = demo_files(out_dir)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)
    print()
    print(_table(report))
    return 0


def _ratio(results: dict, a: str, b: str, invert: bool = False) -> float | None:
    if a not in results or b not in results:
        return None
    if invert:
        return results[a]["seconds"] / results[b]["seconds"]
    return results[a]["records_per_s"] / results[b]["records_per_s"]


def _cpu_ratio(results: dict, a: str, b: str) -> float | None:
    if results.get(a, {}).get("cpu_seconds") and results.get(b, {}).get("cpu_seconds"):
        return round(results[a]["cpu_seconds"] / results[b]["cpu_seconds"], 3)
    return None


def _report(results: dict, args, flows_path: Path) -> dict:
    size = flows_path.stat().st_size
    e2e_vs_bare = _ratio(results, "end_to_end", "bare_parse")
    e2e_vs_naive = _ratio(results, "end_to_end", "naive")
    cli_vs_c = _ratio(results, "cli_parse", "parse_write", invert=True)
    e2e_vs_v0 = _ratio(results, "end_to_end", "end_to_end_v0")
    e2e_rss = results.get("end_to_end", {}).get("peak_rss_bytes")
    out_bytes = results.get("end_to_end", {}).get("output_bytes")
    out_vs_source = None if out_bytes is None else out_bytes / size
    targets = {
        "end_to_end_vs_bare_parse >= 0.6": None if e2e_vs_bare is None else e2e_vs_bare >= 0.6,
        "end_to_end_vs_naive >= 2": None if e2e_vs_naive is None else e2e_vs_naive >= 2,
        "cli_parse_time_vs_parse_write <= 1.5": None if cli_vs_c is None else cli_vs_c <= 1.5,
        "end_to_end_peak_rss < 1 GiB": None if e2e_rss is None else e2e_rss < 2**30,
        "output_vs_source_gzip <= 0.5": None if out_vs_source is None else out_vs_source <= 0.5,
        # Issue 11: records/s no lower than the encoding before the table's, within the noise
        # of best-of-N on a shared machine.
        "end_to_end_vs_end_to_end_v0 >= 0.97": None if e2e_vs_v0 is None else e2e_vs_v0 >= 0.97,
    }
    return {
        "file": str(flows_path),
        "records": args.records,
        "compressed_bytes": size,
        "enis": args.enis,
        "format": " ".join(BENCH_FORMAT),
        "cpus": os.cpu_count(),
        "inflater": _inflater(),
        "text_parser": _text_parser(),
        "repeat": args.repeat,
        "variants": {
            k: {
                "label": LABELS[k],
                "seconds": round(v["seconds"], 3),
                "cpu_seconds": v.get("cpu_seconds") and round(v["cpu_seconds"], 3),
                "records_per_s": round(v["records_per_s"]),
                "peak_rss_mib": round(v["peak_rss_bytes"] / 2**20),
                "runs_seconds": v["runs_seconds"],
                "runs_cpu_seconds": v.get("runs_cpu_seconds"),
                **{
                    x: v[x]
                    for x in (
                        "records_loaded",
                        "records_filtered",
                        "output_bytes",
                        "read_seconds",
                        "command",
                    )
                    if x in v
                },
            }
            for k, v in results.items()
        },
        "ratios": {
            "end_to_end_vs_bare_parse": e2e_vs_bare and round(e2e_vs_bare, 3),
            "end_to_end_vs_naive": e2e_vs_naive and round(e2e_vs_naive, 3),
            "cli_parse_time_vs_parse_write": cli_vs_c and round(cli_vs_c, 3),
            # records/s of today's encoding over the one before it, in this run (>= ~0.97:
            # no slower within the noise of best-of-N on a shared machine).
            "end_to_end_vs_end_to_end_v0": e2e_vs_v0 and round(e2e_vs_v0, 3),
            # The same in CPU: v0's median CPU seconds over this encoding's (>= 1: no more CPU).
            "end_to_end_v0_cpu_vs_end_to_end_cpu": _cpu_ratio(
                results, "end_to_end_v0", "end_to_end"
            ),
            "output_vs_source_gzip": out_vs_source and round(out_vs_source, 3),
            "output_v0_vs_source_gzip": results.get("end_to_end_v0", {}).get("output_bytes")
            and round(results["end_to_end_v0"]["output_bytes"] / size, 3),
        },
        "targets_met": targets,
    }


def demo_files(out_dir: Path) -> dict:
    """Output bytes against source gzip bytes for files like the demo's (cloudinsights demo:
    three objects of 2,000 records from three ENIs), in both encodings, and as one compacted
    file (what the nightly compaction makes of them)."""
    from flowlog_samples import Eni, flow_log_gzip, sample_records

    from cloudinsights_dagster.flowlogs import encoding, table, writer
    from cloudinsights_dagster.flowlogs.enrich import EniIndex

    account = MONITORED_ACCOUNTS[0]
    enis = [
        Eni(f"eni-0demo{i}", f"10.0.1.{10 + i}", "vpc-0demo", "subnet-0demo", f"i-0demo{i}")
        for i in range(3)
    ]
    inventory = pa.table(
        {
            "interface_id": [e.interface_id for e in enis],
            "instance_id": [e.instance_id for e in enis],
            "subnet_id": [e.subnet_id for e in enis],
            "vpc_id": [e.vpc_id for e in enis],
            "security_group_ids": [["sg-0demo"]] * 3,
            "availability_zone": ["us-east-1a"] * 3,
            "owner_account_id": [account] * 3,
            "name": ["web", "db", None],
            "private_ips": [[e.private_ip] for e in enis],
            "public_ips": [[]] * 3,
        }
    )
    index = EniIndex(inventory, [account])
    bodies = [
        flow_log_gzip(sample_records(account, enis, BASE_TIME + 300 * n, 2000, seed=n))
        for n in range(3)
    ]
    folder = out_dir / "demo-files"
    folder.mkdir(exist_ok=True)
    sizes: dict[str, int] = {"source_gzip_bytes": sum(len(b) for b in bodies)}
    previous = encoding.ENCODING
    try:
        for name in ("v0", "compact"):
            encoding.ENCODING = name
            sizes[f"{name}_bytes"] = sum(
                writer.process_object(
                    body, str(folder / f"{name}-{n}.parquet"), index, (), name=f"s3://b/{n}"
                ).bytes_written
                for n, body in enumerate(bodies)
            )
    finally:
        encoding.ENCODING = previous
    merged = pa.concat_tables([pq_read(folder / f"compact-{n}.parquet") for n in range(3)])
    merged = merged.unify_dictionaries().combine_chunks()
    sizes["compacted_bytes"] = table._write(str(folder / "compacted.parquet"), merged)
    for name in ("v0", "compact", "compacted"):
        sizes[f"{name}_vs_source"] = round(sizes[f"{name}_bytes"] / sizes["source_gzip_bytes"], 3)
    return sizes


def pq_read(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _inflater() -> str:
    """Which gzip inflater the children use (ISA-L when the isal package is installed)."""
    import importlib.util

    if os.environ.get("CLOUDINSIGHTS_GZIP") == "zlib" or importlib.util.find_spec("isal") is None:
        return "zlib (Arrow)"
    return "isal (ISA-L)"


def _text_parser() -> str:
    """Which text parser end_to_end and the CLI use."""
    from cloudinsights_dagster.flowlogs import parse

    return (
        "C fast path (Arrow's CSV reader for declined chunks)"
        if parse.fast_path_in_use()
        else "Arrow"
    )


def _table(report: dict) -> str:
    lines = [
        f"{report['records']:,} records, {report['compressed_bytes'] / 1e6:.0f} MB gzip, "
        f"{report['enis']:,} ENIs, {report['cpus']} CPUs, best of {report['repeat']}, "
        f"gzip inflater: {report['inflater']}, text parser: {report['text_parser']}; "
        "seconds: the best run, CPU s: the median run (every thread)",
        f"{'variant':66s} {'seconds':>8s} {'CPU s':>6s} {'records/s':>11s} {'peak RSS':>9s}",
    ]
    for v in report["variants"].values():
        cpu = f"{v['cpu_seconds']:6.2f}" if v.get("cpu_seconds") else f"{'-':>6s}"
        lines.append(
            f"{v['label']:66s} {v['seconds']:8.2f} {cpu} {v['records_per_s']:11,} "
            f"{v['peak_rss_mib']:6d} MiB"
        )
    for name, value in report["ratios"].items():
        lines.append(f"{name:40s} {value}")
    demo = report.get("demo_files")
    if demo:
        lines.append(
            f"demo's files ({demo['source_gzip_bytes']:,} gzip bytes): output "
            f"{demo['compact_vs_source']}x (before the table: {demo['v0_vs_source']}x; "
            f"compacted into one file: {demo['compacted_vs_source']}x)"
        )
    for name, ok in report["targets_met"].items():
        lines.append(f"target {name:45s} {'met' if ok else ('n/a' if ok is None else 'NOT met')}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
