"""The door of every service: the token is checked and the body bounded before the app reads it.

A pure ASGI middleware in front of FastAPI, because a dependency (``require_token``) runs only
after FastAPI has read and parsed the whole body: an unauthenticated 100 MB body used to cost
seconds of CPU and hundreds of MB before the 401. Here, for every request that can change
something (any method but GET, HEAD and OPTIONS):

1. no token configured: 403, closed by default, with the message saying how to set one
   (``make up`` and ``twinbed up`` generate one; compose requires it);
2. a missing or wrong ``Authorization: Bearer <token>``: 401, compared in constant time on the
   raw header bytes (a non-ASCII header is simply wrong, not a 500);
3. a ``Content-Length`` over ``max_body_bytes``: 413 before a byte of the body is read; a body
   without a length (chunked) is read here up to the cap (413 past it) and replayed.

``require_token`` stays on the mutating routes as well, so the OpenAPI documents say which
endpoints need the token; it re-checks the same header.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NO_TOKEN = ("this service has no API token, so endpoints that change state are closed: set "
            "TWINBED_API_TOKEN in its environment (`make up` and `twinbed up` generate one and "
            "print it; docker compose requires it) and send 'Authorization: Bearer <token>'")
BAD_TOKEN = "missing or wrong bearer token (send 'Authorization: Bearer <TWINBED_API_TOKEN>')"


def token_matches(header: bytes | str | None, token: str) -> bool:
    """Constant-time ``header == "Bearer <token>"`` on bytes (any header value is allowed)."""
    if not token or header is None:
        return False
    raw = header.encode("utf-8", "surrogateescape") if isinstance(header, str) else header
    return secrets.compare_digest(raw, f"Bearer {token}".encode())


class Guard:
    """See the module docstring. ``token`` and ``max_body`` are read per request through
    ``settings`` (a callable), so tests and the lifespan can swap the settings."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Any]) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        s = self.settings()
        headers = dict(scope.get("headers") or [])
        if not s.api_token:
            await _reply(send, 403, NO_TOKEN)
            return
        if not token_matches(headers.get(b"authorization"), s.api_token):
            await _reply(send, 401, BAD_TOKEN, {"www-authenticate": "Bearer"})
            return
        limit = int(s.max_body_bytes)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reply(send, 400, "Content-Length is not a number")
                return
            if declared > limit:
                await _reply(send, 413, f"request body of {declared} bytes is over the "
                                        f"limit of {limit} bytes (TWINBED_MAX_BODY_BYTES)")
                return
        # Read the body here, at most limit + 1 bytes, then replay it to the app: bodies of
        # mutating requests are small (a run request is a few hundred bytes).
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await _reply(send, 413, f"request body is over the limit of {limit} bytes "
                                        f"(TWINBED_MAX_BODY_BYTES)")
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, detail: str,
                 extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
