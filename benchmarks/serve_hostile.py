"""Hostile clients for ``serve_latency.py --hostile``: an adversary sending fresh long made-up-word queries, and 16
parallel uploads of large-pixel PNGs.

Rows (each against the product's own ``mmir serve`` subprocess on loopback):

- ``keyword, N clients, no adversary``: the baseline, measured in the same run.
- ``keyword, N clients + adversary``: the same clients while one more client sends fresh 500-character queries of
  made-up words back to back (every one runs the text model: nothing is cached); the adversary's own latencies
  are printed too. Goal: the other clients' keyword p99 <= 50 ms.
- ``16 parallel uploads``: 16 clients each upload a ~120 KB 7280x5456 (39.7-megapixel) PNG at once, to a fresh
  server; its resident memory before, at peak (the kernel's high-water mark, VmHWM) and 2 s after. Goal: peak
  < 1.5 GB.
"""

from __future__ import annotations

import http.client
import io
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import numpy as np
from PIL import Image

ADVERSARY_CHARS = 500  # the API's longest query
LETTERS = list("bcdfgklmnprstvz")


def made_up_queries(seed: int) -> Iterator[str]:
    """Endless fresh queries of made-up 8-letter words, each up to :data:`ADVERSARY_CHARS` characters."""
    rng = np.random.default_rng(seed)
    while True:
        words = ["".join(rng.choice(LETTERS, size=7)) + "o" for _ in range(ADVERSARY_CHARS // 9)]
        yield " ".join(words)[:ADVERSARY_CHARS]


def _get(connection: http.client.HTTPConnection, url: str) -> None:
    connection.request("GET", url)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {url[:60]} answered {response.status}")


def adversary_rows(
    port: int, seconds: float, clients: int,
    concurrent: Callable[..., tuple[list[float], float]], row: Callable[[str, list[float], float], None],
) -> None:  # fmt: skip
    """Keyword clients without, then with, an adversary sending fresh made-up queries (``concurrent``/``row``:
    serve_latency's client loop and row printer)."""
    latencies, elapsed = concurrent(port, clients, seconds, lambda c, i: c.keyword(i))
    row(f"keyword, {clients} clients, no adversary", latencies, elapsed)
    stop = threading.Event()
    hostile: list[float] = []

    def adversary() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for query in made_up_queries(seed=7):
            if stop.is_set():
                return
            started = time.perf_counter()
            _get(connection, f"/api/search?k=24&q={quote(query)}")
            hostile.append(time.perf_counter() - started)

    thread = threading.Thread(target=adversary)
    thread.start()
    time.sleep(0.5)  # its first query is in the text model
    started = time.perf_counter()
    latencies, elapsed = concurrent(port, clients, seconds, lambda c, i: c.keyword(i))
    stop.set()
    thread.join()
    row(f"keyword, {clients} clients + adversary", latencies, elapsed)
    row("  adversary's made-up queries", hostile or [float("nan")], time.perf_counter() - started)


def large_png(side: tuple[int, int] = (7280, 5456)) -> bytes:
    """A smooth ``side`` RGB PNG (39.7 megapixels by default) that compresses to about 120 KB."""
    ramp = np.linspace(0, 255, side[0], dtype=np.float32)
    plane = np.broadcast_to(ramp, (side[1], side[0]))
    pixels = np.stack([plane, plane[::-1], np.full_like(plane, 128)], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _rss_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in KiB, from ``/proc``."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def upload_memory_row(pid: int, port: int, body: bytes, content_type: str, uploads: int = 16) -> None:
    """RSS of the server ``pid`` before, at peak during ``uploads`` parallel uploads of ``body``, and after."""
    before = _rss_kb(pid)["VmRSS"]
    statuses: list[int] = []
    barrier = threading.Barrier(uploads)

    def upload() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        barrier.wait()
        connection.request("POST", "/api/search/image?k=24", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)

    started = time.perf_counter()
    threads = [threading.Thread(target=upload) for _ in range(uploads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    time.sleep(2.0)
    after = _rss_kb(pid)
    answered = sum(status == 200 for status in statuses)
    print(f"  {uploads} parallel uploads of a {len(body) / 1024:.0f} KB 39.7-MP PNG: {answered} answered 200 in "
          f"{seconds:.1f} s; server RSS before {before / 1024:.0f} MB, peak {after['VmHWM'] / 1024:.0f} MB, "
          f"2 s after {after['VmRSS'] / 1024:.0f} MB (goal: peak < 1536 MB)")  # fmt: skip
