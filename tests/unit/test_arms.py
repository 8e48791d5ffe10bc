"""A canary's arms: the candidate's share of records follows the set share, and a larger share keeps every record
of a smaller one (the same arm in another process: tests/integration/test_arms.py)."""

from __future__ import annotations

import pytest

from driftline.serving.arms import CANDIDATE_ARM, CHAMPION_ARM, canary_arm

IDS = [f"record-{n}" for n in range(10_000)]


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5, 0.9])
def test_the_candidates_share_of_10000_ids_is_within_3_points_of_the_set_share(share):
    arms = [canary_arm(i, share) for i in IDS]
    assert set(arms) == {CHAMPION_ARM, CANDIDATE_ARM}
    assert abs(arms.count(CANDIDATE_ARM) / len(IDS) - share) <= 0.03


def test_a_larger_share_keeps_every_record_of_a_smaller_one():
    small = {i for i in IDS if canary_arm(i, 0.1) == CANDIDATE_ARM}
    large = {i for i in IDS if canary_arm(i, 0.3) == CANDIDATE_ARM}
    assert small < large
