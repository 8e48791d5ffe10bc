"""Who may call the service: a bearer token on every route but the probes, and no listening beyond loopback
without one."""

from __future__ import annotations

import hmac
import ipaddress
from http import HTTPStatus

from starlette.responses import JSONResponse

from driftline.errors import ConfigError

PROBES = ("/healthz", "/livez", "/readyz")  # open without the token: orchestrators probe without credentials
TOKEN_VARIABLE = "DRIFTLINE_API_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether HOST only takes connections from this machine: `localhost` or a loopback address (127.0.0.0/8,
    ::1). Any other name counts as reachable from elsewhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to serve beyond loopback without an API token, unless INSECURE: anyone who reaches the port could
    score, and read the log's counts."""
    if not is_loopback(host) and not token and not insecure:
        raise ConfigError(f"--host {host} takes requests from other machines: set {TOKEN_VARIABLE} (clients then send "
                          "`Authorization: Bearer <token>`), or pass --insecure to serve without one")


class BearerToken:
    """ASGI middleware: every HTTP request but the probes needs `Authorization: Bearer <TOKEN>`, else 401.

    The comparison is hmac.compare_digest on bytes, whose time does not depend on where the tokens differ."""

    def __init__(self, app, token: str, open_paths: tuple[str, ...] = PROBES):
        self.app, self.expected, self.open_paths = app, f"Bearer {token}".encode(), open_paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or self.authorized(scope):
            return await self.app(scope, receive, send)
        refusal = JSONResponse({"error": "missing or wrong API token: send the header `Authorization: Bearer "
                                         "<token>` (DRIFTLINE_API_TOKEN of the service)"},
                               status_code=HTTPStatus.UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        await refusal(scope, receive, send)

    def authorized(self, scope) -> bool:
        sent = next((value for key, value in scope["headers"] if key == b"authorization"), b"")
        return hmac.compare_digest(sent, self.expected)
