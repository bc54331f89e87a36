"""Cooperative cancellation of one query: a scope per request, checked where a query spends its time.

A server enters a :class:`CancelScope` around each request (:func:`cancel_scope`; a context variable, which
starlette copies into the worker thread that runs the query), cancels it when the client goes away, and gives it a
time budget. The search code calls :func:`checkpoint` between its chunks of work — the keyword stream's blocks,
grouping rounds, the text model's passes, feedback batches, spatial verification — and :func:`acquire_lock` instead of
waiting on a lock for good; both raise :class:`Cancelled` once the scope is cancelled or past its deadline, so an
abandoned or runaway query frees its thread and the collection lock within one chunk. Without a scope (the command
line, library users) a checkpoint is one context-variable read (~50 ns) and never raises.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOCK_SLICE_S = 0.05  # a wait for a lock looks at its scope this often (a disconnect is noticed within it)


class CancelReason(enum.Enum):
    """Why a query was stopped."""

    DISCONNECTED = "the client went away"
    DEADLINE = "the query's time budget was spent"


class Cancelled(Exception):
    """Raised by :func:`checkpoint` in a cancelled scope.

    Not an :class:`~mmir.errors.MmirError` on purpose: code that turns errors into a one-line message (``except
    MmirError``) must let it through to whoever entered the scope.

    Attributes:
        reason: Why the query was stopped.
        budget_s: The scope's time budget in seconds (``None``: none).
    """

    def __init__(self, reason: CancelReason, budget_s: float | None = None) -> None:
        self.reason = reason
        self.budget_s = budget_s
        if reason is CancelReason.DEADLINE and budget_s is not None:
            super().__init__(f"the query took longer than {budget_s:g} s (a busy server or a costly query): "
                             "try again, or narrow it (fewer words, a filter, a lower k)")
        else:
            super().__init__(f"query stopped: {reason.value}")


class CancelScope:
    """One query's cancellation state: cancelled from any thread, read by :func:`checkpoint` in the query's thread.

    Args:
        budget_s: Seconds the query may run from now (``None``: no deadline).
    """

    def __init__(self, budget_s: float | None = None) -> None:
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s if budget_s is not None else math.inf
        self.reason: CancelReason | None = None  # set once; a plain attribute write is atomic under the GIL

    def cancel(self, reason: CancelReason = CancelReason.DISCONNECTED) -> None:
        """Stop the query at its next checkpoint (the first reason given is kept)."""
        if self.reason is None:
            self.reason = reason

    def remaining(self) -> float:
        """Seconds left before the deadline (``inf`` without one; 0 once cancelled)."""
        return 0.0 if self.reason is not None else max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise :class:`Cancelled` if the scope was cancelled or its deadline passed."""
        if self.reason is None and self.deadline != math.inf and time.monotonic() > self.deadline:
            self.reason = CancelReason.DEADLINE
        if self.reason is not None:
            raise Cancelled(self.reason, self.budget_s)


_SCOPE: ContextVar[CancelScope | None] = ContextVar("mmir_cancel_scope", default=None)


def checkpoint() -> None:
    """Raise :class:`Cancelled` if the current query was cancelled; without a scope, nothing (~50 ns)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.check()


def current_scope() -> CancelScope | None:
    """The scope entered around the running query, if any."""
    return _SCOPE.get()


@contextmanager
def cancel_scope(budget_s: float | None = None) -> Iterator[CancelScope]:
    """Run the block as one cancellable query with ``budget_s`` seconds (``None``: no deadline)."""
    scope = CancelScope(budget_s)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextmanager
def shielded() -> Iterator[None]:
    """Run the block as no query's work: checkpoints inside never raise.

    For one-time work whose result every later query shares (embedding the class names once): stopped halfway, it
    would be started again by the next query, and a machine where it takes longer than a query's budget would
    never finish it.
    """
    token = _SCOPE.set(None)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def acquire_lock(lock: threading.Lock | threading.Semaphore) -> None:
    """``lock.acquire()`` (a lock or a semaphore), but a cancelled query stops waiting (:class:`Cancelled`).

    Without a scope it is a plain blocking acquire. With one, the wait is cut into :data:`LOCK_SLICE_S` slices and
    bounded by the scope's deadline, so a client that went away, or whose budget ran out while another query held
    the lock, leaves the queue.
    """
    scope = _SCOPE.get()
    if scope is None:
        lock.acquire()
        return
    while True:
        scope.check()
        if lock.acquire(timeout=min(LOCK_SLICE_S, max(scope.remaining(), 0.001))):
            return
