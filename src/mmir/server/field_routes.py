"""``GET /api/search/field``: a phrase looked for only in what files show (OCR) or say (speech).

The page's "Search in" selector (``--shows`` / ``--said`` on the command line) sends keyword text here instead of
``/api/search``; the answer is the same list of hits (``why`` holds ``text in image: 'EXIT'`` / ``said at 12.4 s:
'…'``, and a speech hit's ``said_at`` the second the phrase was said).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mmir.api import FieldQuery, Per, TextField
from mmir.server.filters import FilterParams
from mmir.server.service import CollectionService


def install_field_route(app: FastAPI, service: CollectionService, k_param: Any, offset_param: Any,
                        bearer: list[Any]) -> None:  # fmt: skip
    """Add ``GET /api/search/field`` to ``app`` (``k_param``/``offset_param``: the app's bounded page parameters)."""

    @app.get("/api/search/field", dependencies=bearer, tags=["search"])
    async def search_field(
        q: str = Query(..., min_length=1, max_length=500, description="A phrase; FTS operators are plain words"),
        field: TextField = Query(..., description="shows: text visible in photos and shots; said: speech in videos"),
        k: int = k_param, offset: int = offset_param,
        per: Per = Query(Per.FILE, description="file: one hit per file (its best shot); shot: video shots one by one"),
        flt: FilterParams = None,
    ):  # fmt: skip
        """Files (or shots) whose visible text or speech holds the phrase, best first (scores 0 to 1)."""
        query = FieldQuery(q, (field,))  # a phrase without a word is a QueryError: 400 with one line
        hits = await run_in_threadpool(service.ranked, lambda c: list(c.search(query, k + offset, per, filter=flt)),
                                       offset)  # fmt: skip
        return JSONResponse(hits)
