"""Mandatory columns and value domains of loaded flow records: one suite, evaluated two ways.

* `check_records`: the suite in Arrow compute, a few milliseconds per million records and no
  import cost. Every flow-log run gates its records with it (the blocking check).
* `validate_records`: the same suite in Great Expectations, which takes seconds to import (so it
  is imported here only, never when the code location loads). It runs once a day over a sample of
  the day's records (the `great_expectations_suite` check), so its cost follows the data, not the
  number of runs. The tests assert both give the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from cloudinsights_dagster.flowlogs.fields import FIELDS_BY_COLUMN, MANDATORY_COLUMNS

# Present on every record, NODATA and SKIPDATA included.
NEVER_NULL = ("version", "account_id", "interface_id", "start", "end", "log_status")


@dataclass
class QualityResult:
    passed: bool
    records: int
    expectations: int
    failed: list[str] = field(default_factory=list)  # one line per failed expectation


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns as plain strings (pandas categoricals confuse set checks)."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _checked_columns(table: pa.Table) -> list[str]:
    return [
        c for c in table.column_names if c in FIELDS_BY_COLUMN and FIELDS_BY_COLUMN[c].mandatory
    ]


class QualityAccumulator:
    """The suite of `expectations_for`, evaluated with Arrow compute batch by batch (nulls in
    measures are allowed: NODATA/SKIPDATA), so a run checks its records as it writes them
    instead of reading its outputs back. `merge` adds another accumulator's counts."""

    def __init__(self) -> None:
        self.records = 0
        self.expectations: dict[str, dict] = {}  # key -> {"name", "kwargs", "count", "sample"}
        self.missing: set[str] = set()
        self.batches = 0

    def add(self, table: pa.Table | pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        self.batches += 1
        self.records += table.num_rows
        names = table.schema.names
        present = {c for c in names if c in FIELDS_BY_COLUMN and FIELDS_BY_COLUMN[c].mandatory}
        self.missing |= set(MANDATORY_COLUMNS) - present

        def expect(name: str, kwargs: dict, mask, column) -> None:
            key = f"{name} {kwargs}"
            entry = self.expectations.setdefault(
                key, {"name": name, "kwargs": kwargs, "count": 0, "sample": []}
            )
            count = int(pc.sum(mask).as_py() or 0) if len(mask) else 0
            if count:
                entry["count"] += count
                if len(entry["sample"]) < 5:
                    entry["sample"] += pc.filter(column, mask).slice(0, 5).to_pylist()
                    entry["sample"] = entry["sample"][:5]

        def plain(name: str):
            column = table.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            return column

        for name in NEVER_NULL:
            if name in present:
                column = table.column(name)
                expect(
                    "expect_column_values_to_not_be_null",
                    {"column": name},
                    pc.is_null(column),
                    column,
                )
        for name in MANDATORY_COLUMNS:
            spec = FIELDS_BY_COLUMN[name]
            if name not in present:
                continue
            if spec.allowed:
                column = plain(name)
                outside = pc.invert(pc.is_in(column, value_set=pa.array(list(spec.allowed))))
                expect(
                    "expect_column_values_to_be_in_set",
                    {"column": name, "value_set": list(spec.allowed)},
                    pc.and_kleene(outside, pc.is_valid(column)).fill_null(False),
                    column,
                )
            elif spec.min_value is not None or spec.max_value is not None:
                column = plain(name)
                false = pa.repeat(False, len(column))
                low = pc.less(column, spec.min_value) if spec.min_value is not None else false
                high = pc.greater(column, spec.max_value) if spec.max_value is not None else false
                expect(
                    "expect_column_values_to_be_between",
                    {"column": name, "min_value": spec.min_value, "max_value": spec.max_value},
                    pc.or_(low, high).fill_null(False),
                    column,
                )
        if {"start", "end"} <= present:
            start, end = table.column("start"), table.column("end")
            expect(
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": "end", "column_B": "start", "or_equal": True},
                pc.less(end, start).fill_null(False),
                end,
            )

    def merge(self, other: QualityAccumulator) -> None:
        self.records += other.records
        self.batches += other.batches
        self.missing |= other.missing
        for key, entry in other.expectations.items():
            mine = self.expectations.setdefault(
                key, {"name": entry["name"], "kwargs": entry["kwargs"], "count": 0, "sample": []}
            )
            mine["count"] += entry["count"]
            mine["sample"] = (mine["sample"] + entry["sample"])[:5]

    def result(self) -> QualityResult:
        failed = [
            f"expect_column_to_exist {{'column': '{name}'}}: column missing"
            for name in MANDATORY_COLUMNS
            if name in self.missing
        ]
        failed += [
            f"{e['name']} {e['kwargs']}: {e['count']} unexpected, e.g. {e['sample']}"
            for e in self.expectations.values()
            if e["count"]
        ]
        expectations = len(MANDATORY_COLUMNS) + len(self.expectations)
        return QualityResult(not failed, self.records, expectations, failed)


def check_records(table: pa.Table) -> QualityResult:
    """The whole suite over one table (see QualityAccumulator)."""
    accumulator = QualityAccumulator()
    accumulator.add(table)
    return accumulator.result()


def expectations_for(columns: list[str]):
    import great_expectations as gx

    suite: list[gx.expectations.Expectation] = []
    for name in MANDATORY_COLUMNS:
        suite.append(gx.expectations.ExpectColumnToExist(column=name))
    present = set(columns)
    for name in NEVER_NULL:
        if name in present:
            suite.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=name))
    for name in MANDATORY_COLUMNS:
        spec = FIELDS_BY_COLUMN[name]
        if name not in present:
            continue
        if spec.allowed:
            suite.append(
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column=name, value_set=list(spec.allowed)
                )
            )
        elif spec.min_value is not None or spec.max_value is not None:
            suite.append(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=name, min_value=spec.min_value, max_value=spec.max_value
                )
            )
    if {"start", "end"} <= present:
        suite.append(
            gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end",
                column_B="start",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    return suite


def validate_records(table: pa.Table) -> QualityResult:
    """Run the suite on the records (nulls in measures are allowed: NODATA/SKIPDATA)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    checked = _checked_columns(table)
    frame = _plain(table.select(checked)).to_pandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("flow_records")
    batch = source.add_dataframe_asset("records").add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name="flow_records"))
    for expectation in expectations_for(checked):
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name="flow_records")
    )
    outcome = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    failed = []
    for result in outcome.results:
        if result.success:
            continue
        config = result.expectation_config
        if config is None:  # GE always attaches it; say so rather than crash if it did not
            failed.append(f"an expectation failed: {result.result}")
            continue
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        detail = result.result or {}
        failed.append(
            f"{config.type} {kwargs}: {detail.get('unexpected_count', '?')} unexpected, e.g. "
            f"{detail.get('partial_unexpected_list', [])[:5]}"
        )
    return QualityResult(not failed, len(frame), len(outcome.results), failed)
