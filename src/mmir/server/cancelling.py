"""Every API request runs as one cancellable query: stopped when its client goes away or its time budget is spent.

:class:`CancelMiddleware` enters a :func:`~mmir.api.cancel_scope` per request (a context variable: starlette copies
it into the worker thread that runs the query) and becomes the only reader of the connection's ``receive``: a small
task passes every message on to the app and, on ``http.disconnect``, cancels the scope. The search code's
checkpoints then raise :class:`~mmir.api.Cancelled` between chunks of work, so an abandoned query stops within one
chunk and frees its thread and the collection lock, instead of burning CPU to the end for nobody. A query past the
budget is answered 503 with a one-line JSON ``detail`` ("narrow it") instead of hanging.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mmir.api import Cancelled, CancelReason, cancel_scope
from mmir.server.guard import ASGIApp, Message, Receive, Scope, Send

# Requests that run no query: files and pictures stream (starlette watches their disconnects itself), the health
# probe and indexing status are instant, and an indexing run belongs to its own thread, not to the request.
UNSCOPED = ("/api/media/", "/api/health", "/api/index")
CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads it, but logs say what happened


class _Watch:
    """Reads the connection's messages for the app and cancels ``cancel`` when the client disconnects."""

    def __init__(self, receive: Receive, cancel: Any) -> None:
        self._receive = receive
        self._cancel = cancel
        self._out: MemoryObjectSendStream[Message]
        self._in: MemoryObjectReceiveStream[Message]
        self._out, self._in = anyio.create_memory_object_stream(math.inf)

    async def pump(self) -> None:
        with self._out:
            while True:
                message = await self._receive()
                self._out.send_nowait(message)
                if message["type"] == "http.disconnect":
                    self._cancel.cancel(CancelReason.DISCONNECTED)
                    return

    async def receive(self) -> Message:
        try:
            return await self._in.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return {"type": "http.disconnect"}

    def close(self) -> None:
        self._in.close()
        self._out.close()


class CancelMiddleware:
    """Runs each API request inside a cancel scope with ``budget_s`` seconds, watching for the client going away.

    Args:
        app: The wrapped ASGI application.
        budget_s: Seconds a request's query may run (``None``: no limit).
        watch_disconnect: Cancel the scope when the client disconnects.
    """

    def __init__(self, app: ASGIApp, budget_s: float | None, watch_disconnect: bool = True) -> None:
        self.app = app
        self.budget_s = budget_s
        self.watch_disconnect = watch_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(UNSCOPED):
            await self.app(scope, receive, send)
            return
        with cancel_scope(self.budget_s) as cancel:
            if not self.watch_disconnect:
                await self.app(scope, receive, send)
                return
            watch = _Watch(receive, cancel)
            # A bare asyncio task, not an anyio task group: the group's scope bookkeeping and task naming cost the
            # server ~0.2 ms a request (4 % of a keyword query's CPU); uvicorn and the test client run asyncio.
            pump = asyncio.ensure_future(watch.pump())
            pump.add_done_callback(_consume)
            try:
                await self.app(scope, watch.receive, send)
            finally:
                pump.cancel()
                watch.close()


def _consume(task: asyncio.Future[None]) -> None:
    """Retrieve a finished pump's error (a receive that failed after the response), so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


async def _stopped(_request: Request, exc: Exception) -> JSONResponse:
    """A query over its budget: 503 with the one-line reason; one whose client went away: 499 (unread)."""
    over = isinstance(exc, Cancelled) and exc.reason is CancelReason.DEADLINE
    return JSONResponse(status_code=503 if over else CLIENT_CLOSED, content={"detail": str(exc)})


def cancellable(app: FastAPI, budget_s: float | None, watch_disconnect: bool = True) -> ASGIApp:
    """``app`` with stopped queries answered (:class:`~mmir.api.Cancelled` → JSON) and wrapped in the middleware."""
    app.add_exception_handler(Cancelled, _stopped)
    return CancelMiddleware(app, budget_s, watch_disconnect)
