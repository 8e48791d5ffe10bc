"""Segments: a shift in one segment is flagged there and nowhere else, Benjamini-Hochberg as scipy and the
textbook give it, the drift scores as Evidently's report gives them, and each segment's performance, fairness
and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.core import ColumnType
from scipy.stats import false_discovery_control

from driftline.config import Params, load_params
from driftline.core.data import coerce
from driftline.core.metrics import task_metrics
from driftline.core.task import Task
from driftline.monitoring.drift import drift_report, prediction_columns, prediction_frame, summarise
from driftline.monitoring.figures import segment_figures
from driftline.monitoring.performance import CBPE
from driftline.monitoring.segments import column_drift, discoveries, segment_summary
from driftline.monitoring.summary import Summary
from tests.helpers import tiny_models

REPO = Path(__file__).resolve().parents[2]
ESTIMATE = CBPE("binary", {"x": [0.0, 1.0], "y": [0.0, 1.0]}, 0.5)  # calibrated as it is
PLAN = {"basic": -0.5, "plus": 0.3, "pro": 1.0}


def params_with(segments: list, min_segment_rows: int = 100) -> Params:
    """params.yaml's monitor section over tiny_models' binary schema, with `group` the sensitive attribute."""
    raw = load_params(REPO / "params.yaml").model_dump(by_alias=True, mode="json")
    raw["schema"] = tiny_models.schema("binary").model_dump(mode="json") | {"sensitive": {"group": {}}}
    raw["monitor"] |= {"segments": segments, "min_segment_rows": min_segment_rows}
    return Params.model_validate(raw)


def scored(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, dict]:
    """FRAME's typed features with the watched answers of a made-up model, and its answers."""
    schema = params.schema
    typed = coerce(frame, schema, schema.features)
    z = 0.04 * (typed["age"] - 50) + typed["plan"].map(PLAN) - 1
    probability = 1 / (1 + np.exp(-z.to_numpy()))
    outputs = pd.DataFrame({"probability": probability, "label": np.where(probability >= 0.5, "yes", "no")},
                           index=typed.index)
    task = Task.of(schema)
    return typed.join(prediction_frame(task, outputs)), task.answers(outputs)


def summarised(params: Params, current: pd.DataFrame, reference_rows: int = 3000) -> dict:
    task = Task.of(params.schema)
    reference, _ = scored(tiny_models.table("binary", reference_rows, 0), params)
    frame, answers = scored(current, params)
    y = task.targets(current).astype(np.float64)
    y[::2] = np.nan  # half the labels have arrived
    return segment_summary({"reference": reference, "current": frame}, answers, answers["probability"], y,
                           ESTIMATE, 0.5, {}, params)


def test_a_shift_in_one_segment_is_flagged_there_and_not_in_the_others():
    params = params_with(["plan"])
    current = tiny_models.table("binary", 4000, seed=1)
    current.loc[current["plan"] == "pro", "age"] += 15  # the pro plan's customers got older
    values = summarised(params, current)["values"]
    assert set(values) == {"plan=basic", "plan=plus", "plan=pro"}
    assert values["plan=pro"]["drifted_columns"] == ["age", "prediction"]
    assert values["plan=pro"]["prediction_drift"] and values["plan=pro"]["dataset_drift"]
    assert values["plan=pro"]["adjusted_p_values"]["age"] < 0.05
    for quiet in ("plan=basic", "plan=plus"):
        assert values[quiet]["drifted_columns"] == [] and not values[quiet]["dataset_drift"]
    assert "plan" not in values["plan=pro"]["scores"]  # a segment's own column is constant within it


def test_an_unshifted_batch_raises_no_segment_drift():
    params = params_with(["plan", "region", "group"], min_segment_rows=50)
    segments = summarised(params, tiny_models.table("binary", 4000, seed=2))
    assert len(segments["values"]) == 11  # 3 plans, 5 regions and missing, 2 groups
    tested = sum(len(v["scores"]) for v in segments["values"].values())
    assert tested == 11 * 7  # 7 features and the probability, less the own column
    assert all(v["drifted_columns"] == [] for v in segments["values"].values())


def test_benjamini_hochberg_is_the_textbook_rule_and_scipy_adjustment():
    p_values = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205]
    adjusted, found = discoveries(p_values, 0.05)
    # the k-th smallest p-value against k/8 * 0.05: only the first two pass, and nothing above them
    assert found.tolist() == [True, True] + [False] * 6
    np.testing.assert_allclose(adjusted, false_discovery_control(p_values, method="bh"))
    assert discoveries([], 0.05)[1].size == 0


def test_the_segments_drift_scores_are_evidently_reports():
    params = params_with(["plan"])
    reference, _ = scored(tiny_models.table("binary", 600, seed=0), params)
    current, _ = scored(tiny_models.table("binary", 500, seed=3), params)
    current["age"] += 5
    numeric, categorical = prediction_columns(Task.of(params.schema))
    report = drift_report(reference, current, params.schema, params.monitor, (numeric, categorical))
    expected = summarise(report.dict(), params.schema.features + numeric, numeric, params.monitor)["scores"]
    schema = params.schema
    kinds = {c: ColumnType.Numerical for c in schema.numeric_features + numeric}
    kinds |= {c: ColumnType.Categorical for c in schema.categorical_features}
    found = {c: column_drift(reference[c], current[c], kind, params.monitor)["score"] for c, kind in kinds.items()}
    assert found == pytest.approx(expected, abs=1e-6)


def test_a_category_the_reference_segment_lacks_is_no_evidence_alone():
    """Evidently's chisquare gives p = 0 for a category with no reference row; the homogeneity test does not."""
    cfg = params_with(["plan"]).monitor
    reference = pd.Series(["a"] * 60 + ["b"] * 40)
    current = pd.Series(["a"] * 59 + ["b"] * 40 + ["c"])
    assert column_drift(reference, current, ColumnType.Categorical, cfg)["p_value"] > 0.1


def test_small_segments_are_counted_and_thin_references_not_compared():
    params = params_with(["region"], min_segment_rows=300)
    segments = summarised(params, tiny_models.table("binary", 4000, seed=1), reference_rows=2000)
    assert set(segments["skipped"]) == {"region=missing"} and segments["skipped"]["region=missing"] < 300
    centre = segments["values"]["region=centre"]  # a tenth of the rows: 4,000 and 2,000
    assert centre["reference_rows"] < 300 <= centre["rows"]
    assert centre["scores"] is None and centre["drifted_columns"] is None
    assert centre["performance"]["reference"] is None and centre["performance"]["estimated"]


def test_each_segment_has_its_performance_and_the_other_attributes_fairness():
    params = params_with(["plan", "group"])
    current = tiny_models.table("binary", 4000, seed=1)
    segments = summarised(params, current)["values"]
    pro = segments["plan=pro"]
    frame, answers = scored(current, params)
    mask = (current["plan"] == "pro").to_numpy()
    y = Task.of(params.schema).targets(current)[mask]
    labelled = np.arange(len(current))[mask] % 2 == 1
    realised = task_metrics("binary", y[labelled], {"probability": answers["probability"][mask][labelled]}, 10, 0.5)
    assert pro["performance"]["realised"] == pytest.approx(realised)
    assert pro["performance"]["labelled_rows"] == labelled.sum() and pro["performance"]["estimated_on_labelled"]
    reference, _ = scored(tiny_models.table("binary", 3000, 0), params)
    expected = ESTIMATE.estimate({"probability": reference.loc[reference["plan"] == "pro", "prediction"].to_numpy()})
    assert pro["performance"]["reference"] == pytest.approx(expected)  # the same segment, not the whole test split
    assert set(pro["fairness"]) == {"group"} and pro["fairness"]["group"]["demographic_parity_difference"] is not None
    assert segments["group=g1"]["fairness"] == {}  # its own attribute has one group in it


def test_segment_figures_name_the_segment():
    params = params_with(["plan"])
    current = tiny_models.table("binary", 4000, seed=1)
    current.loc[current["plan"] == "pro", "age"] += 15
    run = Summary(batch="b", rows=len(current), report="report.html", created="c", dataset_drift=False,
                  drifted_columns=[])
    values = segment_figures(run.model_copy(update={"segments": summarised(params, current)}))
    assert values[("segment.drifted columns", "plan=pro")] == 2.0
    assert values[("segment.prediction drift", "plan=basic")] == 0.0
    assert ("segment.roc_auc estimated", "plan=plus") in values and ("segment.roc_auc reference", "plan=pro") in values
    assert ("segment.fairness.demographic_parity_difference", "plan=pro group") in values
    assert all(isinstance(v, float) for v in values.values())
    assert segment_figures(run) == {}  # a summary written before segments
