import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from driftline.core.metrics import choose_threshold, classification_metrics


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    return y, p


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """L1 ECE: |observed rate - mean probability| per equal-width bin, weighted by the bin's share of rows.

    Bins are [k/bins, (k+1)/bins), as torchmetrics' binary_calibration_error(norm="l1") cuts them.
    """
    edges = np.linspace(0, 1, bins + 1)
    band = np.searchsorted(edges, p, side="right") - 1
    total = 0.0
    for b in np.unique(band):
        inside = band == b
        total += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(total)


def test_metrics_agree_with_scikit_learn(scores):
    y, p = scores
    result = classification_metrics(y, p, 0.5, 10)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5))
    assert result["f1"] == pytest.approx(f1_score(y, p >= 0.5))
    assert result["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-4)


@pytest.mark.parametrize("bins", [2, 10, 15])
def test_calibration_error_is_the_binned_l1_gap(scores, bins):
    y, p = scores
    result = classification_metrics(y, p, 0.5, bins)
    expected = expected_calibration_error(y, p, bins)
    assert expected > 0.02  # these scores are miscalibrated, so a metric stuck at zero would fail
    assert result["calibration_error"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.filterwarnings("ignore:No (positive|negative) samples:UserWarning:torchmetrics")  # one-class cases
@pytest.mark.parametrize(
    ("y", "p", "bins", "expected"),
    [
        # 4 rows at 0.25 with one positive, 4 at 0.75 with three: every bin's rate matches its probability.
        ([0, 0, 0, 1, 1, 1, 1, 0], [0.25] * 4 + [0.75] * 4, 10, 0.0),
        # Certain and right.
        ([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0], 10, 0.0),
        # Always 0.8, always positive: off by 0.2 everywhere.
        ([1] * 6, [0.8] * 6, 10, 0.2),
        # Always 0.3, never positive.
        ([0] * 5, [0.3] * 5, 10, 0.3),
        # Two bins: |0 - 0.25| * 2/5 + |1 - 0.6833...| * 3/5 = 0.29 (the torchmetrics docs' example).
        ([0, 0, 1, 1, 1], [0.25, 0.25, 0.55, 0.75, 0.75], 2, 0.29),
        # 0.1 but negative, 0.4 but positive: one bin of two (mean 0.25, rate 0.5) gives 0.25 ...
        ([0, 1], [0.1, 0.4], 2, 0.25),
        # ... while ten bins keep them apart: (0.1 + 0.6) / 2.
        ([0, 1], [0.1, 0.4], 10, 0.35),
    ],
)
def test_calibration_error_on_known_cases(y, p, bins, expected):
    result = classification_metrics(np.array(y), np.array(p), 0.5, bins)
    assert result["calibration_error"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("objective", "score"), [("accuracy", accuracy_score), ("f1", f1_score)])
@pytest.mark.parametrize("tolerance", [0.0, 0.01])
def test_threshold_is_within_tolerance_of_the_best_cut(scores, objective, score, tolerance):
    y, p = scores
    chosen = choose_threshold(y, p, objective, tolerance)
    best = max(score(y, p >= t) for t in np.unique(p))
    assert best - tolerance - 1e-12 <= score(y, p >= chosen) <= best


def test_threshold_barely_moves_when_the_scores_barely_move():
    """Calibrated scores on 5,000 rows, then the same scores with 2% noise on the logit, 20 times over."""
    rng = np.random.default_rng(1)
    logit = rng.normal(-1.2, 2.0, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-logit))).astype(int)

    def spread(tolerance: float) -> float:
        cuts = [choose_threshold(y, 1 / (1 + np.exp(-logit * (1 + rng.normal(0, 0.02)) - rng.normal(0, 0.02, 5000))),
                                 "accuracy", tolerance) for _ in range(20)]
        return max(cuts) - min(cuts)

    assert spread(0.005) < 0.04
    assert spread(0.0) > 2 * spread(0.005)  # the single best cut is what jumps
