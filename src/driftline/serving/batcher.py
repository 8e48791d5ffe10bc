"""Scoring the records of concurrent requests in one model call, inside the service's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import chain

import numpy as np

Answers = dict[str, np.ndarray]  # the task's answers, one row per record (core.task: decode)
Score = Callable[[dict[str, list]], Answers]


class Batcher:
    """Requests wait for the event loop's next turn; every request that arrived by then is scored together.

    No timer: a lone request is scored at once, and under load the batch is whatever queued while the
    previous one ran. (BentoML's adaptive batching answered 503 to many requests at budgets of 20 to 100 ms
    here, and its batches lose which request a record came from, which the inference log keeps.) A batch
    that fails is scored again request by request, so a bad request fails alone.
    """

    def __init__(self, score: Score):
        self.score = score
        self.pending: list[tuple[dict[str, list], asyncio.Future]] = []

    async def __call__(self, columns: dict[str, list]) -> Answers:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((columns, future))
        if len(self.pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        if len(batch) == 1:
            self._settle(*batch[0])
            return
        try:
            merged = {name: list(chain.from_iterable(c[name] for c, _ in batch)) for name in batch[0][0]}
            answers = self.score(merged)
        except Exception:  # noqa: BLE001 - one request's bad values must not fail the others
            for columns, future in batch:
                self._settle(columns, future)
            return
        start = 0
        for columns, future in batch:
            end = start + len(next(iter(columns.values())))
            if not future.done():  # a client that went away cancelled its future
                future.set_result({name: values[start:end] for name, values in answers.items()})
            start = end

    def _settle(self, columns: dict[str, list], future: asyncio.Future) -> None:
        try:
            result = self.score(columns)
        except Exception as exc:  # noqa: BLE001 - handed to the request that caused it
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
