"""Prefect events as the test server streams them: a subscription opened before the code under test emits, and
a wait for the events a test expects, each handed over as the server takes it in (no polling)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress


class Stream:
    """The events of a subscription, in the order the server streamed them."""

    def __init__(self):
        self.arrived: queue.Queue = queue.Queue()
        self.seen: list = []

    def wait(self, match: Callable[[object], bool], count: int = 1, timeout_s: float = 120) -> list:
        """The first COUNT events that MATCH, once they have arrived (TIMEOUT_S: a safety net, not a wait)."""
        deadline = time.monotonic() + timeout_s
        while len(found := [event for event in self.seen if match(event)]) < count:
            try:
                self.seen.append(self.arrived.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                raise AssertionError(f"{len(found)} of {count} expected events in {timeout_s} s") from None
        return found[:count]


@contextmanager
def subscribed(*prefixes: str) -> Iterator[Stream]:
    """The Prefect API's events whose names start with one of PREFIXES, from now until the block ends."""
    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter

    stream, ready, failed = Stream(), threading.Event(), []
    loop = asyncio.new_event_loop()

    async def listen() -> None:
        async with get_events_subscriber(filter=EventFilter(event=EventNameFilter(prefix=list(prefixes)))) as events:
            ready.set()
            async for event in events:
                stream.arrived.put(event)

    def run() -> None:
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - handed to the test below
            failed.append(exc)
            ready.set()

    task = loop.create_task(listen())
    thread = threading.Thread(target=run, name="prefect-events", daemon=True)
    thread.start()
    try:
        assert ready.wait(60) and not failed, f"no subscription to the Prefect API's events: {failed}"
        yield stream
    finally:
        with suppress(RuntimeError):  # the loop has ended already
            loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        loop.close()


def fired(automation_id) -> Callable[[object], bool]:
    """Matches the event an automation sends when its trigger fires."""
    resource = f"prefect.automation.{automation_id}"
    return lambda e: e.event == "prefect.automation.triggered" and e.resource.id == resource


def acted(automation_id) -> Callable[[object], bool]:
    """Matches the event an automation sends once its action has run or failed (a run-deployment action's run
    exists by then)."""
    resource = f"prefect.automation.{automation_id}"
    return lambda e: (e.event in ("prefect.automation.action.executed", "prefect.automation.action.failed")
                      and e.resource.id == resource)
