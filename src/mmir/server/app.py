"""FastAPI routes: keyword search, query by example (upload), similar items, info, and media files.

Security: binds to loopback unless told otherwise (see ``mmir serve``), optional bearer token, uploads
bounded in size, and files are served only by catalog id — a path from a request is never opened.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmir.errors import require

require("fastapi", "server")  # the whole module is the server; fail with the extra's name, not an ImportError

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile  # noqa: E402
from fastapi.responses import FileResponse, JSONResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402

from mmir.api import Collection  # noqa: E402
from mmir.concepts import QueryMode  # noqa: E402
from mmir.errors import MmirError, QueryError  # noqa: E402
from mmir.media import MediaError, display_path  # noqa: E402
from mmir.types import Hit, MediaRef  # noqa: E402

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class ServerSettings:
    """How the service runs.

    Attributes:
        collection: Collection directory.
        token: If set, every API call needs ``Authorization: Bearer <token>`` (or ``?token=`` for images).
        max_upload_bytes: Largest accepted query image.
        max_k: Largest number of results per query.
    """

    collection: Path
    token: str | None = None
    max_upload_bytes: int = 20 * 2**20
    max_k: int = 200


class _CollectionHolder:
    """One open collection shared by request threads; reopened when another process changed it."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._collection: Collection | None = None
        self._generation = -1

    @contextmanager
    def use(self) -> Iterator[Collection]:
        # SQLite connections and the engine's caches are not thread-safe: one request at a time.
        with self._lock:
            if self._collection is None:
                self._collection = Collection.open(self._directory)
                self._generation = self._collection.store.catalog.generation
            elif self._collection.store.catalog.generation != self._generation:
                self._collection = self._collection.reopened()
                self._generation = self._collection.store.catalog.generation
            yield self._collection


def hit_json(rank: int, hit: Hit) -> dict[str, Any]:
    """A hit as the UI and API clients see it (no server paths beyond the display name)."""
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "path": display_path(hit.media.path),
        "name": Path(hit.media.path).name,
        "why": list(hit.why),
        "media_id": hit.media.id,
        "url": f"/api/media/{hit.media.id}",
    }


def _unchanged(ref: MediaRef) -> bool:
    """The file is still the one indexed (a file swapped for another, or a link, is not served)."""
    import os

    try:
        stat = os.stat(ref.path)
    except OSError:
        return False
    return stat.st_size == ref.size and stat.st_mtime == ref.mtime


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the FastAPI application for ``settings``."""
    holder = _CollectionHolder(settings.collection)
    app = FastAPI(title="mmir", version="0.1.0")

    def check_token(request: Request) -> None:
        if settings.token is None:
            return
        header = request.headers.get("authorization", "")
        bearer = header.startswith("Bearer ")
        given = header.removeprefix("Bearer ").strip() if bearer else request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong API token")

    @app.exception_handler(MmirError)
    async def mmir_error(_request: Request, exc: MmirError) -> JSONResponse:
        status = 400 if isinstance(exc, (QueryError, MediaError)) else 500
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    def ranked(run: Callable[[Collection], list[Hit]]) -> list[dict[str, Any]]:
        with holder.use() as collection:
            return [hit_json(rank, hit) for rank, hit in enumerate(run(collection), 1)]

    auth = [Depends(check_token)]
    k_param = Query(10, ge=1, le=settings.max_k)

    @app.get("/api/search", dependencies=auth)
    def search(q: str = Query(..., min_length=1, max_length=500), k: int = k_param, mode: QueryMode = QueryMode.AND):
        return ranked(lambda c: c.search_text(q, k, mode))

    @app.post("/api/search/image", dependencies=auth)
    async def search_image(image: UploadFile = File(...), k: int = k_param):
        data = await image.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(status_code=413, detail=f"image larger than {settings.max_upload_bytes} bytes")
        name = Path(image.filename or "upload").name
        return ranked(lambda c: c.search_image_bytes(data, name, k))

    @app.get("/api/similar/{media_id}", dependencies=auth)
    def similar(media_id: int, k: int = k_param):
        with holder.use() as collection:
            ref = collection.store.catalog.media_ref(media_id)
        if ref is None:
            raise HTTPException(status_code=404, detail=f"no media {media_id}")
        return ranked(lambda c: c.similar(ref.path, k))

    @app.get("/api/concepts", dependencies=auth)
    def concepts(q: str = Query(..., min_length=1, max_length=500), mode: QueryMode = QueryMode.AND):
        with holder.use() as collection:
            return asdict(collection.map_query(q, mode))

    @app.get("/api/info", dependencies=auth)
    def info():
        with holder.use() as collection:
            return asdict(collection.info())

    @app.get("/api/media/{media_id}", dependencies=auth)
    def media(media_id: int):
        with holder.use() as collection:
            ref = collection.store.catalog.media_ref(media_id)
        if ref is None or not _unchanged(ref):
            raise HTTPException(status_code=404, detail=f"no media {media_id} (or it changed since indexing)")
        return FileResponse(ref.path)

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    return app
