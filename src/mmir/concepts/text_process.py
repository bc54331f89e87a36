"""The bundled text model in a separate, low-priority process, for the server.

A query of made-up words runs the text model for up to a couple of seconds of CPU. In the server's own process
that work competes with every other client's request for the two cores and for Python's GIL (NumPy's small
operations between matrix products hold it), so one client sending fresh made-up queries slowed everyone's
keyword searches. Here it runs in one child process at a lower CPU priority (``nice`` +10): the server's threads
only wait for its answer, the OS schedules other clients' requests first, and at most one core is spent on text
models whatever the number of such clients. The command line keeps the in-process model (no start-up cost).

:func:`bundled_text_model` is the loader :class:`~mmir.concepts.vocabulary.ConceptVocabulary` uses for the bundled
MiniLM: the in-process ONNX Runtime model, or this process's :class:`TextModelProcess` once
:func:`isolate_text_model` was called. Both compute the same vectors.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from mmir.errors import ModelError
from mmir.search.cancel import Cancelled, checkpoint

NICE = 10  # the child's niceness increment: it gets CPU only when the server's other work leaves some
WAIT_SLICE_S = 0.05  # a query waiting for the child looks at its cancel scope this often

_MODEL: Any = None  # in the child: the loaded model


def _exit_with_parent(parent: int) -> None:
    """Exit once orphaned: a parent killed (or gone without shutting its pool down) must not leave the child idle."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _start_child(nice: int) -> None:
    global _MODEL
    os.nice(nice)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from mmir.concepts.minilm import load_bundled_minilm

    _MODEL = load_bundled_minilm()


def _encode_in_child(texts: list[str], normalize_embeddings: bool) -> np.ndarray:
    return np.asarray(_MODEL.encode(texts, normalize_embeddings=normalize_embeddings), np.float32)


class TextModelProcess:
    """Sentence-transformers-style ``encode`` answered by the bundled MiniLM in a child process (started lazily).

    Args:
        nice: Niceness added to the child (a lower CPU priority than the server's).
    """

    def __init__(self, nice: int = NICE) -> None:
        self.nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")  # never fork a server's threads and sockets
                self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start_child, initargs=(self.nice,))
            return self._pool

    def start(self) -> None:
        """Start the child and load the model now (in the background), so the first query does not wait for it."""
        self._executor().submit(_encode_in_child, ["warm up"], True)

    def encode(
        self, texts: Sequence[str], normalize_embeddings: bool = True, show_progress_bar: bool = False
    ) -> np.ndarray:  # fmt: skip
        """``float32[N, 384]`` embeddings of ``texts`` from the child (restarted once if it died).

        Raises:
            ModelError: the child cannot run the model (e.g. it keeps dying).
        """
        del show_progress_bar
        for attempt in (1, 2):
            try:
                return _result(self._executor().submit(_encode_in_child, list(texts), normalize_embeddings))
            except BrokenExecutor as exc:
                self.close()
                if attempt == 2:
                    raise ModelError(f"the text-model process stopped ({exc})") from exc
        raise AssertionError("unreachable")

    def close(self, wait: bool = False) -> None:
        """Stop the child (a later :meth:`encode` starts a new one); ``wait``: until it has exited.

        With ``wait`` the child is terminated rather than waited for: its job may be the model's first load, which
        exports the ONNX file (tens of seconds on a fresh install), and a server being stopped must not hang on it.
        """
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor has no public way to stop a running job before Python 3.14's terminate_workers(), and
        # shutdown() forgets its processes: take them first.
        children = list((getattr(pool, "_processes", None) or {}).values()) if wait else []
        for child in children:
            child.terminate()
        pool.shutdown(wait=wait, cancel_futures=True)  # with wait: joins its manager thread, which frees the queues
        for child in children:
            child.join(timeout=5)


def _result(future: Future[np.ndarray]) -> np.ndarray:
    """The child's answer; a cancelled query (:mod:`mmir.search.cancel`) stops waiting and withdraws its texts
    from the child's queue if they have not started (clients that went away must not queue work for nobody)."""
    while True:
        try:
            return future.result(timeout=WAIT_SLICE_S)
        except TimeoutError:
            try:
                checkpoint()
            except Cancelled:
                future.cancel()
                raise


_ISOLATED: TextModelProcess | None = None


def isolate_text_model(start: bool = True) -> TextModelProcess:
    """Run the bundled text model in a child process from now on, in this process (one child, shared)."""
    global _ISOLATED
    if _ISOLATED is None:
        _ISOLATED = TextModelProcess()
    if start:
        _ISOLATED.start()
    return _ISOLATED


def release_text_model() -> None:
    """Stop the shared child of :func:`isolate_text_model` and wait for it (a server shutting down).

    A server stopped by a signal exits by that signal after its shutdown (uvicorn re-raises it), so no ``atexit``
    hook runs: a child left running then left its queues' semaphores to the resource tracker, which warned of
    "leaked semaphore objects" at every stop. A later query starts a new child.
    """
    if _ISOLATED is not None:
        _ISOLATED.close(wait=True)


def bundled_text_model() -> Any:
    """The bundled MiniLM: the child process's when :func:`isolate_text_model` was called, else in-process."""
    if _ISOLATED is not None:
        return _ISOLATED
    from mmir.concepts.minilm import load_bundled_minilm

    # In-process means a command (or a script) embedding a phrase or two: opening the session without repacking
    # the weights saves more than it costs on so few phrases (the server's child above repacks).
    return load_bundled_minilm(prepack=False)
