"""The search routes' filter parameters (``kind``, ``under``, ``after``, ``before``, ``name``) as one dependency.

Every search route (keywords, image upload, a kept query image, similar, feedback) takes the same five query
parameters and hands :meth:`mmir.api.Collection.search` one :class:`~mmir.api.SearchFilter`. A bad value is a 422
whose ``detail`` is one readable line (``kind must be photo or video, not 'tree'``). ``under`` is a folder as the
page shows paths (``rootname/rest``): an absolute server path is refused, so no client probes the server's disk.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, HTTPException, Query

from mmir.api import SearchFilter
from mmir.errors import QueryError


def search_filter(
    kind: Annotated[str | None, Query(max_length=16, description="photo or video: only files of this kind")] = None,
    under: Annotated[
        str | None, Query(max_length=1000, description="Only files in this folder, as results show paths: Photos/2024")
    ] = None,
    after: Annotated[
        str | None,
        Query(max_length=40, description="Taken (EXIF), else modified, on or after: YYYY, YYYY-MM, YYYY-MM-DD, ISO"),
    ] = None,
    before: Annotated[
        str | None,
        Query(max_length=40, description="Taken (EXIF), else modified, on or before (a date counts whole)"),
    ] = None,
    name: Annotated[str | None, Query(max_length=255, description="File name pattern, e.g. *cat* or IMG_2*")] = None,
) -> SearchFilter | None:
    """The filter the parameters describe, or ``None`` when none is given.

    Raises:
        HTTPException: 422 with a one-line ``detail`` for a bad value.
    """
    if under and (os.path.isabs(under) or under.startswith("~")):
        raise HTTPException(status_code=422, detail="under: give a folder as results show paths "
                                                    "(e.g. Photos/2024), not a path on the server")  # fmt: skip
    try:
        parsed = SearchFilter.parse(kind=kind, under=under, after=after, before=before, name=name)
    except QueryError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return parsed if parsed.active else None


FilterParams = Annotated[SearchFilter | None, Depends(search_filter)]
"""A route parameter holding the request's filter (``None``: none given)."""
