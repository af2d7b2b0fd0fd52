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


def check_records(table: pa.Table) -> QualityResult:
    """The suite of `expectations_for`, evaluated with Arrow compute (nulls in measures are
    allowed: NODATA/SKIPDATA)."""
    import pyarrow.compute as pc

    present = set(_checked_columns(table))
    failed: list[str] = []
    expectations = 0

    def report(name: str, kwargs: dict, mask, column) -> None:
        count = int(pc.sum(mask).as_py() or 0) if len(mask) else 0
        if count:
            sample = pc.filter(column, mask).slice(0, 5).to_pylist()
            failed.append(f"{name} {kwargs}: {count} unexpected, e.g. {sample}")

    for name in MANDATORY_COLUMNS:
        expectations += 1
        if name not in present:
            failed.append(f"expect_column_to_exist {{'column': '{name}'}}: column missing")
    for name in NEVER_NULL:
        if name in present:
            expectations += 1
            column = table.column(name)
            report(
                "expect_column_values_to_not_be_null",
                {"column": name},
                pc.is_null(column),
                column,
            )
    for name in MANDATORY_COLUMNS:
        spec = FIELDS_BY_COLUMN[name]
        if name not in present:
            continue
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if spec.allowed:
            expectations += 1
            outside = pc.invert(pc.is_in(column, value_set=pa.array(list(spec.allowed))))
            report(
                "expect_column_values_to_be_in_set",
                {"column": name, "value_set": list(spec.allowed)},
                pc.and_kleene(outside, pc.is_valid(column)).fill_null(False),
                column,
            )
        elif spec.min_value is not None or spec.max_value is not None:
            expectations += 1
            low = (
                pc.less(column, spec.min_value)
                if spec.min_value is not None
                else pa.repeat(False, len(column))
            )
            high = (
                pc.greater(column, spec.max_value)
                if spec.max_value is not None
                else pa.repeat(False, len(column))
            )
            report(
                "expect_column_values_to_be_between",
                {"column": name, "min_value": spec.min_value, "max_value": spec.max_value},
                pc.or_(low, high).fill_null(False),
                column,
            )
    if {"start", "end"} <= present:
        expectations += 1
        start, end = table.column("start"), table.column("end")
        report(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": "end", "column_B": "start", "or_equal": True},
            pc.less(end, start).fill_null(False),
            end,
        )
    return QualityResult(not failed, table.num_rows, expectations, failed)


def expectations_for(columns: list[str]):
    import great_expectations as gx

    suite = []
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

    checked = _checked_columns(table)
    frame = _plain(table.select(checked)).to_pandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
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
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        detail = result.result or {}
        failed.append(
            f"{config.type} {kwargs}: {detail.get('unexpected_count', '?')} unexpected, e.g. "
            f"{detail.get('partial_unexpected_list', [])[:5]}"
        )
    return QualityResult(not failed, len(frame), len(outcome.results), failed)
