"""The parser's C fast path gives exactly what Arrow's CSV reader gives, or declines.

Every case is parsed twice, with the fast path and with Arrow alone: the tables must be equal, or
both must fail with the same error. Which chunks the fast path took is asserted too, so a fast
path that silently declines everything cannot pass.

The last test is a Hypothesis property over files built from flow-log-shaped tokens (valid values
and the near misses the C code must reject). It runs 150 files in `make test`; `make fuzz` runs
5,000 (HYPOTHESIS_PROFILE=fuzz), and `make sanitize` runs this module against an AddressSanitizer
+ UBSan build of the extension.
"""

from __future__ import annotations

import gzip
import os
import random

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudinsights_dagster.flowlogs import parse as P
from cloudinsights_dagster.flowlogs.parse import FlowLogError, open_flow_log

if P._fastparse is None:
    if os.environ.get("CI"):
        pytest.fail("the parser's C fast path is not built (setup.py, make setup)")
    pytest.skip("the parser's C fast path is not built", allow_module_level=True)

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status flow-direction traffic-path tcp-flags vpc-id az-id"
)
GOOD = (
    "5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.95.110.1 49152 443 6 10 8400 "
    "1767225600 1767225660 ACCEPT OK egress 2 19 vpc-0abc use1-az1"
)


def parse_both(text: str, *, block_size: int = P.DEFAULT_BLOCK_SIZE):
    """(fast outcome, Arrow outcome, chunks the fast path took); an outcome is a Table or the
    (type, message) of the error."""
    outcomes = []
    fast_chunks = 0
    for fast in (True, False):
        data = gzip.compress(text.encode("utf-8", "surrogateescape"))
        try:
            with open_flow_log(
                data, name="s3://b/k.log.gz", fast_path=fast, block_size=block_size
            ) as reader:
                outcomes.append(reader.read_all())
                if fast:
                    fast_chunks = reader.fast_chunks
        except FlowLogError as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    return outcomes[0], outcomes[1], fast_chunks


def assert_same(text: str, **kw) -> tuple[object, int]:
    fast, arrow, fast_chunks = parse_both(text, **kw)
    if isinstance(arrow, pa.Table):
        assert isinstance(fast, pa.Table), fast
        assert fast.schema == arrow.schema
        assert fast.equals(arrow), (fast.to_pylist()[:3], arrow.to_pylist()[:3])
        fast.validate(full=True)
    else:
        assert fast == arrow
    return arrow, fast_chunks


def with_field(index: int, value: str) -> str:
    fields = GOOD.split(" ")
    fields[index] = value
    return " ".join(fields)


def test_takes_ordinary_text_and_matches_arrow():
    rows = [GOOD, with_field(3, "2600:1f18:4a3:6d00::1"), with_field(5, "-")]
    nodata = "5 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1767225600 1767225660 - NODATA - - - - -"
    table, fast_chunks = assert_same(HEADER + "\n" + "\n".join([*rows, nodata]) + "\n")
    assert fast_chunks == 1
    assert table.num_rows == 4
    assert table.column("srcport").to_pylist() == [49152, 49152, None, None]
    assert table.column("log_status").to_pylist() == ["OK", "OK", "OK", "NODATA"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEADER + "\n" + GOOD, id="last line without newline"),
        pytest.param(HEADER + "\n\n" + GOOD + "\n\n\n" + GOOD + "\n", id="empty lines"),
        pytest.param(HEADER + "\n" + with_field(9, "-0") + "\n", id="minus zero"),
        pytest.param(HEADER + "\n" + with_field(5, "-32768") + "\n", id="negative int32"),
        pytest.param(HEADER + "\n" + with_field(8, "999999999999999999") + "\n", id="18 digits"),
        pytest.param(HEADER + "\n" + with_field(5, "2147483647") + "\n", id="int32 max"),
        pytest.param(HEADER + "\n" + with_field(5, "-2147483648") + "\n", id="int32 min"),
        pytest.param(
            HEADER + "\n" + "\n".join(with_field(17, "-") for _ in range(3)) + "\n",
            id="dictionary column all null",
        ),
        pytest.param(HEADER + "\n" + with_field(3, "~`!@#$%^&*()_+{}|:<>?") + "\n", id="punct"),
    ],
)
def test_fast_path_takes_and_agrees(text):
    _, fast_chunks = assert_same(text)
    assert fast_chunks == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEADER + "\r\n" + GOOD + "\r\n", id="CRLF"),
        pytest.param(HEADER + "\n" + GOOD.replace(" ", "\t", 1) + "\n", id="tab"),
        pytest.param(HEADER + "\n" + GOOD.replace(" ", "  ", 1) + "\n", id="double space"),
        pytest.param(HEADER + "\n" + GOOD + " \n", id="trailing space"),
        pytest.param(HEADER + "\n" + " " + GOOD + "\n", id="leading space"),
        pytest.param(HEADER + "\n" + GOOD + " extra\n", id="too many fields"),
        pytest.param(HEADER + "\n" + GOOD.rsplit(" ", 1)[0] + "\n", id="too few fields"),
        pytest.param(HEADER + "\n" + with_field(5, "2147483648") + "\n", id="int32 overflow"),
        pytest.param(HEADER + "\n" + with_field(5, "-2147483649") + "\n", id="int32 underflow"),
        pytest.param(HEADER + "\n" + with_field(8, "9" * 19) + "\n", id="19 digits"),
        pytest.param(HEADER + "\n" + with_field(8, "9" * 20) + "\n", id="int64 overflow"),
        pytest.param(HEADER + "\n" + with_field(5, "0443") + "\n", id="leading zero"),
        pytest.param(HEADER + "\n" + with_field(5, "+443") + "\n", id="plus sign"),
        pytest.param(HEADER + "\n" + with_field(5, "44x") + "\n", id="letter in integer"),
        pytest.param(HEADER + "\n" + with_field(5, "4.5") + "\n", id="decimal"),
        pytest.param(HEADER + "\n" + with_field(5, "--") + "\n", id="double dash"),
        pytest.param(HEADER + "\n" + with_field(3, "ünïcødé") + "\n", id="utf-8 string"),
        pytest.param(HEADER + "\n" + with_field(2, "ëni-1") + "\n", id="utf-8 dictionary"),
        pytest.param(HEADER + "\n" + with_field(3, "\udcff\udcfe") + "\n", id="invalid utf-8"),
        pytest.param(HEADER + "\n" + with_field(3, "a\x00b") + "\n", id="NUL byte"),
        pytest.param(HEADER + "\n" + "   \n" + GOOD + "\n", id="blank line of spaces"),
    ],
)
def test_fast_path_declines_what_it_does_not_understand(text):
    """Arrow parses these (or fails on them); the fast path must not guess."""
    _, fast_chunks = assert_same(text)
    assert fast_chunks == 0


def test_a_declined_chunk_does_not_stop_the_fast_path_for_the_others():
    lines = [with_field(9, str(i)) for i in range(2000)]
    lines[1500] = lines[1500].replace(" 49152 ", " 0443 ")  # leading zero: that chunk to Arrow
    table, fast_chunks = assert_same(HEADER + "\n" + "\n".join(lines) + "\n", block_size=16384)
    chunks = -(-len("\n".join(lines)) // 16384)
    assert 0 < fast_chunks < chunks
    assert table.column("bytes").to_pylist() == list(range(2000))
    assert table.column("srcport")[1500].as_py() == 443


def test_errors_are_arrows_with_the_line_number():
    lines = [GOOD] * 10 + [with_field(6, "https")] + [GOOD] * 3
    fast, arrow, _ = parse_both(HEADER + "\n" + "\n".join(lines) + "\n")
    assert fast == arrow
    assert fast[0] == "FlowLogCorruptError"
    assert "line 12" in fast[1] and "dstport" in fast[1] and "https" in fast[1]


TOKENS = [
    "-", "0", "7", "443", "-5", "007", "65536", "2147483648", "99999999999999999999", "+1",
    "ACCEPT", "REJECT", "OK", "NODATA", "egress", "eni-1", "10.0.0.1", "::1", "", "a b", "é",
    "\t", "\r", "x" * 40,
]  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_random_text_agrees_with_arrow(seed):
    """Mostly well-formed lines with random odd tokens: same table or same error, always."""
    rng = random.Random(seed)
    good = GOOD.split(" ")
    lines = []
    for _ in range(rng.randint(1, 400)):
        fields = list(good)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            fields[rng.randrange(len(fields))] = rng.choice(TOKENS)
        line = " ".join(fields)
        if rng.random() < 0.02:
            line = ""
        lines.append(line)
    text = HEADER + "\n" + "\n".join(lines) + rng.choice(["\n", ""])
    assert_same(text, block_size=rng.choice([512, 4096, P.DEFAULT_BLOCK_SIZE]))


@pytest.mark.parametrize("seed", range(4))
def test_random_valid_values_are_taken_and_agree(seed):
    """Random values of the right types: the fast path takes every chunk and agrees."""
    rng = random.Random(seed)
    lines = []
    for _ in range(3000):
        fields = GOOD.split(" ")
        fields[2] = f"eni-{rng.randrange(50):x}"
        fields[3] = ".".join(str(rng.randrange(256)) for _ in range(4))
        fields[5] = rng.choice(["-", str(rng.randrange(65536))])
        fields[8] = str(rng.randrange(10**18))
        fields[9] = str(-rng.randrange(1, 10**9))
        fields[12] = rng.choice(["ACCEPT", "REJECT", "-"])
        lines.append(" ".join(fields))
    text = HEADER + "\n" + "\n".join(lines) + "\n"
    table, fast_chunks = assert_same(text, block_size=32768)
    assert fast_chunks == -(-len(text) // 32768) or fast_chunks >= len(text) // 32768
    assert table.num_rows == 3000


# ---------------------------------------------------------------- property test (fuzz)
settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

FIELD_COUNT = len(HEADER.split(" "))

integers = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1).map(str),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.sampled_from(["-", "0", "-0", "007", "+5", "1e3", "3.5", "9" * 19, "", "--", "0x1f"]),
)
words = st.one_of(
    st.sampled_from(
        ["ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "ingress", "egress", "-", "eni-0a1b"]
    ),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12),
    st.text(min_size=0, max_size=4),  # anything, including spaces, tabs, NUL and non-ASCII
)
token = st.one_of(integers, words)
separator = st.sampled_from([" "] * 30 + ["  ", "\t", ""])


@st.composite
def line(draw) -> str:
    count = draw(st.sampled_from([FIELD_COUNT] * 8 + [FIELD_COUNT - 1, FIELD_COUNT + 1]))
    tokens = [draw(token) for _ in range(count)]
    out = tokens[0]
    for value in tokens[1:]:
        out += draw(separator) + value
    return out


@given(
    lines=st.lists(line(), min_size=0, max_size=12),
    ending=st.sampled_from(["\n", "", "\r\n", "\n\n"]),
    block_size=st.sampled_from([64, 300, P.DEFAULT_BLOCK_SIZE]),
)
def test_fast_path_agrees_with_arrow_on_any_text(lines, ending, block_size):
    assert_same(HEADER + "\n" + "\n".join(lines) + ending, block_size=block_size)
