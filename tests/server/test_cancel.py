"""Each request is cancellable: a query whose client went away stops and frees the lock; one over its budget is
answered 503 "narrow it" instead of hanging (issue 22: "make each request cancellable")."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from urllib.parse import quote, urlparse

import pytest

from mmir.api import checkpoint
from mmir.search.keyword_stream import KeywordSource
from mmir.server import ServerSettings, SettingsError

SLOW_WORD = "dog"  # the query made slow below; "cat" stays an ordinary query
WORK_S = 20.0  # how long the slow query would run if nothing stopped it


def _slow_top(work: list[int], seconds: float = WORK_S) -> Callable[..., object]:
    """``KeywordSource.top`` that works for ``seconds`` on :data:`SLOW_WORD` in 5 ms chunks, with a checkpoint
    between chunks as the real block stream has (``work[0]`` counts the chunks done, ``work[1]`` the finished runs)."""
    original = KeywordSource.top

    def top(self: KeywordSource, n: int) -> object:
        if self.mapping.text == SLOW_WORD:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                checkpoint()
                time.sleep(0.005)
                work[0] += 1
            work[1] += 1
        return original(self, n)

    return top


def _get(base: str, query: str, timeout: float = 30) -> tuple[int, float]:
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request("GET", f"/api/search?k=3&q={quote(query)}")
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def _stopped(work: list[int], within_s: float = 3.0) -> bool:
    """Whether ``work`` stops growing (for 0.3 s) within ``within_s`` (a loaded machine notices late)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        before = work[0]
        time.sleep(0.3)
        if work[0] == before:
            return True
    return False


def test_a_query_over_its_budget_is_answered_503_and_frees_the_lock(make_client, monkeypatch) -> None:
    client = make_client(query_timeout_s=3.0)
    for _ in range(3):  # the first query opens the collection (slow on a loaded machine): retried if it ran over
        if client.get("/api/search", params={"q": "cat"}).status_code == 200:
            break
    work = [0, 0]
    monkeypatch.setattr(KeywordSource, "top", _slow_top(work))
    started = time.monotonic()
    response = client.get("/api/search", params={"q": SLOW_WORD})
    assert response.status_code == 503, response.text  # was 200 after the whole 20 s
    assert "longer than 3 s" in response.json()["detail"] and "narrow it" in response.json()["detail"]
    assert time.monotonic() - started < WORK_S / 2
    assert work[0] > 0 and _stopped(work)
    assert client.get("/api/search", params={"q": "cat"}).status_code == 200  # the lock was released


def test_a_query_stops_when_its_client_goes_away(serve, monkeypatch) -> None:
    base = serve(query_timeout_s=None)  # no budget: only the disconnect can stop it
    assert _get(base, "cat")[0] == 200  # opens the collection, builds the vocabulary
    work = [0, 0]
    monkeypatch.setattr(KeywordSource, "top", _slow_top(work))
    url = urlparse(base)
    abandoned = socket.create_connection((url.hostname, url.port))
    abandoned.sendall(f"GET /api/search?q={SLOW_WORD} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    deadline = time.monotonic() + 10
    while work[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert work[0] > 0, "the slow query never started"
    abandoned.close()  # the client goes away mid-query
    assert _stopped(work), "the abandoned query kept working"  # was: 20 s more, holding the lock
    status, seconds = _get(base, "cat")
    assert status == 200 and seconds < WORK_S / 4, (status, seconds)  # was: behind the abandoned query's lock


def test_a_query_whose_client_stays_is_not_stopped(serve, monkeypatch) -> None:
    """The watcher cancels on a disconnect only: a client that waits gets its answer."""
    base = serve(query_timeout_s=None)
    assert _get(base, "cat")[0] == 200
    work = [0, 0]
    monkeypatch.setattr(KeywordSource, "top", _slow_top(work, seconds=0.5))
    assert _get(base, SLOW_WORD)[0] == 200
    assert work[1] == 1  # its 0.5 s of work ran to the end


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan")])
def test_a_budget_that_is_not_a_positive_number_is_refused(tmp_path, timeout: float) -> None:
    with pytest.raises(SettingsError, match="query timeout"):
        ServerSettings(collection=tmp_path, query_timeout_s=timeout)


def test_a_failing_route_raises_its_own_error_not_an_exception_group() -> None:
    """The disconnect watcher's task group must not wrap a route's error (uvicorn logs it, tests catch it as itself)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mmir.server.cancelling import cancellable

    app = FastAPI()

    @app.get("/api/boom")
    def boom() -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError):
        TestClient(cancellable(app, 5.0)).get("/api/boom")
    assert TestClient(cancellable(app, 5.0), raise_server_exceptions=False).get("/api/boom").status_code == 500


@pytest.mark.parametrize(("given", "env", "expected"), [((), None, 10.0), (("--query-timeout", "2.5"), None, 2.5),
                                                       (("--query-timeout", "0"), None, None), ((), "4", 4.0)])
def test_serve_takes_the_query_budget_from_its_option_or_environment(
    collection_dir, monkeypatch, capsys, given: tuple[str, ...], env: str | None, expected: float | None
) -> None:
    import uvicorn

    import mmir.server
    from mmir_cli import run

    seen: list[ServerSettings] = []
    monkeypatch.setattr(mmir.server, "create_app", lambda settings: seen.append(settings))
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    if env is not None:
        monkeypatch.setenv("MMIR_QUERY_TIMEOUT", env)
    else:
        monkeypatch.delenv("MMIR_QUERY_TIMEOUT", raising=False)
    code, _out, err = run(monkeypatch, capsys, "serve", "-c", str(collection_dir), *given)
    assert code == 0, err
    assert seen[0].query_timeout_s == expected
