"""FastAPI routes: keyword search, query by example, similar items, feedback, indexing, info and media.

Security lives in layers: :class:`~mmir.server.settings.ServerSettings` refuses unsafe setups at start,
:class:`~mmir.server.guard.GuardMiddleware` checks Host, token and body size before any route or body parser
runs, and files are served only by catalog id, only if unchanged — a path from a request is never opened.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from mmir.errors import require

require("fastapi", "server")  # the whole module is the server; fail with the extra's name, not an ImportError

from fastapi import Body, FastAPI, File, HTTPException, Query, Request, Security, UploadFile  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response  # noqa: E402
from fastapi.security import HTTPBearer  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from pydantic import BaseModel, Field, model_validator  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from mmir.api import Collection, FeedbackMethod, FeedbackQuery, ItemQuery, Per, QueryMode, TextQuery  # noqa: E402
from mmir.errors import MmirError, QueryError  # noqa: E402
from mmir.media import MediaError, display_path  # noqa: E402
from mmir.server.cancelling import cancellable  # noqa: E402
from mmir.server.field_routes import install_field_route  # noqa: E402
from mmir.server.filters import FilterParams  # noqa: E402
from mmir.server.guard import MEDIA_COOKIE, GuardMiddleware, media_cookie_value  # noqa: E402
from mmir.server.indexing import IndexJob  # noqa: E402
from mmir.server.query_images import CACHE_FOLDER as QUERIES_FOLDER  # noqa: E402
from mmir.server.query_images import QueryImages, image_type  # noqa: E402
from mmir.server.service import CollectionService  # noqa: E402
from mmir.server.settings import ServerSettings  # noqa: E402
from mmir.server.thumbnails import CACHE_FOLDER, ThumbnailCache, ThumbSize, stored_response  # noqa: E402
from mmir.types import PAGE_SIZE, Hit, MediaRef  # noqa: E402

STATIC = Path(__file__).parent / "static"
MAX_ID = 2**63 - 1  # SQLite integers are int64; larger ids cannot exist
ECHO_LIMIT = 120  # characters of a rejected input echoed back in a validation error
UPLOAD_PATHS = ("/api/search/image",)

MediaId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="Catalog id of a file.")]


class FeedbackRequest(BaseModel):
    """Marks for relevance feedback: files (media ids) and video shots (segment ids) marked relevant or not.

    At least one file or shot must be marked relevant.
    """

    positives: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=500)
    negatives: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=500)
    positive_shots: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=500)
    negative_shots: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=500)
    method: FeedbackMethod = FeedbackMethod.CLASSIFIER

    @model_validator(mode="after")
    def _something_relevant(self) -> FeedbackRequest:
        if not self.positives and not self.positive_shots:
            raise ValueError("mark at least one file (positives) or shot (positive_shots) relevant")
        return self

    def query(self) -> FeedbackQuery:
        """The marks as a :class:`FeedbackQuery` (raises ``QueryError`` when nothing is marked relevant)."""
        def items(files: list[int], shots: list[int]) -> tuple[ItemQuery, ...]:
            return (*(ItemQuery(media_id=i) for i in files), *(ItemQuery(segment_id=i) for i in shots))

        return FeedbackQuery(items(self.positives, self.positive_shots), items(self.negatives, self.negative_shots),
                             self.method)  # fmt: skip


class IndexRequest(BaseModel):
    """Which configured roots to index, by number (see ``GET /api/index``)."""

    roots: list[Annotated[int, Field(ge=0, le=1000)]] = Field(..., min_length=1, max_length=100)


def _unchanged(ref: MediaRef) -> bool:
    """The file is still the one indexed (a file swapped for another, or a link, is not served)."""
    try:
        stat = os.lstat(ref.path)
    except OSError:
        return False
    return stat.st_size == ref.size and stat.st_mtime == ref.mtime and not os.path.islink(ref.path)


def _capped(value: Any) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + f"… ({len(text)} characters)"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MmirError)
    async def mmir_error(_request: Request, exc: MmirError) -> JSONResponse:
        status = 400 if isinstance(exc, (QueryError, MediaError)) else 500
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the whole input by default (an 80 KB query came back as an 80 KB error).
        errors = [
            {
                "loc": list(error.get("loc", ())),
                "msg": _capped(error.get("msg", "")),
                "input": _capped(error.get("input")),
            }
            for error in exc.errors()[:10]
        ]
        return JSONResponse(status_code=422, content={"detail": errors})


def create_app(settings: ServerSettings) -> Any:
    """Build the ASGI application for ``settings`` (FastAPI wrapped in the guard middleware).

    Result lists are returned as ``JSONResponse`` directly: they are plain JSON already, and FastAPI's
    generic encoder would walk every hit again on the hot keyword path.
    """
    service = CollectionService(settings)
    kept = QueryImages(settings.collection / QUERIES_FOLDER)  # ?image=HASH links work after a reload
    job = IndexJob(settings.collection, settings.roots)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()  # the text-model child joined: nothing left for the resource tracker to warn about

    app = FastAPI(title="mmir", version="0.2.0", docs_url=None, redoc_url=None, lifespan=lifespan)
    _install_error_handlers(app)
    bearer = [Security(HTTPBearer(auto_error=False, description="The server's --token"))]  # documents the scheme
    k_param = Query(PAGE_SIZE, ge=1, le=settings.max_k)
    offset_param = Query(0, ge=0, le=10 * settings.max_k)
    text_param = Query(..., min_length=1, max_length=500)
    per_param = Query(Per.FILE, description="file: one hit per file (its best shot); shot: video shots one by one")
    # Keyword queries answered once already (insertion-ordered) → the notes of their mapping (words left out).
    seen: dict[tuple[str, QueryMode], tuple[str, ...]] = {}

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/api/session", dependencies=bearer, tags=["service"])
    def session() -> JSONResponse:
        """Sets the cookie that lets ``<img>`` and ``<video>`` load media (the API itself needs the header)."""
        response = JSONResponse({"ok": True, "token_required": settings.token is not None})
        if settings.token is not None:
            response.set_cookie(
                MEDIA_COOKIE, media_cookie_value(settings.token), httponly=True, samesite="strict", path="/api/media"
            )
        return response

    @app.get("/api/search", dependencies=bearer, tags=["search"])
    async def search(
        q: str = text_param, k: int = k_param, mode: QueryMode = QueryMode.AND, offset: int = offset_param,
        per: Per = per_param, flt: FilterParams = None,
    ):  # fmt: skip
        """Keyword search: ``k`` distinct files (``per=file``) or shots (``per=shot``). Every hit carries ``weak``:
        true when nothing matches well (the best score is below the validated threshold). Scores: 0 to 1."""
        weak = [False]

        def run(collection: Collection) -> list[Hit]:
            result = collection.search(TextQuery(q, mode), k + offset, per, filter=flt)
            weak[0] = result.weak
            return list(result)

        def mapped(collection: Collection) -> bool:
            return collection.vocabulary.is_mapped(q, mode)

        # A query seen before maps to concepts from the vocabulary's caches: answer it on the event loop
        # (no thread hand-offs). A new one may run the text model: it is mapped in a worker thread *outside* the
        # collection lock (other clients' searches go on meanwhile), then scored under the lock from the cache.
        notes = seen.get((q, mode))
        hits = service.ranked_now(run, offset, ready=mapped) if notes is not None else None
        if hits is None:
            mapping = await run_in_threadpool(service.map_text, q, mode)
            notes = mapping.notes
            try:
                hits = await run_in_threadpool(service.ranked, run, offset)
            except QueryError:
                if mapping.matched_terms:
                    raise
                hits = []  # only stop-words, symbols or emoji, or words in no file: nothing matches, not an error
            seen[(q, mode)] = notes
            if len(seen) > 1_000:  # no more than the vocabulary caches (mmir.concepts.vocabulary.MAPPING_CACHE)
                seen.pop(next(iter(seen)))
        for hit in hits:
            hit["why"] = [*hit["why"], *(notes or ())]
            hit["weak"] = weak[0]
        return JSONResponse(hits)

    @app.post("/api/search/image", dependencies=bearer, tags=["search"])
    async def search_image(
        image: UploadFile = File(...), k: int = k_param, offset: int = offset_param, per: Per = per_param,
        flt: FilterParams = None,
    ):  # fmt: skip
        """Query by example with an uploaded image: ``k`` distinct files (``per=file``) or shots (``per=shot``)."""
        data = await image.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(status_code=413, detail=f"image larger than {settings.max_upload_bytes} bytes")
        name = display_path(Path(image.filename or "upload").name)
        hits = await run_in_threadpool(service.search_upload, data, name, k, offset, per, flt)
        return JSONResponse(hits, headers=await run_in_threadpool(_kept_header, kept, data))

    @app.get("/api/similar/{media_id}", dependencies=bearer, tags=["search"])
    def similar(
        media_id: MediaId, k: int = k_param, offset: int = offset_param, per: Per = per_param,
        segment: Annotated[int | None, Query(ge=1, le=MAX_ID, description="One shot of the file as the query")] = None,
        flt: FilterParams = None,
    ):  # fmt: skip
        """Files (or shots) similar to a file, or to one of its shots (``segment``); the item itself left out.
        Scores: cosine similarity, -1 to 1."""
        with service.use() as collection:
            ref = collection.media(media_id)
        if ref is None:
            raise HTTPException(status_code=404, detail=f"no media {media_id}")
        item = ItemQuery(media_id=media_id, segment_id=segment)
        return JSONResponse(service.ranked(lambda c: list(c.search(item, k + offset, per, filter=flt)), offset))

    @app.post("/api/feedback", dependencies=bearer, tags=["search"])
    def feedback(
        marks: FeedbackRequest = Body(...), k: int = k_param, offset: int = offset_param, per: Per = per_param,
        flt: FilterParams = None,
    ):  # fmt: skip
        """Re-rank from files / shots marked relevant and not relevant. Scores: classifier 0 to 1 (probability of
        relevance), Rocchio -1 to 1 (cosine)."""
        query = marks.query()
        return JSONResponse(service.ranked(lambda c: list(c.search(query, k + offset, per, filter=flt)), offset))

    @app.get("/api/concepts", dependencies=bearer, tags=["search"])
    def concepts(q: str = text_param, mode: QueryMode = QueryMode.AND):
        return asdict(service.map_text(q, mode))  # outside the collection lock, as searches are

    _install_collection_routes(app, service, job, bearer)
    _install_thumbnail_route(app, service, ThumbnailCache(settings.collection / CACHE_FOLDER), bearer)
    _install_query_image_routes(app, service, kept, k_param, offset_param, bearer)
    _install_duplicates_route(app, service, bearer)
    install_field_route(app, service, k_param, offset_param, bearer)  # search only what is shown / said

    @app.get("/api/limits", dependencies=bearer, tags=["service"])
    def limits() -> dict[str, int]:
        """What this server accepts, so a client can refuse an oversize image before sending it; ``page_size`` is
        the ``k`` a search gets when it names none."""
        return {"max_upload_bytes": settings.max_upload_bytes, "max_k": settings.max_k, "page_size": PAGE_SIZE}
    app.get("/docs", include_in_schema=False)(_docs_page)
    app.get("/redoc", include_in_schema=False)(_docs_page)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="ui")
    return GuardMiddleware(cancellable(app, settings.query_timeout_s, settings.cancel_on_disconnect), settings,
                           UPLOAD_PATHS)  # fmt: skip


def _docs_page() -> HTMLResponse:
    """API documentation rendered from ``/openapi.json`` by a local page (no CDN)."""
    return HTMLResponse((STATIC / "docs.html").read_text(encoding="utf-8"))


def _install_collection_routes(app: FastAPI, service: CollectionService, job: IndexJob, bearer: list[Any]) -> None:
    """Info, item metadata, media files and indexing."""

    @app.get("/api/info", dependencies=bearer, tags=["collection"])
    def info():
        with service.use() as collection:
            facts = asdict(collection.info())
        facts["directory"] = Path(facts["directory"]).name  # no absolute server paths
        return facts

    @app.get("/api/item/{media_id}", dependencies=bearer, tags=["collection"])
    def item(media_id: MediaId):
        with service.use() as collection:
            ref = collection.media(media_id)
        if ref is None:
            raise HTTPException(status_code=404, detail=f"no media {media_id}")
        return {
            "media_id": ref.id, "name": display_path(Path(ref.path).name), "path": service.relative(ref.path),
            "kind": ref.kind.value, "size": ref.size, "mtime": ref.mtime, "sha1": ref.sha1,
            "url": f"/api/media/{ref.id}",
        }  # fmt: skip

    @app.get("/api/media/{media_id}", dependencies=bearer, tags=["collection"])
    def media(media_id: MediaId):
        """The file's bytes; HTTP Range requests are answered (videos play from a shot's start)."""
        with service.use() as collection:
            ref = collection.media(media_id)
        if ref is None or not _unchanged(ref):
            raise HTTPException(status_code=404, detail=f"no media {media_id} (or it changed since indexing)")
        return FileResponse(ref.path, headers={"Cache-Control": "private, max-age=300"})

    @app.get("/api/index", dependencies=bearer, tags=["collection"])
    def index_status():
        return job.status()

    @app.post("/api/index", dependencies=bearer, tags=["collection"], status_code=202)
    def index_start(request: IndexRequest = Body(...)):
        job.start(request.roots)
        return job.status()


def _install_thumbnail_route(
    app: FastAPI, service: CollectionService, cache: ThumbnailCache, bearer: list[Any]
) -> None:
    """Thumbnails and previews, under ``/api/media/`` so that ``<img>`` loads them with the media cookie."""

    @app.get("/api/media/{media_id}/thumb", dependencies=bearer, tags=["collection"])
    def thumbnail(
        request: Request,
        media_id: MediaId,
        size: ThumbSize = ThumbSize.CARD,
        segment: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A video shot's id")] = None,
    ):
        """A 256 px (card) or 1280 px (preview) picture of the file, or of a video shot's keyframe; ETag-validated:
        the JPEG kept at indexing, else a WebP made now (a photo no larger than the preview is its own)."""
        with service.use() as collection:
            ref = collection.media(media_id)
            shot = collection.segment(segment) if segment is not None else None
            keyframe = collection.keyframe_jpeg(segment) if segment is not None else None
            kept = collection.thumbnail_path(media_id, int(size), segment)  # made at indexing
        if ref is None or not _unchanged(ref):
            raise HTTPException(status_code=404, detail=f"no media {media_id} (or it changed since indexing)")
        if segment is not None and (shot is None or shot[0].id != media_id):
            raise HTTPException(status_code=404, detail=f"no shot {segment} in media {media_id}")
        stored = stored_response(request, kept) if kept is not None else None
        if stored is not None:
            return stored
        at_s = shot[1].keyframe_s if shot is not None else None
        etag = f'"{cache.key(ref, size, at_s)}"'
        # no-cache: the browser asks again each time (a 304 when unchanged), so a file deleted since shows as such
        headers = {"Cache-Control": "private, no-cache", "ETag": etag}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        picture = cache.get(ref, size, at_s, keyframe)  # a shot's keyframe stored at indexing: no video decode
        if picture.data is not None:
            return Response(picture.data, media_type=picture.media_type, headers=headers)
        return FileResponse(picture.path, media_type=picture.media_type, headers=headers)


def _kept_header(kept: QueryImages, data: bytes) -> dict[str, str]:
    """``X-Query-Image: KEY`` once the searched image is kept (no header if it cannot be: the answer still counts)."""
    try:
        return {"X-Query-Image": kept.keep(data)}
    except OSError:
        return {}


def _install_query_image_routes(
    app: FastAPI, service: CollectionService, kept: QueryImages, k_param: Any, offset_param: Any, bearer: list[Any]
) -> None:
    """Search again with, and show, a query image kept by its hash (``X-Query-Image`` of ``POST /api/search/image``)."""
    gone = "that query image is no longer kept on this server: pick it again"

    @app.get("/api/search/image/{key}", dependencies=bearer, tags=["search"])
    def search_kept_image(
        key: str, k: int = k_param, offset: int = offset_param, per: Per = Query(Per.FILE, description="file or shot"),
        flt: FilterParams = None,
    ):  # fmt: skip
        """Query by example with an image searched before (its SHA-1 from ``X-Query-Image``)."""
        data = kept.get(key)
        if data is None:
            raise HTTPException(status_code=404, detail=gone)
        hits = service.search_upload(data, "the query image", k, offset, per, flt)
        return JSONResponse(hits, headers={"X-Query-Image": key})

    @app.get("/api/media/query/{key}", dependencies=bearer, tags=["search"])
    def kept_image(key: str):
        """The kept query image's bytes (under ``/api/media/`` so that ``<img>`` loads it with the media cookie)."""
        data = kept.get(key)
        if data is None:
            raise HTTPException(status_code=404, detail=gone)
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": "default-src 'none'"}  # fmt: skip
        return Response(data, media_type=image_type(data), headers=headers)


def _install_duplicates_route(app: FastAPI, service: CollectionService, bearer: list[Any]) -> None:
    """Near-duplicate groups for the page's "group near-duplicates" view, computed once per catalog change."""
    cached: dict[int, list[list[int]]] = {}

    @app.get("/api/duplicates", dependencies=bearer, tags=["collection"])
    def duplicates() -> dict[str, list[list[int]]]:
        """Groups of near-identical files as media ids (``mmir duplicates`` without the spatial check: cosine of
        their vectors at least 0.9). The first call after the collection changes computes them."""
        with service.use() as collection:
            generation = collection.generation
            if generation not in cached:
                cached.clear()
                cached[generation] = [[ref.id for ref in group] for group in collection.near_duplicates()]
            return {"groups": cached[generation]}
