"""Web service latency: keyword and example queries over HTTP on loopback, beside the library calls they wrap.

The server is the product's own ``mmir serve`` started as a subprocess (so client threads do not share its GIL);
clients are threads with one keep-alive HTTP connection each. Reported per row: requests, throughput, and
p50/p95/p99 latency in ms. Rows:

- ``library``: ``Collection.search_text`` / ``search_image_bytes`` called in-process, sequentially (the floor).
- ``http N clients``: N concurrent clients for ``--seconds`` each, keyword (k=24) and example (a JPEG upload).
- ``keyword during uploads``: one keyword client while another client uploads large JPEGs back to back.
- ``--hostile``: keyword clients with and without an adversary sending fresh made-up-word queries (baseline in
  the same run), and the server's peak memory during 16 parallel uploads of 39.7-megapixel PNGs
  (:mod:`serve_hostile`).
- ``--abandon`` (also part of ``--hostile``): keyword clients beside an adversary that abandons each query after
  50 ms, with the server's cancellation on and off (fresh servers, same run), and the server's CPU seconds.
- ``--page-weight N`` (instead of the rows above): bytes and time to the first 24 cards of a search over N
  12-megapixel JPEGs, as the page loaded them before (originals) beside thumbnails (cold and warm cache), with
  6 connections like a browser; then keyword latency with 4 clients while thumbnails are being made and served.

The collection (unless ``--collection`` is given) is ``--images`` Fashion-MNIST test images written as PNG files and
indexed with the default model. Run: ``python benchmarks/serve_latency.py`` (a few minutes; the machine's load
shifts every figure, so the rows of one run are the comparison).
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

WORDS = ("shirt", "shoe", "bag", "dress", "coat", "sandal", "boot", "sweater", "trouser", "sneaker", "jersey", "sock")


def build_collection(folder: Path, images: int) -> Path:
    """Index ``images`` Fashion-MNIST test images (as PNG files) into ``folder / "coll"``."""
    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.learn.idx import load_fashion_mnist

    data = load_fashion_mnist("test")
    photos = folder / "photos"
    photos.mkdir()
    for i in range(images):
        Image.fromarray(data.images[i]).resize((112, 112)).save(photos / f"{i:05d}.png")
    with Collection.open(folder / "coll", create=True) as collection:
        collection.index([photos], IndexOptions(progress=False))
    return folder / "coll"


def jpeg(side: tuple[int, int], seed: int) -> bytes:
    """A noisy JPEG of ``side`` pixels (noise keeps it from compressing to nothing)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (side[1] // 16 + 1, side[0] // 16 + 1, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize(side, Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(data: bytes) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one ``image`` part, and its content type."""
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
    head += "Content-Type: image/jpeg\r\n\r\n"
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def keyword(self, i: int) -> None:
        self._call("GET", f"/api/search?k=24&q={quote(WORDS[i % len(WORDS)])}")

    def upload(self, body: bytes, content_type: str) -> None:
        self._call("POST", "/api/search/image?k=24", body, {"Content-Type": content_type})

    def _call(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        self.connection.request(method, url, body=body, headers=headers or {})
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {url} answered {response.status}")


def row(label: str, latencies: list[float], seconds: float) -> None:
    """Print one result row (latencies in seconds)."""
    ms = np.array(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    rate = len(ms) / seconds
    print(f"  {label:<34} {len(ms):>6} {rate:>9.1f} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")


def concurrent(
    port: int, clients: int, seconds: float, call: Callable[[Client, int], None]
) -> tuple[list[float], float]:
    """Run ``clients`` threads calling ``call`` for ``seconds``; all latencies and the elapsed time."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def work(worker: int) -> None:
        client, mine, i = Client(port), [], worker
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            call(client, i)
            mine.append(time.perf_counter() - started)
            i += clients
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def library_rows(collection_dir: Path, seconds: float, example: bytes) -> None:
    """The in-process calls the endpoints wrap, sequentially."""
    from mmir.api import Collection

    with Collection.open(collection_dir) as collection:
        collection.search_text(WORDS[0], 24)
        collection.search_image_bytes(example, "q.jpg", 24)  # loads the encoder
        for label, call in (
            ("library keyword", lambda i: collection.search_text(WORDS[i % len(WORDS)], 24)),
            ("library example", lambda i: collection.search_image_bytes(example, "q.jpg", 24)),
        ):
            latencies, deadline, i = [], time.perf_counter() + seconds, 0
            started = time.perf_counter()
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                call(i)
                latencies.append(time.perf_counter() - t0)
                i += 1
            row(label, latencies, time.perf_counter() - started)


def start_server(collection_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``mmir serve`` in a subprocess on a free loopback port, once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [sys.executable, "-m", "mmir", "serve", "-c", str(collection_dir), "--port", str(port)]
    server = subprocess.Popen(command)
    for _ in range(600):
        try:
            Client(port)._call("GET", "/api/health")
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


# ---- page weight (--page-weight): what a browser fetches for the first page of cards ----------------------
PAGE_FILES = ("/", "/app.js", "/cards.js", "/viewer.js", "/collection.js", "/app.css")
PAGE_WORDS = ("cat", "coffee", "rocket", "horse", "astronaut", "camera", "coins", "moon", "page", "clock")


def build_big_photos(folder: Path, count: int) -> Path:
    """Index ``count`` 4000x3000 JPEGs (scikit-image photos enlarged, with grain so they do not compress away)."""
    import skimage

    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions

    samples = sorted((Path(skimage.__file__).parent / "data").glob("*.png"))[:12]
    photos = folder / "big"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        base = Image.open(samples[i % len(samples)]).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
        grain = rng.integers(-12, 12, (3000, 4000, 3), dtype=np.int16)
        picture = np.clip(np.asarray(base, np.int16) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(picture).save(photos / f"{i:04d}.jpg", quality=90)
    with Collection.open(folder / "coll", create=True) as collection:
        collection.index([photos], IndexOptions(progress=False))
    return folder / "coll"


def fetch_all(port: int, urls: list[str], connections: int = 6) -> tuple[int, float]:
    """GET every url over ``connections`` keep-alive connections; total body bytes and wall seconds."""
    queue, lock, total = list(urls), threading.Lock(), [0]

    def work() -> None:
        client = Client(port)
        while True:
            with lock:
                if not queue:
                    return
                url = queue.pop(0)
            client.connection.request("GET", url)
            response = client.connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url} answered {response.status}")
            with lock:
                total[0] += len(body)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return total[0], time.perf_counter() - started


def page_weight_rows(port: int, seconds: float) -> None:
    """First page of 24 cards: originals (the page before thumbnails) beside thumbnails, then keyword p99."""
    import json

    def get(url: str) -> list[dict]:
        client = Client(port)
        client.connection.request("GET", url)
        found = json.loads(client.connection.getresponse().read())
        return list(found["hits"] if isinstance(found, dict) else found)

    hits = get(f"/api/search?k=24&mode=or&q={quote(' '.join(PAGE_WORDS))}")
    if len(hits) < 24 and hits:  # a keyword search may stop at the files that match at all: fill the page
        hits = get(f"/api/similar/{hits[0]['media_id']}?k=24")
    shell, _ = fetch_all(port, list(PAGE_FILES))
    print(f"  {'page of ' + str(len(hits)) + ' cards':<34} {'MB':>8} {'seconds':>9}  (page files {shell / 1e3:.0f} KB)")
    for label, suffix in (("originals (before)", ""), ("thumbnails, cold cache", "/thumb"),
                          ("thumbnails, warm cache", "/thumb")):  # fmt: skip
        size, elapsed = fetch_all(port, [*PAGE_FILES, *(hit["url"] + suffix for hit in hits)])
        print(f"  {label:<34} {size / 2**20:>8.2f} {elapsed:>9.2f}")
    stop = threading.Event()

    def thumbnails() -> None:  # previews of every hit, again and again: made once, then served from the cache
        loader, i = Client(port), 0
        while not stop.is_set():
            loader._call("GET", f"{hits[i % len(hits)]['url']}/thumb?size=1280")
            i += 1

    print(f"  {'row':<34} {'n':>6} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    latencies, elapsed = concurrent(port, 4, seconds, lambda c, i: c.keyword(i))
    row("http keyword, 4 clients", latencies, elapsed)
    thread = threading.Thread(target=thumbnails)
    thread.start()
    latencies, elapsed = concurrent(port, 4, seconds, lambda c, i: c.keyword(i))
    stop.set()
    thread.join()
    row("http keyword, 4 clients + previews", latencies, elapsed)
    print("goals: <= 1 MB for the first page of cards (originals: the page before); keyword p99 <= 50 ms")


def page_weight(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        collection_dir = args.collection or build_big_photos(Path(scratch), args.page_weight)
        print(f"collection {collection_dir}; cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
        server, port = start_server(collection_dir)
        try:
            page_weight_rows(port, args.seconds)
        finally:
            server.terminate()
            server.wait(10)


def _warm(port: int) -> None:
    warm = Client(port)
    for i in range(50):  # the concept columns, vocabulary caches, thread pool
        warm.keyword(i)


def hostile(args: argparse.Namespace) -> None:
    """The rows of :mod:`serve_hostile`: each against a fresh server (the memory row needs a clean high-water mark)."""
    from serve_hostile import abandon_rows, adversary_rows, large_png, upload_memory_row

    with tempfile.TemporaryDirectory() as scratch:
        collection_dir = args.collection or build_collection(Path(scratch), args.images)
        print(f"collection {collection_dir}; cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
        print(f"  {'row':<34} {'n':>6} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        abandon_rows(str(collection_dir), args.seconds, 4, _warm, concurrent, row)
        print(f"load average {os.getloadavg()[0]:.1f}")
        if args.abandon:
            print("goal: keyword p99 <= 50 ms beside the abandoning adversary, and no CPU spent after it stops")
            return
        server, port = start_server(collection_dir)
        try:
            warm = Client(port)
            for i in range(50):  # the concept columns, vocabulary caches, thread pool
                warm.keyword(i)
            adversary_rows(port, args.seconds, 4, concurrent, row)
        finally:
            server.terminate()
            server.wait(10)
        body, content_type = multipart(large_png())
        server, port = start_server(collection_dir)
        try:
            Client(port).upload(*multipart(jpeg((640, 480), 1)))  # the encoder loaded before the baseline RSS
            upload_memory_row(server.pid, port, body, content_type)
        finally:
            server.terminate()
            server.wait(10)
    print("goals: keyword p99 <= 50 ms with the adversary; peak server RSS < 1.5 GB during the uploads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, help="An existing collection (default: build one).")
    parser.add_argument("--images", type=int, default=500, help="Images in the collection built.")
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each row.")
    parser.add_argument("--hostile", action="store_true",
                        help="Only the hostile rows: an adversary's made-up queries, 16 parallel large-pixel uploads.")
    parser.add_argument("--page-weight", type=int, default=0, metavar="N",
                        help="Measure page weight over N (>= 24) 12-MP photos instead of the latency rows.")
    parser.add_argument("--abandon", action="store_true",
                        help="Only the rows of an adversary abandoning its queries, cancellation on and off.")
    args = parser.parse_args()
    if args.page_weight:
        page_weight(args)
        return
    if args.hostile or args.abandon:
        hostile(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        collection_dir = args.collection or build_collection(Path(scratch), args.images)
        example = jpeg((640, 480), 1)
        large, large_type = multipart(jpeg((6000, 4000), 2))
        small, small_type = multipart(example)
        print(f"collection {collection_dir}; cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
        print(f"  {'row':<34} {'n':>6} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        library_rows(collection_dir, args.seconds, example)
        server, port = start_server(collection_dir)
        try:
            warm = Client(port)
            warm.upload(small, small_type)  # load the encoder before measuring
            for i in range(50):  # and the concept matrix, vocabulary caches, thread pool
                warm.keyword(i)
            for clients in (1, 4, 16):
                latencies, elapsed = concurrent(port, clients, args.seconds, lambda c, i: c.keyword(i))
                row(f"http keyword, {clients} clients", latencies, elapsed)
            for clients in (1, 4, 16):
                latencies, elapsed = concurrent(port, clients, args.seconds, lambda c, _i: c.upload(small, small_type))
                row(f"http example, {clients} clients", latencies, elapsed)
            print(f"  (large upload: a 6000x4000 JPEG of {len(large) / 2**20:.1f} MB)")
            stop = threading.Event()

            def uploader() -> None:
                client = Client(port)
                while not stop.is_set():
                    client.upload(large, large_type)

            thread = threading.Thread(target=uploader)
            thread.start()
            latencies, elapsed = concurrent(port, 1, args.seconds, lambda c, i: c.keyword(i))
            stop.set()
            thread.join()
            row("http keyword during uploads", latencies, elapsed)
            latencies, elapsed = concurrent(port, 1, args.seconds, lambda c, i: c.keyword(i))
            row("http keyword, 1 client, after", latencies, elapsed)
        finally:
            server.terminate()
            server.wait(10)
    print("goals: >= 400 keyword req/s with 4 clients, p99 <= 50 ms; keyword p95 <= 50 ms during uploads")


if __name__ == "__main__":
    main()
