"""Greedy ensemble selection (core.blend.select) on raw outputs made up for the purpose."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from driftline.core.blend import blended, select


def auc_loss(y):
    return lambda raw: -roc_auc_score(y, raw[:, 0])


def test_a_member_that_is_best_alone_takes_all_the_weight():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = (y + rng.normal(0, 0.5, len(y)))[:, None]
    noise = rng.normal(0, 1, (len(y), 1))
    assert select({"deep": noise, "boost": good}, auc_loss(y), 25) == {"boost": 1.0}


def test_members_that_err_apart_share_the_weight_and_the_blend_beats_both():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    signal = y + rng.normal(0, 0.7, len(y))
    members = {name: (signal + rng.normal(0, 1.0, len(y)))[:, None] for name in ("deep", "boost")}
    weights = select(members, auc_loss(y), 25)
    assert set(weights) == {"deep", "boost"} and sum(weights.values()) == pytest.approx(1.0)
    # shares of the rounds kept, at most 25
    assert any(all(w * k == pytest.approx(round(w * k)) for w in weights.values()) for k in range(2, 26))
    loss = auc_loss(y)
    assert loss(blended(members, weights)) < min(loss(out) for out in members.values())


def test_the_kept_round_is_the_best_of_the_trajectory_never_worse_than_the_best_member():
    """A member that only hurts is never added: after the first round every addition makes the mean worse, and
    the first round is kept."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=3000)
    members = {"deep": (y + rng.normal(0, 0.1, len(y)))[:, None], "boost": rng.normal(0, 3, (len(y), 1))}

    def rmse(raw):
        return float(np.sqrt(np.mean((raw[:, 0] - y) ** 2)))

    assert select(members, rmse, 10) == {"deep": 1.0}


def test_a_tie_goes_to_the_first_member():
    y = np.array([0, 1, 0, 1])
    same = np.array([[0.1], [0.9], [0.2], [0.8]])
    assert select({"deep": same, "boost": same.copy()}, auc_loss(y), 5) == {"deep": 1.0}
