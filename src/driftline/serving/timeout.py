"""BentoML's request timeout, without its timer leak.

BentoML 1.4.39's TimeoutMiddleware schedules a timer per request and never cancels it, so every request's
context (its OpenTelemetry span, its futures) stays alive for the whole timeout. At hundreds of requests
a second that is tens of thousands of live objects, and each full pass of Python's collector over them
stalled the service for 100 to 200 ms (p99 155 ms at a 10 s timeout, 48 ms at 1 s). This is the same
middleware, answering 504 the same way, with the timer cancelled once the answer has started.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse


class TimeoutMiddleware(traffic.TimeoutMiddleware):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        answer = asyncio.ensure_future(self.app(scope, receive, _send))
        try:
            await waiter
        except asyncio.TimeoutError:
            if answer.cancel():
                message = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await JSONResponse(message, status_code=504)(scope, receive, send)
        else:
            await answer
        finally:
            timer.cancel()


def install() -> None:
    """Make BentoML build its apps with this middleware (it looks the class up when it builds one)."""
    traffic.TimeoutMiddleware = TimeoutMiddleware
