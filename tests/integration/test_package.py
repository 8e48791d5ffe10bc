"""The package stage on a small trained model of each task (tests/helpers/task_models.py): the model carries its
monitoring reference, with the test split's spread of each estimated metric."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.core.estimators import NANNY_FILE, NANNY_ROWS
from driftline.core.metrics import HIGHER_IS_BETTER, task_metrics
from driftline.core.predictor import Predictor
from driftline.core.spread import CHUNKS, ESTIMATED
from driftline.monitoring.performance import CBPE, DLE, estimator
from driftline.stages.package import monitoring_reference, save_model
from tests.helpers.task_models import task_model


def audit_outputs(folder: Path, features: list[str]) -> Path:
    """What the package stage reads of the audit (its shap_importance.json and fairness.json), which it stores as
    they are."""
    folder.mkdir()
    (folder / "shap_importance.json").write_text(json.dumps({name: 1.0 / (n + 1) for n, name in enumerate(features)}))
    (folder / "fairness.json").write_text(json.dumps({"group": {"g1": {"count": 10, "gated": True}}}))
    return folder


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_monitoring_reference_holds_the_tasks_test_metrics_decision_and_estimation_inputs(kind, tmp_path):
    model = task_model(kind)
    params, predictor, task = model.params, model.predictor, model.predictor.task
    audit = audit_outputs(tmp_path / "audit", params.schema.features)
    reference, background, nanny = monitoring_reference(params, *model.members, audit,
                                                        predictor.decision)
    test, val = model.split("test"), model.split("val")
    answers = predictor.predict_columns({name: test[name].to_numpy() for name in params.schema.features})
    metrics = task_metrics(kind, task.targets(test), answers, params.evaluate.calibration_bins,
                           predictor.decision.get("threshold"))
    assert reference["metrics"] == {name: round(value, 6) for name, value in metrics.items()}
    assert set(reference["metrics"]) == set(HIGHER_IS_BETTER[kind])
    assert reference["decision"] == predictor.decision
    assert reference["attribution"] == json.loads((audit / "shap_importance.json").read_text())
    assert reference["fairness"] == json.loads((audit / "fairness.json").read_text())
    assert len(background) == params.audit.background_rows and set(background[0]) == set(params.schema.features)
    calibration = reference.get("calibration")
    if kind == "binary":
        assert np.all(np.diff(calibration["x"]) > 0) and np.all(np.diff(calibration["y"]) >= 0)
    elif kind == "multiclass":
        assert len(calibration) == len(task.classes) and all(set(c) == {"x", "y"} for c in calibration)
    else:
        assert calibration is None
        pd.testing.assert_frame_equal(nanny, val[[*params.schema.features, "spend"]].head(NANNY_ROWS))
    assert (nanny is None) == (kind != "regression")
    assert json.loads(json.dumps(reference)) == reference  # plain JSON


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_a_packaged_model_carries_what_its_performance_estimate_needs(kind, tmp_path):
    model = task_model(kind)
    params = model.params
    stored = save_model(params, *model.members, model.root / "decision.json",
                        audit_outputs(tmp_path / "audit", params.schema.features))
    folder = Path(stored.path)
    predictor = Predictor.load(folder)
    assert predictor.decision == model.predictor.decision and stored.info.metadata == {"task": kind}
    reference = json.loads((folder / "reference.json").read_text())
    estimate = estimator(predictor, folder, reference)
    assert (folder / NANNY_FILE).is_file() == (kind == "regression")
    assert isinstance(estimate, DLE if kind == "regression" else CBPE)
    test = model.split("test")
    answers = predictor.predict_columns({name: test[name].to_numpy() for name in params.schema.features})
    expected = (DLE(model.predictor, model.split("val")) if kind == "regression"
                else CBPE(kind, reference["calibration"]))
    assert estimate.estimate(answers, test) == expected.estimate(answers, test)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_package_stage_stores_the_test_splits_spread_for_every_task(kind, tmp_path):
    model = task_model(kind)
    audit = audit_outputs(tmp_path / "audit", model.params.schema.features)
    reference, _, _ = monitoring_reference(model.params, *model.members, audit,
                                           model.predictor.decision)
    test = model.split("test")
    assert reference["sampling_error"]["rows"] == len(test)
    assert set(reference["sampling_error"]["sd"]) == set(ESTIMATED[kind])
    assert all(sd > 0 for sd in reference["sampling_error"]["sd"].values())
    assert reference["thresholds"]["chunks"] == CHUNKS and reference["thresholds"]["chunk_rows"] == len(test) // CHUNKS
    assert set(reference["thresholds"]["metrics"]) == set(ESTIMATED[kind])
    assert json.loads(json.dumps(reference)) == reference
