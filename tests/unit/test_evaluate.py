import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from driftline.evaluate import choose_threshold, classification_metrics


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    return y, p


def test_metrics_agree_with_scikit_learn(scores):
    y, p = scores
    result = classification_metrics(y, p, 0.5, 10)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5))
    assert result["f1"] == pytest.approx(f1_score(y, p >= 0.5))
    assert result["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-4)
    assert 0 <= result["calibration_error"] <= 1


@pytest.mark.parametrize(("objective", "score"), [("accuracy", accuracy_score), ("f1", f1_score)])
def test_threshold_is_the_best_cut(scores, objective, score):
    y, p = scores
    chosen = choose_threshold(y, p, objective)
    best = max(score(y, p >= t) for t in np.unique(p))
    assert score(y, p >= chosen) == pytest.approx(best)
