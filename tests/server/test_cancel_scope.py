"""The cancel scope itself: checkpoints raise only inside a cancelled or overdue scope, lock waits give up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mmir.api import Cancelled, CancelReason, Collection, TextQuery, acquire_lock, cancel_scope, checkpoint


def test_checkpoint_without_a_scope_never_raises() -> None:
    for _ in range(10_000):
        checkpoint()
    with cancel_scope() as scope:  # a scope with no budget: only an explicit cancel stops it
        checkpoint()
        scope.cancel()
        with pytest.raises(Cancelled):
            checkpoint()
    checkpoint()  # the scope ended with the block: the command line's calls are never affected


def test_a_cancelled_scope_stops_at_the_next_checkpoint_and_says_why() -> None:
    with cancel_scope(60) as scope:
        checkpoint()
        scope.cancel(CancelReason.DISCONNECTED)
        scope.cancel(CancelReason.DEADLINE)  # the first reason is kept
        with pytest.raises(Cancelled) as stopped:
            checkpoint()
    assert stopped.value.reason is CancelReason.DISCONNECTED
    with cancel_scope(0.05), pytest.raises(Cancelled) as overdue:
        time.sleep(0.06)
        checkpoint()
    assert overdue.value.reason is CancelReason.DEADLINE
    assert "longer than 0.05 s" in str(overdue.value) and "narrow it" in str(overdue.value)


def test_a_scope_reaches_worker_threads_only_through_a_copied_context() -> None:
    import contextvars

    seen: list[str] = []

    def work() -> None:
        try:
            checkpoint()
            seen.append("ran")
        except Cancelled:
            seen.append("stopped")

    with cancel_scope() as scope:
        scope.cancel()
        threading.Thread(target=contextvars.copy_context().run, args=(work,)).start()  # as starlette's threadpool
        threading.Thread(target=work).start()  # a plain thread (the indexing job) starts with no scope
        time.sleep(0.2)
    assert sorted(seen) == ["ran", "stopped"]


def test_waiting_for_a_lock_gives_up_when_the_budget_is_spent() -> None:
    lock = threading.Lock()
    lock.acquire()  # another query holds the collection for good
    started = time.monotonic()
    with cancel_scope(0.2), pytest.raises(Cancelled):
        acquire_lock(lock)
    assert time.monotonic() - started < 1.0
    lock.release()
    acquire_lock(lock)  # no scope: a plain acquire
    lock.release()
    slots = threading.BoundedSemaphore(1)  # the server's upload decode slots
    acquire_lock(slots)
    with cancel_scope() as scope:
        threading.Timer(0.1, scope.cancel).start()  # the client goes away while its upload waits for a slot
        with pytest.raises(Cancelled):
            acquire_lock(slots)
    slots.release()


def test_a_search_in_a_cancelled_scope_stops(collection_dir: Path) -> None:
    with Collection.open(collection_dir) as collection:
        assert len(collection.search(TextQuery("dog"), 3)) > 0  # no scope: the library is unaffected
        with cancel_scope() as scope:
            scope.cancel()
            with pytest.raises(Cancelled):
                collection.search(TextQuery("cat"), 3)
        assert len(collection.search(TextQuery("cat"), 3)) > 0


class _CheckingModel:
    """A stand-in text model that, like the text-model process, looks at the cancel scope while it works."""

    def encode(self, texts, normalize_embeddings: bool = True, show_progress_bar: bool = False):
        import numpy as np

        checkpoint()
        return np.ones((len(texts), 4), np.float32) / 2.0


def test_one_time_class_embeddings_survive_a_cancelled_query() -> None:
    from mmir.concepts.embedding import ClassTextIndex
    from mmir.search.cancel import shielded

    with cancel_scope() as scope:
        scope.cancel()
        with shielded():
            checkpoint()  # shielded work is no query's: it never stops
        index = ClassTextIndex(["tabby cat", "beagle"], loader=_CheckingModel)
        with pytest.raises(Cancelled):
            index.similarities("zorblat")  # the query's own text stops...
    assert index._classes is not None  # ...but the class names, embedded once for every query, were kept
