"""Every stage chained in-process on a slice of Adult (the `trained` fixture)."""

import json

import bentoml
import pytest

from driftline.config import load_params


def read(path):
    return json.loads(path.read_text())


def test_each_stage_wrote_its_outputs(trained):
    for path in ("artifacts/validate/docs/index.html", "artifacts/featurize/transform.json",
                 "artifacts/train/model.safetensors", "plots/roc/model.json", "plots/calibration/baseline.json",
                 "artifacts/audit/shap_importance.png", "artifacts/audit/shap_beeswarm.png",
                 "artifacts/audit/fairness.json"):
        assert (trained / path).is_file(), path


def test_validation_metrics_and_bias_summary(trained):
    assert read(trained / "metrics/validate.json")["rows"] == 6000
    bias = read(trained / "artifacts/validate/bias.json")
    assert set(bias) == {"sex", "race", "age"}
    assert sum(g["count"] for g in bias["sex"].values()) == 6000


def test_evaluation_has_the_flat_keys_and_the_decision_apart(trained):
    metrics = read(trained / "metrics/evaluate.json")
    for key in ("roc_auc", "accuracy", "baseline_roc_auc", "pr_auc", "f1", "log_loss", "calibration_error"):
        assert 0 <= metrics[key] <= 1 or key == "log_loss"
    assert metrics["roc_auc"] > 0.8
    decision = read(trained / "artifacts/evaluate/decision.json")
    assert decision["threshold"] == pytest.approx(metrics["threshold"], abs=1e-6)
    # the blend's weights and post-hoc choices alone, nothing of the baseline's
    assert set(decision) == {"blend", "threshold", "objective", "temperature", "calibration"}
    blend = decision["blend"]
    assert sum(blend["weights"].values()) == pytest.approx(1.0) and blend["metric"] == "roc_auc"
    assert set(blend["validation"]) == {"model", "deep", "boost"}
    assert all(metrics[f"weight_{name}"] == blend["weights"].get(name, 0.0) for name in ("deep", "boost"))
    calibration = decision["calibration"]
    assert decision["temperature"] == (calibration["fitted_temperature"] if calibration["applied"] else 1.0)


def test_audit_sums_shap_to_every_raw_column(trained):
    importance = read(trained / "artifacts/audit/shap_importance.json")
    assert set(importance) == set(load_params(trained / "params.yaml").schema.features)
    assert list(importance.values()) == sorted(importance.values(), reverse=True)
    assert min(importance.values()) < max(importance.values()) / 2  # attributions tell the columns apart
    assert max(importance.values()) > 0.05
    metrics = read(trained / "metrics/audit.json")
    assert {"sex_demographic_parity_difference", "race_equalized_odds_difference"} <= set(metrics)
    fairness = read(trained / "artifacts/audit/fairness.json")
    assert {"selection_rate", "tpr", "fpr", "auc"} <= set(fairness["sex"]["Male"])


def test_package_registered_model_and_bento(trained):
    info = read(trained / "artifacts/package/package.json")
    assert bentoml.models.get(info["model_tag"]).path
    bento = bentoml.get(info["bento_tag"])
    assert any(e["value"] == info["model_tag"] for e in bento.info.to_dict()["envs"])
