"""Core value types shared by every layer: media, segments and search hits; and the defaults, defined once."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

# Defaults every layer and face shares (the CLI's options, the server, the library's signatures); mmir.api
# re-exports them. They live here, at the bottom of the package, so that search/ and models/ use them too.
DEFAULT_COLLECTION = Path(".mmir")
"""Where a collection lives unless ``-c`` / ``MMIR_COLLECTION`` says otherwise (relative to the working folder)."""
DEFAULT_MODEL = "efficientnet-lite0"
"""The encoder of a new collection, and of :func:`mmir.models.load_encoder` without a name."""
DEFAULT_K = 10
"""How many results a ranked query returns unless told (library calls and ``-k``)."""
PAGE_SIZE = 24
"""Results per page of the web UI: the server's default ``k`` (a page size, not a ranking depth)."""
DEFAULT_HOST = "127.0.0.1"
"""The address ``mmir serve`` binds to: loopback only."""
DEFAULT_PORT = 8000
"""The port ``mmir serve`` listens on."""


class MediaKind(str, enum.Enum):
    """What kind of file a media item is."""

    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class MediaRef:
    """One file of the collection as the catalog knows it.

    Attributes:
        id: Catalog id of the media row.
        path: Absolute path (may hold surrogate-escaped bytes for non-UTF-8 names).
        kind: Image or video.
        size: File size in bytes when indexed.
        mtime: Modification time (seconds since the epoch) when indexed.
        sha1: Hex SHA-1 of the file content.
    """

    id: int
    path: str
    kind: MediaKind
    size: int
    mtime: float
    sha1: str


@dataclass(frozen=True)
class Segment:
    """A searchable unit: a whole image, or one shot of a video.

    The segment id is also the id of its vector in the vector index.
    """

    id: int
    media_id: int
    start_s: float = 0.0
    end_s: float = 0.0
    keyframe_s: float = 0.0


class ThumbSize(enum.IntEnum):
    """The longest side, in pixels, of a card thumbnail and of a preview (kept at indexing, served by the page)."""

    CARD = 256
    PREVIEW = 1280


@dataclass(frozen=True)
class Hit:
    """One search result: higher ``score`` is always better.

    Attributes:
        media: The file that matched.
        segment: The segment of that file that matched.
        score: Relevance score, higher is better.
        why: Human-readable reasons, e.g. ``("tabby cat 0.81", ...)``.
    """

    media: MediaRef
    segment: Segment
    score: float
    why: tuple[str, ...] = field(default_factory=tuple)
