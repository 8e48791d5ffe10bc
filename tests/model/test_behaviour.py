"""Behaviour of a trained model: invariance, direction and minimum functionality."""

import json

import numpy as np
import pytest

from driftline.registry.resolver import packaged_model


@pytest.fixture(scope="module")
def predictor(trained):
    return packaged_model(trained / "artifacts/package/package.json").predictor()


def test_minimum_functionality_on_unseen_rows(predictor, held_out):
    from sklearn.metrics import roc_auc_score

    scored = predictor.predict(held_out)
    assert roc_auc_score(held_out["income"] == ">50K", scored["probability"]) > 0.85


def test_row_order_and_batch_size_do_not_change_scores(predictor, held_out):
    rows = held_out.head(64)
    together = predictor.predict(rows)["probability"].to_numpy()
    alone = np.array([predictor.predict(rows.iloc[[i]])["probability"].iloc[0] for i in range(len(rows))])
    reversed_ = predictor.predict(rows.iloc[::-1])["probability"].to_numpy()[::-1]
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(together, reversed_, atol=1e-6)


def test_large_capital_gains_raise_the_probability(predictor, held_out):
    rows = held_out.head(300)
    base = predictor.predict(rows)["probability"].mean()
    richer = predictor.predict(rows.assign(capital_gain=15000))["probability"].mean()
    assert richer > base


def test_unknown_categories_and_missing_values_still_score(predictor, held_out):
    rows = held_out.head(50)

    def scores(**changes) -> np.ndarray:
        return predictor.predict(rows.assign(**changes))["probability"].to_numpy()

    original = scores()
    # Every value outside the fitted vocabulary lands in the one "unknown" slot: made-up countries and
    # declared countries too rare in training to get a slot of their own score alike.
    vocabulary = predictor.transform.categorical["native_country"].vocabulary
    rare = sorted(set(predictor.schema.columns["native_country"].categories) - set(vocabulary))
    assert rare, "the small training slice should leave some declared country without its own slot"
    atlantis = scores(native_country="Atlantis")
    np.testing.assert_array_equal(atlantis, scores(native_country="Narnia"))
    np.testing.assert_array_equal(atlantis, scores(native_country=rare[0]))
    assert np.isfinite(atlantis).all() and ((atlantis > 0) & (atlantis < 1)).all()
    assert not np.allclose(atlantis, original)  # the unknown slot is read, not dropped

    # Missing values score alike however they arrive: NaN, JSON null (None) or the data's "?" marker.
    missing = scores(workclass=np.nan, hours_per_week=np.nan)
    np.testing.assert_array_equal(missing, scores(workclass=None, hours_per_week=None))
    np.testing.assert_array_equal(missing, scores(workclass="?", hours_per_week="?"))
    assert np.isfinite(missing).all() and ((missing > 0) & (missing < 1)).all()
    assert not np.allclose(missing, original)  # imputed and flagged, not silently ignored


def test_labels_follow_the_packaged_threshold(predictor, held_out, trained):
    threshold = json.loads((trained / "artifacts/evaluate/decision.json").read_text())["threshold"]
    assert predictor.threshold == threshold
    scored = predictor.predict(held_out.head(200))
    assert ((scored["probability"] >= threshold) == (scored["label"] == ">50K")).all()
