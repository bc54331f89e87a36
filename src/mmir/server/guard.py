"""A pure ASGI middleware that checks Host, token and body size before any route (or body parser) runs.

Doing this below FastAPI matters: a route's ``UploadFile`` parameter makes the framework read and spool the
whole body before the route's own checks run, so a client without a token could make the server write
gigabytes to disk only to be told 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mmir.server.settings import ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MEDIA_COOKIE = "mmir_media"
SMALL_BODY = 64 * 2**10  # JSON bodies (feedback, index requests) are small
MULTIPART_SLACK = 64 * 2**10  # multipart boundaries and part headers around the image bytes
PUBLIC_API = ("/api/health",)


def media_cookie_value(token: str) -> str:
    """The cookie that lets ``<img>``/``<video>`` fetch media: derived from the token, never the token."""
    return hmac.new(token.encode(), b"mmir media cookie v1", hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def bearer_ok(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (scheme case-insensitive, RFC 7235)."""
    if not authorization:
        return False
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def _cookie_ok(cookie_header: str | None, token: str) -> bool:
    if not cookie_header:
        return False
    expected = media_cookie_value(token).encode()
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == MEDIA_COOKIE and hmac.compare_digest(value.strip().encode(), expected):
            return True
    return False


async def send_json(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer a request directly with ``{"detail": ...}``."""
    body = json.dumps({"detail": detail}).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*start_headers, *headers]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Rejects bad Host headers, missing/wrong tokens and oversize bodies before the app sees the request.

    Args:
        app: The wrapped ASGI application.
        settings: Token, host names and upload size.
        upload_paths: Paths whose bodies may be as large as an upload; others get :data:`SMALL_BODY`.
    """

    def __init__(self, app: ASGIApp, settings: ServerSettings, upload_paths: tuple[str, ...]) -> None:
        self.app = app
        self.settings = settings
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.settings.host_allowed(_header(scope, b"host") or ""):
            await send_json(send, 421, "this server does not answer to that Host name")
            return
        path: str = scope["path"]
        if path.startswith("/api/") and path not in PUBLIC_API and not self._authorised(scope, path):
            await send_json(send, 401, "missing or wrong API token", ((b"www-authenticate", b"Bearer"),))
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            cap = self.settings.max_upload_bytes + MULTIPART_SLACK if path in self.upload_paths else SMALL_BODY
            body = await self._read_capped(scope, receive, send, cap)
            if body is None:
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope, path: str) -> bool:
        token = self.settings.token
        if token is None:
            return True
        if bearer_ok(_header(scope, b"authorization"), token):
            return True
        return path.startswith("/api/media/") and _cookie_ok(_header(scope, b"cookie"), token)

    async def _read_capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> bytes | None:
        """The whole body, or ``None`` after answering 413 (on Content-Length, or once the cap is passed)."""
        too_big = f"request body larger than {cap} bytes"
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await send_json(send, 400, "bad Content-Length")
                return None
            if int(length) > cap:
                await send_json(send, 413, too_big)
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:  # chunked upload without a length: stop reading at the cap
                await send_json(send, 413, too_big)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
