"""Hostile clients of the web service: made-up queries that run the text model, queries nothing can match, long
queries, and error messages that must not show the server's absolute paths."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import numpy as np
import pytest

from mmir.api import Collection
from mmir.concepts.embedding import ClassTextIndex


def _made_up(count: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join("".join(rng.choice(list("bcdfgklmnprstvz"), size=7)) + "o" for _ in range(count))


def _get(base: str, query: str, timeout: float) -> tuple[int, float]:
    """Status and seconds of one ``GET /api/search?q=query`` on a fresh connection."""
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request("GET", f"/api/search?k=5&q={quote(query)}")
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    except TimeoutError:
        return 0, time.perf_counter() - started
    finally:
        connection.close()


def test_made_up_queries_do_not_starve_other_clients(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClassTextIndex._encode

    def slow_encode(self, texts):  # every text-model pass takes a second, as on a loaded machine
        time.sleep(1.0)
        return original(self, texts)

    base = serve()
    assert _get(base, "dog", 30)[0] == 200  # opens the collection, builds the vocabulary
    monkeypatch.setattr(ClassTextIndex, "_encode", slow_encode)
    stop = threading.Event()

    def adversary(seed: int) -> None:
        while not stop.is_set():
            _get(base, _made_up(20, seed), 20)
            seed += 100

    attackers = [threading.Thread(target=adversary, args=(seed,)) for seed in (1, 2)]
    for thread in attackers:
        thread.start()
    time.sleep(0.3)  # the attackers' first queries are in the text model now
    try:
        answers = [_get(base, word, 5) for word in ("dog", "cat", "cup") * 4]
    finally:
        stop.set()
        for thread in attackers:
            thread.join(60)
    assert all(status == 200 for status, _ in answers), answers
    assert max(seconds for _, seconds in answers) < 1.0, answers  # was 4-23 s: behind the attackers' text model


def test_queries_nothing_can_match_are_answered(make_client) -> None:
    client = make_client()
    for query in ("🐶", "*", "the of"):
        response = client.get("/api/search", params={"q": query})
        assert response.status_code == 200, (query, response.text)
        assert isinstance(response.json(), list)


def test_a_long_query_is_cut_and_the_hits_say_so(make_client) -> None:
    client = make_client(query_timeout_s=30)  # the bound asserted below (its first text-model call starts the model)
    query = _made_up(55, seed=3)  # 495 characters: 55 distinct made-up words, over the 32 a query keeps
    started = time.monotonic()
    hits = client.get("/api/search", params={"q": query}).json()
    assert time.monotonic() - started < 30
    assert hits and any("only the first" in reason for reason in hits[0]["why"])
    mapping = client.get("/api/concepts", params={"q": query}).json()
    assert mapping["notes"] and len(mapping["terms"]) <= 33  # 32 words and the whole-sentence term


def test_indexing_errors_do_not_show_absolute_paths(make_client, collection_dir: Path, photo_dir: Path) -> None:
    client = make_client(roots=(photo_dir,))
    with Collection.open(collection_dir) as other:
        other.store.lock_for_writing()  # another process is indexing: the UI's run fails
        assert client.post("/api/index", json={"roots": [0]}).status_code == 202
        for _ in range(300):
            status = client.get("/api/index").json()
            if status["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
    assert status["state"] == "failed", status
    assert "another mmir process" in status["error"]
    assert str(collection_dir.parent) not in status["error"] and collection_dir.name in status["error"], status


def test_upload_memory_is_given_back(make_client, jpeg, photo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.server import service

    trims: list[float] = []
    monkeypatch.setattr(service, "release_memory", lambda: trims.append(time.monotonic()))
    client = make_client()
    for _ in range(3):
        files = {"image": ("q.jpg", jpeg(photo_dir / "horse.png"), "image/jpeg")}
        assert client.post("/api/search/image", files=files).status_code == 200
    assert len(trims) == 3  # each upload was the last one decoding: the heap was trimmed after it
