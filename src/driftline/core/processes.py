"""Child processes that serve on a port: a free loopback port, a process group stopped whatever happens, and the
wait for its readiness probe (the infra check, the tests and the benchmarks start servers with them)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, budget_s: float, probe: str = "/readyz") -> float | None:
    """Seconds until the readiness PROBE answers 200, or None when the budget runs out or the server exits."""
    started = time.perf_counter()
    while time.perf_counter() - started < budget_s and server.poll() is None:
        try:
            if httpx.get(f"{url}{probe}", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return None


@contextmanager
def process_group(command: list[str], env: dict | None = None, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """COMMAND running in its own process group for the block (output discarded); SIGTERM to the whole group
    after it, SIGKILL if it is still there 30 s later."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True, env=env, cwd=cwd)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):  # a server that has exited already: nothing to stop
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
