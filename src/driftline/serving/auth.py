"""The service's guards: who may call it (a bearer token on every route but the probes, and no listening beyond
loopback without one) and how much one request may send (BodyLimit)."""

from __future__ import annotations

import hmac
import ipaddress
import socket
from http import HTTPStatus

from starlette.responses import JSONResponse

from driftline.errors import ConfigError

PROBES = ("/healthz", "/livez", "/readyz")  # open without the token: orchestrators probe without credentials
TOKEN_VARIABLE = "DRIFTLINE_API_TOKEN"


def resolve_host(host: str) -> str:
    """The address HOST names: itself where it is one, else the resolver's first, an IPv4 one where there is one
    (`localhost`: 127.0.0.1). BentoML binds addresses only, and the loopback check judges what will be bound."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host} is neither an address nor a name this machine resolves: {exc.strerror}"
                          ) from None
    return min(found, key=lambda info: info[0] != socket.AF_INET)[4][0]


def is_loopback(address: str) -> bool:
    """Whether ADDRESS only takes connections from this machine: a loopback address (127.0.0.0/8, ::1). A name
    counts as reachable from elsewhere: resolve it first (resolve_host)."""
    try:
        return ipaddress.ip_address(address).is_loopback
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


class BodyLimit:
    """ASGI middleware: a request body over MAX_BYTES is answered 413 before the app reads or parses any of it.

    A Content-Length over the limit is refused at once, unread. Any other body is read here as it arrives and
    refused as soon as the bytes read pass the limit, so that no body takes more than MAX_BYTES of memory; one
    within it goes to the app whole. A refusal closes the connection: a client still sending learns at once,
    where the server would otherwise read and discard the rest of the body first.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = next((value for key, value in scope["headers"] if key == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: there is no one to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self.refuse(scope, receive, send)
            more = message.get("more_body", False)
        body, handed = b"".join(chunks), False

        async def replay():
            nonlocal handed
            if handed:  # the body has been read: what comes next is the client's (a disconnect)
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def refuse(self, scope, receive, send) -> None:
        message = f"the request body is larger than {self.max_bytes} bytes (serve.max_body_bytes): send fewer records"
        refusal = JSONResponse({"error": message}, status_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               headers={"Connection": "close"})
        await refusal(scope, receive, send)
