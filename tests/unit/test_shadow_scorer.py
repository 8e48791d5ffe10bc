"""The shadow's scorer: records submitted from the request path are scored in batches on its own thread, a bad
submission fails alone, and closing scores whatever is still queued."""

from __future__ import annotations

import numpy as np

from driftline.serving.batcher import ShadowScorer


def doubled(columns: dict[str, list]) -> dict[str, np.ndarray]:
    values = np.array(columns["x"], dtype=float)  # a text value fails, as a model's bad input would
    return {"y": values * 2}


def test_submissions_are_scored_in_batches_and_handed_back_with_their_context():
    calls, seen = [], {}

    def score(columns):
        calls.append(len(columns["x"]))
        return doubled(columns)

    scorer = ShadowScorer(score, lambda context, answers: seen.update({context: answers["y"].tolist()}),
                          interval_s=0.2)
    for n in range(50):
        scorer.submit({"x": [n, n + 0.5]}, f"request-{n}")
    counts = scorer.close()
    assert seen == {f"request-{n}": [2 * n, 2 * n + 1] for n in range(50)}
    assert counts == {"scored": 100, "failed": 0, "dropped": 0, "pending": 0}
    assert len(calls) < 10 and max(calls) > 10  # batches, not a call per submission


def test_a_bad_submission_fails_alone_and_overflow_is_dropped():
    seen = {}
    scorer = ShadowScorer(doubled, lambda context, answers: seen.update({context: answers["y"].tolist()}),
                          interval_s=0.2, max_pending=4)
    scorer.submit({"x": [1, 2]}, "good")
    scorer.submit({"x": ["bad"]}, "bad")
    scorer.submit({"x": [3, 4]}, "dropped: past max_pending")
    scorer.submit({"x": [5]}, "also good")
    counts = scorer.close()
    assert seen == {"good": [2, 4], "also good": [10]}
    assert counts == {"scored": 3, "failed": 1, "dropped": 2, "pending": 0}
