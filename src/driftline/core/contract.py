"""The data contract: a Great Expectations suite derived from the declared schema, run on a frame."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import tzlocal
from great_expectations.core import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from driftline.config import ValidateParams
from driftline.core.data import coerce_column
from driftline.core.datadocs import make_offline
from driftline.schema import Schema

# DVC hashes the stage's outputs, so identical data must give identical bytes wherever and whenever it runs:
# every run gets the same run time (it names the Data Docs page and shows in it) instead of the clock's.
RUN_ID = RunIdentifier(run_name="contract", run_time=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
PANDAS_NUMERIC = ["int8", "int16", "int32", "int64", "float16", "float32", "float64", "Int64", "Float64"]


class ColumnValuesWholeNumbers(ColumnMapMetricProvider):
    """True where a value is a whole number; text is left to the type expectation."""

    condition_metric_name = "column_values.whole_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        numbers = pd.to_numeric(column, errors="coerce")
        return numbers.isna() | (numbers == np.floor(numbers))


class ExpectColumnValuesToBeWholeNumbers(ColumnMapExpectation):
    """Expect each value of an integer column to be a whole number (39, not 39.5)."""

    map_metric = "column_values.whole_number"
    success_keys = ("mostly",)


def build_expectations(schema: Schema, rules: ValidateParams) -> list[gxe.Expectation]:
    """One expectation per declared fact: columns, types, missing shares, value sets, ranges, duplicates."""
    columns = list(schema.columns)
    suite: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True),
        gxe.ExpectTableRowCountToBeBetween(min_value=rules.min_rows),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=columns, mostly=1 - rules.max_duplicate_share),
    ]
    for name, spec in schema.columns.items():
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=1 - spec.max_missing))
        if spec.numeric:
            suite.append(gxe.ExpectColumnValuesToBeInTypeList(column=name, type_list=PANDAS_NUMERIC))
            if spec.type == "integer":
                suite.append(ExpectColumnValuesToBeWholeNumbers(column=name))
            if spec.min is not None or spec.max is not None:
                suite.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=spec.min, max_value=spec.max))
        else:
            suite.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=spec.categories))
    return suite


def declared_view(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """FRAME with each declared category column as its canonical text (data.category_text), so the contract
    checks the values every stage sees: a 0/1 or True/False column typed by pandas still matches "0"/"1" or
    "True"/"False". Numeric columns stay as they are, for the type expectations to judge; a missing column
    is left for the column-set expectation to name."""
    present = [name for name, spec in schema.columns.items() if not spec.numeric and name in frame]
    view = frame.assign(**{name: coerce_column(name, frame[name].to_numpy(), schema.columns[name])
                           for name in present})
    # One copy merges the assigned columns into pandas' blocks once; GE's metrics would merge them again
    # each, which on millions of rows made up half of the contract's time.
    return view.copy()


def check(frame: pd.DataFrame, schema: Schema, rules: ValidateParams, docs_dir: Path | None = None) -> dict:
    """Validate a frame's declared view against the contract; returns the GE result as JSON. Builds offline
    Data Docs when asked."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("driftline")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="contract"))
    for expectation in build_expectations(schema, rules):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="contract", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(name="contract", validation_definitions=[definition]))
    with local_time_zone("UTC"):  # GE writes run times in the machine's time zone
        outcome = checkpoint.run(batch_parameters={"dataframe": declared_view(frame, schema)}, run_id=RUN_ID)
        ((key, result),) = outcome.run_results.items()
        _drop_run_dependent(result)
        if docs_dir is not None:
            _build_docs(context, key, result, docs_dir)
        return result.to_json_dict()


def _drop_run_dependent(result: ExpectationSuiteValidationResult) -> None:
    """Remove what GE draws at run time: the batch's load time and the ids its in-memory stores made up."""
    del result.meta["batch_markers"]["ge_load_time"]
    del result.meta["validation_id"], result.meta["checkpoint_id"]
    for item in result.results:
        item.expectation_config.id = None


def _build_docs(context: AbstractDataContext, key: ValidationResultIdentifier,
                result: ExpectationSuiteValidationResult, docs_dir: Path) -> None:
    """Render RESULT, as stored under KEY, into an offline Data Docs site in DOCS_DIR."""
    context.validation_results_store.set(key, result)  # the pages render from the store
    context.add_data_docs_site(
        site_name="driftline",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.build_data_docs(site_names=["driftline"])
    make_offline(docs_dir)  # GE's pages load their scripts and styles from CDNs


@contextmanager
def local_time_zone(name: str) -> Iterator[None]:
    """Give the process the local time zone NAME (an IANA name) for the block. Unix only."""
    try:
        with mock.patch.dict(os.environ, TZ=name):
            _reload_time_zone()
            yield
    finally:
        _reload_time_zone()


def _reload_time_zone() -> None:
    time.tzset()
    tzlocal.reload_localzone()  # GE's index page reads the zone through tzlocal, which caches it


def failures(result: dict) -> list[str]:
    """One line per failed expectation, naming its type, column and what was observed."""
    lines = []
    for item in result["results"]:
        if item["success"]:
            continue
        config = item["expectation_config"]
        kwargs = config["kwargs"]
        target = kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or "table"
        lines.append(f"{config['type']} on {target}: {_describe(item)}")
    return lines


def _describe(item: dict) -> str:
    observed = item.get("result") or {}
    if not observed:
        errors = [e for e in item.get("exception_info", {}).values() if isinstance(e, dict)]
        message = errors[0].get("exception_message") if errors else "no result"
        return f"could not be evaluated ({str(message).splitlines()[0][:120]})"
    if "unexpected_percent" in observed:
        sample = observed.get("partial_unexpected_list") or []
        if item["expectation_config"]["type"] == "expect_column_values_to_be_in_type_list":
            sample = [v for v in sample if isinstance(v, str)] or sample
        return f"{observed['unexpected_percent']:.2f}% of rows fail, e.g. {sample[:3]}"
    return f"observed {observed.get('observed_value')}"
