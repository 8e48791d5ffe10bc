"""The statistics of a rollout decision against references (DeLong's textbook covariance, the bootstrap), and the
policy's table of outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from driftline.config import DecisionPolicy
from driftline.release.comparison import bootstrap_interval, compare, delong_interval
from driftline.release.decide import outcome_of


def scores(n: int = 600, seed: int = 0, noise: tuple[float, float] = (1.0, 1.5)) -> tuple[np.ndarray, ...]:
    """0/1 labels and two correlated scores of them: a shared signal, each with its own noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    shared = y + rng.normal(0, 1, n)
    return y, shared + rng.normal(0, noise[0], n), shared + rng.normal(0, noise[1], n)


def textbook_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """The variance of AUC(b) - AUC(a) by DeLong et al. (1988): structural components V10 (per positive) and
    V01 (per negative), their covariance matrices S10 and S01 (n - 1 denominators)."""
    def components(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (v10a, v01a), (v10b, v01b) = components(a), components(b)
    s10, s01 = np.cov(np.vstack([v10a, v10b])), np.cov(np.vstack([v01a, v01b]))
    contrast = np.array([-1, 1])
    return float(contrast @ s10 @ contrast / len(v10a) + contrast @ s01 @ contrast / len(v01a))


def test_paired_delong_matches_the_textbook_variance():
    y, a, b = scores()
    low, high = delong_interval((y, a), (y, b), paired=True, confidence=0.95)
    half = norm.ppf(0.975) * np.sqrt(textbook_delong(y, a, b))
    assert (high - low) / 2 == pytest.approx(half, rel=0.01)  # n versus n - 1 denominators


@pytest.mark.parametrize("paired", [True, False])
def test_delong_agrees_with_the_bootstrap(paired):
    y, a, b = scores()
    y2 = y if paired else scores(seed=1)[0]
    b = b if paired else scores(seed=1)[2]
    delong = delong_interval((y, a), (y2, b), paired, 0.9)
    boot = bootstrap_interval("binary", (y, a), (y2, b), paired, 600, 0.9)
    assert delong[0] == pytest.approx(boot[0], abs=0.012) and delong[1] == pytest.approx(boot[1], abs=0.012)
    width = delong[1] - delong[0]
    assert (boot[1] - boot[0]) == pytest.approx(width, rel=0.15)


def test_pairing_narrows_the_interval_of_correlated_arms():
    y, a, b = scores(noise=(0.3, 0.4))
    paired, unpaired = (delong_interval((y, a), (y, b), p, 0.95) for p in (True, False))
    assert paired[1] - paired[0] < 0.6 * (unpaired[1] - unpaired[0])


def test_the_paired_bootstrap_finds_a_better_regression_and_says_so_in_its_direction():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 500)
    shared = rng.normal(0, 0.5, 500)
    champion, candidate = y + shared + rng.normal(0, 1.0, 500), y + shared + rng.normal(0, 0.6, 500)
    found = compare("regression", (y, champion), (y, candidate), paired=True, confidence=0.95, rounds=400)
    assert found["metric"] == "rmse" and not found["higher_is_better"] and found["method"].endswith("paired")
    assert found["candidate"] < found["champion"] and found["interval"][1] < 0  # RMSE lower: better
    assert found["improvement"] == [-found["interval"][1], -found["interval"][0]] and found["improvement"][0] > 0
    assert found["interval"][0] <= found["difference"] <= found["interval"][1]
    same = bootstrap_interval("regression", (y, champion), (y, champion), True, 100, 0.95)
    assert same == [0.0, 0.0]  # the same answers on the same resamples differ by nothing


def test_an_unpaired_bootstrap_of_multiclass_log_loss_is_wider_than_the_paired():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 400)
    logits = np.eye(3)[y] * 1.5 + rng.normal(0, 1, (400, 3))
    softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
    champion, candidate = softmax(logits), softmax(logits + rng.normal(0, 0.3, (400, 3)))
    paired = bootstrap_interval("multiclass", (y, champion), (y, candidate), True, 300, 0.95)
    unpaired = bootstrap_interval("multiclass", (y, champion), (y, candidate), False, 300, 0.95)
    assert paired[1] - paired[0] < unpaired[1] - unpaired[0]


POLICY = DecisionPolicy(min_labelled=200, min_hours=24, margin=0.01, deadline_hours=168, on_deadline="rollback")


@pytest.mark.parametrize(("hours", "labelled", "improvement", "fired", "policy", "outcome", "says"), [
    (30, 500, [0.02, 0.05], ["The candidate's answers drifted."], POLICY, "rollback", "drifted"),
    (2, 500, [-0.08, -0.02], [], POLICY, "rollback", "worse"),
    (30, 500, [0.01, 0.05], [], POLICY, "promote", "better"),
    (2, 500, [0.02, 0.05], [], POLICY, "wait", "min_hours"),
    (30, 500, [0.0, 0.04], [], POLICY, "wait", "inconclusive"),
    (30, 500, [-0.005, 0.04], [], POLICY, "wait", "inconclusive"),  # possibly worse, not shown worse
    (30, 120, None, [], POLICY, "wait", "min_labelled"),
    (200, 500, [0.0, 0.04], [], POLICY, "rollback", "deadline"),
    (200, 10, None, [], POLICY.model_copy(update={"on_deadline": "promote"}), "promote", "deadline"),
    (200, 10, None, [], POLICY.model_copy(update={"on_deadline": "keep"}), "wait", "deadline"),
])
def test_the_policy_table(hours, labelled, improvement, fired, policy, outcome, says):
    found, reasons = outcome_of(policy, hours, labelled, improvement, fired, "roc_auc")
    assert found == outcome
    assert any(says in reason for reason in reasons) and all(r.endswith(".") for r in reasons)
