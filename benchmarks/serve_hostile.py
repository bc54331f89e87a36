"""Hostile clients for ``serve_latency.py --hostile``: an adversary sending fresh long made-up-word queries, and 16
parallel uploads of large-pixel PNGs.

Rows (each against the product's own ``mmir serve`` subprocess on loopback):

- ``keyword, N clients, no adversary``: the baseline, measured in the same run.
- ``keyword, N clients + adversary``: the same clients while one more client sends fresh 500-character queries of
  made-up words back to back (every one runs the text model: nothing is cached); the adversary's own latencies
  are printed too. Goal: the other clients' keyword p99 <= 50 ms. Two rounds, the second with the rows in the
  other order and fresh words.
- ``+ abandoning adversary`` (each setting on a fresh server): the same keyword clients while one more client sends
  a fresh 500-character made-up query, gives up after :data:`ABANDON_AFTER_S` and sends the next (a user typing on,
  a proxy timing out), with the server's cancellation on (the default: a query whose client went away stops) and
  off (the baseline: it runs to the end for nobody). Printed beside the latencies: the server's CPU seconds
  (its process and the text-model child) during the row and in the :data:`DRAIN_S` after it (work left behind).
- ``16 parallel uploads``: 16 clients each upload a ~120 KB 7280x5456 (39.7-megapixel) PNG at once, to a fresh
  server; its resident memory before, at peak (the kernel's high-water mark, VmHWM) and 2 s after. Goal: peak
  < 1.5 GB.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote

import numpy as np
from PIL import Image

ADVERSARY_CHARS = 500  # the API's longest query
ABANDON_AFTER_S = 0.05  # the abandoning adversary closes its connection this long after sending a query
DRAIN_S = 3.0  # CPU is also counted this long after the abandoning adversary stops: work left behind
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
    rounds: int = 2,
) -> None:  # fmt: skip
    """Keyword clients without and with an adversary sending fresh made-up queries, ``rounds`` times with the order
    swapped each round (a row that always ran first or last would carry the machine's drift), each round's
    adversary with fresh words (``concurrent``/``row``: serve_latency's client loop and row printer)."""
    for number in range(rounds):
        for with_adversary in (number % 2 == 1, number % 2 == 0):
            if with_adversary:
                _with_adversary(port, seconds, clients, concurrent, row, seed=7 + number)
            else:
                latencies, elapsed = concurrent(port, clients, seconds, lambda c, i: c.keyword(i))
                row(f"keyword, {clients} clients, no adversary", latencies, elapsed)


def _with_adversary(
    port: int, seconds: float, clients: int,
    concurrent: Callable[..., tuple[list[float], float]], row: Callable[[str, list[float], float], None], seed: int,
) -> None:  # fmt: skip
    """The keyword clients' row while one more client sends fresh made-up queries back to back, and its own row."""
    stop = threading.Event()
    hostile: list[float] = []

    def adversary() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for query in made_up_queries(seed=seed):
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


# ---- the abandoning adversary: cancellation on (the default) against off, each on a fresh server ----------------
SERVE = """
import json, sys
from pathlib import Path
import uvicorn
from mmir.server import ServerSettings, create_app
collection, port, settings = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
app = create_app(ServerSettings(collection=Path(collection), **settings))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def start_server_with(collection: str, settings: Mapping[str, object]) -> tuple[subprocess.Popen[bytes], int]:
    """The product's app (``create_app`` + uvicorn, as ``mmir serve`` runs it) with ``settings``, once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen([sys.executable, "-c", SERVE, collection, str(port), json.dumps(settings)])
    for _ in range(600):
        if server.poll() is not None:
            break
        try:
            _get(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/api/health")
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (the text-model child), from ``/proc``."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    queue.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants."""
    total = 0
    for member in _family(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _abandoning(port: int, stop: threading.Event, sent: list[int]) -> None:
    """Until ``stop``: send a fresh made-up query, close the connection after :data:`ABANDON_AFTER_S` unanswered."""
    for query in made_up_queries(seed=11):
        if stop.is_set():
            return
        with socket.create_connection(("127.0.0.1", port)) as sock:
            request = f"GET /api/search?k=24&q={quote(query)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            sock.sendall(request.encode())
            sock.settimeout(ABANDON_AFTER_S)
            with contextlib.suppress(TimeoutError):
                sock.recv(1)
        sent[0] += 1


# label → server settings: the default, and the server as it was before (the baseline)
CANCELLATION: dict[str, dict[str, object]] = {
    "cancel on": {},
    "cancel off": {"cancel_on_disconnect": False, "query_timeout_s": None},
}


def abandon_rows(
    collection: str, seconds: float, clients: int, warm: Callable[[int], None],
    concurrent: Callable[..., tuple[list[float], float]], row: Callable[[str, list[float], float], None],
) -> None:  # fmt: skip
    """Keyword clients beside an adversary that abandons its queries, with the server's cancellation on and off."""
    for label, settings in CANCELLATION.items():
        server, port = start_server_with(collection, settings)
        try:
            warm(port)
            idle = cpu_seconds(server.pid)
            latencies, elapsed = concurrent(port, clients, seconds, lambda c, i: c.keyword(i))
            row(f"keyword, {clients} clients ({label})", latencies, elapsed)
            quiet = cpu_seconds(server.pid) - idle
            stop, sent = threading.Event(), [0]
            thread = threading.Thread(target=_abandoning, args=(port, stop, sent))
            before = cpu_seconds(server.pid)
            thread.start()
            latencies, elapsed = concurrent(port, clients, seconds, lambda c, i: c.keyword(i))
            stop.set()
            thread.join()
            during = cpu_seconds(server.pid) - before
            time.sleep(DRAIN_S)
            after = cpu_seconds(server.pid) - before - during
            row(f"  + abandoning client ({label})", latencies or [float("nan")], elapsed)
            print(f"    server CPU s: {quiet:.1f} alone, {during:.1f} beside the adversary ({sent[0]} queries "
                  f"abandoned after {ABANDON_AFTER_S * 1000:.0f} ms, {sent[0] / elapsed:.0f}/s), {after:.1f} in the "
                  f"{DRAIN_S:g} s after it")
        finally:
            stop_server(server, label)


def stop_server(server: subprocess.Popen[bytes], label: str) -> None:
    """Stop ``server``: uvicorn waits for the requests in flight, abandoned ones included (say how long)."""
    started = time.perf_counter()
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)
    print(f"    ({label}: the server took {time.perf_counter() - started:.1f} s to stop)")
