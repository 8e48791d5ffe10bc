"""The blend of both members on each task's small trained model (tests/helpers/task_models.py): the evaluate stage's
choice, and explanations that add up to what the user is answered."""

import json

import numpy as np
import pytest

from driftline.core.blend import Blend
from driftline.core.data import columns_of
from driftline.core.explain import ADDITIVITY_TOLERANCE, Explainer, additivity_error, column_attributions
from driftline.core.predictor import Predictor
from driftline.core.trees import Trees, matrix
from tests.helpers.task_models import task_model

KINDS = ["binary", "multiclass", "regression", "count"]  # count: a regression under the Poisson link
HALVES = {"deep": 0.5, "boost": 0.5}


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_weighs_the_members_on_validation_and_scores_each_on_test(kind):
    model = task_model(kind)
    decision = json.loads((model.root / "decision.json").read_text())
    blend = decision["blend"]
    assert set(blend["weights"]) <= {"deep", "boost"} and sum(blend["weights"].values()) == pytest.approx(1.0)
    scores = blend["validation"]
    best = max if blend["metric"] == "roc_auc" else min
    assert best(scores["model"], best(scores["deep"], scores["boost"])) == scores["model"]  # never worse on validation
    metrics = json.loads((model.root / "evaluate.json").read_text())
    primary = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse", "count": "rmse"}[kind]
    assert {primary, f"deep_{primary}", f"boost_{primary}", f"baseline_{primary}", f"dummy_{primary}"} <= set(metrics)
    assert metrics["weight_deep"] + metrics["weight_boost"] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_the_boosters_explain_native_categories_exactly(kind):
    model = task_model(kind)
    trees, transform = Trees.load(model.root / "boost"), model.predictor.transform
    x = matrix(transform, columns_of(model.split("test").head(50), transform.columns))
    values, base = trees.contributions(x)
    assert additivity_error(values, base, trees.raw(x)) < 1e-9
    splits = json.dumps([booster.dump_model()["tree_info"] for booster in trees.boosters])
    assert '"decision_type": "=="' in splits  # categorical splits, the kind shap's interventional explainer misreads


@pytest.mark.parametrize("kind", KINDS)
def test_the_blends_attributions_add_up_to_its_raw_output(kind):
    model = task_model(kind)
    blend = model.blend(HALVES)
    rows, background = model.split("test").head(12), model.split("train").head(20)
    values, base = column_attributions(blend, background, rows)
    raw = blend.raw_frame(rows)
    assert values.shape == (len(rows), len(blend.transform.columns), raw.shape[1])
    assert additivity_error(values, base, raw) < ADDITIVITY_TOLERANCE
    members = blend.members(columns_of(rows, blend.transform.columns))
    np.testing.assert_allclose(raw, 0.5 * members["deep"] + 0.5 * members["boost"])


@pytest.mark.parametrize("kind", KINDS)
def test_an_explanation_adds_up_to_the_answers_log_odds_or_prediction(kind):
    """/explain's output is what the user sees: a calibrated classifier's logit over its temperature, whose
    sigmoid (binary) is the probability answered."""
    model = task_model(kind)
    base = model.predictor
    decision = base.decision | ({} if kind == "regression" else {"temperature": 1.7})
    predictor = Predictor(model.blend(HALVES), base.transform, base.schema, decision, base.na_values,
                          base.max_records)
    test = model.split("test").head(5)
    columns = {name: test[name].tolist() for name in base.schema.features}
    explained = Explainer(predictor, model.split("train").head(20)).explain_columns(columns)
    answers = predictor.predict_columns(columns)
    link = {"identity": lambda p: p, "log": np.log, "log1p": np.log1p, "poisson": np.log}
    for n, answer in enumerate(explained):
        output = answer["logit" if "logit" in answer else "output"]
        assert abs(sum(answer["attributions"].values()) + answer["base_value"] - output) < ADDITIVITY_TOLERANCE
        if "output" in answer:  # the prediction through its link: the prediction itself, or its log
            assert answer["link"] == base.transform.target.link
            assert output == pytest.approx(link[answer["link"]](answers["prediction"][n]), abs=1e-9)
        elif kind == "binary":
            assert 1 / (1 + np.exp(-output)) == pytest.approx(answers["probability"][n], abs=1e-9)
        elif kind == "multiclass":
            assert answer["probability"] == pytest.approx(answers["probability"][n], abs=1e-9)


def test_a_member_of_weight_zero_is_not_loaded(tmp_path):
    model = task_model("binary")
    weights = {"deep": 0.0, "boost": 1.0}
    blend = Blend.load(model.predictor.transform, weights, tmp_path / "nothing", model.root / "boost")
    assert blend.net is None and blend.weights == {"boost": 1.0}
    rows = model.split("test").head(3)
    np.testing.assert_allclose(blend.raw_frame(rows), Trees.load(model.root / "boost").raw(
        matrix(blend.transform, columns_of(rows, blend.transform.columns))))


def test_a_count_is_learned_under_the_poisson_link_by_both_members():
    model = task_model("count")
    target = model.predictor.transform.target
    assert target.link == "poisson" and set(target.validation) == {"poisson", "log1p"}
    assert target.validation["poisson"] == min(target.validation.values())  # chosen on validation
    trees = Trees.load(model.root / "boost")
    assert all(booster.dump_model()["objective"].startswith("poisson") for booster in trees.boosters)
    test = model.split("test")
    answers = model.predictor.predict_columns({name: test[name].tolist() for name in model.params.schema.features})
    assert (answers["prediction"] > 0).all() and (answers["lower"] >= 0).all()
    # The network's raw output is log(prediction) minus the training mean's log: both members answer counts near
    # the truth, not standardised values.
    members = model.blend(HALVES).members(columns_of(test, model.predictor.transform.columns))
    for raw in members.values():
        assert abs(target.decode(raw[:, 0]).mean() / test["claims"].mean() - 1) < 0.2
