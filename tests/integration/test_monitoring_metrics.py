"""Monitoring metrics of the small project's trained binary model: CBPE tracks what is realised on the unseen test
split, and the attributions and fairness by group agree with the audit's."""

import json

import numpy as np
import pandas as pd
import pytest

from driftline.config import load_params
from driftline.core.data import sensitive_groups
from driftline.core.estimators import fit_calibration
from driftline.core.splits import load_split
from driftline.monitoring.attribution import attribution_drift, ndcg
from driftline.monitoring.fairness import fairness_drift
from driftline.monitoring.performance import cbpe_binary, realised


@pytest.fixture(scope="module")
def project(trained):
    """The small project's predictor, audit-time schema (with sensitive attributes) and splits."""
    from driftline.registry.resolver import packaged_model

    predictor = packaged_model(trained / "artifacts/package/package.json").predictor()
    splits = {name: load_split(trained / "artifacts/featurize", name) for name in ("train", "val", "test")}
    return predictor, load_params(trained / "params.yaml"), splits


def scored(predictor, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return predictor.predict_columns({name: frame[name].to_numpy() for name in predictor.schema.features})


def test_cbpe_tracks_realised_performance_on_the_unseen_test_split(project):
    predictor, params, splits = project
    task = predictor.task
    p_test = scored(predictor, splits["test"])
    y_test = task.targets(splits["test"])
    calibration = fit_calibration(scored(predictor, splits["val"])["probability"], task.targets(splits["val"]))
    actual, _ = realised(task, y_test, p_test, params.evaluate.calibration_bins, predictor.threshold)
    expected = cbpe_binary(calibration, p_test["probability"], predictor.threshold)
    assert expected["roc_auc"] == pytest.approx(actual["roc_auc"], abs=0.03)
    assert expected["accuracy"] == pytest.approx(actual["accuracy"], abs=0.03)


def test_attributions_of_the_audited_rows_rank_as_the_audit_did(project, trained):
    predictor, params, splits = project
    cfg = params.audit
    reference = json.loads((trained / "artifacts/audit/shap_importance.json").read_text())
    background = splits["train"].sample(min(cfg.background_rows, len(splits["train"])), random_state=cfg.seed)
    drift = attribution_drift(predictor, background, splits["test"], reference, cfg.explain_rows, cfg.seed)
    assert drift["rows"] == cfg.explain_rows
    assert drift["ndcg"] > 0.95
    assert set(drift["mean_abs"]) == set(reference)
    assert sum(drift["shares"].values()) == pytest.approx(1.0)
    assert sum(drift["reference_shares"].values()) == pytest.approx(1.0)
    reversed_ranking = dict(zip(reference, sorted(reference.values())))  # the least important first
    assert ndcg(drift["mean_abs"], reversed_ranking) < drift["ndcg"]


def test_fairness_of_the_audited_split_agrees_with_the_audit(project, trained):
    predictor, params, splits = project
    test, schema = splits["test"], params.schema
    reference = json.loads((trained / "artifacts/audit/fairness.json").read_text())
    p = scored(predictor, test)["probability"]
    y = predictor.task.targets(test).astype(float)
    drift = fairness_drift(test, p, y, predictor.threshold, schema, reference, params.monitor.min_labelled_rows)
    assert set(drift) == set(schema.sensitive)
    for name, attribute in drift.items():
        for group, table in attribute["groups"].items():
            assert table["selection_rate"] == pytest.approx(table["reference_selection_rate"], abs=1e-9)
            assert table["count"] == reference[name][group]["count"] == table["labelled"]
            if table["tpr"] is not None:
                assert table["tpr"] == pytest.approx(reference[name][group]["tpr"], abs=1e-9)
        for gap in ("demographic_parity_difference", "tpr_gap", "fpr_gap"):
            assert (attribute[gap] is None) == (attribute[f"reference_{gap}"] is None)
            assert attribute[gap] == pytest.approx(attribute[f"reference_{gap}"], abs=1e-9)

    # Raise the probabilities of the gated age band that is selected most: its rate and the gap go up.
    gated = {g: t for g, t in reference["age"].items() if t["gated"]}
    assert len(gated) >= 2, "the small project should gate at least two age bands"
    top = max(gated, key=lambda g: gated[g]["selection_rate"])
    members = (sensitive_groups(test["age"], schema.sensitive["age"].bins) == top).to_numpy()
    shifted = fairness_drift(test, np.where(members, np.minimum(p + 0.3, 1.0), p), y, predictor.threshold, schema,
                             reference, params.monitor.min_labelled_rows)["age"]
    assert shifted["groups"][top]["selection_rate"] > drift["age"]["groups"][top]["selection_rate"]
    assert shifted["demographic_parity_difference"] > drift["age"]["demographic_parity_difference"]
