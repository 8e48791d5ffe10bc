"""The service's batcher: concurrent requests share one scoring call, and a bad request fails alone."""

import asyncio

import numpy as np
import pytest

from driftline.serving.batcher import Batcher


def scorer(calls: list):
    def score(columns):
        calls.append(len(columns["x"]))
        if any(v is None for v in columns["x"]):
            raise ValueError("x: missing")
        x = np.asarray(columns["x"], dtype=float)
        # answers of every shape a task gives: one value per row, and one row of values per row
        return {"share": x / 10, "size": np.where(x > 5, "big", "small"), "spread": np.column_stack([x, -x])}
    return score


async def together(batcher: Batcher, requests: list[list]):
    return await asyncio.gather(*(batcher({"x": r}) for r in requests), return_exceptions=True)


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    calls = []
    results = asyncio.run(together(Batcher(scorer(calls)), [[1], [2, 9], [3]]))
    assert calls == [4]
    assert [r["share"].tolist() for r in results] == [[0.1], [0.2, 0.9], [0.3]]
    assert results[1]["size"].tolist() == ["small", "big"]
    assert results[1]["spread"].tolist() == [[2, -2], [9, -9]]


def test_a_bad_request_fails_alone():
    calls = []
    results = asyncio.run(together(Batcher(scorer(calls)), [[1], [None], [3]]))
    assert calls == [3, 1, 1, 1]  # the merged call, then each request on its own
    assert results[0]["share"].tolist() == [0.1] and results[2]["share"].tolist() == [0.3]
    with pytest.raises(ValueError, match="x: missing"):
        raise results[1]


def test_a_lone_request_is_scored_at_once():
    calls = []
    (result,) = asyncio.run(together(Batcher(scorer(calls)), [[7]]))
    assert calls == [1] and result["size"].tolist() == ["big"]


def test_drain_returns_once_every_queued_request_is_answered():
    calls = []

    async def queue_then_drain():
        batcher = Batcher(scorer(calls))
        requests = [asyncio.ensure_future(batcher({"x": r})) for r in ([1], [None], [3])]
        await asyncio.sleep(0)  # the requests are queued, not yet scored
        await batcher.drain()
        return [request.done() for request in requests]

    assert asyncio.run(queue_then_drain()) == [True, True, True] and calls == [3, 1, 1, 1]
