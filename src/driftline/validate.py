"""The data contract: a Great Expectations suite derived from the declared schema."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from driftline.artifacts import write_json
from driftline.config import Params, Schema, ValidateParams
from driftline.data import coerce, labels, read_dataset, sensitive_groups
from driftline.errors import ContractError
from driftline.reporting.datadocs import make_offline

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


def check(frame: pd.DataFrame, schema: Schema, rules: ValidateParams, docs_dir: Path | None = None) -> dict:
    """Validate a frame against the contract; returns the GE result as JSON. Builds offline Data Docs when asked."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="driftline",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    batch = (
        context.data_sources.add_pandas("driftline")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="contract"))
    for expectation in build_expectations(schema, rules):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="contract", data=batch, suite=suite))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["driftline"])] if docs_dir else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name="contract", validation_definitions=[definition], actions=actions)
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    if docs_dir is not None:
        make_offline(docs_dir)  # GE's pages load their scripts and styles from CDNs
    return next(iter(result.run_results.values())).to_json_dict()


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


def group_summary(frame: pd.DataFrame, schema: Schema) -> dict:
    """Per sensitive attribute: count, share and positive-label rate of each group."""
    typed = coerce(frame, schema)
    positive = pd.Series(labels(typed, schema), index=typed.index)
    summary = {}
    for name, spec in schema.sensitive.items():
        groups = sensitive_groups(typed[name], spec.bins)
        table = positive.groupby(groups, observed=True).agg(["count", "mean"])
        summary[name] = {
            str(group): {"count": int(row["count"]), "share": row["count"] / len(typed), "positive_rate": row["mean"]}
            for group, row in table.iterrows()
        }
    return summary


def run(params: Params, result_path: Path, bias_path: Path, docs_dir: Path, metrics_path: Path,
        root: Path = Path(".")) -> dict:
    """Validate all training data; write the result, Data Docs, bias summary and metrics; raise if it fails."""
    frame = read_dataset(params.data, params.schema, root)
    result = check(frame, params.schema, params.validation, docs_dir)
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result, indent=1, default=str))
    problems = failures(result)
    if problems:
        raise ContractError(problems)
    write_json(bias_path, group_summary(frame, params.schema))
    metrics = {"rows": len(frame), "expectations": len(result["results"])}
    write_json(metrics_path, metrics)
    return metrics

