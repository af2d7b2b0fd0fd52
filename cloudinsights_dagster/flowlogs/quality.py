"""Mandatory columns and value domains of loaded flow records, checked with Great Expectations.

Great Expectations takes seconds to import: it is imported inside `validate_records` only, never
when the code location loads.
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

    checked = [
        c for c in table.column_names if c in FIELDS_BY_COLUMN and FIELDS_BY_COLUMN[c].mandatory
    ]
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
