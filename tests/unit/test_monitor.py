"""The drift decision: Evidently's own per-column tests, whichever way the method's score points."""

import numpy as np
import pandas as pd
import pytest

from driftline.config import MonitorParams, Schema
from driftline.errors import MonitorError
from driftline.monitoring.drift import PREDICTION, drift_report, summarise

SCHEMA = Schema.model_validate({
    "target": "y",
    "positive_label": "1",
    "columns": {
        "colour": {"type": "category", "categories": ["red", "blue", "green"]},
        "size": {"type": "float"},
        "y": {"type": "category", "categories": ["0", "1"]},
    },
})
COLUMNS = SCHEMA.features + [PREDICTION]


def frames(shift: float):
    rng = np.random.default_rng(0)

    def frame(n, offset):
        return pd.DataFrame({
            "colour": rng.choice(["red", "blue", "green"], n),
            "size": rng.normal(offset, 1, n),
            PREDICTION: rng.uniform(0, 1, n),
        })

    return frame(2000, 0.0), frame(1000, shift)


def params(**changes) -> MonitorParams:
    base = dict(reports_dir="r", reference_rows=2000, num_method="wasserstein", cat_method="jensenshannon",
                threshold=0.1, drift_share=0.3, explain_rows=50, min_labelled_rows=50, seed=0,
                policy={"dataset_drift": True})
    return MonitorParams(**(base | changes))


@pytest.mark.parametrize(("method", "threshold"), [("wasserstein", 0.1), ("ks", 0.05)])
def test_a_shift_drifts_whether_the_score_is_a_distance_or_a_p_value(method, threshold):
    settings = params(num_method=method, threshold=threshold)
    reference, current = frames(shift=1.0)
    summary = summarise(drift_report(reference, current, SCHEMA, settings).dict(), COLUMNS, settings)
    assert summary["drifted_columns"] == ["size"]
    assert summary["dataset_drift"] is True  # one of three columns is above the 0.3 share
    # a p-value near 0 drifts, a distance near 0 would not: the direction comes from Evidently
    assert (summary["scores"]["size"] < threshold) == (method == "ks")


@pytest.mark.parametrize("method", ["wasserstein", "ks"])
def test_an_unshifted_batch_does_not_drift(method):
    settings = params(num_method=method, threshold=0.05 if method == "ks" else 0.1)
    reference, current = frames(shift=0.0)
    summary = summarise(drift_report(reference, current, SCHEMA, settings).dict(), COLUMNS, settings)
    assert "size" not in summary["drifted_columns"]


def test_a_report_without_the_expected_results_raises():
    settings = params()
    reference, current = frames(shift=1.0)
    report = drift_report(reference, current, SCHEMA, settings).dict()
    renamed = {"metrics": [m for m in report["metrics"] if m["config"].get("column") != "size"], "tests": []}
    with pytest.raises(MonitorError, match="no drift score for 'size'.*no drifted-share result"):
        summarise(renamed, COLUMNS, settings)


def test_unknown_drift_methods_fail_at_load_time():
    with pytest.raises(ValueError, match="num_method"):
        params(num_method="chisquare")  # a categorical test
    with pytest.raises(ValueError, match="cat_method"):
        params(cat_method="wasserstein")
