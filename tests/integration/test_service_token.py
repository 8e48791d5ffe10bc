"""A service beyond loopback: the API token guards every route but the probes, and `driftline serve` refuses a
non-loopback address without a token unless --insecure."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from driftline.cli import app
from driftline.core.data import records
from driftline.errors import ConfigError
from driftline.serving.auth import is_loopback, resolve_host
from tests.helpers import tiny_models
from tests.helpers.service import service_client

TOKEN = "s3cret-token"
GUARDED = [("post", "/predict"), ("post", "/explain"), ("get", "/metadata/log"), ("get", "/metadata"),
           ("get", "/docs.json")]  # /metrics too: it is off in these in-process copies


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A test client of the service on a tiny binary model with DRIFTLINE_API_TOKEN set."""
    model = tiny_models.package("binary")
    env = {"DRIFTLINE_MODEL_TAG": str(model.tag), "DRIFTLINE_API_TOKEN": TOKEN,
           "DRIFTLINE_LOG_URL": f"sqlite:///{tmp_path_factory.mktemp('log-token') / 'inference.db'}"}
    with service_client("token", env) as client:
        yield client


def call(client, method: str, path: str, headers: dict | None = None):
    body = {"records": records(tiny_models.table("binary", rows=2, seed=2)[tiny_models.schema("binary").features])}
    return client.post(path, json=body, headers=headers) if method == "post" else client.get(path, headers=headers)


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_guarded_routes_answer_401_without_the_token_and_200_with_it(guarded, method, path):
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = call(guarded, method, path, headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.headers["www-authenticate"] == "Bearer" and "token" in refused.json()["error"]
    answered = call(guarded, method, path, {"Authorization": f"Bearer {TOKEN}"})
    assert answered.status_code == 200, answered.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
def test_probes_stay_open(guarded, path):
    assert guarded.get(path).status_code == 200


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                                ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
                                                ("example.org", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_host_name_is_judged_by_the_address_it_names():
    assert resolve_host("127.0.0.2") == "127.0.0.2" and resolve_host("::") == "::"
    assert is_loopback(resolve_host("localhost"))
    with pytest.raises(ConfigError, match="no-such-host.invalid is neither an address nor a name"):
        resolve_host("no-such-host.invalid")


def serve(tmp_path, monkeypatch, *args: str, token: str | None = None):
    """`driftline serve ARGS` in an empty folder: past the binding check it fails on the missing params.yaml."""
    monkeypatch.chdir(tmp_path)
    if token is None:
        monkeypatch.delenv("DRIFTLINE_API_TOKEN", raising=False)
    else:
        monkeypatch.setenv("DRIFTLINE_API_TOKEN", token)
    return CliRunner().invoke(app, ["serve", *args])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_serve_refuses_other_machines_without_a_token(tmp_path, monkeypatch, host):
    done = serve(tmp_path, monkeypatch, "--host", host)
    assert done.exit_code == 1
    assert f"--host {host} takes requests from other machines: set DRIFTLINE_API_TOKEN" in done.output


@pytest.mark.parametrize(("args", "token"), [(["--host", "0.0.0.0", "--insecure"], None),
                                             (["--host", "0.0.0.0"], TOKEN), ([], None)])
def test_serve_passes_the_binding_check_with_a_token_or_insecure(tmp_path, monkeypatch, args, token):
    done = serve(tmp_path, monkeypatch, *args, token=token)
    assert done.exit_code == 1 and "params.yaml" in done.output and "other machines" not in done.output
