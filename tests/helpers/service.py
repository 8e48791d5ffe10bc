"""The service in-process (BentoML's own app, lifespan included) on a copy of its module of its own, and a wait
until what it was handed is logged."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers.project import REPO


def fresh_service(name: str):
    """A copy of the service module of its own (it reads its model when imported), so that the session's
    app_client, which reloads driftline.serving.service, keeps its globals. BentoML registers an app's metrics
    process-wide, once: this copy's app goes without them."""
    spec = importlib.util.spec_from_file_location(f"service_{name}", REPO / "src/driftline/serving/service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the request model's annotations there
    spec.loader.exec_module(module)
    module.Driftline.config["metrics"] = {"enabled": False}
    return module


@contextmanager
def service_client(name: str, env: dict[str, str]) -> Iterator:
    """A test client of a fresh copy of the service (fresh_service) with ENV set, until the block ends; the
    client's `app_module` is the copy."""
    from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        for variable, value in env.items():
            patch.setenv(variable, value)
        service = fresh_service(name)
        with TestClient(service.Driftline.to_asgi()) as client:
            client.app_module = service
            yield client


def drain(client, timeout_s: float = 300) -> None:
    """Wait until the in-process service behind CLIENT has scored every record it handed its shadow and written
    every row it handed its log (their flush). TIMEOUT_S is a safety net: flush returns once the work is done."""
    for part in (client.app_module.LOG.get("shadow"), client.app_module.LOG.get("log")):
        assert part is None or part.flush(timeout_s), f"not drained in {timeout_s} s: {part.status()}"
